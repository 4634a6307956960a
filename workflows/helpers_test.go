package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/tandemsync/tandem/domain"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
)

// Stand-ins for the activities, registered under the names the workflows
// call. Every test drives them with env.OnActivity; one that is called
// without being driven fails the activity loudly.
func standInApply(context.Context, domain.ApplyInput) (domain.ApplyResult, error) {
	return domain.ApplyResult{}, errors.New("stand-in Apply called without env.OnActivity")
}

func standInSync(context.Context, domain.SyncInput) (domain.SyncResult, error) {
	return domain.SyncResult{}, errors.New("stand-in sync called without env.OnActivity")
}

func standInBackfillCount(context.Context, domain.BackfillCountInput) (int, error) {
	return 0, errors.New("stand-in BackfillCount called without env.OnActivity")
}

func standInBackfillPage(context.Context, domain.BackfillPageInput) (domain.BackfillPageResult, error) {
	return domain.BackfillPageResult{}, errors.New("stand-in BackfillPage called without env.OnActivity")
}

// standInBackfillMark and standInStartPositions answer as when there is
// nothing to hand over (an empty side, no finished backfill), so the tests
// that do not drive them see the workflows as before the hand-over.
func standInBackfillMark(context.Context, domain.BackfillCountInput) (domain.Positions, error) {
	return domain.Positions{}, nil
}

func standInStartPositions(context.Context, string) (domain.Positions, error) {
	return domain.Positions{}, nil
}

func standInReconcile(context.Context, domain.ReconcileInput) (domain.ReconcileResult, error) {
	return domain.ReconcileResult{}, errors.New("stand-in Reconcile called without env.OnActivity")
}

// activityRegistrar is the part of a worker, replayer or test environment
// that registers activities.
type activityRegistrar interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// registerActivities registers fns under the workflows' activity names.
func registerActivities(r activityRegistrar, apply, syncWebCRM, syncERP, count, page, reconcile, mark, startPositions any) {
	r.RegisterActivityWithOptions(apply, activity.RegisterOptions{Name: ActivityApply})
	r.RegisterActivityWithOptions(syncWebCRM, activity.RegisterOptions{Name: ActivitySyncWebCRM})
	r.RegisterActivityWithOptions(syncERP, activity.RegisterOptions{Name: ActivitySyncERP})
	r.RegisterActivityWithOptions(count, activity.RegisterOptions{Name: ActivityBackfillCount})
	r.RegisterActivityWithOptions(page, activity.RegisterOptions{Name: ActivityBackfillPage})
	r.RegisterActivityWithOptions(reconcile, activity.RegisterOptions{Name: ActivityReconcile})
	r.RegisterActivityWithOptions(mark, activity.RegisterOptions{Name: ActivityBackfillMark})
	r.RegisterActivityWithOptions(startPositions, activity.RegisterOptions{Name: ActivityStartPositions})
}

// quietLogger drops the SDK's log lines; failures show up as test errors.
func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

// newEnv returns a test workflow environment with every workflow and the
// activity stand-ins registered.
func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(quietLogger())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(LinkWorkflow)
	env.RegisterWorkflow(LinkAliasWorkflow)
	env.RegisterWorkflow(PairingWorkflow)
	env.RegisterWorkflow(BackfillWorkflow)
	env.RegisterWorkflow(ReconcileWorkflow)
	registerActivities(env, standInApply, standInSync, standInSync, standInBackfillCount, standInBackfillPage, standInReconcile, standInBackfillMark, standInStartPositions)
	return env
}

// updateCall records what happened to one update sent in a test environment.
type updateCall struct {
	accepted bool
	rejected error
	done     bool
	out      domain.Outcome
	err      error
}

// sendUpdate sends an update with ch to the workflow under test.
func sendUpdate(t *testing.T, env *testsuite.TestWorkflowEnvironment, name, id string, ch domain.Change) *updateCall {
	t.Helper()
	c := &updateCall{}
	env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
		OnAccept: func() { c.accepted = true },
		OnReject: func(err error) { c.rejected = err; c.done = true },
		OnComplete: func(v any, err error) {
			c.done, c.err = true, err
			switch r := v.(type) {
			case domain.Outcome:
				c.out = r
			case converter.EncodedValue:
				if r != nil && r.HasValue() {
					if derr := r.Get(&c.out); derr != nil {
						c.err = errors.Join(c.err, fmt.Errorf("decode outcome: %w", derr))
					}
				}
			case nil:
			default:
				c.err = errors.Join(c.err, fmt.Errorf("update result of unexpected type %T", v))
			}
		},
	}, ch)
	return c
}

// query runs the named query on the workflow under test and decodes its answer.
func query[T any](t *testing.T, env *testsuite.TestWorkflowEnvironment, name string) T {
	t.Helper()
	var out T
	v, err := env.QueryWorkflow(name)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	if err := v.Get(&out); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return out
}
