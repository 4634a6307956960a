package activities

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
)

// Metrics are tandem's own Prometheus metrics, next to the SDK's; they
// receive what the engine counts.
type Metrics struct {
	changes   *prometheus.CounterVec
	conflicts *prometheus.CounterVec
	polled    *prometheus.CounterVec
	watermark *prometheus.GaugeVec
}

var _ engine.Metrics = (*Metrics)(nil)

// NewMetrics creates tandem's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tandem", Name: "changes_applied_total",
			Help: "Changes applied by links, by pairing, the side the change came from, and what was done (created-in-erp, updated, no-op, error, ...).",
		}, []string{"pairing", "from", "action"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tandem", Name: "conflicts_total",
			Help: "Fields edited on both sides and decided by the mapping's owner rule, by pairing.",
		}, []string{"pairing"}),
		polled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tandem", Name: "changes_polled_total",
			Help: "Changes read from webCRM /Queries and the ERP change feed, by pairing and side.",
		}, []string{"pairing", "side"}),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "tandem", Name: "webcrm_watermark_seconds",
			Help: "The webCRM UpdatedAt watermark of each pairing as a Unix time; now minus it is the sync lag.",
		}, []string{"pairing"}),
	}
	for _, c := range []prometheus.Collector{m.changes, m.conflicts, m.polled, m.watermark} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Applied implements engine.Metrics.
func (m *Metrics) Applied(pairing string, from domain.Side, action string) {
	m.changes.WithLabelValues(pairing, string(from), action).Inc()
}

// Conflicts implements engine.Metrics.
func (m *Metrics) Conflicts(pairing string, n int) {
	if n > 0 {
		m.conflicts.WithLabelValues(pairing).Add(float64(n))
	}
}

// Polled implements engine.Metrics.
func (m *Metrics) Polled(pairing string, side domain.Side, n int, watermark time.Time) {
	m.polled.WithLabelValues(pairing, string(side)).Add(float64(n))
	if !watermark.IsZero() {
		m.watermark.WithLabelValues(pairing).Set(float64(watermark.Unix()))
	}
}
