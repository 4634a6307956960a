package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/domain"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// backfillScript answers BackfillCount and BackfillPage from fixed data and
// keeps every call in order ("count:<side>" or "page:<side>:<cursor>").
type backfillScript struct {
	counts map[string]int
	// pages maps side and cursor to the page read there.
	pages map[string]map[string]domain.BackfillPageResult

	mu         sync.Mutex
	calls      []string
	pageInputs []domain.BackfillPageInput
	countInput []domain.BackfillCountInput
}

func (s *backfillScript) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// drive registers the script; every page takes pageTime on the workflow clock.
func (s *backfillScript) drive(env *testsuite.TestWorkflowEnvironment, pageTime time.Duration) {
	env.OnActivity(ActivityBackfillCount, mock.Anything, mock.Anything).Return(func(_ context.Context, in domain.BackfillCountInput) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls = append(s.calls, "count:"+string(in.Side))
		s.countInput = append(s.countInput, in)
		return s.counts[string(in.Side)], nil
	})
	page := env.OnActivity(ActivityBackfillPage, mock.Anything, mock.Anything).Return(func(_ context.Context, in domain.BackfillPageInput) (domain.BackfillPageResult, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls = append(s.calls, "page:"+string(in.Side)+":"+in.Cursor)
		s.pageInputs = append(s.pageInputs, in)
		res, ok := s.pages[string(in.Side)][in.Cursor]
		if !ok {
			return domain.BackfillPageResult{}, temporal.NewNonRetryableApplicationError("no page at "+string(in.Side)+" "+in.Cursor, "Test", nil)
		}
		return res, nil
	})
	if pageTime > 0 {
		page.After(pageTime)
	}
}

// webcrmPages is a 12-record webCRM side read in three pages.
func webcrmPages() map[string]domain.BackfillPageResult {
	return map[string]domain.BackfillPageResult{
		"":   {Next: "c1", Seen: 5, Actions: map[string]int{domain.ActionUpdated: 3, domain.ActionNoop: 2}},
		"c1": {Next: "c2", Seen: 5, Failed: 1, Actions: map[string]int{domain.ActionCreatedERP: 4, domain.ActionError: 1}},
		"c2": {Last: true, Seen: 2, Actions: map[string]int{domain.ActionSeen: 2}},
	}
}

func startBackfill(env *testsuite.TestWorkflowEnvironment, in BackfillInput) {
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: BackfillWorkflowID(in.Pairing, in.Side)})
	env.ExecuteWorkflow(BackfillWorkflow, in)
}

func TestBackfillCountsThenPagesToLastPage(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	s := &backfillScript{counts: map[string]int{BackfillWebCRM: 12}, pages: map[string]map[string]domain.BackfillPageResult{BackfillWebCRM: webcrmPages()}}
	s.drive(env, 10*time.Second)
	start := env.Now()
	var during1, during2 BackfillProgress
	env.RegisterDelayedCallback(func() { during1 = query[BackfillProgress](t, env, QueryProgress) }, 5*time.Second)
	env.RegisterDelayedCallback(func() { during2 = query[BackfillProgress](t, env, QueryProgress) }, 15*time.Second)
	since := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	startBackfill(env, BackfillInput{Pairing: testPairing, Side: BackfillWebCRM, Since: since, CountWebCRM: true})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res BackfillProgress
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, []string{"count:webcrm", "page:webcrm:", "page:webcrm:c1", "page:webcrm:c2"}, s.log())
	assert.Equal(t, domain.BackfillCountInput{Pairing: testPairing, Side: BackfillWebCRM, Since: since}, s.countInput[0])
	for _, in := range s.pageInputs {
		assert.Equal(t, 1000, in.PageSize, "default page size")
		assert.Equal(t, 64, in.Concurrency, "default concurrency")
		assert.True(t, since.Equal(in.Since))
		assert.Equal(t, testPairing, in.Pairing)
	}

	assert.Equal(t, "webcrm", during1.Phase)
	assert.Equal(t, 12, during1.Total)
	assert.Zero(t, during1.Done)
	assert.True(t, start.Equal(during1.StartedAt))
	assert.Equal(t, 5, during2.Done)
	assert.Equal(t, "c1", during2.Cursor)
	assert.Equal(t, 1, during2.Pages)
	assert.Equal(t, map[string]int{domain.ActionUpdated: 3, domain.ActionNoop: 2}, during2.Actions)

	assert.Equal(t, "done", res.Phase)
	assert.Equal(t, 12, res.Total)
	assert.Equal(t, 12, res.Done)
	assert.Equal(t, 1, res.Failed)
	assert.Empty(t, res.Cursor)
	assert.Equal(t, map[string]int{domain.ActionUpdated: 3, domain.ActionNoop: 2, domain.ActionCreatedERP: 4, domain.ActionError: 1, domain.ActionSeen: 2}, res.Actions)
	assert.Equal(t, res, query[BackfillProgress](t, env, QueryProgress), "the query shows the final progress too")
}

func TestBackfillBothReadsWebCRMThenERP(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"", BackfillBoth} {
		t.Run("side="+side, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			s := &backfillScript{
				counts: map[string]int{BackfillWebCRM: 3, BackfillERP: 4},
				pages: map[string]map[string]domain.BackfillPageResult{
					BackfillWebCRM: {"": {Last: true, Seen: 3, Actions: map[string]int{domain.ActionMatched: 3}}},
					BackfillERP: {
						"":   {Next: "e1", Seen: 2, Actions: map[string]int{domain.ActionCreatedWebCRM: 2}},
						"e1": {Last: true, Seen: 2, Failed: 2, Actions: map[string]int{domain.ActionBlocked: 2}},
					},
				},
			}
			s.drive(env, 0)
			startBackfill(env, BackfillInput{Pairing: "persons", Side: side, PageSize: 100, Concurrency: 4, CountWebCRM: true})
			require.NoError(t, env.GetWorkflowError())
			var res BackfillProgress
			require.NoError(t, env.GetWorkflowResult(&res))
			assert.Equal(t, []string{"count:webcrm", "page:webcrm:", "count:erp", "page:erp:", "page:erp:e1"}, s.log())
			assert.Equal(t, "done", res.Phase)
			assert.Equal(t, 7, res.Total, "totals of both sides add up")
			assert.Equal(t, 7, res.Done)
			assert.Equal(t, 2, res.Failed)
			assert.Equal(t, map[string]int{domain.ActionMatched: 3, domain.ActionCreatedWebCRM: 2, domain.ActionBlocked: 2}, res.Actions)
			for _, in := range s.pageInputs {
				assert.Equal(t, 100, in.PageSize)
				assert.Equal(t, 4, in.Concurrency)
			}
		})
	}
}

// Counting webCRM costs as many requests as reading it: by default it is not
// counted, the total stays unknown, and a continue-as-new in its phase does
// not start the phase again.
func TestBackfillLeavesWebCRMUncountedByDefault(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	s := &backfillScript{
		counts: map[string]int{BackfillWebCRM: 12, BackfillERP: 4},
		pages: map[string]map[string]domain.BackfillPageResult{
			BackfillWebCRM: webcrmPages(),
			BackfillERP:    {"": {Last: true, Seen: 4}},
		},
	}
	s.drive(env, 10*time.Second)
	var during BackfillProgress
	env.RegisterDelayedCallback(func() { during = query[BackfillProgress](t, env, QueryProgress) }, 15*time.Second)
	startBackfill(env, BackfillInput{Pairing: testPairing})
	require.NoError(t, env.GetWorkflowError())
	var res BackfillProgress
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, []string{"page:webcrm:", "page:webcrm:c1", "page:webcrm:c2", "count:erp", "page:erp:"}, s.log())
	assert.Equal(t, -1, during.Total, "the webCRM side's total is unknown")
	assert.Equal(t, 5, during.Done)
	assert.Equal(t, -1, res.Total, "a total without the webCRM side's would be wrong")
	assert.True(t, res.Uncounted)
	assert.Equal(t, 16, res.Done)
}

func TestBackfillResumesAnUncountedPhaseWithoutStartingItAgain(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	s := &backfillScript{pages: map[string]map[string]domain.BackfillPageResult{BackfillWebCRM: webcrmPages()}}
	s.drive(env, 0)
	p := BackfillProgress{Phase: BackfillWebCRM, Cursor: "c2", Total: -1, Uncounted: true, Done: 10, Pages: 2}
	startBackfill(env, BackfillInput{Pairing: testPairing, Side: BackfillWebCRM, Progress: &p})
	require.NoError(t, env.GetWorkflowError())
	var res BackfillProgress
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, []string{"page:webcrm:c2"}, s.log(), "no count and no page from the start")
	assert.Equal(t, 12, res.Done)
	assert.Equal(t, -1, res.Total)
}

func TestBackfillERPOnly(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	s := &backfillScript{
		counts: map[string]int{BackfillERP: 1},
		pages:  map[string]map[string]domain.BackfillPageResult{BackfillERP: {"": {Last: true, Seen: 1}}},
	}
	s.drive(env, 0)
	startBackfill(env, BackfillInput{Pairing: testPairing, Side: BackfillERP})
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{"count:erp", "page:erp:"}, s.log())
}

func TestBackfillInvalidInput(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]BackfillInput{
		"no pairing": {Side: BackfillWebCRM},
		"bad side":   {Pairing: testPairing, Side: "crm"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			env.ExecuteWorkflow(BackfillWorkflow, in)
			requireInvalidInput(t, env.GetWorkflowError())
		})
	}
}

func TestBackfillPageFailureFailsTheRun(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	s := &backfillScript{counts: map[string]int{BackfillWebCRM: 12}, pages: map[string]map[string]domain.BackfillPageResult{
		BackfillWebCRM: {"": {Next: "gone", Seen: 5}},
	}}
	s.drive(env, 0)
	startBackfill(env, BackfillInput{Pairing: testPairing, Side: BackfillWebCRM})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no page at webcrm gone")
}

func TestBackfillContinuesAsNewAndResumesFromCursor(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	s := &backfillScript{counts: map[string]int{BackfillWebCRM: 12}, pages: map[string]map[string]domain.BackfillPageResult{BackfillWebCRM: webcrmPages()}}
	s.drive(env, 10*time.Second)
	start := env.Now()
	// Suggested while the first page is read: the run continues as new after it.
	env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 5*time.Second)
	in := BackfillInput{Pairing: testPairing, Side: BackfillWebCRM, PageSize: 200, CountWebCRM: true}
	startBackfill(env, in)

	var next BackfillInput
	can := continueAsNew(t, env, &next)
	assert.Equal(t, "BackfillWorkflow", can.WorkflowType.Name)
	assert.Equal(t, []string{"count:webcrm", "page:webcrm:"}, s.log())
	assert.Equal(t, testPairing, next.Pairing)
	assert.Equal(t, BackfillWebCRM, next.Side)
	assert.Equal(t, 200, next.PageSize)
	require.NotNil(t, next.Progress)
	p := *next.Progress
	assert.Equal(t, "webcrm", p.Phase)
	assert.Equal(t, "c1", p.Cursor)
	assert.Equal(t, 12, p.Total)
	assert.Equal(t, 5, p.Done)
	assert.Equal(t, 1, p.Pages)
	assert.True(t, start.Equal(p.StartedAt))
	assert.Equal(t, map[string]int{domain.ActionUpdated: 3, domain.ActionNoop: 2}, p.Actions)

	env2 := newEnv(t)
	s2 := &backfillScript{counts: map[string]int{BackfillWebCRM: 99}, pages: map[string]map[string]domain.BackfillPageResult{BackfillWebCRM: webcrmPages()}}
	s2.drive(env2, 0)
	startBackfill(env2, next)
	require.NoError(t, env2.GetWorkflowError())
	var res BackfillProgress
	require.NoError(t, env2.GetWorkflowResult(&res))
	assert.Equal(t, []string{"page:webcrm:c1", "page:webcrm:c2"}, s2.log(), "resumes at the cursor without counting again")
	assert.Equal(t, 12, res.Total)
	assert.Equal(t, 12, res.Done)
	assert.Equal(t, 1, res.Failed)
	assert.True(t, start.Equal(res.StartedAt), "the start time survives continue-as-new")
	assert.Equal(t, 200, s2.pageInputs[0].PageSize)
}

func TestBackfillContinuedInERPPhaseSkipsWebCRM(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	started := time.Date(2025, 2, 2, 8, 0, 0, 0, time.UTC)
	s := &backfillScript{counts: map[string]int{BackfillWebCRM: 50, BackfillERP: 50}, pages: map[string]map[string]domain.BackfillPageResult{
		BackfillERP: {"e7": {Last: true, Seen: 3, Actions: map[string]int{domain.ActionUpdated: 3}}},
	}}
	s.drive(env, 0)
	startBackfill(env, BackfillInput{Pairing: testPairing, Side: BackfillBoth, Progress: &BackfillProgress{
		Phase: BackfillERP, Cursor: "e7", Total: 20, Done: 17, Pages: 4, StartedAt: started, Actions: map[string]int{domain.ActionUpdated: 17},
	}})
	require.NoError(t, env.GetWorkflowError())
	var res BackfillProgress
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, []string{"page:erp:e7"}, s.log())
	assert.Equal(t, "done", res.Phase)
	assert.Equal(t, 20, res.Total)
	assert.Equal(t, 20, res.Done)
	assert.Equal(t, map[string]int{domain.ActionUpdated: 20}, res.Actions)
}

// handOverScript marks each side and records the hand-over signals.
type handOverScript struct {
	marks     map[string]domain.Positions
	signalErr error

	mu      sync.Mutex
	marked  []string
	signals []domain.Positions
}

func (h *handOverScript) drive(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(ActivityBackfillMark, mock.Anything, mock.Anything).Return(func(_ context.Context, in domain.BackfillCountInput) (domain.Positions, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.marked = append(h.marked, string(in.Side))
		return h.marks[string(in.Side)], nil
	})
	env.OnSignalExternalWorkflow(mock.Anything, PairingWorkflowID(testPairing), "", SignalAdvance, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.signals = append(h.signals, arg.(domain.Positions))
			return h.signalErr
		})
}

func TestBackfillHandsThePairingThePositionsItStartedFrom(t *testing.T) {
	t.Parallel()
	mark := time.Date(2025, 4, 4, 10, 0, 0, 0, time.UTC)
	for name, signalErr := range map[string]error{"pairing runs": nil, "pairing does not run": errors.New("unknown external workflow")} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			s := &backfillScript{counts: map[string]int{BackfillWebCRM: 3, BackfillERP: 1}, pages: map[string]map[string]domain.BackfillPageResult{
				BackfillWebCRM: {"": {Last: true, Seen: 3}},
				BackfillERP:    {"": {Last: true, Seen: 1}},
			}}
			s.drive(env, 0)
			h := &handOverScript{marks: map[string]domain.Positions{BackfillWebCRM: {WebCRMSince: mark}, BackfillERP: {ERPToken: "77"}}, signalErr: signalErr}
			h.drive(env)
			startBackfill(env, BackfillInput{Pairing: testPairing, Side: BackfillBoth})
			require.NoError(t, env.GetWorkflowError(), "a pairing that does not run takes the positions when it starts")
			var res BackfillProgress
			require.NoError(t, env.GetWorkflowResult(&res))
			want := domain.Positions{WebCRMSince: mark, ERPToken: "77"}
			assert.Equal(t, []string{BackfillWebCRM, BackfillERP}, h.marked, "each side is marked before it is read")
			assert.True(t, want.WebCRMSince.Equal(res.From.WebCRMSince))
			assert.Equal(t, want.ERPToken, res.From.ERPToken)
			require.Len(t, h.signals, 1)
			assert.True(t, want.WebCRMSince.Equal(h.signals[0].WebCRMSince))
			assert.Equal(t, want.ERPToken, h.signals[0].ERPToken)
		})
	}
}

func TestBackfillWithSinceHandsNoWebCRMPosition(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	s := &backfillScript{counts: map[string]int{BackfillWebCRM: 3}, pages: map[string]map[string]domain.BackfillPageResult{
		BackfillWebCRM: {"": {Last: true, Seen: 3}},
	}}
	s.drive(env, 0)
	h := &handOverScript{marks: map[string]domain.Positions{BackfillWebCRM: {WebCRMSince: time.Now()}}}
	h.drive(env)
	startBackfill(env, BackfillInput{Pairing: testPairing, Side: BackfillWebCRM, Since: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, env.GetWorkflowError())
	var res BackfillProgress
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Empty(t, h.marked, "a backfill of the records changed since a time does not visit every record")
	assert.True(t, res.From.IsZero())
	assert.Empty(t, h.signals, "nothing to hand over, no signal")
}

func TestReconcilePassesThroughActivityResult(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in        domain.ReconcileInput
		wantShare float64
		res       domain.ReconcileResult
	}{
		"default share": {domain.ReconcileInput{Pairing: testPairing}, 0.1, domain.ReconcileResult{Links: 120, Missing: 3, Dispatched: 3}},
		"guarded":       {domain.ReconcileInput{Pairing: "persons", MaxDeleteShare: 0.05}, 0.05, domain.ReconcileResult{Links: 100, Missing: 40, Guarded: true, Reason: "40 of 100 missing (limit 5%)"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			var got []domain.ReconcileInput
			env.OnActivity(ActivityReconcile, mock.Anything, mock.Anything).Return(func(_ context.Context, in domain.ReconcileInput) (domain.ReconcileResult, error) {
				got = append(got, in)
				return tc.res, nil
			})
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: ReconcileWorkflowID(tc.in.Pairing)})
			env.ExecuteWorkflow(ReconcileWorkflow, tc.in)
			require.NoError(t, env.GetWorkflowError())
			var res domain.ReconcileResult
			require.NoError(t, env.GetWorkflowResult(&res))
			assert.Equal(t, tc.res, res)
			require.Len(t, got, 1)
			assert.Equal(t, domain.ReconcileInput{Pairing: tc.in.Pairing, MaxDeleteShare: tc.wantShare}, got[0])
		})
	}
}

func TestReconcileActivityFailureFailsAfterThreeAttempts(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	calls := 0
	env.OnActivity(ActivityReconcile, mock.Anything, mock.Anything).Return(func(context.Context, domain.ReconcileInput) (domain.ReconcileResult, error) {
		calls++
		return domain.ReconcileResult{}, temporal.NewApplicationError("ERP list customers: 500", "Server")
	})
	env.ExecuteWorkflow(ReconcileWorkflow, domain.ReconcileInput{Pairing: testPairing})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ERP list customers: 500")
	assert.Equal(t, 3, calls)
}

func TestReconcileInvalidInput(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.ExecuteWorkflow(ReconcileWorkflow, domain.ReconcileInput{})
	requireInvalidInput(t, env.GetWorkflowError())
}
