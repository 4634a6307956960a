package activities

import (
	"context"
	"fmt"
	"strconv"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// linkRef is what visibility tells about one home link.
type linkRef struct {
	crmID, erpID, state string
}

// Reconcile finds linked records that disappeared and hands each to its
// link as a delete: webCRM records (webCRM has no tombstones and no delete
// in its API for most entities), and ERP records whose tombstone the
// pairing never read (it started after them, from a backfill's position).
// More missing records than in.MaxDeleteShare of the links (and more than a
// handful, massDeleteFloor) stops the run before anything is dispatched.
//
// The links are listed before the records, so a link made while the records
// are listed (its record newer than the listing) is not taken for one whose
// record is missing.
func (a *Activities) Reconcile(ctx context.Context, in workflows.ReconcileInput) (workflows.ReconcileResult, error) {
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return workflows.ReconcileResult{}, err
	}
	refs, err := a.listLinks(ctx, in.Pairing)
	if err != nil {
		return workflows.ReconcileResult{}, classify(err)
	}
	crm, err := a.webcrmIDs(ctx, in.Pairing, webcrm.Entity(p.WebCRMEntity))
	if err != nil {
		return workflows.ReconcileResult{}, err
	}
	erp, err := a.erpIDs(ctx, in.Pairing, customerp.Resource(p.ERPResource))
	if err != nil {
		return workflows.ReconcileResult{}, err
	}
	res := workflows.ReconcileResult{Links: len(refs)}
	var changes []workflows.Change
	for _, l := range refs {
		if l.state == workflows.StateDeleted {
			continue
		}
		switch {
		case l.crmID != "" && !crm[l.crmID]:
			changes = append(changes, workflows.Change{Side: workflows.WebCRM, ID: l.crmID, Deleted: true, Source: workflows.SourceReconcile})
		case l.erpID != "" && !erp[l.erpID]:
			changes = append(changes, workflows.Change{Side: workflows.ERP, ID: l.erpID, Deleted: true, Source: workflows.SourceReconcile})
		default:
			continue
		}
		res.Missing++
	}
	if res.Missing > massDeleteFloor && float64(res.Missing) > in.MaxDeleteShare*float64(res.Links) {
		res.Guarded = true
		res.Reason = fmt.Sprintf("%d of %d linked records (webCRM %s, ERP %s) are missing, more than %.0f%%; nothing was changed. Check both systems, then run reconcile with a higher maxDeleteShare",
			res.Missing, res.Links, p.WebCRMEntity, p.ERPResource, in.MaxDeleteShare*100)
		return res, nil
	}
	t, err := a.dispatchAll(ctx, in.Pairing, changes)
	if err != nil {
		return res, classify(fmt.Errorf("%s: dispatch deletes: %w", in.Pairing, err))
	}
	res.Dispatched = t.dispatched
	return res, nil
}

// webcrmIDs lists the ids of every webCRM record of entity.
func (a *Activities) webcrmIDs(ctx context.Context, pairing string, entity webcrm.Entity) (map[string]bool, error) {
	present := map[string]bool{}
	script := fmt.Sprintf("SELECT %s FROM %s", entity.IDField(), entity.Table())
	for page := 1; ; page++ {
		rows, err := a.WebCRM.Query(ctx, script, page, webcrmMaxPage)
		if err != nil {
			return nil, classify(fmt.Errorf("%s: list webCRM %s ids: %w", pairing, entity, err))
		}
		for _, row := range rows {
			id, err := row.ID(entity)
			if err != nil {
				return nil, permanent(fmt.Errorf("%s: webCRM %s row without id: %w", pairing, entity, err), errTypeValidation)
			}
			present[strconv.Itoa(id)] = true
		}
		activity.RecordHeartbeat(ctx, page)
		if len(rows) < webcrmMaxPage {
			return present, nil
		}
	}
}

// erpIDs lists the ids of every ERP record of resource (of any pairing that
// shares it: ids are unique within a resource).
func (a *Activities) erpIDs(ctx context.Context, pairing string, resource customerp.Resource) (map[string]bool, error) {
	present := map[string]bool{}
	after := ""
	for {
		recs, next, err := a.ERP.List(ctx, resource, after, 1000)
		if err != nil {
			return nil, classify(fmt.Errorf("%s: list ERP %s ids: %w", pairing, resource, err))
		}
		for _, rec := range recs {
			if id, _ := rec["id"].(string); id != "" {
				present[id] = true
			}
		}
		activity.RecordHeartbeat(ctx, len(present))
		if next == "" || len(recs) == 0 {
			return present, nil
		}
		after = next
	}
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
