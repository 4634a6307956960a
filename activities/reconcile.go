package activities

import (
	"context"
	"fmt"
	"strconv"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// linkRef is what visibility tells about one home link.
type linkRef struct {
	crmID, erpID, state string
}

// Reconcile finds webCRM records that disappeared (webCRM has no tombstones
// and no delete in its API for most entities) and hands each to its link as
// a delete. More missing records than in.MaxDeleteShare of the links (and
// more than a handful, massDeleteFloor) stops the run before anything is
// dispatched.
func (a *Activities) Reconcile(ctx context.Context, in workflows.ReconcileInput) (workflows.ReconcileResult, error) {
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return workflows.ReconcileResult{}, err
	}
	entity := webcrm.Entity(p.WebCRMEntity)
	present := map[string]bool{}
	script := fmt.Sprintf("SELECT %s FROM %s", entity.IDField(), entity.Table())
	for page := 1; ; page++ {
		rows, err := a.WebCRM.Query(ctx, script, page, webcrmMaxPage)
		if err != nil {
			return workflows.ReconcileResult{}, classify(fmt.Errorf("%s: list webCRM %s ids: %w", in.Pairing, entity, err))
		}
		for _, row := range rows {
			id, err := row.ID(entity)
			if err != nil {
				return workflows.ReconcileResult{}, permanent(fmt.Errorf("%s: webCRM %s row without id: %w", in.Pairing, entity, err), errTypeValidation)
			}
			present[strconv.Itoa(id)] = true
		}
		activity.RecordHeartbeat(ctx, page)
		if len(rows) < webcrmMaxPage {
			break
		}
	}
	refs, err := a.listLinks(ctx, in.Pairing)
	if err != nil {
		return workflows.ReconcileResult{}, classify(err)
	}
	res := workflows.ReconcileResult{Links: len(refs)}
	var changes []workflows.Change
	for _, l := range refs {
		if l.crmID == "" || l.state == workflows.StateDeleted || present[l.crmID] {
			continue
		}
		res.Missing++
		changes = append(changes, workflows.Change{Side: workflows.WebCRM, ID: l.crmID, Deleted: true, Source: workflows.SourceReconcile})
	}
	if res.Missing > massDeleteFloor && float64(res.Missing) > in.MaxDeleteShare*float64(res.Links) {
		res.Guarded = true
		res.Reason = fmt.Sprintf("%d of %d linked webCRM %s are missing, more than %.0f%%; nothing was changed. Check webCRM, then run reconcile with a higher maxDeleteShare",
			res.Missing, res.Links, entity, in.MaxDeleteShare*100)
		return res, nil
	}
	t, err := a.dispatchAll(ctx, in.Pairing, changes)
	if err != nil {
		return res, classify(fmt.Errorf("%s: dispatch deletes: %w", in.Pairing, err))
	}
	res.Dispatched = t.dispatched
	return res, nil
}

// listLinks lists the running home links of a pairing through visibility.
func (a *Activities) listLinks(ctx context.Context, pairing string) ([]linkRef, error) {
	var out []linkRef
	var token []byte
	dc := converter.GetDefaultDataConverter()
	for {
		resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: linksQuery(pairing), PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list %s links: %w", pairing, err)
		}
		for _, e := range resp.GetExecutions() {
			var ref linkRef
			fields := e.GetSearchAttributes().GetIndexedFields()
			for name, dst := range map[string]*string{
				workflows.CrmIDKey.GetName(): &ref.crmID,
				workflows.ErpIDKey.GetName(): &ref.erpID,
				workflows.StateKey.GetName(): &ref.state,
			} {
				if pl, ok := fields[name]; ok {
					_ = dc.FromPayload(pl, dst)
				}
			}
			out = append(out, ref)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return out, nil
		}
		activity.RecordHeartbeat(ctx, len(out))
	}
}
