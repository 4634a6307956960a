// Package activities holds tandem's Temporal activities. Each wires the
// webCRM and CustomERP clients (through package stores) and the link
// workflows (through package links) into the sync engine, which decides
// everything, and reports heartbeats while the engine works: Apply does one
// change of one link; SyncWebCRM and SyncERP read a side's changes and
// dispatch them to their links; BackfillCount, BackfillPage, BackfillMark and
// Reconcile serve the bulk workflows, and StartPositions tells a starting
// pairing what a backfill handed over. Errors leave as Temporal application
// errors whose type and retry decision follow the engine's classes (see
// errors.go).
package activities

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/internal/budget"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/stores"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// The bulk activities (backfill, reconciliation) mark their context with
// budget.Bulk: their webCRM requests leave part of the token's budget to live
// work.

// Activities holds the engine and what the activities need beside it. Build
// it once per worker process and share it: the clients hold the process-wide
// webCRM rate limiter and connection pools, and the engine its merge indexes.
type Activities struct {
	temporal client.Client
	engine   *engine.Engine
	mappings *mappings.Set
}

// New returns Activities wired to the given clients. Links are started on
// workflows.TaskQueue; concurrency is the number of changes one activity
// dispatches at once (engine.DefaultConcurrency when 0).
func New(c client.Client, wc *webcrm.Client, ec *customerp.Client, set *mappings.Set, logger *slog.Logger, m *Metrics, concurrency int) *Activities {
	if logger == nil {
		logger = slog.Default()
	}
	var metrics engine.Metrics
	if m != nil {
		metrics = m
	}
	clients := stores.Clients{WebCRM: wc, ERP: ec, Logger: logger}
	e := engine.New(engine.Options{
		Pairings: set, Sides: clients.Sides, Links: links.New(c, workflows.TaskQueue),
		Classify: stores.Classify, Logger: logger, Metrics: metrics, Concurrency: concurrency,
		Heartbeat: func(ctx context.Context, details ...any) {
			if activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx, details...)
			}
		},
	})
	return &Activities{temporal: c, engine: e, mappings: set}
}

// RegisterMain registers the activities that run on workflows.TaskQueue.
func (a *Activities) RegisterMain(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.Apply, activity.RegisterOptions{Name: workflows.ActivityApply})
	r.RegisterActivityWithOptions(a.SyncERP, activity.RegisterOptions{Name: workflows.ActivitySyncERP})
	r.RegisterActivityWithOptions(a.BackfillCount, activity.RegisterOptions{Name: workflows.ActivityBackfillCount})
	r.RegisterActivityWithOptions(a.BackfillPage, activity.RegisterOptions{Name: workflows.ActivityBackfillPage})
	r.RegisterActivityWithOptions(a.BackfillMark, activity.RegisterOptions{Name: workflows.ActivityBackfillMark})
	r.RegisterActivityWithOptions(a.StartPositions, activity.RegisterOptions{Name: workflows.ActivityStartPositions})
}

// RegisterWebCRM registers the activities that run on
// workflows.WebCRMTaskQueue, whose worker is rate limited to the webCRM
// token's budget.
func (a *Activities) RegisterWebCRM(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.SyncWebCRM, activity.RegisterOptions{Name: workflows.ActivitySyncWebCRM})
	r.RegisterActivityWithOptions(a.BackfillCount, activity.RegisterOptions{Name: workflows.ActivityBackfillCount})
	r.RegisterActivityWithOptions(a.BackfillPage, activity.RegisterOptions{Name: workflows.ActivityBackfillPage})
	r.RegisterActivityWithOptions(a.BackfillMark, activity.RegisterOptions{Name: workflows.ActivityBackfillMark})
	r.RegisterActivityWithOptions(a.Reconcile, activity.RegisterOptions{Name: workflows.ActivityReconcile})
}

// Apply applies one change to one link (engine.Engine.Apply).
func (a *Activities) Apply(ctx context.Context, in domain.ApplyInput) (domain.ApplyResult, error) {
	res, err := a.engine.Apply(ctx, in)
	return res, a.temporalError(err)
}

// SyncWebCRM reads the pairing's webCRM changes since the watermark and
// dispatches them (engine.Engine.PollWebCRM).
func (a *Activities) SyncWebCRM(ctx context.Context, in domain.SyncInput) (domain.SyncResult, error) {
	defer keepAlive(ctx)()
	res, err := a.engine.PollWebCRM(ctx, in)
	return res, a.temporalError(err)
}

// SyncERP reads the pairing's ERP change feed from its token and dispatches
// the changes (engine.Engine.PollERP).
func (a *Activities) SyncERP(ctx context.Context, in domain.SyncInput) (domain.SyncResult, error) {
	defer keepAlive(ctx)()
	res, err := a.engine.PollERP(ctx, in)
	if err != nil && in.Wait > 0 && ctx.Err() != nil {
		// A long poll the pairing ended (a webCRM poll, a signal, a pause)
		// or the worker stopping: no failure, and no error in the log.
		return res, temporal.NewApplicationErrorWithOptions("the long poll of the ERP feed was ended before a change came",
			ErrTypeLongPollEnded, temporal.ApplicationErrorOptions{NonRetryable: true, Category: temporal.ApplicationErrorCategoryBenign})
	}
	return res, a.temporalError(err)
}

// ErrTypeLongPollEnded is the error type of a long poll of the ERP feed that
// was cancelled before a change came: a benign error.
const ErrTypeLongPollEnded = "LongPollEnded"

// BackfillCount counts the records a backfill of one side will visit.
func (a *Activities) BackfillCount(ctx context.Context, in domain.BackfillCountInput) (int, error) {
	defer keepAlive(ctx)()
	n, err := a.engine.BackfillCount(budget.Bulk(ctx), in)
	return n, a.temporalError(err)
}

// BackfillPage reads one page of one side and dispatches its records.
func (a *Activities) BackfillPage(ctx context.Context, in domain.BackfillPageInput) (domain.BackfillPageResult, error) {
	defer keepAlive(ctx)()
	res, err := a.engine.BackfillPage(budget.Bulk(ctx), in)
	return res, a.temporalError(err)
}

// BackfillMark returns where a pairing can start reading one side once a
// backfill of it that starts now is done.
func (a *Activities) BackfillMark(ctx context.Context, in domain.BackfillCountInput) (domain.Positions, error) {
	defer keepAlive(ctx)()
	mark, err := a.engine.BackfillMark(budget.Bulk(ctx), in)
	return mark, a.temporalError(err)
}

// Reconcile finds linked records that disappeared and hands each to its link
// as a delete.
func (a *Activities) Reconcile(ctx context.Context, in domain.ReconcileInput) (domain.ReconcileResult, error) {
	defer keepAlive(ctx)()
	res, err := a.engine.Reconcile(budget.Bulk(ctx), in)
	return res, a.temporalError(err)
}

// keepAliveEvery is how often keepAlive heartbeats. The poll activities'
// heartbeat timeout is a few times longer.
const keepAliveEvery = 5 * time.Second

// keepAlive heartbeats every keepAliveEvery until the returned function is
// called, so that an activity waiting on webCRM's budget or on a busy link
// keeps its short heartbeat timeout, which is what lets Temporal retry it
// soon when its worker dies. Outside an activity it does nothing.
func keepAlive(ctx context.Context) (stop func()) { return heartbeatEvery(ctx, keepAliveEvery) }

func heartbeatEvery(ctx context.Context, every time.Duration) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}
