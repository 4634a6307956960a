package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func TestMain(m *testing.M) { Main(m) }

func noop(context.Context) error { return nil }

// loopUntilSuggested runs no-op activities until the server suggests
// continue-as-new, and returns the history length at that point (0 when it
// was never suggested within max iterations).
func loopUntilSuggested(ctx workflow.Context, max int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for i := 0; i < max; i++ {
		info := workflow.GetInfo(ctx)
		if info.GetContinueAsNewSuggested() {
			return info.GetCurrentHistoryLength(), nil
		}
		if err := workflow.ExecuteActivity(ctx, noop).Get(ctx, nil); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func TestSharedServerHasSearchAttributes(t *testing.T) {
	t.Parallel()
	srv := Temporal(t)
	require.Same(t, srv, Temporal(t), "Temporal must return the shared server")
	c := Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
	require.NoError(t, err)
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	require.NoError(t, err)
	for name, typ := range SearchAttributes() {
		require.Equal(t, typ, resp.GetCustomAttributes()[name], name)
	}
}

func TestSharedServerRunsWorkflow(t *testing.T) {
	t.Parallel()
	c := Client(t)
	tq := TaskQueue(t)
	w := worker.New(c, tq, worker.Options{})
	w.RegisterWorkflow(loopUntilSuggested)
	w.RegisterActivity(noop)
	require.NoError(t, w.Start())
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: tq}, loopUntilSuggested, 3)
	require.NoError(t, err)
	var n int
	require.NoError(t, run.Get(ctx, &n))
	require.Zero(t, n, "the default server must not suggest continue-as-new after a few events")
}

func TestStartTemporalAppliesSuggestContinueAsNew(t *testing.T) {
	t.Parallel()
	srv := StartTemporal(t, Options{SuggestContinueAsNew: 20})
	require.NotSame(t, srv, Temporal(t))
	c := ClientFor(t, srv)
	tq := TaskQueue(t)
	w := worker.New(c, tq, worker.Options{})
	w.RegisterWorkflow(loopUntilSuggested)
	w.RegisterActivity(noop)
	require.NoError(t, w.Start())
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: tq}, loopUntilSuggested, 50)
	require.NoError(t, err)
	var n int
	require.NoError(t, run.Get(ctx, &n))
	require.GreaterOrEqual(t, n, 20)
	require.Less(t, n, 40, "suggestion should come soon after the configured 20 events")
}

func TestTaskQueueIsUniqueAndReadable(t *testing.T) {
	t.Parallel()
	a, b := TaskQueue(t), TaskQueue(t)
	require.NotEqual(t, a, b)
	require.Contains(t, a, "TestTaskQueueIsUniqueAndReadable")
	t.Run("sub test/with spaces", func(t *testing.T) {
		q := TaskQueue(t)
		require.NotContains(t, q, " ")
		require.NotContains(t, q, "/")
	})
}
