package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
)

// TestTheBudgetGrantsNoMoreThanThePerMinuteInAnyWindow: leases are granted
// until the token's budget is spent in the window; then nothing, with the time
// the oldest grant leaves the window; a minute later, again.
func TestTheBudgetGrantsNoMoreThanThePerMinuteInAnyWindow(t *testing.T) {
	var b budget
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	live := LeaseRequest{Class: ClassLive, Want: 5, PerMinute: 12}
	got := 0
	for i := 0; i < 5; i++ {
		l := b.lease(live, at.Add(time.Duration(i)*time.Second))
		got += l.Granted
		if l.Granted > 0 {
			assert.Equal(t, at.Add(time.Duration(i)*time.Second+LeaseTTL), l.Until)
		}
	}
	assert.Equal(t, 12, got, "5, 5, then the 2 left")
	none := b.lease(live, at.Add(10*time.Second))
	assert.Zero(t, none.Granted)
	assert.Equal(t, budgetWindow-10*time.Second, none.RetryAfter, "when the first grant leaves the window")
	again := b.lease(live, at.Add(budgetWindow+time.Millisecond))
	assert.Equal(t, 5, again.Granted, "the first grant has left the window")
}

// TestBulkWorkLeavesHeadroomToLiveWork: a backfill's leases stop short of the
// whole budget, so that polls and links still get requests.
func TestBulkWorkLeavesHeadroomToLiveWork(t *testing.T) {
	var b budget
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	bulk := LeaseRequest{Class: ClassBulk, Want: 10, PerMinute: 100}
	total := 0
	for i := 0; i < 20; i++ {
		total += b.lease(bulk, at).Granted
	}
	assert.Equal(t, 75, total, "bulk work takes at most 1 - LiveHeadroom of the budget")
	live := b.lease(LeaseRequest{Class: ClassLive, Want: 10, PerMinute: 100}, at)
	assert.Equal(t, 10, live.Granted, "live work still gets requests")
}

// TestTheBudgetKeepsTheReserveForOtherIntegrations: a reserved share of the
// token's budget is never granted.
func TestTheBudgetKeepsTheReserveForOtherIntegrations(t *testing.T) {
	var b budget
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	total := 0
	for i := 0; i < 100; i++ {
		total += b.lease(LeaseRequest{Class: ClassLive, Want: 7, PerMinute: 250, Reserve: 0.2}, at).Granted
	}
	assert.Equal(t, 200, total)
	assert.Zero(t, b.lease(LeaseRequest{Class: ClassLive, Want: 1, PerMinute: 250, Reserve: 0.2}, at).Granted)
}

// leaseCall is what one lease update of a test returned.
type leaseCall struct {
	lease    Lease
	rejected error
}

// lease sends a lease update to the budget workflow under test.
func lease(env *testsuite.TestWorkflowEnvironment, id string, req LeaseRequest) *leaseCall {
	c := &leaseCall{}
	env.UpdateWorkflow(UpdateLease, id, &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { c.rejected = err },
		OnComplete: func(v any, err error) {
			switch r := v.(type) {
			case Lease:
				c.lease = r
			case converter.EncodedValue:
				if r != nil && r.HasValue() {
					_ = r.Get(&c.lease)
				}
			}
		},
	}, req)
	return c
}

// TestBudgetWorkflowGrantsLeasesAndRefusesBadRequests runs the workflow: leases
// through the update, shared by every holder, and a request without a known
// class refused by the validator.
func TestBudgetWorkflowGrantsLeasesAndRefusesBadRequests(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: BudgetWorkflowID})
	var first, second, bad *leaseCall
	env.RegisterDelayedCallback(func() {
		first = lease(env, "l1", LeaseRequest{Holder: "w1", Class: ClassLive, Want: 3, PerMinute: 4})
		second = lease(env, "l2", LeaseRequest{Holder: "w2", Class: ClassLive, Want: 3, PerMinute: 4})
		bad = lease(env, "l3", LeaseRequest{Holder: "w3", Class: "fast", Want: 1, PerMinute: 4})
	}, time.Second)
	stopAt(env, time.Minute, nil)
	env.ExecuteWorkflow(BudgetWorkflow, BudgetInput{})
	requireCanceled(t, env)
	assert.Equal(t, 3, first.lease.Granted)
	assert.Equal(t, 1, second.lease.Granted, "the rest of the budget, whoever asks")
	require.Error(t, bad.rejected)
	assert.Contains(t, bad.rejected.Error(), `lease class "fast"`)
}

// TestBudgetWorkflowAnswersWhatItGranted: the budget query tells what was
// granted in the window and the limit, and a grant that left the window no
// longer counts.
func TestBudgetWorkflowAnswersWhatItGranted(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: BudgetWorkflowID})
	var before, after, later BudgetStatus
	query := func(dst *BudgetStatus) {
		v, err := env.QueryWorkflow(QueryBudget)
		require.NoError(t, err)
		require.NoError(t, v.Get(dst))
	}
	env.RegisterDelayedCallback(func() {
		query(&before)
		lease(env, "l1", LeaseRequest{Holder: "w1", Class: ClassLive, Want: 30, PerMinute: 250, Reserve: 0.2})
		lease(env, "l2", LeaseRequest{Holder: "w2", Class: ClassBulk, Want: 12, PerMinute: 250, Reserve: 0.2})
	}, time.Second)
	env.RegisterDelayedCallback(func() { query(&after) }, 2*time.Second)
	env.RegisterDelayedCallback(func() { query(&later) }, time.Second+budgetWindow+time.Second)
	stopAt(env, 3*time.Minute, nil)
	env.ExecuteWorkflow(BudgetWorkflow, BudgetInput{})
	requireCanceled(t, env)
	assert.Equal(t, BudgetStatus{At: before.At, Window: budgetWindow}, before, "nothing granted, no limit known yet")
	assert.Equal(t, 42, after.Granted)
	require.Len(t, after.Grants, 2)
	assert.Equal(t, 42, after.GrantedAt(after.At))
	assert.Zero(t, after.GrantedAt(after.At.Add(budgetWindow)), "read a window later, by a reader's clock")
	assert.Equal(t, 200, after.Limit, "250 less the reserved fifth")
	assert.Equal(t, budgetWindow, after.Window)
	assert.Zero(t, later.Granted, "both grants left the window")
	assert.Equal(t, 200, later.Limit)
}
