package engine

import (
	"context"
	"fmt"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// A child pairing is one whose records belong to a record of another pairing
// (quotation lines to an opportunity, order lines to an order) and whose
// deletes propagate. webCRM has no tombstones: a child deleted there leaves
// no trace a poll can read, and deleting it does not change its parent's
// UpdatedAt. So when a poll sees a parent change, compareChildren lists the
// parent's children on both sides and hands the linked children missing in
// webCRM to their links as deletes; without hooks, a deleted webCRM line
// crosses with the next change of its opportunity, else the reconcile finds
// it.

// childRef is a child pairing of a parent and the field that refers to it.
type childRef struct {
	pairing *mappings.Pairing
	field   *mappings.Field
}

// children returns the pairings whose deletes propagate and whose records
// refer to a record of parent.
func (e *Engine) children(parent string) []childRef {
	var out []childRef
	for _, name := range e.set.Names() {
		p, ok := e.set.Pairing(name)
		if !ok || p.DeletePolicy.Policy != mappings.Propagate {
			continue
		}
		for _, r := range p.References {
			if r.Pairing != parent {
				continue
			}
			if f, ok := p.Field(r.Field); ok && f.WebCRM.Property != "" && f.ERP.Property != "" {
				out = append(out, childRef{pairing: p, field: f})
			}
		}
	}
	return out
}

// compareChildren compares, for each webCRM parent record that changed, its
// children in webCRM with its counterpart's children in the ERP, and
// dispatches a delete for every linked child whose webCRM record is gone:
// missing from the listing and answered as gone by a read by id (a listing
// can miss a record). It returns what the dispatches did.
func (e *Engine) compareChildren(ctx context.Context, parent string, changes []domain.Change) (*Tally, error) {
	total := &Tally{}
	kids := e.children(parent)
	if len(kids) == 0 {
		return total, nil
	}
	for _, ch := range changes {
		if ch.Side != domain.WebCRM || ch.Deleted {
			continue
		}
		erpParent, err := e.counterpartID(ctx, parent, domain.WebCRM, ch.ID)
		if err != nil {
			return total, err
		}
		if erpParent == "" {
			continue // not linked (yet): it has no children in the ERP tandem made
		}
		for _, k := range kids {
			deletes, err := e.goneChildren(ctx, k, ch.ID, erpParent)
			if err != nil {
				return total, fmt.Errorf("%s: compare the lines of webCRM %s %s with ERP %s: %w", k.pairing.Name, parent, ch.ID, erpParent, err)
			}
			if len(deletes) == 0 {
				continue
			}
			t, err := e.Dispatch(ctx, k.pairing.Name, deletes)
			if err != nil {
				return total, fmt.Errorf("%s: dispatch deletes of the lines of webCRM %s %s: %w", k.pairing.Name, parent, ch.ID, err)
			}
			total.Dispatched += t.Dispatched
			total.Failed += t.Failed
			total.FailedLinks = append(total.FailedLinks, t.FailedLinks...)
		}
	}
	return total, nil
}

// goneChildren returns the deletes of the webCRM children of k whose ERP
// counterparts are children of erpParent but who are themselves gone from
// webCRM.
func (e *Engine) goneChildren(ctx context.Context, k childRef, crmParent, erpParent string) ([]domain.Change, error) {
	sides := e.sides(k.pairing)
	listed, err := sides.Store[domain.WebCRM].Find(ctx, k.field.WebCRM.Property, crmParent)
	if err != nil {
		return nil, fmt.Errorf("list webCRM children: %w", err)
	}
	present := map[string]bool{}
	for _, id := range listed {
		present[id] = true
	}
	erpKids, err := sides.Store[domain.ERP].Find(ctx, k.field.ERP.Property, erpParent)
	if err != nil {
		return nil, fmt.Errorf("list ERP children: %w", err)
	}
	var out []domain.Change
	for _, erpID := range erpKids {
		crmID, err := e.counterpartID(ctx, k.pairing.Name, domain.ERP, erpID)
		if err != nil {
			return nil, err
		}
		if crmID == "" || present[crmID] {
			continue
		}
		ch := domain.Change{Side: domain.WebCRM, ID: crmID, Deleted: true, Source: domain.SourcePoll}
		gone, err := isGone(ctx, sides.Store[domain.WebCRM], ch.ID)
		if err != nil {
			return nil, err
		}
		if gone {
			out = append(out, ch)
		}
	}
	return out, nil
}

// counterpartID returns the id on the other side of the link that holds
// (side, id), or "" when there is no link or it is deleted.
func (e *Engine) counterpartID(ctx context.Context, pairing string, side domain.Side, id string) (string, error) {
	home, err := e.links.FindHome(ctx, pairing, side, id)
	if err != nil {
		return "", fmt.Errorf("%s: find the link of %s %s: %w", pairing, side.Label(), id, err)
	}
	if home == "" {
		return "", nil
	}
	info, err := e.links.Inspect(ctx, home)
	if err != nil {
		return "", fmt.Errorf("%s: look at link %s: %w", pairing, home, err)
	}
	if info.Kind != HomeLink || info.State == domain.StateDeleted {
		return "", nil
	}
	if side == domain.WebCRM {
		return info.ErpID, nil
	}
	return info.CrmID, nil
}

// isGone reads a record missing from a listing by id: only that read tells
// that it is gone.
func isGone(ctx context.Context, st Store, id string) (bool, error) {
	rec, err := st.Get(ctx, id)
	if err != nil {
		return false, fmt.Errorf("read %s %s, missing from its listing: %w", st.Label(), id, err)
	}
	return rec.Gone, nil
}
