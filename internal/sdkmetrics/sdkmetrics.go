// Package sdkmetrics exposes the Temporal SDK's metrics (task latencies,
// poll counts, activity failures, …) through a Prometheus registry, so one
// /metrics endpoint serves them next to tandem's own.
package sdkmetrics

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// labels are the tags the SDK puts on its metrics. Every metric carries all
// of them (empty when a tag is absent), because a Prometheus metric has one
// fixed label set; other tags are dropped.
var labels = []string{
	"namespace", "task_queue", "workflow_type", "activity_type", "operation",
	"poller_type", "worker_type", "failure_reason", "cause", "nexus_service", "nexus_operation",
}

// Handler is a client.MetricsHandler that records into a Prometheus registry.
type Handler struct {
	reg  *registry
	tags map[string]string
}

type registry struct {
	reg        prometheus.Registerer
	mu         sync.Mutex
	counters   map[string]*prometheus.CounterVec
	gauges     map[string]*prometheus.GaugeVec
	histograms map[string]*prometheus.HistogramVec
}

var _ client.MetricsHandler = (*Handler)(nil)

// New returns a handler registering its metrics with reg.
func New(reg prometheus.Registerer) *Handler {
	return &Handler{reg: &registry{
		reg:        reg,
		counters:   map[string]*prometheus.CounterVec{},
		gauges:     map[string]*prometheus.GaugeVec{},
		histograms: map[string]*prometheus.HistogramVec{},
	}}
}

// WithTags implements client.MetricsHandler.
func (h *Handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &Handler{reg: h.reg, tags: merged}
}

func (h *Handler) values() []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = h.tags[l]
	}
	return out
}

// name turns an SDK metric name (temporal_workflow_task_queue_poll_succeed)
// into a valid Prometheus name.
func name(n string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ':' {
			return r
		}
		return '_'
	}, n)
}

// Counter implements client.MetricsHandler.
func (h *Handler) Counter(n string) client.MetricsCounter {
	r := h.reg
	r.mu.Lock()
	vec, ok := r.counters[n]
	if !ok {
		vec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name(n), Help: "Temporal SDK counter " + n + "."}, labels)
		if err := r.reg.Register(vec); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				vec, _ = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
		r.counters[n] = vec
	}
	r.mu.Unlock()
	if vec == nil {
		return client.MetricsNopHandler.Counter(n)
	}
	c := vec.WithLabelValues(h.values()...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

// Gauge implements client.MetricsHandler.
func (h *Handler) Gauge(n string) client.MetricsGauge {
	r := h.reg
	r.mu.Lock()
	vec, ok := r.gauges[n]
	if !ok {
		vec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name(n), Help: "Temporal SDK gauge " + n + "."}, labels)
		if err := r.reg.Register(vec); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				vec, _ = are.ExistingCollector.(*prometheus.GaugeVec)
			}
		}
		r.gauges[n] = vec
	}
	r.mu.Unlock()
	if vec == nil {
		return client.MetricsNopHandler.Gauge(n)
	}
	g := vec.WithLabelValues(h.values()...)
	return gaugeFunc(g.Set)
}

// Timer implements client.MetricsHandler; durations are recorded in seconds.
func (h *Handler) Timer(n string) client.MetricsTimer {
	r := h.reg
	r.mu.Lock()
	vec, ok := r.histograms[n]
	if !ok {
		vec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: name(n) + "_seconds", Help: "Temporal SDK timer " + n + ".", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, labels)
		if err := r.reg.Register(vec); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				vec, _ = are.ExistingCollector.(*prometheus.HistogramVec)
			}
		}
		r.histograms[n] = vec
	}
	r.mu.Unlock()
	if vec == nil {
		return client.MetricsNopHandler.Timer(n)
	}
	o := vec.WithLabelValues(h.values()...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
