package workflows

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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

// syncCall is one call of a sync stand-in.
type syncCall struct {
	activity string
	in       domain.SyncInput
	at       time.Time
}

// syncRecorder answers SyncWebCRM and SyncERP with scripted functions and
// keeps every call of both, in order.
type syncRecorder struct {
	mu    sync.Mutex
	calls []syncCall
}

func (r *syncRecorder) list(activity string) []syncCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []syncCall
	for _, c := range r.calls {
		if activity == "" || c.activity == activity {
			out = append(out, c)
		}
	}
	return out
}

// offsets returns when each call of activity came, counted from start.
func (r *syncRecorder) offsets(activity string, start time.Time) []time.Duration {
	var out []time.Duration
	for _, c := range r.list(activity) {
		out = append(out, c.at.Sub(start))
	}
	return out
}

// drive makes the named activity answer answer(n, in), n counting that
// activity's calls from 0.
func (r *syncRecorder) drive(env *testsuite.TestWorkflowEnvironment, activity string, answer func(n int, in domain.SyncInput) (domain.SyncResult, error)) {
	env.OnActivity(activity, mock.Anything, mock.Anything).Return(func(_ context.Context, in domain.SyncInput) (domain.SyncResult, error) {
		r.mu.Lock()
		n := 0
		for _, c := range r.calls {
			if c.activity == activity {
				n++
			}
		}
		r.calls = append(r.calls, syncCall{activity: activity, in: in, at: env.Now()})
		r.mu.Unlock()
		return answer(n, in)
	})
}

// base is the webCRM time the pairing tests start from.
var base = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// webcrmStep advances the watermark by a minute per call and reports one record seen.
func webcrmStep(more func(n int) bool) func(int, domain.SyncInput) (domain.SyncResult, error) {
	return func(n int, in domain.SyncInput) (domain.SyncResult, error) {
		next := in.Since.Add(time.Minute)
		return domain.SyncResult{
			Next: next, Recent: []string{fmt.Sprintf("%d@%s", n+1, next.Format(time.RFC3339))},
			Seen: 2, Dispatched: 1, Skipped: 1, More: more(n),
		}, nil
	}
}

// erpStep advances the feed token by one per call.
func erpStep(more func(n int) bool) func(int, domain.SyncInput) (domain.SyncResult, error) {
	return func(n int, in domain.SyncInput) (domain.SyncResult, error) {
		tok, _ := strconv.Atoi(in.Token)
		return domain.SyncResult{NextToken: strconv.Itoa(tok + 1), Seen: 3, Dispatched: 3, More: more(n)}, nil
	}
}

func never(int) bool { return false }

// steadyPairingEnv returns an environment whose sync stand-ins read one
// batch per side and call, advancing watermark and token each time.
func steadyPairingEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *syncRecorder) {
	t.Helper()
	env := newEnv(t)
	rec := &syncRecorder{}
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(never))
	rec.drive(env, ActivitySyncERP, erpStep(never))
	return env, rec
}

// startPairing runs PairingWorkflow under its real workflow ID.
func startPairing(env *testsuite.TestWorkflowEnvironment, in PairingInput) {
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: PairingWorkflowID(in.Pairing)})
	env.ExecuteWorkflow(PairingWorkflow, in)
}

func TestPairingPollSyncsWebCRMThenERPWhileMore(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var rec syncRecorder
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(func(n int) bool { return n < 2 }))
	rec.drive(env, ActivitySyncERP, erpStep(func(n int) bool { return n < 1 }))
	var st PairingStatus
	start := env.Now()
	stopAt(env, 10*time.Second, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, WebCRMSince: base, ERPToken: "40", Recent: []string{"9@x"}})
	requireCanceled(t, env)

	calls := rec.list("")
	var order []string
	for _, c := range calls {
		order = append(order, c.activity)
	}
	assert.Equal(t, []string{ActivitySyncWebCRM, ActivitySyncWebCRM, ActivitySyncWebCRM, ActivitySyncERP, ActivitySyncERP}, order,
		"one poll reads webCRM until More is false, then the ERP feed")

	crm := rec.list(ActivitySyncWebCRM)
	assert.Equal(t, domain.SyncInput{Pairing: testPairing, Since: base, Overlap: DefaultOverlap, ReadWindow: true, Recent: []string{"9@x"}, Limit: domain.DefaultBatchSize}, crm[0].in)
	for i := 1; i < len(crm); i++ {
		assert.False(t, crm[i].in.ReadWindow, "only the first call of a poll reads the overlap window")
	}
	for i := 1; i < len(crm); i++ {
		want := base.Add(time.Duration(i) * time.Minute)
		assert.True(t, want.Equal(crm[i].in.Since), "call %d starts at the previous result's watermark", i)
		assert.Equal(t, []string{fmt.Sprintf("%d@%s", i, want.Format(time.RFC3339))}, crm[i].in.Recent, "call %d gets the previous Recent", i)
	}
	erp := rec.list(ActivitySyncERP)
	assert.Equal(t, domain.SyncInput{Pairing: testPairing, Token: "40", Limit: domain.DefaultBatchSize}, erp[0].in)
	assert.Equal(t, "41", erp[1].in.Token)

	assert.Equal(t, testPairing, st.Pairing)
	assert.False(t, st.Paused)
	assert.Equal(t, DefaultPollInterval, st.PollInterval)
	assert.True(t, base.Add(3*time.Minute).Equal(st.WebCRMWatermark), "watermark %v", st.WebCRMWatermark)
	assert.Equal(t, "42", st.ERPToken)
	assert.True(t, start.Equal(st.LastPollAt), "last poll at %v, want %v", st.LastPollAt, start)
	assert.Empty(t, st.LastError)
	assert.Equal(t, PairingCounters{Polls: 1, Seen: 3*2 + 2*3, Dispatched: 3*1 + 2*3}, st.Totals)
}

func TestPairingPollIsBoundedPerSide(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var rec syncRecorder
	always := func(int) bool { return true }
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(always))
	rec.drive(env, ActivitySyncERP, erpStep(always))
	stopAt(env, 10*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 60})
	requireCanceled(t, env)
	assert.Len(t, rec.list(ActivitySyncWebCRM), maxBatchesPerPoll)
	assert.Len(t, rec.list(ActivitySyncERP), maxBatchesPerPoll)
}

func TestPairingPollsEveryInterval(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	start := env.Now()
	var st PairingStatus
	stopAt(env, 35*time.Second, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, OverlapSeconds: 2, BatchSize: 50})
	requireCanceled(t, env)
	crm := rec.list(ActivitySyncWebCRM)
	require.Len(t, crm, 4, "polls at 0, 10, 20 and 30 s")
	for i, c := range crm {
		assert.Equal(t, time.Duration(i)*10*time.Second, c.at.Sub(start), "poll %d", i)
		assert.Equal(t, 2*time.Second, c.in.Overlap)
		assert.Equal(t, 50, c.in.Limit)
	}
	assert.Equal(t, 4, st.Totals.Polls)
	assert.Equal(t, 10*time.Second, st.PollInterval)
}

// TestPairingPollsStartEveryIntervalHoweverLongTheyTake: a poll's own time is
// not added to the wait, so a change waits at most one interval for a poll; a
// poll longer than the interval is followed after minPollGap.
func TestPairingPollsStartEveryIntervalHoweverLongTheyTake(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	rec := &syncRecorder{}
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(never))
	// The ERP side of each poll takes 3 s, except the third poll's, which takes 14 s.
	erp := func(context.Context, domain.SyncInput) (domain.SyncResult, error) {
		return domain.SyncResult{NextToken: "1"}, nil
	}
	env.OnActivity(ActivitySyncERP, mock.Anything, mock.Anything).Return(erp).After(3 * time.Second).Twice()
	env.OnActivity(ActivitySyncERP, mock.Anything, mock.Anything).Return(erp).After(14 * time.Second).Once()
	env.OnActivity(ActivitySyncERP, mock.Anything, mock.Anything).Return(erp).After(3 * time.Second)
	start := env.Now()
	stopAt(env, 44*time.Second, func() {})
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, BatchSize: 50})
	requireCanceled(t, env)
	at := rec.offsets(ActivitySyncWebCRM, start)
	assert.Equal(t, []time.Duration{0, 10 * time.Second, 20 * time.Second, 35 * time.Second}, at)
}

func TestPairingKeepsWatermarksOnFailureAndRecordsLastError(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var rec syncRecorder
	okCRM := webcrmStep(never)
	okERP := erpStep(never)
	// Poll 1 succeeds; in poll 2 webCRM fails (3 attempts), in poll 3 the
	// ERP feed fails (3 attempts); poll 4 succeeds.
	rec.drive(env, ActivitySyncWebCRM, func(n int, in domain.SyncInput) (domain.SyncResult, error) {
		if n >= 1 && n <= 3 {
			return domain.SyncResult{}, temporal.NewApplicationError("webCRM /Queries: 503 Service Unavailable", "Server")
		}
		return okCRM(n, in)
	})
	rec.drive(env, ActivitySyncERP, func(n int, in domain.SyncInput) (domain.SyncResult, error) {
		if n >= 2 && n <= 4 {
			return domain.SyncResult{}, temporal.NewApplicationError("ERP /changes: connection reset", "Network")
		}
		return okERP(n, in)
	})
	statuses := map[int]PairingStatus{}
	for poll := 1; poll <= 4; poll++ {
		// Polls start every 100 s; each is over well within 20 s (retries take 2+4 s).
		env.RegisterDelayedCallback(func() { statuses[poll] = query[PairingStatus](t, env, QueryStatus) }, time.Duration(poll-1)*100*time.Second+50*time.Second)
	}
	stopAt(env, 360*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 100, WebCRMSince: base, ERPToken: "7"})
	requireCanceled(t, env)

	s1, s2, s3, s4 := statuses[1], statuses[2], statuses[3], statuses[4]
	assert.True(t, base.Add(time.Minute).Equal(s1.WebCRMWatermark))
	assert.Equal(t, "8", s1.ERPToken)
	assert.Empty(t, s1.LastError)

	assert.True(t, s1.WebCRMWatermark.Equal(s2.WebCRMWatermark), "a failed webCRM poll keeps its watermark")
	assert.Equal(t, "9", s2.ERPToken, "the ERP side still advances")
	assert.Contains(t, s2.LastError, "webCRM poll failed")
	assert.Contains(t, s2.LastError, "503 Service Unavailable")
	assert.Equal(t, 1, s2.Totals.Polls, "a failed poll does not count as a poll")

	assert.True(t, base.Add(2*time.Minute).Equal(s3.WebCRMWatermark))
	assert.Equal(t, "9", s3.ERPToken, "a failed ERP poll keeps its token")
	assert.Contains(t, s3.LastError, "ERP poll failed")
	assert.Contains(t, s3.LastError, "connection reset")

	assert.Empty(t, s4.LastError, "a good poll clears the last error")
	assert.Equal(t, "10", s4.ERPToken)
	assert.True(t, base.Add(3*time.Minute).Equal(s4.WebCRMWatermark))

	crm := rec.list(ActivitySyncWebCRM)
	require.Len(t, crm, 6, "1 + 3 attempts + 1 + 1")
	for i := 1; i <= 4; i++ {
		assert.True(t, base.Add(time.Minute).Equal(crm[i].in.Since), "call %d reads again from the kept watermark", i)
	}
	erp := rec.list(ActivitySyncERP)
	require.Len(t, erp, 6)
	assert.Equal(t, "9", erp[5].in.Token, "the ERP feed resumes from the kept token")
}

func TestPairingMassDeleteGuardPausesWithReason(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var rec syncRecorder
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(never))
	rec.drive(env, ActivitySyncERP, func(int, domain.SyncInput) (domain.SyncResult, error) {
		return domain.SyncResult{}, temporal.NewApplicationError("37 of 120 links would be deleted (limit 10%)", ErrTypeMassDelete)
	})
	var st PairingStatus
	stopAt(env, time.Hour, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, ERPToken: "5"})
	requireCanceled(t, env)

	assert.Len(t, rec.list(ActivitySyncERP), 1, "the guard error is not retried")
	assert.Len(t, rec.list(ActivitySyncWebCRM), 1, "a paused pairing does not poll again")
	assert.True(t, st.Paused)
	assert.Equal(t, "mass-delete guard: 37 of 120 links would be deleted (limit 10%)", st.PauseReason)
	assert.Contains(t, st.LastError, "ERP poll failed")
	assert.Equal(t, "5", st.ERPToken)
}

// Regression: when the mass-delete guard stopped the webCRM side, the same
// poll once went on to read and dispatch the ERP feed although the pairing
// had just paused itself.
func TestPairingMassDeleteGuardStopsThePoll(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var rec syncRecorder
	rec.drive(env, ActivitySyncWebCRM, func(int, domain.SyncInput) (domain.SyncResult, error) {
		return domain.SyncResult{}, temporal.NewApplicationError("30 of 40 links would be deleted", ErrTypeMassDelete)
	})
	rec.drive(env, ActivitySyncERP, erpStep(never))
	var st PairingStatus
	stopAt(env, time.Hour, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, ERPToken: "5"})
	requireCanceled(t, env)
	assert.True(t, st.Paused)
	assert.Equal(t, "mass-delete guard: 30 of 40 links would be deleted", st.PauseReason)
	assert.Empty(t, rec.list(ActivitySyncERP), "a pairing paused by the guard dispatches nothing more")
	assert.Equal(t, "5", st.ERPToken)
}

// guardERP answers the ERP poll like the mass-delete guard: the batch from
// token 5 holds three deletes, which pass only when all are allowed.
func guardERP(n int, in domain.SyncInput) (domain.SyncResult, error) {
	held := []string{"CU-1", "CU-2", "CU-3"}
	if in.Token == "5" && !slices.Equal(in.AllowDeletes, held) {
		return domain.SyncResult{}, temporal.NewNonRetryableApplicationError("3 ERP deletes in one batch is more than 10% of the 20 records the ERP had", ErrTypeMassDelete, nil,
			domain.HeldDeletes{Token: "5", IDs: held, Records: 20})
	}
	return erpStep(never)(n, in)
}

func TestPairingReleaseLetsExactlyTheHeldDeletesThrough(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var rec syncRecorder
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(never))
	rec.drive(env, ActivitySyncERP, guardERP)
	var tripped, resumed, released PairingStatus
	env.RegisterDelayedCallback(func() { tripped = query[PairingStatus](t, env, QueryStatus) }, time.Minute)
	// A plain resume reads the same batch and trips the guard again.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalResume, nil) }, 2*time.Minute)
	env.RegisterDelayedCallback(func() { resumed = query[PairingStatus](t, env, QueryStatus) }, 3*time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalReleaseDeletes, DeleteRelease{By: "ann", Reason: "archived on purpose", Count: 3})
	}, 4*time.Minute)
	env.RegisterDelayedCallback(func() { released = query[PairingStatus](t, env, QueryStatus) }, 5*time.Minute)
	stopAt(env, time.Hour, nil)
	startPairing(env, PairingInput{Pairing: testPairing, ERPToken: "5", PollIntervalSeconds: 30})
	requireCanceled(t, env)

	require.True(t, tripped.Paused)
	require.NotNil(t, tripped.HeldDeletes)
	assert.Equal(t, []string{"CU-1", "CU-2", "CU-3"}, tripped.HeldDeletes.IDs)
	assert.True(t, resumed.Paused, "a plain resume trips the guard again")
	assert.NotNil(t, resumed.HeldDeletes)

	assert.False(t, released.Paused)
	assert.Nil(t, released.HeldDeletes)
	require.NotNil(t, released.LastRelease)
	assert.Equal(t, "ann", released.LastRelease.By)
	assert.Equal(t, "archived on purpose", released.LastRelease.Reason)
	assert.NotEqual(t, "5", released.ERPToken, "the batch passed the guard")
	calls := rec.list(ActivitySyncERP)
	var allowed []domain.SyncInput
	for _, c := range calls {
		if len(c.in.AllowDeletes) > 0 {
			allowed = append(allowed, c.in)
		}
	}
	require.Len(t, allowed, 1, "the release is spent by the read that passes it")
	assert.Equal(t, "5", allowed[0].Token)
	assert.Greater(t, len(calls), len(allowed)+2, "the pairing polls on after the release")
}

func TestPairingReleaseOfAnotherCountOrOfNothingChangesNothing(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var rec syncRecorder
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(never))
	rec.drive(env, ActivitySyncERP, guardERP)
	var wrong PairingStatus
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalReleaseDeletes, DeleteRelease{By: "ann", Count: 2})
	}, time.Minute)
	env.RegisterDelayedCallback(func() { wrong = query[PairingStatus](t, env, QueryStatus) }, 2*time.Minute)
	stopAt(env, time.Hour, nil)
	startPairing(env, PairingInput{Pairing: testPairing, ERPToken: "5"})
	requireCanceled(t, env)
	assert.True(t, wrong.Paused, "a release naming another number of deletes is refused")
	assert.NotNil(t, wrong.HeldDeletes)
	assert.Nil(t, wrong.LastRelease)

	env2, rec2 := steadyPairingEnv(t)
	var none PairingStatus
	env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(SignalReleaseDeletes, DeleteRelease{By: "ann"}) }, time.Minute)
	env2.RegisterDelayedCallback(func() { none = query[PairingStatus](t, env2, QueryStatus) }, 2*time.Minute)
	stopAt(env2, 3*time.Minute, nil)
	startPairing(env2, PairingInput{Pairing: testPairing, ERPToken: "5", PollIntervalSeconds: 30})
	requireCanceled(t, env2)
	assert.Nil(t, none.LastRelease, "nothing held, nothing released")
	for _, c := range rec2.list(ActivitySyncERP) {
		assert.Empty(t, c.in.AllowDeletes)
	}
}

func TestPairingPokePollsBeforeInterval(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPoke, nil) }, 5*time.Second)
	stopAt(env, 70*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 60})
	requireCanceled(t, env)
	at := rec.offsets(ActivitySyncERP, start)
	assert.Equal(t, []time.Duration{0, 5 * time.Second, 65 * time.Second}, at,
		"start, poke, then a full interval after the poked poll")
}

func TestPairingPauseStopsPollingAndResumeRestarts(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	start := env.Now()
	var paused, defaultReason, resumed PairingStatus
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPause, "ERP maintenance") }, 5*time.Second)
	env.RegisterDelayedCallback(func() { paused = query[PairingStatus](t, env, QueryStatus) }, 6*time.Second)
	// Pokes while paused do not poll.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPoke, nil) }, 100*time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalResume, nil) }, 200*time.Second)
	env.RegisterDelayedCallback(func() { resumed = query[PairingStatus](t, env, QueryStatus) }, 201*time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPause, "") }, 210*time.Second)
	env.RegisterDelayedCallback(func() { defaultReason = query[PairingStatus](t, env, QueryStatus) }, 211*time.Second)
	stopAt(env, time.Hour, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 30})
	requireCanceled(t, env)

	at := rec.offsets(ActivitySyncWebCRM, start)
	assert.Equal(t, []time.Duration{0, 200 * time.Second}, at, "no polls while paused; resume polls at once")
	assert.True(t, paused.Paused)
	assert.Equal(t, "ERP maintenance", paused.PauseReason)
	assert.False(t, resumed.Paused)
	assert.Empty(t, resumed.PauseReason)
	assert.Equal(t, 2, resumed.Totals.Polls)
	assert.True(t, defaultReason.Paused)
	assert.Equal(t, "paused by an operator", defaultReason.PauseReason)
}

func TestPairingStartedPausedWaitsForResume(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	var before PairingStatus
	env.RegisterDelayedCallback(func() { before = query[PairingStatus](t, env, QueryStatus) }, 30*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalResume, nil) }, time.Hour)
	stopAt(env, time.Hour+time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, Paused: true, PauseReason: "set up first"})
	requireCanceled(t, env)
	assert.True(t, before.Paused)
	assert.Equal(t, "set up first", before.PauseReason)
	assert.Zero(t, before.Totals.Polls)
	assert.Len(t, rec.list(ActivitySyncWebCRM), 1)
}

func TestPairingKeepsLastTenFailedLinksOfAPoll(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	var rec syncRecorder
	rec.drive(env, ActivitySyncWebCRM, func(n int, in domain.SyncInput) (domain.SyncResult, error) {
		res, _ := webcrmStep(func(n int) bool { return n < 1 })(n, in)
		if n < 2 {
			for i := 0; i < 6; i++ {
				res.FailedLinks = append(res.FailedLinks, fmt.Sprintf("link/organisations/webcrm/%d", n*6+i))
			}
			res.Failed = 6
		}
		return res, nil
	})
	rec.drive(env, ActivitySyncERP, erpStep(never))
	var first, second PairingStatus
	env.RegisterDelayedCallback(func() { first = query[PairingStatus](t, env, QueryStatus) }, 10*time.Second)
	stopAt(env, 40*time.Second, func() { second = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing})
	requireCanceled(t, env)
	require.Len(t, first.FailedLinks, 10)
	assert.Equal(t, "link/organisations/webcrm/2", first.FailedLinks[0])
	assert.Equal(t, "link/organisations/webcrm/11", first.FailedLinks[9])
	assert.Equal(t, 12, first.Totals.Failed)
	assert.Empty(t, second.FailedLinks, "each poll reports its own failed links")
	assert.Equal(t, 12, second.Totals.Failed)
}

func TestPairingContinuesAsNewCarryingWatermarks(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	env.RegisterDelayedCallback(func() {
		env.SetContinueAsNewSuggested(true)
		env.SignalWorkflow(SignalPoke, nil)
	}, 5*time.Second)
	in := PairingInput{Pairing: testPairing, PollIntervalSeconds: 60, OverlapSeconds: 3, BatchSize: 100, WebCRMSince: base, ERPToken: "1",
		Totals: PairingCounters{Polls: 10, Seen: 100, Dispatched: 90, Failed: 1}}
	startPairing(env, in)

	var next PairingInput
	can := continueAsNew(t, env, &next)
	assert.Equal(t, "PairingWorkflow", can.WorkflowType.Name)
	assert.Len(t, rec.list(ActivitySyncWebCRM), 2, "the poked poll runs before continuing as new")
	assert.Equal(t, testPairing, next.Pairing)
	assert.Equal(t, 60, next.PollIntervalSeconds)
	assert.Equal(t, 3, next.OverlapSeconds)
	assert.Equal(t, 100, next.BatchSize)
	assert.True(t, base.Add(2*time.Minute).Equal(next.WebCRMSince), "watermark %v", next.WebCRMSince)
	assert.Equal(t, "3", next.ERPToken)
	assert.Equal(t, []string{"2@" + base.Add(2*time.Minute).Format(time.RFC3339)}, next.Recent)
	assert.Equal(t, PairingCounters{Polls: 12, Seen: 100 + 2*5, Dispatched: 90 + 2*4, Failed: 1}, next.Totals)
	assert.False(t, next.Paused)
}

func TestPairingContinuesAsNewCarryingPause(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	env.RegisterDelayedCallback(func() {
		env.SetContinueAsNewSuggested(true)
		env.SignalWorkflow(SignalPause, "holiday freeze")
	}, 5*time.Second)
	startPairing(env, PairingInput{Pairing: testPairing, WebCRMSince: base})
	var next PairingInput
	continueAsNew(t, env, &next)
	assert.Len(t, rec.list(ActivitySyncWebCRM), 1, "no poll once paused")
	assert.True(t, next.Paused)
	assert.Equal(t, "holiday freeze", next.PauseReason)
	assert.True(t, base.Add(time.Minute).Equal(next.WebCRMSince))
	assert.Equal(t, "1", next.ERPToken)
	assert.Equal(t, 1, next.Totals.Polls)

	// The continued run starts paused and keeps its watermarks.
	env2, rec2 := steadyPairingEnv(t)
	var st PairingStatus
	env2.RegisterDelayedCallback(func() { st = query[PairingStatus](t, env2, QueryStatus) }, time.Minute)
	env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(SignalResume, nil) }, 2*time.Minute)
	stopAt(env2, 2*time.Minute+time.Second, nil)
	startPairing(env2, next)
	requireCanceled(t, env2)
	assert.True(t, st.Paused)
	assert.Equal(t, "holiday freeze", st.PauseReason)
	assert.Equal(t, 1, st.Totals.Polls)
	calls := rec2.list(ActivitySyncWebCRM)
	require.Len(t, calls, 1)
	assert.True(t, base.Add(time.Minute).Equal(calls[0].in.Since))
	assert.Equal(t, "1", rec2.list(ActivitySyncERP)[0].in.Token)
}

func TestPairingInvalidInput(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.ExecuteWorkflow(PairingWorkflow, PairingInput{PollIntervalSeconds: 10})
	requireInvalidInput(t, env.GetWorkflowError())
}

// Regression: cancelling a running pairing once made it spin (its cancelled
// poll timer was ready at once and wait returned nil), ending in a
// deadlock report (TMPRL1101) instead of a cancellation.
func TestPairingCancelEndsRunningPairing(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	stopAt(env, 10*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing})
	requireCanceled(t, env)
	assert.Len(t, rec.list(ActivitySyncWebCRM), 1)
}

// Regression: a paused pairing once waited on signal channels only, so a
// cancellation request never ended it.
func TestPairingCancelEndsPausedPairing(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	stopAt(env, 10*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, Paused: true})
	requireCanceled(t, env)
}

// startPositionsCalls drives StartPositions with from and counts its calls.
func startPositionsCalls(env *testsuite.TestWorkflowEnvironment, from domain.Positions, err error) *int {
	calls := new(int)
	env.OnActivity(ActivityStartPositions, mock.Anything, testPairing).Return(func(context.Context, string) (domain.Positions, error) {
		*calls++
		return from, err
	})
	return calls
}

func TestPairingStartsFromTheBackfillsPositions(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	mark := base.Add(48 * time.Hour)
	calls := startPositionsCalls(env, domain.Positions{WebCRMSince: mark, ERPToken: "900"}, nil)
	stopAt(env, 5*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing})
	requireCanceled(t, env)
	assert.Equal(t, 1, *calls)
	require.NotEmpty(t, rec.list(ActivitySyncWebCRM))
	assert.True(t, mark.Equal(rec.list(ActivitySyncWebCRM)[0].in.Since), "the first poll reads webCRM from the backfill's mark")
	assert.Equal(t, "900", rec.list(ActivitySyncERP)[0].in.Token, "and the ERP feed from the backfill's token")
}

func TestPairingKeepsThePositionsItsInputNames(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	calls := startPositionsCalls(env, domain.Positions{WebCRMSince: base.Add(48 * time.Hour), ERPToken: "900"}, nil)
	stopAt(env, 5*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, WebCRMSince: base})
	requireCanceled(t, env)
	assert.Equal(t, 1, *calls, "the ERP side has no position of its own")
	assert.True(t, base.Equal(rec.list(ActivitySyncWebCRM)[0].in.Since), "an operator's webCRM position wins")
	assert.Equal(t, "900", rec.list(ActivitySyncERP)[0].in.Token)
}

func TestPairingWithPositionsOrPollsLooksNothingUp(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]PairingInput{
		"both positions given": {Pairing: testPairing, WebCRMSince: base, ERPToken: "5"},
		"continued as new":     {Pairing: testPairing, Totals: PairingCounters{Polls: 3}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, rec := steadyPairingEnv(t)
			calls := startPositionsCalls(env, domain.Positions{WebCRMSince: base.Add(time.Hour), ERPToken: "900"}, nil)
			stopAt(env, 5*time.Second, nil)
			startPairing(env, in)
			requireCanceled(t, env)
			assert.Zero(t, *calls)
			assert.True(t, in.WebCRMSince.Equal(rec.list(ActivitySyncWebCRM)[0].in.Since))
			assert.Equal(t, in.ERPToken, rec.list(ActivitySyncERP)[0].in.Token)
		})
	}
}

func TestPairingReadsFromTheBeginningWhenTheLookUpFails(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	calls := startPositionsCalls(env, domain.Positions{}, temporal.NewApplicationError("Temporal unreachable", "Test"))
	stopAt(env, 30*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing})
	requireCanceled(t, env)
	assert.Equal(t, 3, *calls, "three attempts")
	require.NotEmpty(t, rec.list(ActivitySyncWebCRM), "the pairing polls all the same")
	assert.True(t, rec.list(ActivitySyncWebCRM)[0].in.Since.IsZero())
	assert.Empty(t, rec.list(ActivitySyncERP)[0].in.Token)
}

func TestPairingAdvanceMovesPositionsForwardOnly(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	later := base.Add(24 * time.Hour)
	// A poll at 0 s moves the watermark to base+1m and the token to 6. A
	// backfill then hands over a later webCRM mark and a token; another an
	// earlier mark.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalAdvance, domain.Positions{WebCRMSince: later, ERPToken: "900"}) }, 2*time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalAdvance, domain.Positions{WebCRMSince: base}) }, 3*time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPoke, nil) }, 4*time.Second)
	stopAt(env, 5*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, WebCRMSince: base, ERPToken: "5", PollIntervalSeconds: 60})
	requireCanceled(t, env)
	crm, erp := rec.list(ActivitySyncWebCRM), rec.list(ActivitySyncERP)
	require.Len(t, crm, 2)
	assert.True(t, later.Equal(crm[1].in.Since), "the webCRM watermark moves to the later mark and not back: %v", crm[1].in.Since)
	assert.Equal(t, "6", erp[1].in.Token, "a pairing with an ERP token of its own keeps it")
}

func TestPairingAdvanceSetsAnERPTokenItDoesNotHave(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	rec := &syncRecorder{}
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(never))
	rec.drive(env, ActivitySyncERP, func(int, domain.SyncInput) (domain.SyncResult, error) { return domain.SyncResult{}, nil }) // an empty feed
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalAdvance, domain.Positions{ERPToken: "900"}) }, 2*time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPoke, nil) }, 4*time.Second)
	stopAt(env, 5*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, WebCRMSince: base, PollIntervalSeconds: 60})
	requireCanceled(t, env)
	erp := rec.list(ActivitySyncERP)
	require.Len(t, erp, 2)
	assert.Equal(t, "900", erp[1].in.Token)
}

func TestPairingReadsTheERPFeedMoreOftenThanWebCRM(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	start := env.Now()
	var st PairingStatus
	stopAt(env, 11*time.Second, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, ERPPollIntervalSeconds: 2, WebCRMSince: base, ERPToken: "1", NoERPLongPoll: true})
	requireCanceled(t, env)
	assert.Equal(t, []time.Duration{0, 10 * time.Second}, rec.offsets(ActivitySyncWebCRM, start), "webCRM every poll interval")
	assert.Equal(t, []time.Duration{0, 2 * time.Second, 4 * time.Second, 6 * time.Second, 8 * time.Second, 10 * time.Second}, rec.offsets(ActivitySyncERP, start),
		"the ERP feed every ERP poll interval")
	assert.Equal(t, 2, st.Totals.Polls, "only polls that read both sides count")
	assert.Equal(t, "7", st.ERPToken)
	assert.Equal(t, 2*time.Second, st.ERPPollInterval)
}

func TestPairingPokeReadsBothSidesBetweenERPPolls(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPoke, nil) }, 3*time.Second)
	stopAt(env, 12*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, ERPPollIntervalSeconds: 4, WebCRMSince: base, ERPToken: "1", NoERPLongPoll: true})
	requireCanceled(t, env)
	crm := rec.offsets(ActivitySyncWebCRM, start)
	assert.Equal(t, []time.Duration{0, 3 * time.Second}, crm, "the poke reads webCRM at once, and the next webCRM read is an interval after it")
}

func TestPairingERPIntervalNotShorterThanThePollIntervalReadsBothTogether(t *testing.T) {
	t.Parallel()
	env, rec := steadyPairingEnv(t)
	var st PairingStatus
	stopAt(env, 25*time.Second, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, ERPPollIntervalSeconds: 10, WebCRMSince: base, ERPToken: "1"})
	requireCanceled(t, env)
	assert.Len(t, rec.list(ActivitySyncWebCRM), 3)
	assert.Len(t, rec.list(ActivitySyncERP), 3)
	assert.Zero(t, st.ERPPollInterval)
}

func TestPairingKeepsAWebCRMErrorThroughERPOnlyPolls(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	rec := &syncRecorder{}
	rec.drive(env, ActivitySyncWebCRM, func(int, domain.SyncInput) (domain.SyncResult, error) {
		return domain.SyncResult{}, temporal.NewNonRetryableApplicationError("webCRM says 401", "Unauthorized", nil)
	})
	rec.drive(env, ActivitySyncERP, erpStep(never))
	var st PairingStatus
	stopAt(env, 7*time.Second, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 30, ERPPollIntervalSeconds: 2, WebCRMSince: base, ERPToken: "1", NoERPLongPoll: true})
	requireCanceled(t, env)
	require.Len(t, rec.list(ActivitySyncERP), 4, "ERP feed read at 0, 2, 4 and 6 s")
	assert.Contains(t, st.LastError, "webCRM poll failed", "the webCRM error stays shown until webCRM is read again")
	assert.Contains(t, st.LastError, "401")
	assert.Zero(t, st.Totals.Polls)
}

// TestPairingReadsASettledWindowNoMore: while the watermark stays, the
// overlap window before it is read until a poll starts overlap+windowSettle
// after it, and then no more (a bulk import inside the window is not read
// again every poll).
func TestPairingReadsASettledWindowNoMore(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	rec := &syncRecorder{}
	still := func(_ int, in domain.SyncInput) (domain.SyncResult, error) {
		return domain.SyncResult{Next: in.Since}, nil
	} // nothing new
	rec.drive(env, ActivitySyncWebCRM, still)
	rec.drive(env, ActivitySyncERP, erpStep(never))
	watermark := env.Now().Add(-2 * time.Second).UTC()
	var st PairingStatus
	stopAt(env, 35*time.Second, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, WebCRMSince: watermark, ERPToken: "1"})
	requireCanceled(t, env)
	var reads []bool
	for _, c := range rec.list(ActivitySyncWebCRM) {
		reads = append(reads, c.in.ReadWindow)
	}
	// Polls at 0, 10, 20 and 30 s: 2 s and 12 s after the watermark the
	// window is read (the second read settles it: 12 s ≥ 5 s overlap + 5 s).
	assert.Equal(t, []bool{true, true, false, false}, reads)
	assert.True(t, watermark.Equal(st.WebCRMWatermark))
}
