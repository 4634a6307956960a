package activities

import (
	"context"
	"fmt"
	"strconv"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// reconcileSample is how many records missing from a listing a reconcile reads
// by id first, when there are more than the mass-delete guard allows.
const reconcileSample = 20

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
func (a *Activities) Reconcile(ctx context.Context, in domain.ReconcileInput) (domain.ReconcileResult, error) {
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return domain.ReconcileResult{}, err
	}
	refs, err := a.listLinks(ctx, in.Pairing)
	if err != nil {
		return domain.ReconcileResult{}, classify(err)
	}
	crm, err := a.webcrmIDs(ctx, in.Pairing, webcrm.Entity(p.WebCRMEntity))
	if err != nil {
		return domain.ReconcileResult{}, err
	}
	erp, err := a.erpIDs(ctx, in.Pairing, customerp.Resource(p.ERPResource))
	if err != nil {
		return domain.ReconcileResult{}, err
	}
	res := domain.ReconcileResult{Links: len(refs)}
	var candidates []domain.Change
	for _, l := range refs {
		if l.state == domain.StateDeleted {
			continue
		}
		switch {
		case l.crmID != "" && !crm[l.crmID]:
			candidates = append(candidates, domain.Change{Side: domain.WebCRM, ID: l.crmID, Deleted: true, Source: domain.SourceReconcile})
		case l.erpID != "" && !erp[l.erpID]:
			candidates = append(candidates, domain.Change{Side: domain.ERP, ID: l.erpID, Deleted: true, Source: domain.SourceReconcile})
		}
	}
	// A record missing from a listing is taken for deleted only when a read of
	// it by id answers "not found": a listing can miss a record (a server that
	// pages in no fixed order, a record that changed while it ran), a read by id
	// cannot. More deletes than the guard allows stop the reads early: the run
	// changes nothing either way.
	allowed := max(massDeleteFloor, int(in.MaxDeleteShare*float64(res.Links)))
	ws, es := a.stores(p, nil)
	gone := func(ch domain.Change) (bool, error) {
		st := store(es)
		if ch.Side == domain.WebCRM {
			st = ws
		}
		rec, err := st.get(ctx, ch.ID)
		if err != nil {
			return false, classify(fmt.Errorf("%s: read %s %s, missing from its listing: %w", in.Pairing, st.label(), ch.ID, err))
		}
		return rec.gone, nil
	}
	guard := func(n int, about string) (domain.ReconcileResult, error) {
		res.Missing, res.Guarded = n, true
		res.Reason = fmt.Sprintf("%s%d of %d linked records (webCRM %s, ERP %s) are gone, more than %.0f%%; nothing was changed. Check both systems, then run reconcile with a higher maxDeleteShare",
			about, res.Missing, res.Links, p.WebCRMEntity, p.ERPResource, in.MaxDeleteShare*100)
		return res, nil
	}
	if len(candidates) > allowed {
		// Reading every one would spend a request of webCRM's budget each on a
		// run the guard may stop anyway: a sample tells first.
		n, sampled := 0, 0
		for i := 0; i < reconcileSample && i < len(candidates); i++ {
			g, err := gone(candidates[i*len(candidates)/min(reconcileSample, len(candidates))])
			if err != nil {
				return res, err
			}
			sampled++
			if g {
				n++
			}
		}
		if estimate := n * len(candidates) / sampled; estimate > allowed {
			return guard(estimate, "about ")
		}
	}
	var changes []domain.Change
	for i, ch := range candidates {
		g, err := gone(ch)
		if err != nil {
			return res, err
		}
		if !g {
			res.Unlisted++
			continue
		}
		changes = append(changes, ch)
		if len(changes) > allowed {
			return guard(len(changes), "at least ")
		}
		activity.RecordHeartbeat(ctx, i)
	}
	if res.Unlisted > 0 {
		a.Logger.WarnContext(ctx, "records missing from their listing were found by id: the listing is not whole", "pairing", in.Pairing, "records", res.Unlisted)
	}
	res.Missing = len(changes)
	t, err := a.dispatchAll(ctx, in.Pairing, changes)
	if err != nil {
		return res, classify(fmt.Errorf("%s: dispatch deletes: %w", in.Pairing, err))
	}
	res.Dispatched = t.dispatched
	return res, nil
}

// webcrmIDs lists the ids of every webCRM record of entity, in id order.
func (a *Activities) webcrmIDs(ctx context.Context, pairing string, entity webcrm.Entity) (map[string]bool, error) {
	present := map[string]bool{}
	err := a.WebCRM.Scan(ctx, webcrm.Select(entity, entity.IDField()), webcrmMaxPage, func(rows []webcrm.Record) error {
		for _, row := range rows {
			id, _ := row.ID(entity) // Scan has checked every id
			present[strconv.Itoa(id)] = true
		}
		activity.RecordHeartbeat(ctx, len(present))
		return nil
	})
	if err != nil {
		return nil, classify(fmt.Errorf("%s: list webCRM %s ids: %w", pairing, entity, err))
	}
	return present, nil
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
