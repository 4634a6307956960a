package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/workflows"
)

// StartOptions tune StartPairings.
type StartOptions struct {
	PollInterval time.Duration
	// ERPPollInterval is the time between reads of the ERP change feed
	// (default, or not shorter than PollInterval: read with webCRM).
	ERPPollInterval time.Duration
	// NoERPLongPoll reads the ERP feed every ERPPollInterval instead of
	// long-polling it between webCRM polls (workflows.PairingInput).
	NoERPLongPoll bool
	// ReconcileEvery is the interval of each pairing's reconcile schedule
	// (default 1h; negative: no schedule).
	ReconcileEvery time.Duration
}

// StartPairings starts the pairing workflows named (all of them when names
// is empty) and their reconcile schedules. A pairing that already runs is
// left as it is, so calling it again is harmless.
func StartPairings(ctx context.Context, c client.Client, names []string, opts StartOptions) error {
	if opts.ReconcileEvery == 0 {
		opts.ReconcileEvery = time.Hour
	}
	var errs []error
	for _, name := range names {
		in := workflows.PairingInput{Pairing: name, PollIntervalSeconds: int(opts.PollInterval / time.Second),
			ERPPollIntervalSeconds: int(opts.ERPPollInterval / time.Second), NoERPLongPoll: opts.NoERPLongPoll}
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       workflows.PairingWorkflowID(name),
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:            fmt.Sprintf("%s pairing: polls webCRM and the ERP feed", name),
			StaticDetails: fmt.Sprintf("Polls webCRM /Queries and the ERP change feed of the **%s** pairing and hands each change "+
				"to its link (`link/%s/...`). Signals: poke, pause, resume. Query: status.", name, name),
		}, workflows.PairingWorkflow, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("start pairing %s: %w", name, err))
			continue
		}
		if opts.ReconcileEvery > 0 {
			if err := ensureReconcileSchedule(ctx, c, name, opts.ReconcileEvery); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func ensureReconcileSchedule(ctx context.Context, c client.Client, pairing string, every time.Duration) error {
	id := workflows.ReconcileWorkflowID(pairing)
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      id,
		Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID:        id,
			Workflow:  workflows.ReconcileWorkflow,
			Args:      []any{domain.ReconcileInput{Pairing: pairing}},
			TaskQueue: workflows.TaskQueue,
			RetryPolicy: &temporal.RetryPolicy{
				MaximumAttempts: 1,
			},
		},
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) && !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create reconcile schedule for %s: %w", pairing, err)
	}
	return nil
}
