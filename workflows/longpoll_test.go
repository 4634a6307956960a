package workflows

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/tandemsync/tandem/domain"
)

// longPollRecorder records the pairing's ERP long polls: when each began
// and the inputs of those that answered.
type longPollRecorder struct {
	mu       sync.Mutex
	starts   []time.Duration
	answered []domain.SyncInput
}

func (r *longPollRecorder) began() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.starts...)
}

func (r *longPollRecorder) tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, in := range r.answered {
		out = append(out, in.Token)
	}
	return out
}

// longPollEnv is a pairing environment whose ERP long polls (SyncERP with
// Wait) each answer hold after they began (on the test's clock; the
// workflow may cancel them first) with seen changes, moving the token on by
// seen; plain reads (no Wait) answer at once with nothing new.
func longPollEnv(t *testing.T, hold time.Duration, seen int) (*testsuite.TestWorkflowEnvironment, *syncRecorder, *longPollRecorder) {
	t.Helper()
	env := newEnv(t)
	rec := &syncRecorder{}
	lp := &longPollRecorder{}
	start := env.Now()
	rec.drive(env, ActivitySyncWebCRM, webcrmStep(never))
	plain := mock.MatchedBy(func(in domain.SyncInput) bool { return in.Wait == 0 })
	long := mock.MatchedBy(func(in domain.SyncInput) bool { return in.Wait > 0 })
	env.OnActivity(ActivitySyncERP, mock.Anything, plain).Return(func(_ context.Context, in domain.SyncInput) (domain.SyncResult, error) {
		rec.mu.Lock()
		rec.calls = append(rec.calls, syncCall{activity: ActivitySyncERP, in: in, at: env.Now()})
		rec.mu.Unlock()
		return domain.SyncResult{NextToken: in.Token}, nil
	})
	env.OnActivity(ActivitySyncERP, mock.Anything, long).AfterFn(func() time.Duration {
		lp.mu.Lock()
		lp.starts = append(lp.starts, env.Now().Sub(start))
		lp.mu.Unlock()
		return hold
	}).Return(func(_ context.Context, in domain.SyncInput) (domain.SyncResult, error) {
		lp.mu.Lock()
		lp.answered = append(lp.answered, in)
		lp.mu.Unlock()
		tok, _ := strconv.Atoi(in.Token)
		return domain.SyncResult{NextToken: strconv.Itoa(tok + seen), Seen: seen, Dispatched: seen}, nil
	})
	return env, rec, lp
}

// TestPairingLongPollsTheERPFeedBetweenWebCRMPolls: between webCRM polls the
// ERP feed is long-polled back to back (each read starting when the one
// before answered), with a wait shorter than the heartbeat timeout; webCRM is
// still read every poll interval, not held up by the outstanding long poll.
func TestPairingLongPollsTheERPFeedBetweenWebCRMPolls(t *testing.T) {
	t.Parallel()
	env, rec, lp := longPollEnv(t, 3*time.Second, 1)
	start := env.Now()
	var st PairingStatus
	stopAt(env, 11*time.Second, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, ERPPollIntervalSeconds: 2, WebCRMSince: base, ERPToken: "1"})
	requireCanceled(t, env)

	assert.Equal(t, []time.Duration{0, 10 * time.Second}, rec.offsets(ActivitySyncWebCRM, start), "webCRM every poll interval")
	assert.Equal(t, []time.Duration{0, 3 * time.Second, 6 * time.Second, 9 * time.Second, 10 * time.Second}, lp.began(),
		"long polls back to back; the webCRM poll at 10 s ends the one of 9 s and the next starts after it")
	assert.Equal(t, []string{"1", "2", "3"}, lp.tokens(), "each long poll reads from where the one before ended")
	assert.Equal(t, "4", st.ERPToken, "three long polls answered, one change each")
	assert.Equal(t, []time.Duration{0, 10 * time.Second}, rec.offsets(ActivitySyncERP, start), "the plain reads are the polls' own")
	for _, c := range rec.list(ActivitySyncERP) {
		assert.Zero(t, c.in.Wait)
	}
	assert.Equal(t, 2, st.Totals.Polls)
	assert.Equal(t, 2*2+3, st.Totals.Seen, "two webCRM polls of two records, three long polls of one")
}

// TestPairingLongPollInput: the wait is shorter than the heartbeat timeout,
// and a feed that cannot wait is told the ERP poll interval.
func TestPairingLongPollInput(t *testing.T) {
	t.Parallel()
	env, _, lp := longPollEnv(t, 3*time.Second, 1)
	stopAt(env, 4*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, ERPPollIntervalSeconds: 2, WebCRMSince: base, ERPToken: "1"})
	requireCanceled(t, env)
	lp.mu.Lock()
	defer lp.mu.Unlock()
	require.NotEmpty(t, lp.answered)
	assert.Equal(t, erpLongPollWait, lp.answered[0].Wait)
	assert.Equal(t, 2*time.Second, lp.answered[0].Interval)
	assert.Less(t, erpLongPollWait, pollHeartbeatTimeout)
}

// TestPairingPokeDoesNotWaitForTheLongPoll: a poke while a long poll is
// outstanding reads webCRM at once.
func TestPairingPokeDoesNotWaitForTheLongPoll(t *testing.T) {
	t.Parallel()
	env, rec, lp := longPollEnv(t, time.Hour, 1) // the long poll never answers within the test
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPoke, nil) }, 3*time.Second)
	stopAt(env, 12*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, ERPPollIntervalSeconds: 2, WebCRMSince: base, ERPToken: "1"})
	requireCanceled(t, env)
	assert.Equal(t, []time.Duration{0, 3 * time.Second}, rec.offsets(ActivitySyncWebCRM, start), "the poke reads webCRM at once")
	assert.Equal(t, []time.Duration{0, 3 * time.Second}, lp.began(), "a long poll after each poll")
}

// TestPairingPauseCancelsTheLongPoll: a pause ends the long poll; its answer,
// should one come, moves nothing, and nothing is read while paused.
func TestPairingPauseCancelsTheLongPoll(t *testing.T) {
	t.Parallel()
	env, rec, lp := longPollEnv(t, 5*time.Second, 1)
	start := env.Now()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPause, "maintenance") }, 2*time.Second)
	var st PairingStatus
	stopAt(env, 30*time.Second, func() { st = query[PairingStatus](t, env, QueryStatus) })
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 10, ERPPollIntervalSeconds: 2, WebCRMSince: base, ERPToken: "1"})
	requireCanceled(t, env)
	assert.Equal(t, []time.Duration{0}, lp.began())
	assert.Equal(t, []time.Duration{0}, rec.offsets(ActivitySyncWebCRM, start))
	assert.True(t, st.Paused)
	assert.Equal(t, "1", st.ERPToken, "the cancelled long poll moved nothing")
}

// TestPairingKeepsTheIntervalWhenTheAdapterDoesNotWait: a long poll that
// answers at once with nothing (a feed that cannot wait) is followed by the
// next read an ERP poll interval later, not at once.
func TestPairingKeepsTheIntervalWhenTheAdapterDoesNotWait(t *testing.T) {
	t.Parallel()
	env, _, lp := longPollEnv(t, 0, 0)
	stopAt(env, 9*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 30, ERPPollIntervalSeconds: 2, WebCRMSince: base, ERPToken: "1"})
	requireCanceled(t, env)
	assert.Equal(t, []time.Duration{0, 2 * time.Second, 4 * time.Second, 6 * time.Second, 8 * time.Second}, lp.began())
}

// TestPairingNoERPLongPollReadsEveryInterval: NoERPLongPoll keeps the
// interval read (the baseline): no read carries a wait.
func TestPairingNoERPLongPollReadsEveryInterval(t *testing.T) {
	t.Parallel()
	env, rec, lp := longPollEnv(t, time.Second, 1)
	start := env.Now()
	stopAt(env, 5*time.Second, nil)
	startPairing(env, PairingInput{Pairing: testPairing, PollIntervalSeconds: 30, ERPPollIntervalSeconds: 2, WebCRMSince: base, ERPToken: "1", NoERPLongPoll: true})
	requireCanceled(t, env)
	require.Empty(t, lp.began())
	assert.Equal(t, []time.Duration{0, 2 * time.Second, 4 * time.Second}, rec.offsets(ActivitySyncERP, start))
}
