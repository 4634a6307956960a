package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The webCRM request budget belongs to the API token, not to a process: every
// worker and starter on one token leases the requests it sends from one
// BudgetWorkflow, which never grants more than the token's budget in any
// window of webCRM's minute plus a lease's life.

// BudgetWorkflowID is the workflow ID of the budget of the webCRM token.
const BudgetWorkflowID = "budget/webcrm"

// BudgetWorkflowName is the name the worker registers BudgetWorkflow under.
const BudgetWorkflowName = "BudgetWorkflow"

// UpdateLease asks the budget for requests; its argument is a LeaseRequest,
// its result a Lease.
const UpdateLease = "lease"

// QueryBudget returns a BudgetStatus: what the budget granted in its window.
const QueryBudget = "budget"

// BudgetStatus is what QueryBudget returns.
type BudgetStatus struct {
	// At is the workflow time the status is of (its last workflow task).
	At time.Time `json:"at"`
	// Granted is the number of requests granted in the window ending at At.
	Granted int `json:"granted"`
	// Limit is what live work may be granted in a window (the token's
	// budget less its reserved share), from the latest lease request; 0
	// before the first.
	Limit int `json:"limit"`
	// Window is the window grants are counted in.
	Window time.Duration `json:"window"`
	// Grants are the grants in the window ending at At, oldest first (at
	// most one per request granted), so a reader counts them at its own
	// time: At is as old as the budget's last lease.
	Grants []Grant `json:"grants,omitempty"`
}

// GrantedAt is the number of requests s's grants hold in the window ending
// at now.
func (s BudgetStatus) GrantedAt(now time.Time) int {
	n := 0
	for _, g := range s.Grants {
		if g.At.After(now.Add(-s.Window)) && !g.At.After(now) {
			n += g.N
		}
	}
	return n
}

// Request classes: live work (polls, a link's changes) may use the whole
// budget; bulk work (backfill pages, reconciliation) leaves LiveHeadroom of it
// to live work, so edits keep flowing while a backfill runs.
const (
	ClassLive = "live"
	ClassBulk = "bulk"
)

// LiveHeadroom is the share of the budget bulk work leaves to live work.
const LiveHeadroom = 0.25

// LeaseTTL is how long a lease's requests may be sent after it is granted.
// The budget counts grants in a window of webCRM's minute plus LeaseTTL, so
// that the requests sent in any minute stay within the budget.
const LeaseTTL = 2 * time.Second

// budgetWindow is the window grants are counted in: webCRM's minute, a
// lease's life, and a second of margin for the clocks of webCRM and Temporal.
const budgetWindow = time.Minute + LeaseTTL + time.Second

// LeaseRequest is the argument of UpdateLease.
type LeaseRequest struct {
	// Holder names the process asking (for the history).
	Holder string `json:"holder"`
	// Class is ClassLive or ClassBulk.
	Class string `json:"class"`
	// Want is the number of requests asked for (1 or more).
	Want int `json:"want"`
	// PerMinute is the token's budget and Reserve the share of it kept for
	// other integrations on the token; the latest request's values apply.
	PerMinute int     `json:"perMinute"`
	Reserve   float64 `json:"reserve,omitempty"`
}

// Lease is the result of UpdateLease: Granted requests, to be sent before
// Until; when none are granted, RetryAfter says when some will be.
type Lease struct {
	Granted    int           `json:"granted"`
	Until      time.Time     `json:"until"`
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
}

// BudgetInput is the input of BudgetWorkflow, carried through
// continue-as-new: the grants still inside the window.
type BudgetInput struct {
	Grants []Grant `json:"grants,omitempty"`
}

// Grant is one lease granted: when, and how many requests.
type Grant struct {
	At time.Time `json:"at"`
	N  int       `json:"n"`
}

// budget decides leases. It is pure: the workflow hands it the time.
type budget struct {
	grants []Grant // oldest first
	limit  int     // live work's limit, from the latest request
}

// status is the budget's status at now. It drops no grant (a query must
// not change the workflow's state).
func (b *budget) status(now time.Time) BudgetStatus {
	st := BudgetStatus{At: now, Limit: b.limit, Window: budgetWindow}
	for _, g := range b.grants {
		if g.At.After(now.Add(-budgetWindow)) {
			st.Grants = append(st.Grants, g)
		}
	}
	st.Granted = st.GrantedAt(now)
	return st
}

// used returns the requests granted in the window ending at now, dropping
// older grants.
func (b *budget) used(now time.Time) int {
	cut := 0
	for cut < len(b.grants) && !b.grants[cut].At.After(now.Add(-budgetWindow)) {
		cut++
	}
	b.grants = b.grants[cut:]
	n := 0
	for _, g := range b.grants {
		n += g.N
	}
	return n
}

// lease grants what req may have at now.
func (b *budget) lease(req LeaseRequest, now time.Time) Lease {
	limit := int(float64(max(req.PerMinute, 1)) * (1 - min(max(req.Reserve, 0), 0.9)))
	b.limit = limit
	if req.Class == ClassBulk {
		limit = int(float64(limit) * (1 - LiveHeadroom))
	}
	free := max(limit-b.used(now), 0)
	n := min(max(req.Want, 1), free)
	if n == 0 {
		// Some frees up when the oldest grant leaves the window.
		wait := time.Second
		if len(b.grants) > 0 {
			wait = max(b.grants[0].At.Add(budgetWindow).Sub(now), 100*time.Millisecond)
		}
		return Lease{RetryAfter: wait}
	}
	b.grants = append(b.grants, Grant{At: now, N: n})
	return Lease{Granted: n, Until: now.Add(LeaseTTL)}
}

// BudgetWorkflow holds the webCRM token's request budget for every process
// that uses the token. It grants leases through UpdateLease, one at a time, and
// continues as new with the grants still in the window when the server
// suggests it. Start it with update-with-start (budget.Pool does).
func BudgetWorkflow(ctx workflow.Context, in BudgetInput) error {
	b := &budget{grants: in.Grants}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateLease, func(ctx workflow.Context, req LeaseRequest) (Lease, error) {
		return b.lease(req, workflow.Now(ctx)), nil
	}, workflow.UpdateHandlerOptions{
		Validator: func(_ workflow.Context, req LeaseRequest) error {
			if req.Class != ClassLive && req.Class != ClassBulk {
				return fmt.Errorf("lease class %q is not %s or %s", req.Class, ClassLive, ClassBulk)
			}
			if req.PerMinute <= 0 {
				return fmt.Errorf("lease request needs the token's perMinute budget")
			}
			return nil
		},
		Description: "Lease webCRM requests from the token's budget.",
	})
	if err != nil {
		return temporal.NewNonRetryableApplicationError("register the lease handler: "+err.Error(), "InvalidInput", nil)
	}
	// A query handler adds no command to the history, so registering it
	// needs no version: histories recorded without it replay the same.
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryBudget, func() (BudgetStatus, error) {
		return b.status(workflow.Now(ctx)), nil
	}, workflow.QueryHandlerOptions{Description: "Requests granted in the budget's window, and the limit."}); err != nil {
		return temporal.NewNonRetryableApplicationError("register the budget query: "+err.Error(), "InvalidInput", nil)
	}
	workflow.SetCurrentDetails(ctx, "The **webCRM request budget** of the API token: every worker and starter leases the requests it sends here.")
	if err := workflow.Await(ctx, func() bool { return workflow.GetInfo(ctx).GetContinueAsNewSuggested() }); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	b.used(workflow.Now(ctx))
	return workflow.NewContinueAsNewError(ctx, BudgetWorkflow, BudgetInput{Grants: b.grants})
}
