// Package budget shares the webCRM token's request budget between every
// process that uses the token. A Pool leases requests from the token's
// BudgetWorkflow (workflows.BudgetWorkflow) a few at a time and hands them to
// the webCRM client one request at a time (it implements webcrm.Budget), so
// that any number of workers and starters together send no more requests in
// any minute than the token allows.
package budget

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/workflows"
)

type bulkKey struct{}

// Bulk marks ctx as bulk work (a backfill page, a reconciliation): its
// requests leave workflows.LiveHeadroom of the budget to live work.
func Bulk(ctx context.Context) context.Context { return context.WithValue(ctx, bulkKey{}, true) }

func class(ctx context.Context) string {
	if b, _ := ctx.Value(bulkKey{}).(bool); b {
		return workflows.ClassBulk
	}
	return workflows.ClassLive
}

// Options configure a Pool.
type Options struct {
	// PerMinute is the token's budget (WEBCRM_REQUESTS_PER_MINUTE).
	PerMinute int
	// Reserve is the share of the budget left to the customer's other
	// integrations on the token (WEBCRM_RESERVED_SHARE).
	Reserve float64
	// Holder names this process in the budget's history.
	Holder string
	// TaskQueue is where the budget workflow runs (workflows.TaskQueue).
	TaskQueue string
	// Chunk is how many requests one lease asks for (default 5): more saves
	// round trips to Temporal, fewer wastes less of the budget when a lease
	// expires unused.
	Chunk  int
	Logger *slog.Logger
}

// Pool leases webCRM requests for one process. It is safe for concurrent use.
type Pool struct {
	c    client.Client
	opts Options

	mu      sync.Mutex
	permits map[string]*held // by class
	// lease serialises the leases of each class, so that waiting callers
	// share one round trip.
	lease map[string]*sync.Mutex
}

type held struct {
	n     int
	until time.Time
}

// New returns a Pool that leases from the budget workflow through c.
func New(c client.Client, opts Options) *Pool {
	if opts.Chunk <= 0 {
		opts.Chunk = 5
	}
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Pool{c: c, opts: opts,
		permits: map[string]*held{workflows.ClassLive: {}, workflows.ClassBulk: {}},
		lease:   map[string]*sync.Mutex{workflows.ClassLive: {}, workflows.ClassBulk: {}}}
}

// take uses one permit of class, if the pool holds one that has not expired.
func (p *Pool) take(cl string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.permits[cl]
	if h.n > 0 && now.Before(h.until) {
		h.n--
		return true
	}
	h.n = 0
	return false
}

// Acquire blocks until this process may send one webCRM request, or ctx ends.
// It implements webcrm.Budget.
func (p *Pool) Acquire(ctx context.Context) error {
	cl := class(ctx)
	for {
		if p.take(cl, time.Now()) {
			return nil
		}
		mu := p.lease[cl]
		mu.Lock()
		if p.take(cl, time.Now()) { // another caller leased meanwhile
			mu.Unlock()
			return nil
		}
		l, err := p.ask(ctx, cl)
		if err == nil && l.Granted > 0 {
			p.mu.Lock()
			// One of the granted requests is this caller's.
			p.permits[cl] = &held{n: l.Granted - 1, until: l.Until}
			p.mu.Unlock()
			mu.Unlock()
			return nil
		}
		mu.Unlock()
		wait := time.Second
		if err != nil {
			p.opts.Logger.WarnContext(ctx, "webCRM budget: no lease; trying again", "error", err)
		} else if l.RetryAfter > 0 {
			wait = l.RetryAfter
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ask sends one lease request to the budget workflow, starting it when it
// does not run.
func (p *Pool) ask(ctx context.Context, cl string) (workflows.Lease, error) {
	req := workflows.LeaseRequest{Holder: p.opts.Holder, Class: cl, Want: p.opts.Chunk, PerMinute: p.opts.PerMinute, Reserve: p.opts.Reserve}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		start := p.c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID:                       workflows.BudgetWorkflowID,
			TaskQueue:                p.opts.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:            "webCRM request budget of the API token",
		}, workflows.BudgetWorkflowName, workflows.BudgetInput{})
		h, err := p.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{
				WorkflowID: workflows.BudgetWorkflowID, UpdateName: workflows.UpdateLease,
				Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		var l workflows.Lease
		if err == nil {
			err = h.Get(ctx, &l)
		}
		if err == nil {
			return l, nil
		}
		if !closing(err) || ctx.Err() != nil {
			return l, fmt.Errorf("lease webCRM requests: %w", err)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return workflows.Lease{}, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return workflows.Lease{}, fmt.Errorf("lease webCRM requests: %w", lastErr)
}

// closing reports whether err says the budget's run was continuing as new.
func closing(err error) bool {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "workflow execution already completed") || strings.Contains(msg, "workflow is closing")
}

// Patient is a Pool for a command-line tool: it waits at most wait for a
// lease, then lets the request go without one (and says so once), so that a
// tool which sends a few requests does not hang when no worker runs the
// budget workflow. While workers run, its requests are counted like theirs.
type Patient struct {
	pool *Pool
	wait time.Duration
	once sync.Once
	// gone is set once a lease timed out: the tool's other requests do not
	// wait for it again.
	gone atomic.Bool
}

// Patient returns p waiting at most wait for each lease.
func (p *Pool) Patient(wait time.Duration) *Patient { return &Patient{pool: p, wait: wait} }

// Acquire implements webcrm.Budget.
func (p *Patient) Acquire(ctx context.Context) error {
	if p.gone.Load() {
		return ctx.Err()
	}
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	err := p.pool.Acquire(wctx)
	if err != nil && ctx.Err() == nil {
		p.gone.Store(true)
		p.once.Do(func() {
			p.pool.opts.Logger.WarnContext(ctx, "no worker answers the webCRM budget; this command's requests go uncounted", "waited", p.wait)
		})
		return nil
	}
	return err
}
