package lagclient_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/tandemsync/tandem/internal/lagclient"
	"github.com/tandemsync/tandem/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// TestAnswersTrailTheWorkflows: a workflow started appears Lag after its
// start; once it ends, a query for running workflows still lists it for Lag,
// and one for all of them shows it running for Lag.
func TestAnswersTrailTheWorkflows(t *testing.T) {
	const lag = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw := testenv.Client(t)
	clk := &clock{}
	c := lagclient.Wrap(raw, lagclient.Options{Lag: lag, Now: clk.Now})
	pairing := "lag-" + testenv.TaskQueue(t)
	all := "TandemPairing = '" + pairing + "'"
	running := all + " AND ExecutionStatus = 'Running'"

	run, err := raw.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: pairing, TaskQueue: testenv.TaskQueue(t),
		TypedSearchAttributes: temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword(testenv.AttrPairing).ValueSet(pairing)),
	}, "NoWorkerRunsThis")
	require.NoError(t, err)
	desc, err := raw.DescribeWorkflow(ctx, run.GetID(), "")
	require.NoError(t, err)
	started := desc.RawResponse.GetWorkflowExecutionInfo().GetStartTime().AsTime()
	serverShows := func(query string, n int) {
		t.Helper()
		require.Eventually(t, func() bool {
			resp, err := raw.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			return err == nil && len(resp.GetExecutions()) == n
		}, 30*time.Second, 50*time.Millisecond, "the server's own visibility")
	}
	list := func(query string) []enumspb.WorkflowExecutionStatus {
		t.Helper()
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		require.NoError(t, err)
		count, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		require.NoError(t, err)
		require.Equal(t, int64(len(resp.GetExecutions())), count.GetCount(), "count and list agree")
		var out []enumspb.WorkflowExecutionStatus
		for _, e := range resp.GetExecutions() {
			out = append(out, e.GetStatus())
		}
		return out
	}
	serverShows(running, 1)

	clk.Set(started.Add(lag - time.Millisecond))
	assert.Empty(t, list(running), "not visible yet")
	assert.Empty(t, list(all))
	clk.Set(started.Add(lag))
	assert.Equal(t, []enumspb.WorkflowExecutionStatus{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}, list(running))
	assert.Equal(t, []enumspb.WorkflowExecutionStatus{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}, list(all))

	require.NoError(t, raw.TerminateWorkflow(ctx, run.GetID(), "", "test"))
	serverShows(running, 0)
	ended := started.Add(time.Minute)
	clk.Set(ended)
	assert.Equal(t, []enumspb.WorkflowExecutionStatus{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}, list(running), "still listed as running")
	assert.Equal(t, []enumspb.WorkflowExecutionStatus{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}, list(all), "shown as it was")
	clk.Set(ended.Add(lag))
	assert.Empty(t, list(running))
	assert.Equal(t, []enumspb.WorkflowExecutionStatus{enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED}, list(all))
}
