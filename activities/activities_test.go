package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// TestErrorsLeaveWithTheRetryDecisionOfTheirClass: what Temporal sees of an
// engine error is its class: a 429 retries after the server's delay, a
// refused request is permanent, a 5xx and a stale write retry, the
// mass-delete guard is permanent and carries the held deletes; the message
// keeps the record it concerns.
func TestErrorsLeaveWithTheRetryDecisionOfTheirClass(t *testing.T) {
	set, err := mappings.Default()
	require.NoError(t, err)
	a := New(nil, nil, nil, set, nil, nil, 0)
	var appErr *temporal.ApplicationError

	rl := &webcrm.RateLimitError{Op: "Get", Entity: "Organisations", ID: "7", RetryAfter: 14 * time.Second}
	require.True(t, errors.As(a.temporalError(fmt.Errorf("organisations link link/organisations/webcrm/7: %w", rl)), &appErr))
	require.Equal(t, "RateLimited", appErr.Type())
	require.False(t, appErr.NonRetryable(), "a 429 is retried, after the server's delay")
	require.Equal(t, 14*time.Second, appErr.NextRetryDelay())
	require.Contains(t, appErr.Message(), "link/organisations/webcrm/7", "the message names the record")

	valid := &webcrm.APIError{Op: "Update", Entity: "Persons", ID: "3", Status: 400, Message: "PersonLastName is required"}
	require.True(t, errors.As(a.temporalError(valid), &appErr))
	require.True(t, appErr.NonRetryable(), "validation errors are permanent")
	require.Equal(t, "Validation", appErr.Type())

	server := &webcrm.APIError{Op: "Get", Entity: "Persons", ID: "3", Status: 503, Message: "down"}
	require.True(t, errors.As(a.temporalError(server), &appErr))
	require.False(t, appErr.NonRetryable(), "5xx errors retry")

	stale := &customerp.StaleError{APIError: &customerp.APIError{Op: "Update", Resource: "customers", ID: "CU-1", Status: 412}}
	require.True(t, errors.As(a.temporalError(stale), &appErr))
	require.Equal(t, "Stale", appErr.Type())
	require.False(t, appErr.NonRetryable(), "a stale write retries, and the retry reads both sides again")

	// The guard's error carries what it holds.
	_, err = a.engine.PollERP(context.Background(), domain.SyncInput{Pairing: "no-such-pairing"})
	require.True(t, errors.As(a.temporalError(err), &appErr))
	require.True(t, appErr.NonRetryable(), "an unknown pairing is permanent")
	require.Contains(t, appErr.Message(), "no-such-pairing")

	held := domain.HeldDeletes{Token: "9", IDs: []string{"CU-1", "CU-2"}, Records: 12}
	guard := &engine.Error{Class: engine.MassDelete, Err: errors.New("too many deletes"), Details: held}
	require.True(t, errors.As(a.temporalError(fmt.Errorf("organisations: %w", guard)), &appErr))
	require.Equal(t, workflows.ErrTypeMassDelete, appErr.Type(), "the pairing recognises the guard by its type")
	require.True(t, appErr.NonRetryable())
	var got domain.HeldDeletes
	require.NoError(t, appErr.Details(&got))
	require.Equal(t, held, got)

	require.NoError(t, a.temporalError(nil))
}

// TestKeepAliveHeartbeatsWhileTheActivityWaits: an activity that waits (on the
// webCRM budget, on a busy link) still heartbeats, and stops when told to.
func TestKeepAliveHeartbeatsWhileTheActivityWaits(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	beats := make(chan struct{}, 100)
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { beats <- struct{}{} })
	waits := func(ctx context.Context) (int, error) {
		stop := heartbeatEvery(ctx, 10*time.Millisecond)
		seen := 0
		for seen < 3 {
			select {
			case <-beats:
				seen++
			case <-time.After(10 * time.Second):
				stop()
				return seen, errors.New("no heartbeats while waiting")
			}
		}
		stop()
		return seen, nil
	}
	env.RegisterActivityWithOptions(waits, activity.RegisterOptions{Name: "Waits"})
	env.ExecuteWorkflow(func(ctx workflow.Context) (int, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, HeartbeatTimeout: time.Second})
		var n int
		err := workflow.ExecuteActivity(ctx, "Waits").Get(ctx, &n)
		return n, err
	})
	require.NoError(t, env.GetWorkflowError())
	var n int
	require.NoError(t, env.GetWorkflowResult(&n))
	require.Equal(t, 3, n)

	require.NotPanics(t, func() { heartbeatEvery(context.Background(), time.Millisecond)() }, "outside an activity it does nothing")
}

// TestACancelledLongPollIsBenign: a long poll of the ERP feed (against the
// reference server) that the pairing cancels before a change came ends with a
// benign error, which the SDK does not log as an error.
func TestACancelledLongPollIsBenign(t *testing.T) {
	set, err := mappings.Default()
	require.NoError(t, err)
	srv, err := erpsim.New(erpsim.Options{APIKey: "k"})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	ec, err := customerp.New(customerp.Config{BaseURL: hs.URL, APIKey: "k"})
	require.NoError(t, err)
	a := New(nil, nil, ec, set, nil, nil, 0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = a.SyncERP(ctx, domain.SyncInput{Pairing: "organisations", Wait: 15 * time.Second, Interval: 2 * time.Second})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	require.Equal(t, ErrTypeLongPollEnded, appErr.Type())
	require.Equal(t, temporal.ApplicationErrorCategoryBenign, appErr.Category())
}
