package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// create writes the counterpart of the home record on side, registers its
// index entry and records the snapshot. A create on a side whose store takes
// batches is left pending when the run defers creates.
func (r *run) create(ctx context.Context, side domain.Side, c mappings.Canonical) error {
	fields := r.p.WritableFields(side, false)
	if err := r.ensureLookups(ctx, side, c, fields); err != nil {
		if r.blocked(err) {
			return nil
		}
		return err
	}
	body, err := r.render(ctx, side, c, fields)
	if r.blocked(err) {
		return nil
	}
	if err != nil {
		return mappingError(fmt.Errorf("map record for %s: %w", r.store(side).Label(), err))
	}
	if missing := r.missingRequired(side, body); len(missing) > 0 {
		return permanentf("cannot create the %s counterpart of %s record %s: %s has no value for %s, which %s needs",
			r.store(side).Label(), side.Other(), r.st.ID(side.Other()), side.Other(), strings.Join(missing, ", "), r.store(side).Label())
	}
	if _, ok := r.store(side).(BatchStore); ok && r.deferCreates {
		r.pending = &pendingCreate{side: side, body: body, c: c}
		return nil
	}
	id, rec, err := r.store(side).Create(ctx, body, r.in.LinkID)
	if err != nil {
		return fmt.Errorf("create %s: %w", r.store(side).Label(), err)
	}
	return r.created(ctx, side, id, rec, c)
}

// ensureLookups makes sure that the records this record names by value (a
// quotation line's product number: a pairing it depends on without an id
// reference, whose merge criterion is one of this pairing's fields) exist on
// side before it is written there: a product only in the other system is
// synced first through its link, and one that cannot be is an unresolved
// reference (the record blocks on it); one in neither is an error naming the
// value.
func (r *run) ensureLookups(ctx context.Context, side domain.Side, c mappings.Canonical, fields []string) error {
	for _, dep := range r.p.DependsOn {
		if r.referenced(dep) {
			continue
		}
		q, ok := r.e.set.Pairing(dep)
		if !ok || len(q.MergeCriteria) != 1 {
			continue
		}
		name := q.MergeCriteria[0].Field
		if !slices.Contains(fields, name) {
			continue
		}
		value, _ := c[name].(string)
		qf, ok := q.Field(name)
		if !ok || strings.TrimSpace(value) == "" {
			continue
		}
		qs := r.e.sides(q)
		here, there := qs.Store[side], qs.Store[side.Other()]
		ids, err := here.Find(ctx, qf.Side(side).Property, value)
		if err != nil {
			return fmt.Errorf("look up %s %s %q in %s: %w", dep, name, value, side, err)
		}
		if len(ids) > 0 {
			continue
		}
		ids, err = there.Find(ctx, qf.Side(side.Other()).Property, value)
		if err != nil {
			return fmt.Errorf("look up %s %s %q in %s: %w", dep, name, value, side.Other(), err)
		}
		if len(ids) == 0 {
			return permanentf("%s %s record %s refers to %s %s %q, which neither system has",
				r.p.Name, side.Other(), r.st.ID(side.Other()), dep, name, value)
		}
		_, linked, err := r.refs.Resolve(ctx, dep, side.Other(), ids[0])
		if err != nil {
			return err
		}
		if !linked {
			// The product could not be synced (its link says why): writing
			// the record now would name a product side does not have.
			return &mappings.UnresolvedReference{Pairing: dep, Side: side.Other(), ID: ids[0]}
		}
	}
	return nil
}

// referenced reports whether the pairing refers to dep by id.
func (r *run) referenced(dep string) bool {
	for _, ref := range r.p.References {
		if ref.Pairing == dep {
			return true
		}
	}
	return false
}

// missingRequired lists the properties a record created on side needs (the
// pairing's required-on-create) that body leaves empty.
func (r *run) missingRequired(side domain.Side, body map[string]any) []string {
	required := r.p.WebCRMRequired
	if side == domain.ERP {
		required = r.p.ERPRequired
	}
	var out []string
	for _, prop := range required {
		if v := lookupPath(body, prop); v == nil || v == "" {
			out = append(out, prop)
		}
	}
	return out
}

// created finishes a create: the new record's id, its index entry, the
// snapshot and the state.
func (r *run) created(ctx context.Context, side domain.Side, id string, rec Record, c mappings.Canonical) error {
	r.st.SetID(side, id)
	// The home record was read before the create, which can take seconds
	// with retries: a merge that follows writes it on a fresh read, not put
	// it back as it was over an edit made in between.
	home := r.recs[side.Other()]
	home.Delivered = true
	r.recs[side.Other()] = home
	// A record tandem created carries this link's ID as its token, which
	// leads a change of it here; its index entry is then made on first use.
	// In the ERP that is enough (a tombstone carries the record's last
	// state, token included), which halves the workflows a backfill into the
	// ERP starts, what bounds its rate. webCRM tells of a delete by the
	// record's id alone (a hook), so a record created there gets its entry
	// now: the hook finds its link through it, not through visibility, which
	// trails the link by seconds. So does a record that carries no token.
	if s := r.store(side); side == domain.WebCRM || (s.Token(rec.Fields) != r.in.LinkID && !s.CarriesToken()) {
		if err := r.e.links.RegisterAlias(ctx, r.p.Name, side, id, r.in.LinkID); err != nil {
			return r.handOver(err)
		}
	}
	action := domain.ActionCreatedERP
	if side == domain.WebCRM {
		action = domain.ActionCreatedWebCRM
	}
	r.st.Writes++
	fields := r.p.WritableFields(side, false)
	if rec.ReadBack {
		got, err := r.canonical(ctx, side, rec)
		if _, edited := r.p.StoredAs(side, c, got, fields); err == nil && len(edited) > 0 {
			// The record holds other values than this create sent: an earlier
			// attempt made it, from values read before (its answer was lost),
			// and they may have changed since on the home side. Its values
			// are the base: a merge writes what changed since.
			r.recs[side] = rec
			if err := r.setBase(side, got, c, fields); err != nil {
				return err
			}
			r.res.Outcome.Action = action
			_, err := r.merge(ctx)
			return err
		}
	}
	r.remember(c, side.Other(), r.recs[side.Other()])
	r.setStored(side.Other(), nil)
	r.setStored(side, nil)
	rec = r.storedAs(ctx, side, c, nil, rec, fields)
	r.remember(c, side, rec)
	if r.givesBack(ctx, side, c, rec) {
		// The new record holds values of its own that flow to the home
		// record (an order's id): a merge writes them there now.
		r.recs[side] = rec
		r.res.Outcome.Action = action
		_, err := r.merge(ctx)
		return err
	}
	_, err := r.settle(action, "")
	return err
}

// givesBack reports whether rec, just created on side from the home record's
// canonical values c, holds a value of a field only side is the source of
// (one tandem never writes to side, but may write to the home side) that the
// home record does not have.
func (r *run) givesBack(ctx context.Context, side domain.Side, c mappings.Canonical, rec Record) bool {
	if rec.Fields == nil {
		return false
	}
	writable := r.p.WritableFields(side, false)
	var back []string
	for _, f := range r.p.WritableFields(side.Other(), true) {
		if !slices.Contains(writable, f) {
			back = append(back, f)
		}
	}
	if len(back) == 0 {
		return false
	}
	got, err := r.canonical(ctx, side, rec)
	if err != nil {
		return false
	}
	for _, f := range back {
		if got[f] != nil && !r.p.SameValue(f, got[f], c[f]) {
			return true
		}
	}
	return false
}

// ownCreate makes a matched record that carries this link's own token, which
// only this link's own earlier create gives it (an attempt whose answer was
// lost), the base of the merge that follows: its values are those the link
// synced then, and a change made since on the home side is an edit to write
// there, not a difference for the "newest" rule to decide.
// home is the home record's canonical form.
func (r *run) ownCreate(ctx context.Context, side domain.Side, rec Record, home mappings.Canonical) error {
	if r.store(side).Token(rec.Fields) != r.in.LinkID {
		return nil
	}
	got, err := r.canonical(ctx, side, rec)
	if err != nil {
		return nil // the merge maps it again and reports why it cannot
	}
	return r.setBase(side, got, home, r.p.WritableFields(side, false))
}

// setBase makes got, the canonical form of a record tandem wrote to side in an
// earlier attempt, the synced snapshot: the merge's base. Where got holds what
// side's server makes of the value in like (what was sent, or the home
// record's value now: spacing, case, cut short), the base is like's value and
// got's is remembered as side's stored form of it, so the difference is no
// edit to write back.
func (r *run) setBase(side domain.Side, got, like mappings.Canonical, fields []string) error {
	rewritten, _ := r.p.StoredAs(side, like, got, fields)
	base := maps.Clone(got)
	for name := range rewritten {
		base[name] = like[name]
	}
	snap, err := json.Marshal(base)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	r.st.Snapshot = snap
	r.setStored(side, rewritten)
	return nil
}
