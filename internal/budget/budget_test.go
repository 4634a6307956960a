package budget_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tandemsync/tandem/internal/budget"
	"github.com/tandemsync/tandem/internal/testenv"
	"github.com/tandemsync/tandem/workflows"
)

// TestPoolsShareOneBudget: three pools on one token, as three worker
// processes would hold them, together get no more requests in a window than
// the token allows; a bulk caller leaves the headroom to live callers.
func TestPoolsShareOneBudget(t *testing.T) {
	srv := testenv.StartTemporal(t, testenv.Options{})
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.BudgetWorkflow, workflow.RegisterOptions{Name: workflows.BudgetWorkflowName})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	const perMinute = 20
	pools := make([]*budget.Pool, 3)
	for i := range pools {
		pools[i] = budget.New(c, budget.Options{PerMinute: perMinute, Holder: "test", Chunk: 1, Logger: slog.New(slog.DiscardHandler)})
	}
	acquire := func(p *budget.Pool, ctx context.Context, d time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return p.Acquire(ctx)
	}
	// Bulk callers get three quarters of the budget.
	bulk := 0
	for i := 0; ; i++ {
		err := acquire(pools[i%3], budget.Bulk(context.Background()), 3*time.Second)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		require.NoError(t, err)
		bulk++
		require.LessOrEqual(t, bulk, perMinute, "no more than the budget")
	}
	assert.Equal(t, perMinute*3/4, bulk, "bulk work leaves a quarter to live work")

	// Live callers, from all three pools at once, get the rest and no more.
	var mu sync.Mutex
	live := 0
	var wg sync.WaitGroup
	for i := range 3 * perMinute {
		wg.Go(func() {
			if acquire(pools[i%3], context.Background(), 3*time.Second) == nil {
				mu.Lock()
				live++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, perMinute-bulk, live, "the budget is the token's, whichever process asks")
}
