package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
)

// applyRun is one execution of Apply: the pairing, both stores, the state
// being built and the result.
type applyRun struct {
	a     *Activities
	p     *mappings.Pairing
	in    domain.ApplyInput
	st    domain.LinkState
	store map[domain.Side]store
	recs  map[domain.Side]record
	res   domain.ApplyResult
	refs  *resolver
	cache *lookups // shared by the first contacts of a batch, or nil
	// deferWebCRMCreate makes create leave a webCRM create in pending
	// instead of writing it, so the caller can write many in one PATCH.
	deferWebCRMCreate bool
	pending           *pendingCreate
}

// pendingCreate is a webCRM create that create deferred.
type pendingCreate struct {
	body map[string]any
	c    mappings.Canonical
}

// Apply applies one change to one link: it reads both records (using the
// one the poll delivered), finds or creates the counterpart on first
// contact, maps both to the pairing's canonical form, merges them against
// the last synced snapshot and writes what changed. It is safe to retry:
// creates are idempotent (ERP Idempotency-Key and webCRM correlation token,
// both the link ID), and a retry re-reads both sides before deciding.
func (a *Activities) Apply(ctx context.Context, in domain.ApplyInput) (domain.ApplyResult, error) {
	r, err := a.newApplyRun(in, nil)
	if err != nil {
		return domain.ApplyResult{}, err
	}
	res, err := r.run(ctx)
	return a.finishApply(in, res, err)
}

func (a *Activities) newApplyRun(in domain.ApplyInput, cache *lookups) (*applyRun, error) {
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return nil, err
	}
	ws, es := a.stores(p, cache)
	return &applyRun{
		a: a, p: p, in: in, st: in.State,
		store: map[domain.Side]store{domain.WebCRM: ws, domain.ERP: es},
		recs:  map[domain.Side]record{},
		refs:  &resolver{d: a.dispatcher, c: a.Temporal},
		cache: cache,
	}, nil
}

// finishApply records metrics and classifies the error of one apply.
func (a *Activities) finishApply(in domain.ApplyInput, res domain.ApplyResult, err error) (domain.ApplyResult, error) {
	if err != nil {
		a.Metrics.applied(in.Pairing, string(in.Change.Side), domain.ActionError)
		return res, classify(recordError(in.Pairing, in.LinkID, err))
	}
	a.Metrics.applied(in.Pairing, string(in.Change.Side), res.Outcome.Action)
	a.Metrics.conflict(in.Pairing, len(res.Conflicts))
	return res, nil
}

func (r *applyRun) run(ctx context.Context) (domain.ApplyResult, error) {
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
	if r.st.Snapshot == nil && r.otherID(ch.Side) == "" {
		done, err := r.firstContact(ctx, ch.Side)
		if err != nil || done {
			return r.res, err
		}
	}
	return r.merge(ctx)
}

// claim records the change's record id in the state, or rejects a change
// that names another record than the one this link holds.
func (r *applyRun) claim(ch domain.Change) error {
	cur := r.idOf(ch.Side)
	switch {
	case cur == "":
		r.setID(ch.Side, ch.ID)
	case cur != ch.ID:
		return permanent(fmt.Errorf("change of %s record %s reached the link of %s record %s", ch.Side, ch.ID, ch.Side, cur), errTypeValidation)
	}
	return nil
}

func (r *applyRun) idOf(s domain.Side) string {
	if s == domain.WebCRM {
		return r.st.CrmID
	}
	return r.st.ErpID
}

func (r *applyRun) otherID(s domain.Side) string { return r.idOf(s.Other()) }

func (r *applyRun) setID(s domain.Side, id string) {
	if s == domain.WebCRM {
		r.st.CrmID = id
	} else {
		r.st.ErpID = id
	}
}

// read loads both records: the delivered one from the change, the other
// from its API.
func (r *applyRun) read(ctx context.Context, ch domain.Change) error {
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		id := r.idOf(side)
		if id == "" {
			continue
		}
		s := r.store[side]
		var rec record
		var err error
		switch {
		case ch.Side == side && ch.Deleted:
			rec = record{gone: true}
		case ch.Side == side && len(ch.Record) > 0:
			rec, err = s.decode(ch.Record)
			if err == nil && r.stale(side, rec) {
				// The link has since read or written a newer version: the
				// delivered one must not count as an edit.
				rec, err = s.get(ctx, id)
			}
		default:
			rec, err = s.get(ctx, id)
		}
		if err != nil {
			return fmt.Errorf("read %s %s: %w", s.label(), id, err)
		}
		r.recs[side] = rec
	}
	return nil
}

// stale reports whether a delivered record is not newer than the version of
// that side the link last synced.
func (r *applyRun) stale(side domain.Side, rec record) bool {
	known := r.st.CrmVersion
	if side == domain.ERP {
		known = r.st.ErpVersion
	}
	if known == "" || rec.version == "" {
		return false
	}
	if side == domain.ERP {
		k, err1 := strconv.ParseInt(known, 10, 64)
		v, err2 := strconv.ParseInt(rec.version, 10, 64)
		return err1 == nil && err2 == nil && v <= k
	}
	k, err1 := time.Parse(time.RFC3339Nano, known)
	v, err2 := time.Parse(time.RFC3339Nano, rec.version)
	return err1 == nil && err2 == nil && !v.After(k)
}

func (r *applyRun) goneSide() domain.Side {
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		if rec, ok := r.recs[side]; ok && rec.gone {
			return side
		}
	}
	return ""
}

// canonical maps a side's record to canonical form.
func (r *applyRun) canonical(ctx context.Context, side domain.Side, rec record) (mappings.Canonical, error) {
	var c mappings.Canonical
	var warns []mappings.Warning
	var err error
	if side == domain.WebCRM {
		c, warns, err = r.p.FromWebCRM(ctx, rec.fields, r.refs)
	} else {
		c, warns, err = r.p.FromERP(ctx, rec.fields, r.refs)
	}
	r.warn(warns)
	return c, err
}

// render maps canonical fields to a side's record shape.
func (r *applyRun) render(ctx context.Context, side domain.Side, c mappings.Canonical, fields []string) (map[string]any, error) {
	var body map[string]any
	var warns []mappings.Warning
	var err error
	if side == domain.WebCRM {
		body, warns, err = r.p.ToWebCRM(ctx, c, fields, r.refs)
	} else {
		body, warns, err = r.p.ToERP(ctx, c, fields, r.refs)
	}
	r.warn(warns)
	return body, err
}

func (r *applyRun) warn(ws []mappings.Warning) {
	for _, w := range ws {
		r.res.Warnings = append(r.res.Warnings, w.String())
		r.a.Logger.Warn("mapping warning", "pairing", r.p.Name, "link", r.in.LinkID, "warning", w.String())
	}
}

// blocked reports whether err is an unresolved reference and, if so, puts
// the link in state blocked with the reason.
func (r *applyRun) blocked(err error) bool {
	var u *mappings.UnresolvedReference
	if !errors.As(err, &u) {
		return false
	}
	dep := domain.LinkWorkflowID(u.Pairing, domain.Side(u.Side), u.ID)
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
func (r *applyRun) settle(action, reason string) (domain.ApplyResult, error) {
	r.st.State, r.st.Reason, r.st.BlockedOn = domain.StateOK, reason, ""
	r.st.Applied++
	r.res.Outcome.Action = action
	r.res.State = r.st
	return r.res, nil
}

// firstContact handles a record whose counterpart is not known yet: it
// hands the record to the link that created it, links it to exactly one
// unlinked match, or creates the counterpart. done is true when the run
// ends here.
func (r *applyRun) firstContact(ctx context.Context, side domain.Side) (done bool, err error) {
	home := r.recs[side]
	other := side.Other()
	if side == domain.ERP && !r.p.Accepts(home.fields) {
		_, err := r.settle(domain.ActionSkipped, "not a record of this pairing")
		return true, err
	}
	if tok := r.store[side].token(home.fields); tok != "" && tok != r.in.LinkID {
		info, err := links.Inspect(ctx, r.a.Temporal, tok)
		if err != nil {
			return true, err
		}
		if info.Holds(side, r.idOf(side)) {
			r.res.Outcome = domain.Outcome{Action: domain.ActionForwarded, Forward: tok}
			r.res.State = r.st
			return true, nil
		}
	}
	if len(r.p.MergeCriteria) == 0 && !r.p.Creation.Allows(domain.Side(other)) {
		// Nothing to match by and nothing to create: no need to map it.
		_, err := r.settle(domain.ActionSkipped, fmt.Sprintf("not created in %s: the %s pairing creates records %s only", other, r.p.Name, r.p.Creation))
		return true, err
	}
	c, err := r.canonical(ctx, side, home)
	if r.blocked(err) {
		return true, nil
	}
	if err != nil {
		return true, mappingError(fmt.Errorf("map %s record %s: %w", side, r.idOf(side), err))
	}
	matches, err := r.match(ctx, other, c)
	if err != nil {
		return true, err
	}
	switch len(matches) {
	case 1:
		r.setID(other, matches[0])
		rec, err := r.store[other].get(ctx, matches[0])
		if err != nil {
			return true, fmt.Errorf("read matched %s %s: %w", r.store[other].label(), matches[0], err)
		}
		r.recs[other] = rec
		if err := links.RegisterAlias(ctx, r.a.Temporal, r.a.TaskQueue, r.p.Name, other, matches[0], r.in.LinkID); err != nil {
			return true, r.handOver(err)
		}
		r.res.Outcome.Action = domain.ActionMatched
		return false, nil
	case 0:
	default:
		r.st.State = domain.StateError
		r.st.Reason = fmt.Sprintf("%d %s records match by %s (%s); merge the duplicates, then run `starter resync`",
			len(matches), r.store[other].label(), strings.Join(mergeFields(r.p), ", "), strings.Join(matches, ", "))
		r.res.Outcome.Action = domain.ActionError
		r.res.State = r.st
		return true, nil
	}
	if !r.p.MayCreate(domain.Side(other), c) {
		why := fmt.Sprintf("the %s pairing creates records %s only", r.p.Name, r.p.Creation)
		if r.p.Creation.Allows(domain.Side(other)) {
			why = fmt.Sprintf("the %s gate holds it back", r.p.Gate)
		}
		_, err := r.settle(domain.ActionSkipped, fmt.Sprintf("not created in %s: %s", other, why))
		return true, err
	}
	return true, r.create(ctx, other, c)
}

// handOver turns a links.ClaimedError into a forward: another link holds
// the counterpart and stays the home, so this link becomes its alias.
func (r *applyRun) handOver(err error) error {
	var claimed *links.ClaimedError
	if !errors.As(err, &claimed) {
		return err
	}
	r.res.Outcome = domain.Outcome{Action: domain.ActionForwarded, Forward: claimed.Home}
	r.res.State = r.st
	return nil
}

// match looks for unlinked counterparts by the pairing's merge criteria.
// The normalised index answers (it finds values written differently too,
// and costs one request per batch when nothing changed); when it gives a
// broken answer, equality queries on the value as it is and normalised
// still find every exact twin.
func (r *applyRun) match(ctx context.Context, other domain.Side, c mappings.Canonical) ([]string, error) {
	key, ok := r.p.MatchKey(c)
	if !ok {
		return nil, nil
	}
	found, answered, err := r.a.indexCandidates(ctx, r.p, other, c, r.cache.askedAt())
	if err != nil {
		if unavailable(err) {
			// Deciding now could create a twin of a record the index
			// would have found: try again once the API answers.
			return nil, err
		}
		// A broken answer will not mend by retrying.
		activity.GetLogger(ctx).Warn("normalised merge index unavailable; matching by equal values only", "pairing", r.p.Name, "error", err)
		answered = false
	}
	if !answered {
		found = nil
		for _, q := range matchQueries(r.p, c, other) {
			ids, err := r.store[other].find(ctx, q.Property, q.Value)
			if err != nil {
				return nil, fmt.Errorf("look for a matching %s by %s: %w", r.store[other].label(), q.Property, err)
			}
			found = append(found, ids...)
		}
	}
	sort.Strings(found)
	var out []string
	for i, id := range found {
		if i > 0 && found[i-1] == id {
			continue
		}
		ok, err := r.candidate(ctx, other, id, key)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// candidate reports whether the record id on side other matches key and is
// not linked yet.
func (r *applyRun) candidate(ctx context.Context, other domain.Side, id, key string) (bool, error) {
	rec, err := r.store[other].get(ctx, id)
	if err != nil {
		return false, err
	}
	if rec.gone || (other == domain.ERP && !r.p.Accepts(rec.fields)) {
		return false, nil
	}
	cand, err := r.canonical(ctx, other, rec)
	if err != nil {
		return false, nil // a candidate that cannot be mapped is not a match
	}
	if k, ok := r.p.MatchKey(cand); !ok || k != key {
		return false, nil
	}
	ok, err := r.free(ctx, other, id)
	if err != nil || !ok {
		return false, err
	}
	// A record tandem created for another link carries that link's ID even
	// before it has an index entry of its own.
	if tok := r.store[other].token(rec.fields); tok != "" && tok != r.in.LinkID {
		info, err := links.Inspect(ctx, r.a.Temporal, tok)
		if err != nil || info.Holds(other, id) {
			return false, err
		}
	}
	return true, nil
}

// free reports whether the link workflow of the candidate record (other,
// id) leaves the record free to link to this one: nothing runs
// there; or a link runs that has no counterpart yet (its own first contact
// may be under way: registering the index entry settles which of the two
// stays, the same way from both ends) or has this record already; or an
// index entry points here.
func (r *applyRun) free(ctx context.Context, other domain.Side, id string) (bool, error) {
	info, err := links.Inspect(ctx, r.a.Temporal, domain.LinkWorkflowID(r.p.Name, other, id))
	if err != nil {
		return false, err
	}
	switch info.Kind {
	case links.KindNone:
		return true, nil
	case links.KindAlias:
		home, err := links.FindHome(ctx, r.a.Temporal, r.p.Name, other, id)
		return home == r.in.LinkID, err
	}
	mine := other.Other()
	return info.Holds(mine, r.idOf(mine)), nil
}

// create writes the counterpart of the home record on side, registers its
// index entry and records the snapshot.
func (r *applyRun) create(ctx context.Context, side domain.Side, c mappings.Canonical) error {
	fields := r.p.WritableFields(domain.Side(side), false)
	if err := r.ensureLookups(ctx, side, c, fields); err != nil {
		return err
	}
	body, err := r.render(ctx, side, c, fields)
	if r.blocked(err) {
		return nil
	}
	if err != nil {
		return mappingError(fmt.Errorf("map record for %s: %w", r.store[side].label(), err))
	}
	if missing := r.missingRequired(side, body); len(missing) > 0 {
		return permanent(fmt.Errorf("cannot create the %s counterpart of %s record %s: %s has no value for %s, which %s needs",
			r.store[side].label(), side.Other(), r.idOf(side.Other()), side.Other(), strings.Join(missing, ", "), r.store[side].label()), errTypeValidation)
	}
	if side == domain.WebCRM && r.deferWebCRMCreate {
		r.pending = &pendingCreate{body: body, c: c}
		return nil
	}
	id, rec, err := r.store[side].create(ctx, body, r.in.LinkID)
	if err != nil {
		return fmt.Errorf("create %s: %w", r.store[side].label(), err)
	}
	return r.created(ctx, side, id, rec, c)
}

// unavailable reports whether err says an API could not answer for now (a
// rate limit, a server error, a network failure), as opposed to answering
// something unusable.
func unavailable(err error) bool {
	return webcrm.IsRateLimited(err) || webcrm.IsServer(err) || webcrm.IsNetwork(err) ||
		customerp.IsRateLimited(err) || customerp.IsServer(err) || customerp.IsNetwork(err)
}

// mappingError is the error of a record that could not be mapped: a
// permanent validation error, unless what failed was reaching a referenced
// record's link, which is transient and retried.
func mappingError(err error) error {
	var re *resolveError
	if errors.As(err, &re) {
		return classify(err)
	}
	return permanent(err, errTypeValidation)
}

// ensureLookups makes sure that the records this record names by value
// (a quotation line's product number: a pairing it depends on without an id
// reference, whose merge criterion is one of this pairing's fields) exist
// on side before it is written there: a product only in the other system
// is synced first through its link; one in neither is an error naming the
// value.
func (r *applyRun) ensureLookups(ctx context.Context, side domain.Side, c mappings.Canonical, fields []string) error {
	for _, dep := range r.p.DependsOn {
		if r.referenced(dep) {
			continue
		}
		q, ok := r.a.Mappings.Pairing(dep)
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
		ws, es := r.a.stores(q, nil)
		here, there := store(es), store(ws)
		if side == domain.WebCRM {
			here, there = ws, es
		}
		ids, err := here.find(ctx, qf.Side(domain.Side(side)).Property, value)
		if err != nil {
			return fmt.Errorf("look up %s %s %q in %s: %w", dep, name, value, side, err)
		}
		if len(ids) > 0 {
			continue
		}
		ids, err = there.find(ctx, qf.Side(domain.Side(side.Other())).Property, value)
		if err != nil {
			return fmt.Errorf("look up %s %s %q in %s: %w", dep, name, value, side.Other(), err)
		}
		if len(ids) == 0 {
			return permanent(fmt.Errorf("%s %s record %s refers to %s %s %q, which neither system has",
				r.p.Name, side.Other(), r.idOf(side.Other()), dep, name, value), errTypeValidation)
		}
		if _, _, err := r.refs.Resolve(ctx, dep, domain.Side(side.Other()), ids[0]); err != nil {
			return err
		}
	}
	return nil
}

// referenced reports whether the pairing refers to dep by id.
func (r *applyRun) referenced(dep string) bool {
	for _, ref := range r.p.References {
		if ref.Pairing == dep {
			return true
		}
	}
	return false
}

// missingRequired lists the properties a record created on side needs
// (the pairing's required-on-create) that body leaves empty.
func (r *applyRun) missingRequired(side domain.Side, body map[string]any) []string {
	required := r.p.WebCRMRequired
	if side == domain.ERP {
		required = r.p.ERPRequired
	}
	var out []string
	for _, prop := range required {
		v := lookupPath(body, prop)
		if v == nil || v == "" {
			out = append(out, prop)
		}
	}
	return out
}

// created finishes a create: the new record's id, its index entry, the
// snapshot and the state.
func (r *applyRun) created(ctx context.Context, side domain.Side, id string, rec record, c mappings.Canonical) error {
	r.setID(side, id)
	// A record tandem created carries this link's ID as its token (the ERP
	// externalRef, the webCRM correlation field), which leads a change of it
	// here; its index entry is then made on first use. Only a record without
	// a token needs the entry now. This halves the workflows a backfill
	// starts, which is what bounds its rate.
	if r.store[side].token(rec.fields) != r.in.LinkID && !r.carriesToken(side) {
		if err := links.RegisterAlias(ctx, r.a.Temporal, r.a.TaskQueue, r.p.Name, side, id, r.in.LinkID); err != nil {
			return r.handOver(err)
		}
	}
	home := r.recs[side.Other()]
	r.remember(c, side.Other(), home)
	r.setStored(side.Other(), nil)
	r.setStored(side, nil)
	rec = r.storedAs(ctx, side, c, nil, rec, r.p.WritableFields(domain.Side(side), false))
	r.remember(c, side, rec)
	r.st.Writes++
	action := domain.ActionCreatedERP
	if side == domain.WebCRM {
		action = domain.ActionCreatedWebCRM
	}
	_, err := r.settle(action, "")
	return err
}

// carriesToken reports whether records tandem creates on side carry the
// link's ID: always in the ERP (externalRef), in webCRM when the pairing
// has a correlation field.
func (r *applyRun) carriesToken(side domain.Side) bool {
	return side == domain.ERP || r.p.CorrelationField != ""
}

// storedAs returns the record to remember for side after tandem wrote a record
// synced at sent (canonical) to it, written being what the write returned; fields
// are those the write carried. A record read back after the write (readBack) says
// what the server stored: values it cut or reformatted are kept as that side's
// stored-as values, and its version is the write's, so the poll that delivers it
// skips it as seen. When the read back shows a change tandem did not write (a
// person edited the record in the moment between), or there is no read back, the
// version stays the one the write was based on (before, the record as read; nil
// on create): the poll that delivers the newer version then merges it as the
// edit it may be.
func (r *applyRun) storedAs(ctx context.Context, side domain.Side, sent, before mappings.Canonical, written record, fields []string) record {
	keep := r.recs[side]
	if before == nil {
		keep = record{fields: written.fields}
	}
	if !written.readBack {
		if written.version != "" {
			keep.version = written.version // the ERP answers its new version
		}
		return keep
	}
	got, err := r.canonical(ctx, side, written)
	if err != nil {
		return keep
	}
	rewritten, edited := r.p.StoredAs(domain.Side(side), sent, got, fields)
	if len(edited) > 0 {
		r.a.Logger.InfoContext(ctx, "record changed while tandem wrote it; its next change is merged as an edit",
			"pairing", r.p.Name, "link", r.in.LinkID, "side", string(side), "fields", edited)
		return keep
	}
	if len(rewritten) > 0 {
		cur, _ := decodeCanonical(r.storedRaw(side))
		if cur == nil {
			cur = mappings.Canonical{}
		}
		for f, v := range rewritten {
			cur[f] = v
		}
		r.setStored(side, cur)
	}
	return written
}

// sentWith returns what a write of fields (canonical) to side carried: the
// merged values of the fields written, and the record's own values, read before,
// of the others, which a write of a whole record sends back as they were. A
// field the side holds at a value other than the synced one (and not as the
// server's stored form of it, which storedBefore holds) is left out: a form the
// server gives it does not stand for the synced value.
func (r *applyRun) sentWith(side domain.Side, merged, before, storedBefore mappings.Canonical, fields []string) mappings.Canonical {
	out := mappings.Canonical{}
	for _, f := range r.p.StoredFields(domain.Side(side)) {
		switch {
		case slices.Contains(fields, f):
			out[f] = merged[f]
		case r.p.SameValue(f, before[f], merged[f]):
			out[f] = before[f]
		case storedBefore != nil && r.p.SameValue(f, before[f], storedBefore[f]):
			out[f] = before[f]
		}
	}
	return out
}

func (r *applyRun) storedRaw(side domain.Side) json.RawMessage {
	if side == domain.WebCRM {
		return r.st.CrmStored
	}
	return r.st.ErpStored
}

// setStored records side's stored-as values (none for an empty c).
func (r *applyRun) setStored(side domain.Side, c mappings.Canonical) {
	var raw json.RawMessage
	if len(c) > 0 {
		raw, _ = json.Marshal(c)
	}
	if side == domain.WebCRM {
		r.st.CrmStored = raw
	} else {
		r.st.ErpStored = raw
	}
}

// remember stores the synced snapshot and the version of a side's record.
func (r *applyRun) remember(c mappings.Canonical, side domain.Side, rec record) {
	snap, err := json.Marshal(c)
	if err == nil {
		r.st.Snapshot = snap
	}
	r.st.Hash = mappings.Hash(c)
	if side == domain.WebCRM {
		r.st.CrmVersion = rec.version
	} else {
		r.st.ErpVersion = rec.version
	}
}

// merge does the three-way merge of a linked pair and writes what changed.
func (r *applyRun) merge(ctx context.Context) (domain.ApplyResult, error) {
	cw, err := r.canonical(ctx, domain.WebCRM, r.recs[domain.WebCRM])
	if r.blocked(err) {
		return r.res, nil
	}
	if err != nil {
		return r.res, mappingError(fmt.Errorf("map webCRM record %s: %w", r.st.CrmID, err))
	}
	ce, err := r.canonical(ctx, domain.ERP, r.recs[domain.ERP])
	if r.blocked(err) {
		return r.res, nil
	}
	if err != nil {
		return r.res, mappingError(fmt.Errorf("map ERP record %s: %w", r.st.ErpID, err))
	}
	base, err := decodeCanonical(r.st.Snapshot)
	if err != nil {
		return r.res, permanent(fmt.Errorf("decode snapshot: %w", err), errTypeValidation)
	}
	storedW, errW := decodeCanonical(r.st.CrmStored)
	storedE, errE := decodeCanonical(r.st.ErpStored)
	if err := errors.Join(errW, errE); err != nil {
		return r.res, permanent(fmt.Errorf("decode stored values: %w", err), errTypeValidation)
	}
	m := mappings.Merge(mappings.MergeInput{
		Base: base, WebCRM: cw, ERP: ce, Pairing: r.p,
		WebCRMUpdatedAt: r.recs[domain.WebCRM].updatedAt,
		ERPUpdatedAt:    r.recs[domain.ERP].updatedAt,
		WebCRMStored:    storedW, ERPStored: storedE,
	})
	current := map[domain.Side]mappings.Canonical{domain.WebCRM: cw, domain.ERP: ce}
	stored := map[domain.Side]mappings.Canonical{domain.WebCRM: storedW, domain.ERP: storedE}
	moved := r.p.ChangedFields(base, m.Merged, nil)
	for _, c := range m.Conflicts {
		r.res.Conflicts = append(r.res.Conflicts, domain.ConflictNote{Field: c.Field, Winner: domain.Side(c.Winner), Rule: c.Rule})
	}
	r.st.Conflicts += len(m.Conflicts)
	writes := 0
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		fields := m.ToWebCRM
		if side == domain.ERP {
			fields = m.ToERP
		}
		rec := r.recs[side]
		// A stored-as value stands for the snapshot's value only while that
		// value is the synced one.
		kept := mappings.Canonical{}
		for f, v := range stored[side] {
			if !slices.Contains(moved, f) {
				kept[f] = v
			}
		}
		r.setStored(side, kept)
		if len(fields) > 0 {
			if err := r.ensureLookups(ctx, side, m.Merged, fields); err != nil {
				return r.res, err
			}
			body, err := r.render(ctx, side, m.Merged, fields)
			if r.blocked(err) {
				return r.res, nil
			}
			if err != nil {
				return r.res, mappingError(fmt.Errorf("map changes for %s: %w", r.store[side].label(), err))
			}
			written, err := r.store[side].update(ctx, r.idOf(side), rec, body)
			if err != nil {
				return r.res, fmt.Errorf("update %s %s: %w", r.store[side].label(), r.idOf(side), err)
			}
			sent := r.sentWith(side, m.Merged, current[side], stored[side], fields)
			rec = r.storedAs(ctx, side, sent, current[side], written, slices.Sorted(maps.Keys(sent)))
			writes++
		}
		r.remember(m.Merged, side, rec)
	}
	r.st.Writes += writes
	action := r.res.Outcome.Action
	if action == "" {
		action = domain.ActionNoop
		if writes > 0 {
			action = domain.ActionUpdated
		}
	}
	r.res.Outcome.Conflicts = len(m.Conflicts)
	return r.settle(action, "")
}

// applyDelete applies the pairing's delete policy to a record that is gone
// on side gone.
func (r *applyRun) applyDelete(ctx context.Context, gone domain.Side) (domain.ApplyResult, error) {
	other := gone.Other()
	otherID := r.otherID(gone)
	if r.st.State == domain.StateDeleted {
		r.res.Outcome.Action = domain.ActionSeen
		r.res.State = r.st
		return r.res, nil
	}
	reason := fmt.Sprintf("deleted in %s", gone)
	if otherRec, ok := r.recs[other]; otherID != "" && ok && !otherRec.gone {
		switch action, deact := r.p.DeletePolicy.OnDelete(domain.Side(gone)); action {
		case mappings.Propagate:
			if err := r.store[other].remove(ctx, otherID); err != nil {
				return r.res, fmt.Errorf("delete %s %s: %w", r.store[other].label(), otherID, err)
			}
			r.st.Writes++
			reason += fmt.Sprintf("; deleted in %s too", other)
		case mappings.Deactivate:
			changes := map[string]any{}
			setPath(changes, deact.Property, deact.Value)
			if _, err := r.store[other].update(ctx, otherID, otherRec, changes); err != nil {
				return r.res, fmt.Errorf("deactivate %s %s: %w", r.store[other].label(), otherID, err)
			}
			r.st.Writes++
			reason += fmt.Sprintf("; deactivated in %s", other)
		default:
			reason += fmt.Sprintf("; %s record kept (delete policy %s)", other, r.p.DeletePolicy.Policy)
		}
	}
	r.st.State, r.st.Reason = domain.StateDeleted, reason
	r.st.Applied++
	r.res.Outcome.Action = domain.ActionDeleted
	r.res.State = r.st
	activity.GetLogger(ctx).Info("delete policy applied", "pairing", r.p.Name, "link", r.in.LinkID, "reason", reason)
	return r.res, nil
}

// decodeCanonical reads a snapshot back into canonical form: whole numbers
// come back as int64, as the mappings produce them; decimals are strings.
func decodeCanonical(raw json.RawMessage) (mappings.Canonical, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c mappings.Canonical
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	for k, v := range c {
		if n, ok := v.(json.Number); ok {
			i, err := n.Int64()
			if err != nil {
				return nil, fmt.Errorf("snapshot field %s: %q is not a whole number", k, n)
			}
			c[k] = i
		}
	}
	return c, nil
}

// mergeFields names a pairing's merge criteria.
func mergeFields(p *mappings.Pairing) []string {
	out := make([]string, len(p.MergeCriteria))
	for i, k := range p.MergeCriteria {
		out[i] = k.Field
	}
	return out
}

// lookup is one query for match candidates: property = value on one side.
type lookup struct{ Property, Value string }

// matchQueries returns the look-ups that find candidates for a record with
// canonical values c on side other: the first merge criterion's property
// on that side, with the value as it is and as the criterion normalises it.
// Candidates are then compared on the full normalised key.
func matchQueries(p *mappings.Pairing, c mappings.Canonical, other domain.Side) []lookup {
	if len(p.MergeCriteria) == 0 {
		return nil
	}
	k := p.MergeCriteria[0]
	f, ok := p.Field(k.Field)
	if !ok {
		return nil
	}
	prop := f.Side(domain.Side(other)).Property
	if prop == "" {
		return nil
	}
	if c[k.Field] == nil {
		return nil
	}
	raw := strings.TrimSpace(fmt.Sprint(c[k.Field]))
	if raw == "" {
		return nil
	}
	out := []lookup{{prop, raw}}
	if norm := k.Apply(c[k.Field]); norm != raw && norm != "" {
		out = append(out, lookup{prop, norm})
	}
	return out
}

// setPath sets a dotted path in a nested record.
func setPath(rec map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := rec[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			rec[p] = next
		}
		rec = next
	}
	rec[parts[len(parts)-1]] = v
}
