package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// run is one application of a change to a link: the pairing, both sides, the
// state being built and the result.
type run struct {
	e     *Engine
	p     *mappings.Pairing
	in    domain.ApplyInput
	st    domain.LinkState
	sides Sides
	recs  map[domain.Side]Record
	res   domain.ApplyResult
	refs  *resolver
	batch *batch // what the first contacts of one dispatched batch share, or nil
	// deferCreates makes create leave a create on a side with a BatchStore in
	// pending, so that the caller writes many in one request.
	deferCreates bool
	pending      *pendingCreate
	// moveTo is the link a matched pair moves to once merged (see movesHome).
	moveTo string
}

// pendingCreate is a create that create deferred.
type pendingCreate struct {
	side domain.Side
	body map[string]any
	c    mappings.Canonical
}

// Apply applies one change to one link: it reads both records (using the
// one the change delivered), finds or creates the counterpart on first
// contact, maps both to the pairing's canonical form, merges them against the
// last synced snapshot and writes what changed. It is safe to retry: creates
// are idempotent (the link ID is the correlation token), and a retry reads
// both sides again before it decides.
func (e *Engine) Apply(ctx context.Context, in domain.ApplyInput) (domain.ApplyResult, error) {
	r, err := e.newRun(in, nil)
	if err != nil {
		return domain.ApplyResult{}, err
	}
	res, err := r.run(ctx)
	return e.finish(in, res, err)
}

func (e *Engine) newRun(in domain.ApplyInput, b *batch) (*run, error) {
	p, err := e.pairing(in.Pairing)
	if err != nil {
		return nil, err
	}
	return &run{
		e: e, p: p, in: in, st: in.State, sides: e.sides(p),
		recs:  map[domain.Side]Record{},
		refs:  &resolver{links: e.links},
		batch: b,
	}, nil
}

// finish records metrics and adds the pairing and link to the error of one
// application.
func (e *Engine) finish(in domain.ApplyInput, res domain.ApplyResult, err error) (domain.ApplyResult, error) {
	if err != nil {
		e.metrics.Applied(in.Pairing, in.Change.Side, domain.ActionError)
		return res, recordError(in.Pairing, in.LinkID, err)
	}
	e.metrics.Applied(in.Pairing, in.Change.Side, res.Outcome.Action)
	e.metrics.Conflicts(in.Pairing, len(res.Conflicts))
	return res, nil
}

func (r *run) store(side domain.Side) Store { return r.sides.Store[side] }

func (r *run) run(ctx context.Context) (domain.ApplyResult, error) {
	ch := r.in.Change
	if err := r.claim(ch); err != nil {
		return r.res, err
	}
	if err := r.read(ctx, ch); err != nil {
		return r.res, err
	}
	if gone := r.goneSide(); gone != "" {
		return r.applyDelete(ctx, gone)
	}
	if r.st.Snapshot == nil && r.st.ID(ch.Side.Other()) == "" {
		done, err := r.firstContact(ctx, ch.Side)
		if err != nil || done {
			return r.res, err
		}
	}
	res, err := r.merge(ctx)
	if err != nil || r.moveTo == "" {
		return res, err
	}
	if err := r.moveHome(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

// claim records the change's record id in the state, or rejects a change
// that names another record than the one this link holds.
func (r *run) claim(ch domain.Change) error {
	switch cur := r.st.ID(ch.Side); {
	case cur == "":
		r.st.SetID(ch.Side, ch.ID)
	case cur != ch.ID:
		return permanentf("change of %s record %s reached the link of %s record %s", ch.Side, ch.ID, ch.Side, cur)
	}
	return nil
}

// get reads a record of side: from what the batch read in bulk, else from
// its store.
func (r *run) get(ctx context.Context, side domain.Side, id string) (Record, error) {
	if rec, ok := r.batch.record(side, id); ok {
		return rec, nil
	}
	return r.store(side).Get(ctx, id)
}

// read loads both records: the delivered one from the change, the other
// from its store.
func (r *run) read(ctx context.Context, ch domain.Change) error {
	for _, side := range domain.Sides() {
		id := r.st.ID(side)
		if id == "" {
			continue
		}
		s := r.store(side)
		var rec Record
		var err error
		switch {
		case ch.Side == side && ch.Deleted:
			rec = Record{Gone: true}
		case ch.Side == side && len(ch.Record) > 0:
			rec, err = s.Decode(ch.Record)
			if err == nil && r.stale(side, rec) {
				// The link has since read or written a newer version: the
				// delivered one must not count as an edit.
				rec, err = s.Get(ctx, id)
			}
		default:
			rec, err = r.get(ctx, side, id)
		}
		if err != nil {
			return fmt.Errorf("read %s %s: %w", s.Label(), id, err)
		}
		r.recs[side] = rec
	}
	return nil
}

// stale reports whether a delivered record is not newer than the version of
// that side the link last synced.
func (r *run) stale(side domain.Side, rec Record) bool {
	known := r.st.Version(side)
	if known == "" || rec.Version == "" {
		return false
	}
	if side == domain.ERP {
		k, err1 := strconv.ParseInt(known, 10, 64)
		v, err2 := strconv.ParseInt(rec.Version, 10, 64)
		return err1 == nil && err2 == nil && v <= k
	}
	k, err1 := time.Parse(time.RFC3339Nano, known)
	v, err2 := time.Parse(time.RFC3339Nano, rec.Version)
	return err1 == nil && err2 == nil && !v.After(k)
}

func (r *run) goneSide() domain.Side {
	for _, side := range domain.Sides() {
		if rec, ok := r.recs[side]; ok && rec.Gone {
			return side
		}
	}
	return ""
}

// canonical maps a side's record to canonical form.
func (r *run) canonical(ctx context.Context, side domain.Side, rec Record) (mappings.Canonical, error) {
	var c mappings.Canonical
	var warns []mappings.Warning
	var err error
	if side == domain.WebCRM {
		c, warns, err = r.p.FromWebCRM(ctx, rec.Fields, r.refs)
	} else {
		c, warns, err = r.p.FromERP(ctx, rec.Fields, r.refs)
	}
	r.warn(warns)
	return c, err
}

// render maps canonical fields to a side's record shape; a webCRM body also
// carries the pairing's ERP sync time, when it has one.
func (r *run) render(ctx context.Context, side domain.Side, c mappings.Canonical, fields []string) (map[string]any, error) {
	var body map[string]any
	var warns []mappings.Warning
	var err error
	if side == domain.WebCRM {
		body, warns, err = r.p.ToWebCRM(ctx, c, fields, r.refs)
		if err == nil && r.p.ERPSyncTime != "" {
			// The time of this write, as webCRM's ERP integrations record it.
			// It is no canonical field: a write carries it only when it
			// writes something else, and its read-back is never an edit.
			setPath(body, r.p.ERPSyncTime, r.e.now().UTC().Format(time.RFC3339))
		}
	} else {
		body, warns, err = r.p.ToERP(ctx, c, fields, r.refs)
	}
	r.warn(warns)
	return body, err
}

func (r *run) warn(ws []mappings.Warning) {
	for _, w := range ws {
		r.res.Warnings = append(r.res.Warnings, w.String())
		r.e.log.Warn("mapping warning", "pairing", r.p.Name, "link", r.in.LinkID, "warning", w.String())
	}
}

// blocked reports whether err is an unresolved reference and, if so, puts
// the link in state blocked with the reason.
func (r *run) blocked(err error) bool {
	var u *mappings.UnresolvedReference
	if !errors.As(err, &u) {
		return false
	}
	dep := domain.LinkWorkflowID(u.Pairing, u.Side, u.ID)
	if r.refs.settled(dep) {
		// The referenced record is deliberately not synced, so neither is this one.
		_, _ = r.settle(domain.ActionSkipped, fmt.Sprintf("not synced: it refers to %s %s record %s, which %s",
			u.Pairing, u.Side, u.ID, r.refs.reasonFor(dep)))
		return true
	}
	r.st.State = domain.StateBlocked
	r.st.BlockedOn = dep
	r.st.Reason = fmt.Sprintf("waiting for %s %s record %s to be linked", u.Pairing, u.Side, u.ID)
	if reason := r.refs.reasonFor(dep); reason != "" {
		r.st.Reason += " (" + reason + ")"
	}
	r.res.Outcome.Action = domain.ActionBlocked
	r.res.State = r.st
	return true
}

// settle puts the link in state ok with a reason and ends the run.
func (r *run) settle(action, reason string) (domain.ApplyResult, error) {
	r.st.State, r.st.Reason, r.st.BlockedOn = domain.StateOK, reason, ""
	r.st.Applied++
	r.res.Outcome.Action = action
	r.res.State = r.st
	return r.res, nil
}
