// Package opsmetrics exports what an operator watches and no single
// activity sees: the links of each pairing per state (from Temporal
// visibility), the age of each pairing's oldest link in error (from the
// links themselves) and the webCRM budget spent and left (from the token's
// BudgetWorkflow). A Refresher reads them on an interval, stretched when
// counting takes long, so the figures are eventually consistent: they trail
// the links by the interval plus visibility's own lag.
package opsmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/workflows"
)

// States are the link states counted per pairing.
var States = []string{domain.StateOK, domain.StateError, domain.StateBlocked, domain.StatePending, domain.StateRejected, domain.StateDeleted}

// MaxErrorLinks bounds the links in error per pairing whose state a refresh
// reads for the oldest error's age.
const MaxErrorLinks = 500

// Metrics are the gauges a Refresher sets.
type Metrics struct {
	links       *prometheus.GaugeVec
	oldestError *prometheus.GaugeVec
	budgetSpent prometheus.Gauge
	budgetLeft  prometheus.Gauge
	refreshed   prometheus.Gauge
}

// New creates the gauges and registers them with reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		links: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "tandem", Name: "links",
			Help: "Running links by pairing and state, counted in Temporal visibility on an interval (eventually consistent).",
		}, []string{"pairing", "state"}),
		oldestError: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "tandem", Name: "oldest_error_age_seconds",
			Help: "Seconds since the oldest link in error of each pairing entered its state (0 when none is in error).",
		}, []string{"pairing"}),
		budgetSpent: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tandem", Name: "webcrm_budget_spent",
			Help: "webCRM requests the token's budget granted in its current window (a minute and the lease's life), to every worker and starter.",
		}),
		budgetLeft: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tandem", Name: "webcrm_budget_left",
			Help: "webCRM requests the token's budget may still grant live work in its current window.",
		}),
		refreshed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tandem", Name: "ops_metrics_refreshed_seconds",
			Help: "Unix time of the last complete refresh of the link and budget gauges.",
		}),
	}
	for _, c := range []prometheus.Collector{m.links, m.oldestError, m.budgetSpent, m.budgetLeft, m.refreshed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register operator metrics: %w", err)
		}
	}
	return m, nil
}

// Refresher reads the figures from Temporal and sets the gauges.
type Refresher struct {
	c        client.Client
	ns       string
	pairings []string
	m        *Metrics
	logger   *slog.Logger
	now      func() time.Time
	// spaced makes each visibility call wait paceFactor-1 times its own
	// duration before the next (Run's refreshes), so that a refresh never
	// holds a store that serves one request at a time (the dev server's
	// SQLite) for longer than one count.
	spaced bool
	sleep  func(ctx context.Context, d time.Duration) error
	busy   time.Duration // the visibility calls' time in the current refresh
}

// NewRefresher returns a Refresher of the named pairings' figures in
// namespace ns.
func NewRefresher(c client.Client, ns string, pairings []string, m *Metrics, logger *slog.Logger) *Refresher {
	return &Refresher{c: c, ns: ns, pairings: pairings, m: m, logger: logger, now: time.Now, sleep: sleep}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// visit makes one visibility call, adds its duration to the refresh's busy
// time and, in a spaced refresh, waits paceFactor-1 times that duration.
func (r *Refresher) visit(ctx context.Context, call func() error) error {
	start := r.now()
	err := call()
	took := r.now().Sub(start)
	r.busy += took
	if r.spaced && took > 0 {
		if serr := r.sleep(ctx, (paceFactor-1)*took); err == nil {
			err = serr
		}
	}
	return err
}

// paceFactor bounds the share of the time the refresher keeps Temporal's
// visibility store busy: after a refresh that took d, the next starts no
// sooner than paceFactor·d after it. A refresh counts every pairing's links
// by state, which a SQL visibility store (the dev server's SQLite among
// them) answers by scanning the pairing's links, so it grows with them.
const paceFactor = 10

// Run refreshes at once and then every interval, or less often when a
// refresh takes long (see paceFactor), until ctx ends. A refresh that fails
// is logged and leaves the gauges as they were.
func (r *Refresher) Run(ctx context.Context, interval time.Duration) {
	r.spaced = true
	stretched := false
	for {
		start := r.now()
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("operator metrics not refreshed", "error", err)
		}
		wait := nextRefresh(interval, r.busy)
		if long := wait > interval; long != stretched {
			stretched = long
			if long {
				r.logger.Info("operator metrics refreshed less often than asked: counting the links by state takes long",
					"counting", r.busy.Round(time.Millisecond), "every", wait.Round(time.Second), "asked", interval)
			} else {
				r.logger.Info("operator metrics refreshed as often as asked again", "every", interval)
			}
		}
		if r.sleep(ctx, max(wait-r.now().Sub(start), 0)) != nil {
			return
		}
	}
}

// nextRefresh is the time from the start of a refresh whose visibility
// calls took took to the start of the next: interval, or paceFactor times
// took when that is longer.
func nextRefresh(interval, took time.Duration) time.Duration {
	return max(interval, paceFactor*took)
}

// Refresh reads every figure once.
func (r *Refresher) Refresh(ctx context.Context) error {
	r.busy = 0
	var errs []error
	for _, p := range r.pairings {
		inError := int64(-1) // not counted
		for _, st := range States {
			var resp *workflowservice.CountWorkflowExecutionsResponse
			err := r.visit(ctx, func() (err error) {
				resp, err = r.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
					Namespace: r.ns, Query: links.Query(p, links.Eq(workflows.StateKey.GetName(), st)),
				})
				return err
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("count %s links of %s: %w", st, p, err))
				continue
			}
			r.m.links.WithLabelValues(p, st).Set(float64(resp.GetCount()))
			if st == domain.StateError {
				inError = resp.GetCount()
			}
		}
		if inError == 0 {
			// No link in error: nothing to list (a visibility call, which a
			// SQL store answers by scanning the pairing's links).
			r.m.oldestError.WithLabelValues(p).Set(0)
			continue
		}
		age, err := r.oldestError(ctx, p)
		if err != nil {
			errs = append(errs, err)
		} else {
			r.m.oldestError.WithLabelValues(p).Set(age.Seconds())
		}
	}
	if err := r.budget(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		r.m.refreshed.Set(float64(r.now().Unix()))
	}
	return errors.Join(errs...)
}

// oldestError reads the state of up to MaxErrorLinks links in error of
// pairing and returns the age of the oldest.
func (r *Refresher) oldestError(ctx context.Context, pairing string) (time.Duration, error) {
	var ids []string
	var token []byte
	for len(ids) < MaxErrorLinks {
		var resp *workflowservice.ListWorkflowExecutionsResponse
		err := r.visit(ctx, func() (err error) {
			resp, err = r.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: r.ns, PageSize: 100, NextPageToken: token,
				Query: links.Query(pairing, links.Eq(workflows.StateKey.GetName(), domain.StateError)),
			})
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("list links in error of %s: %w", pairing, err)
		}
		for _, ex := range resp.GetExecutions() {
			ids = append(ids, ex.GetExecution().GetWorkflowId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	var mu sync.Mutex
	var oldest time.Time
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	lc := links.New(r.c, "")
	for _, id := range ids[:min(len(ids), MaxErrorLinks)] {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			st, err := lc.State(qctx, id)
			at := st.EnteredAt()
			if err != nil || st.State != domain.StateError || at.IsZero() {
				return // fixed since the listing, or not answering: the next refresh sees it
			}
			mu.Lock()
			if oldest.IsZero() || at.Before(oldest) {
				oldest = at
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if oldest.IsZero() {
		return 0, nil
	}
	return max(r.now().Sub(oldest), 0), nil
}

// budget reads the BudgetWorkflow's status. No budget workflow yet (no
// webCRM request made) is a budget untouched.
func (r *Refresher) budget(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := r.c.QueryWorkflow(qctx, workflows.BudgetWorkflowID, "", workflows.QueryBudget)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		r.m.budgetSpent.Set(0)
		return nil
	}
	if err != nil {
		return fmt.Errorf("query the webCRM budget %s: %w", workflows.BudgetWorkflowID, err)
	}
	var st workflows.BudgetStatus
	if err := v.Get(&st); err != nil {
		return fmt.Errorf("decode the webCRM budget's status: %w", err)
	}
	// Counted at this process's time: the status is as old as the last lease.
	spent := st.GrantedAt(r.now())
	r.m.budgetSpent.Set(float64(spent))
	if st.Limit > 0 {
		r.m.budgetLeft.Set(float64(max(st.Limit-spent, 0)))
	}
	return nil
}
