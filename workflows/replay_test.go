package workflows

// Replay tests guard the workflows' determinism: every history recorded in
// testdata/histories must still replay against the current workflow code.
// A change to workflow code that alters the commands an existing history
// expects (a new activity, timer or upsert, a different order) fails
// TestReplayRecordedHistories; such a change needs workflow.GetVersion (or a
// new workflow type) so that running workflows keep working.
//
// The histories are produced by TestRecordHistories, which runs the
// workflows on a real Temporal dev server with stand-in activities. Add the
// recordings of new scenarios with
//
//	go test ./workflows -run TestRecordHistories -update-histories
//
// and commit the result. The flag writes only the files that do not exist
// yet: the old files stand for workflows that are running in production and
// are never rewritten, least of all to make a failing replay pass. A
// deliberate, versioned change to a workflow gets a scenario of its own (a
// new name), so its recording sits next to the ones of the code before it.
// Without the flag TestRecordHistories records a fresh set and checks that
// it replays, but writes nothing.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/testenv"
)

var updateHistories = flag.Bool("update-histories", false,
	"rewrite workflows/testdata/histories from a fresh recording (only for deliberate, versioned workflow changes)")

// historiesDir holds the recorded histories, one JSON file per workflow run,
// in the format of `temporal workflow show --output json`.
const historiesDir = "testdata/histories"

// newReplayer returns a replayer with every workflow of the package.
func newReplayer(t *testing.T) worker.WorkflowReplayer {
	t.Helper()
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{})
	require.NoError(t, err)
	r.RegisterWorkflow(LinkWorkflow)
	r.RegisterWorkflow(LinkAliasWorkflow)
	r.RegisterWorkflow(PairingWorkflow)
	r.RegisterWorkflow(BackfillWorkflow)
	r.RegisterWorkflow(ReconcileWorkflow)
	return r
}

// replay replays one history under the workflow ID it was recorded with.
func replay(r worker.WorkflowReplayer, hist *historypb.History) error {
	if len(hist.GetEvents()) == 0 {
		return errors.New("history has no events")
	}
	started := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
	if started == nil {
		return fmt.Errorf("first event is %s, not WorkflowExecutionStarted", hist.GetEvents()[0].GetEventType())
	}
	opts := worker.ReplayWorkflowHistoryOptions{}
	opts.OriginalExecution.ID = started.GetWorkflowId()
	opts.OriginalExecution.RunID = started.GetOriginalExecutionRunId()
	return r.ReplayWorkflowHistoryWithOptions(quietLogger(), hist, opts)
}

func TestReplayRecordedHistories(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories in %s; run: go test ./workflows -run TestRecordHistories -update-histories", historiesDir)
	types := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			require.NoError(t, err)
			defer f.Close()
			hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			require.NoError(t, err)
			types[hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()] = true
			require.NoError(t, replay(newReplayer(t), hist), "%s no longer replays: the workflow code changed incompatibly", file)
		})
	}
	for _, wf := range []string{"LinkWorkflow", "LinkAliasWorkflow", "PairingWorkflow", "BackfillWorkflow", "ReconcileWorkflow"} {
		require.True(t, types[wf], "no recorded history of %s", wf)
	}
}

// recordedRun is one workflow run fetched from the server.
type recordedRun struct {
	name string // file name without .json
	hist *historypb.History
}

// recorder drives the workflows on real dev servers and collects their histories.
type recorder struct {
	t    *testing.T
	ctx  context.Context
	runs []recordedRun
}

// recordBudget bounds the recordings, counted from when both servers are up
// (starting them, a first run's build of the CLI included, has its own
// bound in testenv). The recordings take about ten seconds on an idle
// machine; the budget is for a loaded 2-core one that builds and runs the
// other packages' tests beside this one. Every wait of the recorder polls a
// condition until it holds or this budget (or the test binary's deadline,
// less a margin to report) runs out.
const recordBudget = 10 * time.Minute

// recordContext returns the context of the recordings: recordBudget from
// now, ending a little before the test binary's -timeout so that a wait that
// never ends fails with its own message.
func recordContext(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	deadline := time.Now().Add(recordBudget)
	if d, ok := t.Deadline(); ok && d.Add(-30*time.Second).Before(deadline) {
		deadline = d.Add(-30 * time.Second)
	}
	return context.WithDeadline(context.Background(), deadline)
}

func TestRecordHistories(t *testing.T) {
	t.Parallel()
	// Link, backfill and reconcile run on the shared server with its default
	// limits. The pairing and a long link run on a dedicated server that
	// suggests continue-as-new early, so their recordings cover it. The
	// workflows send activities to the fixed task queues workflows.TaskQueue
	// and workflows.WebCRMTaskQueue, which no other test of this package uses.
	shared := testenv.Client(t)
	dedicated := testenv.ClientFor(t, testenv.StartTemporal(t, testenv.Options{SuggestContinueAsNew: 40}))

	ctx, cancel := recordContext(t)
	defer cancel()
	rec := &recorder{t: t, ctx: ctx}
	rec.startWorkers(shared)
	rec.startWorkers(dedicated)

	rec.recordLink(shared)
	rec.recordLinkRetire(shared)
	rec.recordLinkContinueAsNew(dedicated)
	rec.recordPairing(dedicated)
	rec.recordBackfill(shared)
	rec.recordPairingERPInterval(shared)
	rec.recordReconcile(shared)

	r := newReplayer(t)
	for _, run := range rec.runs {
		require.NoError(t, replay(r, run.hist), "fresh recording %s does not replay", run.name)
	}
	if !*updateHistories {
		return
	}
	require.NoError(t, os.MkdirAll(historiesDir, 0o755))
	written := 0
	for _, run := range rec.runs {
		path := filepath.Join(historiesDir, run.name+".json")
		if _, err := os.Stat(path); err == nil {
			continue // a recording of older code: kept as it is
		}
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(run.hist)
		require.NoError(t, err)
		// Round-trip through the reader the replay test uses.
		back, err := client.HistoryFromJSON(bytes.NewReader(b), client.HistoryJSONOptions{})
		require.NoError(t, err)
		require.Len(t, back.GetEvents(), len(run.hist.GetEvents()))
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
		written++
	}
	t.Logf("wrote %d new histories to %s", written, historiesDir)
}

// startWorkers runs the package's workflows with the recording stand-in
// activities on c's server until the test ends.
func (r *recorder) startWorkers(c client.Client) {
	r.t.Helper()
	for _, tq := range []string{TaskQueue, WebCRMTaskQueue} {
		w := worker.New(c, tq, worker.Options{})
		if tq == TaskQueue {
			w.RegisterWorkflow(LinkWorkflow)
			w.RegisterWorkflow(LinkAliasWorkflow)
			w.RegisterWorkflow(PairingWorkflow)
			w.RegisterWorkflow(BackfillWorkflow)
			w.RegisterWorkflow(ReconcileWorkflow)
		}
		registerActivities(w, fakeApply, fakeSyncWebCRM, fakeSyncERP, fakeBackfillCount, fakeBackfillPage, fakeReconcile, fakeBackfillMark, fakeStartPositions)
		require.NoError(r.t, w.Start())
		r.t.Cleanup(w.Stop)
	}
}

// Versions with which the recorder asks fakeApply for a particular answer.
const (
	fakeVersionInvalid = "invalid" // a non-retryable validation error
	fakeVersionForward = "forward" // the record belongs to the ERP record's link
)

// fakeApply links webCRM record N with ERP record E-N and reports an update;
// the change's Version selects the special answers above.
func fakeApply(_ context.Context, in domain.ApplyInput) (domain.ApplyResult, error) {
	switch in.Change.Version {
	case fakeVersionInvalid:
		return domain.ApplyResult{}, temporal.NewNonRetryableApplicationError("fake ERP: name is required", "Validation", nil)
	}
	st := in.State
	if st.CrmID == "" || st.ErpID == "" {
		st.CrmID = strings.TrimPrefix(in.Change.ID, "E-")
		st.ErpID = "E-" + st.CrmID
	}
	out := domain.Outcome{Action: domain.ActionUpdated}
	if in.State.ErpID == "" {
		out.Action = domain.ActionCreatedERP
	}
	if in.Change.Side == domain.WebCRM {
		st.CrmVersion = in.Change.Version
	} else {
		st.ErpVersion = in.Change.Version
	}
	st.State, st.Reason, st.BlockedOn = domain.StateOK, "", ""
	st.Hash = "hash-" + in.Change.Version
	st.Applied++
	st.Writes++
	if in.Change.Version == fakeVersionForward {
		out.Action = domain.ActionMatched
		out.Forward = domain.LinkWorkflowID(in.Pairing, domain.ERP, st.ErpID)
	}
	return domain.ApplyResult{State: st, Outcome: out}, nil
}

// recordBase is the webCRM watermark the fake poller starts from.
var recordBase = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// fakeSyncWebCRM advances the watermark by a minute; the very first call
// reports More so that a poll reads twice.
func fakeSyncWebCRM(_ context.Context, in domain.SyncInput) (domain.SyncResult, error) {
	since := in.Since
	if since.IsZero() {
		since = recordBase
	}
	next := since.Add(time.Minute)
	return domain.SyncResult{Next: next, Recent: []string{"1@" + next.Format(time.RFC3339)}, Seen: 1, Dispatched: 1, More: in.Since.IsZero()}, nil
}

// fakeSyncERP advances the feed token by one.
func fakeSyncERP(_ context.Context, in domain.SyncInput) (domain.SyncResult, error) {
	tok, _ := strconv.Atoi(in.Token)
	return domain.SyncResult{NextToken: strconv.Itoa(tok + 1), Seen: 2, Dispatched: 1, Skipped: 1}, nil
}

// fakeBackfillCount reports 7 records on each side.
func fakeBackfillCount(context.Context, domain.BackfillCountInput) (int, error) { return 7, nil }

// fakeBackfillPage serves 7 records in two pages.
func fakeBackfillPage(_ context.Context, in domain.BackfillPageInput) (domain.BackfillPageResult, error) {
	if in.Cursor == "" {
		return domain.BackfillPageResult{Next: "p2", Seen: 5, Actions: map[string]int{domain.ActionCreatedERP: 3, domain.ActionMatched: 2}}, nil
	}
	return domain.BackfillPageResult{Last: true, Seen: 2, Failed: 1, Actions: map[string]int{domain.ActionUpdated: 1, domain.ActionError: 1}}, nil
}

// fakeBackfillMark marks the webCRM side at recordBase and the ERP feed at "7".
func fakeBackfillMark(_ context.Context, in domain.BackfillCountInput) (domain.Positions, error) {
	if in.Side == BackfillERP {
		return domain.Positions{ERPToken: "7"}, nil
	}
	return domain.Positions{WebCRMSince: recordBase}, nil
}

// fakeStartPositions hands over the ERP feed's beginning only, so the
// recorded pairing polls as it did before the hand-over existed.
func fakeStartPositions(context.Context, string) (domain.Positions, error) {
	return domain.Positions{ERPToken: "0"}, nil
}

// fakeReconcile reports one missing record.
func fakeReconcile(context.Context, domain.ReconcileInput) (domain.ReconcileResult, error) {
	return domain.ReconcileResult{Links: 10, Missing: 1, Dispatched: 1}, nil
}

func (r *recorder) update(c client.Client, workflowID, name string, ch domain.Change) (domain.Outcome, error) {
	r.t.Helper()
	h, err := c.UpdateWorkflow(r.ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, Args: []any{ch}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return domain.Outcome{}, err
	}
	var out domain.Outcome
	err = h.Get(r.ctx, &out)
	return out, err
}

func (r *recorder) mustUpdate(c client.Client, workflowID, name string, ch domain.Change) domain.Outcome {
	r.t.Helper()
	out, err := r.update(c, workflowID, name, ch)
	require.NoError(r.t, err, "%s %s %+v", workflowID, name, ch)
	return out
}

func (r *recorder) start(c client.Client, id string, wf any, arg any) client.WorkflowRun {
	r.t.Helper()
	run, err := c.ExecuteWorkflow(r.ctx, client.StartWorkflowOptions{ID: id, TaskQueue: TaskQueue}, wf, arg)
	require.NoError(r.t, err, "start %s", id)
	r.t.Cleanup(func() {
		// Leaves nothing running if the test failed half-way; a closed run
		// answers NotFound, which is fine.
		_ = c.TerminateWorkflow(context.Background(), id, "", "recorder cleanup")
	})
	return run
}

// waitFor polls cond every interval until it returns nil, and fails the
// test with what and cond's last error when the recordings' context ends
// first.
func (r *recorder) waitFor(interval time.Duration, what string, cond func() error) {
	r.t.Helper()
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("%s: still not so when the recordings' deadline passed: %v", what, err)
		case <-time.After(interval):
		}
	}
}

// waitClosed waits until the run has closed and returns how it closed.
// (Describe is polled: a long poll for the close event answers only about a
// second after the close on the dev server.)
func (r *recorder) waitClosed(c client.Client, id, runID string) enumspb.WorkflowExecutionStatus {
	r.t.Helper()
	var status enumspb.WorkflowExecutionStatus
	r.waitFor(10*time.Millisecond, fmt.Sprintf("%s/%s closed", id, runID), func() error {
		d, err := c.DescribeWorkflow(r.ctx, id, runID)
		if err != nil {
			return err
		}
		status = d.Status
		if status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return errors.New("running")
		}
		return nil
	})
	return status
}

// collect fetches every run of the chain that starts with firstRunID, which
// must have closed, and records them as <scenario>-<n>-<WorkflowType>.
// It returns the workflow types of the runs in order.
func (r *recorder) collect(c client.Client, scenario, id, firstRunID string) []string {
	r.t.Helper()
	var types []string
	runID := firstRunID
	for n := 1; runID != ""; n++ {
		require.LessOrEqual(r.t, n, 20, "%s: too many runs", id)
		r.waitClosed(c, id, runID)
		hist := &historypb.History{}
		it := c.GetWorkflowHistory(r.ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(r.t, err)
			hist.Events = append(hist.Events, ev)
		}
		require.NotEmpty(r.t, hist.Events)
		wfType := hist.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
		types = append(types, wfType)
		r.runs = append(r.runs, recordedRun{name: fmt.Sprintf("%s-%d-%s", scenario, n, wfType), hist: hist})
		runID = hist.Events[len(hist.Events)-1].GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
	}
	return types
}

// recordLink: apply (created), the same version again (already-seen), a
// permanent error, ensure, a good apply, then a change that belongs to the
// ERP record's link, which turns this one into an alias; the alias rejects
// a change and ends on retire.
func (r *recorder) recordLink(c client.Client) {
	t := r.t
	id := domain.LinkWorkflowID(testPairing, domain.WebCRM, "1")
	run := r.start(c, id, LinkWorkflow, LinkInput{Pairing: testPairing, Side: domain.WebCRM, ID: "1"})

	out := r.mustUpdate(c, id, UpdateApply, domain.Change{Side: domain.WebCRM, ID: "1", Version: "v1", Source: domain.SourcePoll})
	require.Equal(t, domain.Outcome{Action: domain.ActionCreatedERP, State: domain.StateOK, CrmID: "1", ErpID: "E-1"}, out)
	out = r.mustUpdate(c, id, UpdateApply, domain.Change{Side: domain.WebCRM, ID: "1", Version: "v1", Source: domain.SourceHook})
	require.Equal(t, domain.ActionSeen, out.Action)
	out = r.mustUpdate(c, id, UpdateApply, domain.Change{Side: domain.ERP, ID: "E-1", Version: fakeVersionInvalid, Source: domain.SourcePoll})
	require.Equal(t, domain.ActionError, out.Action)
	require.Equal(t, domain.StateError, out.State)
	require.Contains(t, out.Reason, "name is required")
	out = r.mustUpdate(c, id, UpdateApply, domain.Change{Side: domain.ERP, ID: "E-1", Version: "3", Source: domain.SourcePoll})
	require.Equal(t, domain.StateOK, out.State)
	out = r.mustUpdate(c, id, UpdateEnsure, domain.Change{Side: domain.WebCRM, ID: "1"})
	require.Equal(t, domain.ActionSeen, out.Action)
	home := domain.LinkWorkflowID(testPairing, domain.ERP, "E-1")
	out = r.mustUpdate(c, id, UpdateApply, domain.Change{Side: domain.WebCRM, ID: "1", Version: fakeVersionForward, Source: domain.SourceBackfill})
	require.Equal(t, home, out.Forward)

	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, r.waitClosed(c, id, run.GetRunID()))

	// The alias answers "home" and rejects changes, naming the home link.
	v, err := c.QueryWorkflow(r.ctx, id, "", QueryHome)
	require.NoError(t, err)
	var got string
	require.NoError(t, v.Get(&got))
	require.Equal(t, home, got)
	_, err = r.update(c, id, UpdateApply, domain.Change{Side: domain.WebCRM, ID: "1", Version: "v9"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrTypeAlias, appErr.Type())
	var detail string
	require.NoError(t, appErr.Details(&detail))
	require.Equal(t, home, detail)
	require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalRetire, ""))

	types := r.collect(c, "link", id, run.GetRunID())
	require.Equal(t, []string{"LinkWorkflow", "LinkAliasWorkflow"}, types)
}

// recordLinkRetire: a linked link told by signal that another link owns its
// record becomes an alias; a second retire ends the alias.
func (r *recorder) recordLinkRetire(c client.Client) {
	t := r.t
	id := domain.LinkWorkflowID(testPairing, domain.WebCRM, "2")
	run := r.start(c, id, LinkWorkflow, LinkInput{Pairing: testPairing, Side: domain.WebCRM, ID: "2"})
	r.mustUpdate(c, id, UpdateEnsure, domain.Change{Side: domain.WebCRM, ID: "2", Version: "v1"})
	require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalRetire, domain.LinkWorkflowID(testPairing, domain.ERP, "E-2")))
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW, r.waitClosed(c, id, run.GetRunID()))
	require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalRetire, ""))
	require.Equal(t, []string{"LinkWorkflow", "LinkAliasWorkflow"}, r.collect(c, "link-retire", id, run.GetRunID()))
}

// recordLinkContinueAsNew applies changes until the server suggests
// continue-as-new; the continued run knows the last version it synced.
func (r *recorder) recordLinkContinueAsNew(c client.Client) {
	t := r.t
	id := domain.LinkWorkflowID(testPairing, domain.WebCRM, "3")
	run := r.start(c, id, LinkWorkflow, LinkInput{Pairing: testPairing, Side: domain.WebCRM, ID: "3"})
	last := ""
	for i := 1; ; i++ {
		require.LessOrEqual(t, i, 15, "the server never suggested continue-as-new")
		last = "v" + strconv.Itoa(i)
		r.mustUpdate(c, id, UpdateApply, domain.Change{Side: domain.WebCRM, ID: "3", Version: last, Source: domain.SourcePoll})
		d, err := c.DescribeWorkflow(r.ctx, id, run.GetRunID())
		require.NoError(t, err)
		if d.Status == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			break
		}
	}
	out := r.mustUpdate(c, id, UpdateApply, domain.Change{Side: domain.WebCRM, ID: "3", Version: last, Source: domain.SourceHook})
	require.Equal(t, domain.ActionSeen, out.Action, "the continued run carries the synced version")
	require.NoError(t, c.TerminateWorkflow(r.ctx, id, "", "recording done"))
	types := r.collect(c, "link-continued", id, run.GetRunID())
	require.Equal(t, []string{"LinkWorkflow", "LinkWorkflow"}, types)
}

// waitStatus polls the pairing's status until ok accepts it.
func (r *recorder) waitStatus(c client.Client, id, what string, ok func(PairingStatus) bool) PairingStatus {
	r.t.Helper()
	var st PairingStatus
	r.waitFor(20*time.Millisecond, fmt.Sprintf("pairing %s: %s", id, what), func() error {
		v, err := c.QueryWorkflow(r.ctx, id, "", QueryStatus)
		if err != nil {
			// also between runs of a continue-as-new
			return fmt.Errorf("query: %w (last status %+v)", err, st)
		}
		var got PairingStatus
		if err := v.Get(&got); err != nil {
			return fmt.Errorf("decode the status: %w", err)
		}
		st = got
		if !ok(st) {
			return fmt.Errorf("last status %+v", st)
		}
		return nil
	})
	return st
}

// waitIdle waits until the pairing's current run waits for its next poll
// (no activity and no workflow task pending) and returns its status then.
func (r *recorder) waitIdle(c client.Client, id string) PairingStatus {
	r.t.Helper()
	r.waitFor(20*time.Millisecond, fmt.Sprintf("pairing %s waits for its next poll", id), func() error {
		desc, err := c.DescribeWorkflow(r.ctx, id, "")
		if err != nil {
			return err
		}
		d := desc.RawResponse
		if n := len(d.GetPendingActivities()); n > 0 || d.GetPendingWorkflowTask() != nil {
			return fmt.Errorf("%d activities pending, workflow task pending: %v", n, d.GetPendingWorkflowTask() != nil)
		}
		return nil
	})
	return r.waitStatus(c, id, "status", func(PairingStatus) bool { return true })
}

// recordPairing: the look-up of a backfill's positions, a poll at start, a
// poked poll, pause and resume, then more pokes until the server suggests
// continue-as-new; the continued run is terminated. (pairing-1 and -2 are
// recordings of the code before the look-up.)
func (r *recorder) recordPairing(c client.Client) {
	t := r.t
	id := PairingWorkflowID(testPairing)
	run := r.start(c, id, PairingWorkflow, PairingInput{Pairing: testPairing, PollIntervalSeconds: 3600})
	r.waitStatus(c, id, "first poll", func(s PairingStatus) bool { return s.Totals.Polls >= 1 })
	require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalPoke, nil))
	r.waitStatus(c, id, "poked poll", func(s PairingStatus) bool { return s.Totals.Polls >= 2 })
	require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalPause, "recording a pause"))
	r.waitStatus(c, id, "paused", func(s PairingStatus) bool { return s.Paused })
	require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalResume, nil))
	st := r.waitStatus(c, id, "resumed poll", func(s PairingStatus) bool { return !s.Paused && s.Totals.Polls >= 3 })
	for i := 0; ; i++ {
		require.Less(t, i, 15, "the server never suggested continue-as-new")
		d, err := c.DescribeWorkflow(r.ctx, id, run.GetRunID())
		require.NoError(t, err)
		if d.Status == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			break
		}
		polls := st.Totals.Polls
		require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalPoke, nil))
		st = r.waitStatus(c, id, "another poked poll", func(s PairingStatus) bool { return s.Totals.Polls > polls })
	}
	// The continued run keeps the watermarks and counters.
	polls := st.Totals.Polls
	require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalPoke, nil))
	r.waitStatus(c, id, "poll after continue-as-new", func(s PairingStatus) bool { return s.Totals.Polls > polls })
	// The continued run polls at its start and again for the poke: the
	// counters and positions agree between polls, so they are read once the
	// pairing waits for its next one.
	st = r.waitIdle(c, id)
	require.Equal(t, strconv.Itoa(st.Totals.Polls), st.ERPToken, "one token step per poll, across runs")
	require.True(t, recordBase.Add(time.Duration(st.Totals.Polls+1)*time.Minute).Equal(st.WebCRMWatermark))
	require.NoError(t, c.TerminateWorkflow(r.ctx, id, "", "recording done"))
	types := r.collect(c, "pairing-from-backfill", id, run.GetRunID())
	require.GreaterOrEqual(t, len(types), 2)
	require.Equal(t, "PairingWorkflow", types[len(types)-1])
}

// recordPairingERPInterval: a pairing that reads the ERP feed every second
// and webCRM every hour: ERP-only polls, then a poke that reads both sides.
func (r *recorder) recordPairingERPInterval(c client.Client) {
	t := r.t
	const pairing = "persons" // not the pairing the backfill recording signals
	id := PairingWorkflowID(pairing)
	run := r.start(c, id, PairingWorkflow, PairingInput{Pairing: pairing, PollIntervalSeconds: 3600, ERPPollIntervalSeconds: 1})
	// The first poll reads both sides (token 1); three ERP-only polls follow
	// within about three seconds. The token is compared as a number: on a
	// loaded machine a query may come back after the fourth ERP-only poll.
	r.waitStatus(c, id, "three ERP-only polls", func(s PairingStatus) bool {
		tok, err := strconv.Atoi(s.ERPToken)
		return err == nil && tok >= 4
	})
	require.NoError(t, c.SignalWorkflow(r.ctx, id, "", SignalPoke, nil))
	st := r.waitStatus(c, id, "a poked poll", func(s PairingStatus) bool { return s.Totals.Polls == 2 })
	require.Equal(t, time.Second, st.ERPPollInterval)
	require.NoError(t, c.TerminateWorkflow(r.ctx, id, "", "recording done"))
	require.Equal(t, []string{"PairingWorkflow"}, r.collect(c, "pairing-erp-interval", id, run.GetRunID()))
}

// recordBackfill: for each side a mark, a count and two pages; then the
// hand-over signal to a pairing that does not run. (backfill-1 is a
// recording of the webCRM side by the code before the hand-over.)
func (r *recorder) recordBackfill(c client.Client) {
	t := r.t
	id := BackfillWorkflowID(testPairing, BackfillBoth)
	run := r.start(c, id, BackfillWorkflow, BackfillInput{Pairing: testPairing, Side: BackfillBoth, PageSize: 5, CountWebCRM: true})
	var res BackfillProgress
	require.NoError(t, run.Get(r.ctx, &res))
	require.Equal(t, "done", res.Phase)
	require.Equal(t, 14, res.Total)
	require.Equal(t, 14, res.Done)
	require.Equal(t, domain.Positions{WebCRMSince: recordBase, ERPToken: "7"}, res.From)
	require.Equal(t, []string{"BackfillWorkflow"}, r.collect(c, "backfill-hand-over", id, run.GetRunID()))
}

// recordReconcile: one run of the reconciliation.
func (r *recorder) recordReconcile(c client.Client) {
	t := r.t
	id := ReconcileWorkflowID(testPairing)
	run := r.start(c, id, ReconcileWorkflow, domain.ReconcileInput{Pairing: testPairing})
	var res domain.ReconcileResult
	require.NoError(t, run.Get(r.ctx, &res))
	require.Equal(t, domain.ReconcileResult{Links: 10, Missing: 1, Dispatched: 1}, res)
	require.Equal(t, []string{"ReconcileWorkflow"}, r.collect(c, "reconcile", id, run.GetRunID()))
}
