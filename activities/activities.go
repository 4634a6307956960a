// Package activities holds tandem's Temporal activities: the thin layer that
// calls the webCRM and CustomERP clients and the mappings on behalf of the
// workflows. Apply does one change of one link; SyncWebCRM and SyncERP read
// a side's changes and dispatch them to their links; BackfillCount,
// BackfillPage, BackfillMark and Reconcile serve the bulk workflows, and
// StartPositions tells a starting pairing what a backfill handed over.
//
// Activities are methods on Activities, which holds the clients. They are
// registered under the names the workflows package uses.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// Activities holds what the activities need. Build it once per worker
// process and share it: the clients hold the process-wide webCRM rate
// limiter and connection pools.
type Activities struct {
	Temporal    client.Client
	WebCRM      *webcrm.Client
	ERP         *customerp.Client
	Mappings    *mappings.Set
	Logger      *slog.Logger
	Metrics     *Metrics
	Concurrency int    // changes dispatched at once by one activity (default 16)
	TaskQueue   string // where links run (default workflows.TaskQueue)

	dispatcher *links.Dispatcher
	indexes    *normIndexes
}

// New returns Activities wired to the given clients.
func New(c client.Client, wc *webcrm.Client, ec *customerp.Client, set *mappings.Set, logger *slog.Logger, m *Metrics) *Activities {
	if logger == nil {
		logger = slog.Default()
	}
	a := &Activities{Temporal: c, WebCRM: wc, ERP: ec, Mappings: set, Logger: logger, Metrics: m, Concurrency: 16, TaskQueue: workflows.TaskQueue}
	a.dispatcher = links.NewDispatcher(c, a.TaskQueue)
	a.indexes = &normIndexes{}
	return a
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

// pairing returns the mapping of a pairing or a non-retryable error.
func (a *Activities) pairing(name string) (*mappings.Pairing, error) {
	p, ok := a.Mappings.Pairing(name)
	if !ok {
		return nil, permanent(fmt.Errorf("unknown pairing %q (known: %v)", name, a.Mappings.Names()), "UnknownPairing")
	}
	return p, nil
}

func (a *Activities) concurrency() int {
	if a.Concurrency <= 0 {
		return 16
	}
	return a.Concurrency
}

// keepAliveEvery is how often keepAlive heartbeats. The poll activities'
// heartbeat timeout (workflows.pollHeartbeatTimeout) is a few times longer.
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
