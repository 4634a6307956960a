package engine

import (
	"context"
	"fmt"

	"github.com/tandemsync/tandem/domain"
)

// BackfillCount counts the records a backfill of one side will visit.
func (e *Engine) BackfillCount(ctx context.Context, in domain.BackfillCountInput) (int, error) {
	l, err := e.lister(in.Pairing, in.Side)
	if err != nil {
		return 0, err
	}
	n, err := l.Count(ctx, in.Since)
	if err != nil {
		return n, fmt.Errorf("%s: count %s records: %w", in.Pairing, in.Side, err)
	}
	return n, nil
}

// BackfillPage reads one page of one side and dispatches every record of it
// to its link.
func (e *Engine) BackfillPage(ctx context.Context, in domain.BackfillPageInput) (domain.BackfillPageResult, error) {
	var res domain.BackfillPageResult
	l, err := e.lister(in.Pairing, in.Side)
	if err != nil {
		return res, err
	}
	changes, next, last, err := l.Page(ctx, in.Cursor, in.Since, max(in.PageSize, 1))
	if err != nil {
		return res, fmt.Errorf("%s: read %s records after %q: %w", in.Pairing, in.Side, in.Cursor, err)
	}
	res.Seen, res.Last, res.Next = len(changes), last, next
	t, err := e.WithConcurrency(in.Concurrency).Dispatch(ctx, in.Pairing, changes)
	if err != nil {
		return res, fmt.Errorf("%s: dispatch backfill page: %w", in.Pairing, err)
	}
	res.Failed, res.Actions = t.Failed, t.Actions
	return res, nil
}

// BackfillMark returns where a pairing can start reading one side once a
// backfill of it that starts now is done: every record changed before the mark
// is visited by the backfill that follows; later changes are newer than it. An
// empty side gives a zero mark, which hands nothing over.
func (e *Engine) BackfillMark(ctx context.Context, in domain.BackfillCountInput) (domain.Positions, error) {
	l, err := e.lister(in.Pairing, in.Side)
	if err != nil {
		return domain.Positions{}, err
	}
	mark, err := l.Mark(ctx, func(n int) { e.beat(ctx, n) })
	if err != nil {
		return domain.Positions{}, fmt.Errorf("%s: find where the %s side stands: %w", in.Pairing, in.Side, err)
	}
	return mark, nil
}

// lister returns the lister of one side of a pairing.
func (e *Engine) lister(pairing string, side domain.Side) (Lister, error) {
	p, err := e.pairing(pairing)
	if err != nil {
		return nil, err
	}
	if !side.Valid() {
		return nil, permanentf("backfill side %q is not webcrm or erp", side)
	}
	l := e.sides(p).List[side]
	if l == nil {
		return nil, permanentf("%s: no lister of the %s side", pairing, side)
	}
	return l, nil
}

// reconcileSample is how many records missing from a listing a reconcile reads
// by id first, when there are more than the mass-delete guard allows.
const reconcileSample = 20

// Reconcile finds linked records that disappeared and hands each to its link
// as a delete: webCRM records (webCRM has no tombstones, and no delete in its
// API for most entities), and ERP records whose tombstone the pairing never
// read. A record missing from its side's listing is taken for deleted only
// when a read of it by id says it is gone: a listing can miss a record, a read
// by id cannot. More deletes than in.MaxDeleteShare of the links (and more than
// MassDeleteFloor) stop the run before anything is dispatched; when there are
// many, a sample read by id decides, so that a mass deletion costs little of
// webCRM's budget.
//
// The links are listed before the records, so a link made while the records
// are listed (its record newer than the listing) is not taken for one whose
// record is missing.
func (e *Engine) Reconcile(ctx context.Context, in domain.ReconcileInput) (domain.ReconcileResult, error) {
	var res domain.ReconcileResult
	p, err := e.pairing(in.Pairing)
	if err != nil {
		return res, err
	}
	sides := e.sides(p)
	var refs []LinkRef
	if err := e.links.List(ctx, in.Pairing, func(page []LinkRef) error {
		refs = append(refs, page...)
		e.beat(ctx, len(refs))
		return nil
	}); err != nil {
		return res, fmt.Errorf("list %s links: %w", in.Pairing, err)
	}
	present := map[domain.Side]map[string]bool{}
	for _, side := range domain.Sides() {
		ids, err := sides.List[side].IDs(ctx, func(n int) { e.beat(ctx, n) })
		if err != nil {
			return res, fmt.Errorf("%s: list %s ids: %w", in.Pairing, sides.Store[side].Label(), err)
		}
		present[side] = ids
	}
	res.Links = len(refs)
	var candidates []domain.Change
	for _, l := range refs {
		if l.State == domain.StateDeleted {
			continue
		}
		for _, side := range domain.Sides() {
			id := l.CrmID
			if side == domain.ERP {
				id = l.ErpID
			}
			if id != "" && !present[side][id] {
				candidates = append(candidates, domain.Change{Side: side, ID: id, Deleted: true, Source: domain.SourceReconcile})
				break
			}
		}
	}
	allowed := max(MassDeleteFloor, int(in.MaxDeleteShare*float64(res.Links)))
	gone := func(ch domain.Change) (bool, error) {
		g, err := isGone(ctx, sides.Store[ch.Side], ch.ID)
		if err != nil {
			return false, fmt.Errorf("%s: %w", in.Pairing, err)
		}
		return g, nil
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
		n, sampled := 0, min(reconcileSample, len(candidates))
		for i := range sampled {
			g, err := gone(candidates[i*len(candidates)/sampled])
			if err != nil {
				return res, err
			}
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
		e.beat(ctx, i)
	}
	if res.Unlisted > 0 {
		e.log.WarnContext(ctx, "records missing from their listing were found by id: the listing is not whole", "pairing", in.Pairing, "records", res.Unlisted)
	}
	res.Missing = len(changes)
	t, err := e.Dispatch(ctx, in.Pairing, changes)
	if err != nil {
		return res, fmt.Errorf("%s: dispatch deletes: %w", in.Pairing, err)
	}
	res.Dispatched = t.Dispatched
	return res, nil
}
