package activities

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// feedPage is the number of ERP feed entries read per request when looking
// for the head of the feed.
const feedPage = 1000

// BackfillMark returns where a pairing can start reading one side once a
// backfill of it that starts now is done: the UpdatedAt of the newest webCRM
// record (one request), or the token at the head of the ERP change feed.
// Every record changed before the mark is visited by the backfill that
// follows; later changes are newer than the mark. An empty side gives a
// zero mark, which hands nothing over.
func (a *Activities) BackfillMark(ctx context.Context, in domain.BackfillCountInput) (domain.Positions, error) {
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return domain.Positions{}, err
	}
	switch in.Side {
	case workflows.BackfillWebCRM:
		entity := webcrm.Entity(p.WebCRMEntity)
		script := webcrm.Select(entity, entity.IDField(), entity.UpdatedAtField()).OrderBy(entity.UpdatedAtField() + " DESC")
		rows, err := a.WebCRM.Run(ctx, script, 1, 1)
		if err != nil {
			return domain.Positions{}, classify(fmt.Errorf("%s: read the newest webCRM %s change: %w", in.Pairing, entity, err))
		}
		if len(rows) == 0 {
			return domain.Positions{}, nil
		}
		at, err := rows[0].UpdatedAt(entity)
		if err != nil {
			// Without a readable mark the pairing reads from its own
			// position: slower, never wrong.
			a.Logger.WarnContext(ctx, "newest webCRM record has no readable change time; the backfill hands no webCRM position over",
				"pairing", in.Pairing, "entity", string(entity), "error", err)
			return domain.Positions{}, nil
		}
		return domain.Positions{WebCRMSince: at}, nil
	case workflows.BackfillERP:
		head, err := a.feedHead(ctx, customerp.Resource(p.ERPResource))
		if err != nil {
			return domain.Positions{}, classify(fmt.Errorf("%s: find the head of the ERP %s feed: %w", in.Pairing, p.ERPResource, err))
		}
		return domain.Positions{ERPToken: head}, nil
	}
	return domain.Positions{}, permanent(fmt.Errorf("backfill side %q is not webcrm or erp", in.Side), errTypeValidation)
}

// feedHead reads the change feed of r to its end and returns the token
// there ("" for an empty feed). The feed has no cheaper way to its head; the
// pages are ERP reads, which cost no webCRM budget.
func (a *Activities) feedHead(ctx context.Context, r customerp.Resource) (string, error) {
	token := ""
	for page := 0; ; page++ {
		items, next, err := a.ERP.Changes(ctx, r, token, feedPage)
		if err != nil {
			return "", err
		}
		if next != "" {
			token = next
		}
		if len(items) < feedPage {
			return token, nil
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, page)
		}
	}
}

// StartPositions returns the positions the pairing's last completed
// backfills handed over (BackfillProgress.From), for a pairing that starts
// without positions of its own. The latest webCRM mark wins; the ERP token
// comes from the backfill that closed last. A backfill that is running,
// failed or is past the namespace's retention hands nothing over.
func (a *Activities) StartPositions(ctx context.Context, pairing string) (domain.Positions, error) {
	if _, err := a.pairing(pairing); err != nil {
		return domain.Positions{}, err
	}
	var out domain.Positions
	var erpClosed int64
	for _, side := range []string{workflows.BackfillBoth, workflows.BackfillWebCRM, workflows.BackfillERP} {
		id := workflows.BackfillWorkflowID(pairing, side)
		d, err := a.Temporal.DescribeWorkflow(ctx, id, "")
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
		if err := a.Temporal.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, &progress); err != nil {
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
