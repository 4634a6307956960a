package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/workflows"
)

// StartPositions returns the positions the pairing's last completed
// backfills handed over (BackfillProgress.From), for a pairing that starts
// without positions of its own. The latest webCRM mark wins; the ERP token
// comes from the backfill that closed last. A backfill that is running,
// failed or is past the namespace's retention hands nothing over.
func (a *Activities) StartPositions(ctx context.Context, pairing string) (domain.Positions, error) {
	if _, ok := a.mappings.Pairing(pairing); !ok {
		return domain.Positions{}, temporal.NewNonRetryableApplicationError("unknown pairing "+pairing, engine.Validation.String(), nil)
	}
	var out domain.Positions
	var erpClosed int64
	for _, side := range []string{workflows.BackfillBoth, workflows.BackfillWebCRM, workflows.BackfillERP} {
		id := workflows.BackfillWorkflowID(pairing, side)
		d, err := a.temporal.DescribeWorkflow(ctx, id, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue
		}
		if err != nil {
			return domain.Positions{}, fmt.Errorf("%s: describe backfill %s: %w", pairing, id, err)
		}
		info := d.RawResponse.GetWorkflowExecutionInfo()
		if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			continue
		}
		var progress workflows.BackfillProgress
		if err := a.temporal.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, &progress); err != nil {
			return domain.Positions{}, fmt.Errorf("%s: read the result of backfill %s: %w", pairing, id, err)
		}
		if progress.From.WebCRMSince.After(out.WebCRMSince) {
			out.WebCRMSince = progress.From.WebCRMSince
		}
		if closed := info.GetCloseTime().AsTime().UnixNano(); progress.From.ERPToken != "" && closed > erpClosed {
			out.ERPToken, erpClosed = progress.From.ERPToken, closed
		}
	}
	return out, nil
}
