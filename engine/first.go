package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// firstContact handles a record whose counterpart is not known yet: it hands
// the record to the link that created it, links it to exactly one unlinked
// match, or creates the counterpart. done is true when the run ends here.
func (r *run) firstContact(ctx context.Context, side domain.Side) (done bool, err error) {
	home := r.recs[side]
	other := side.Other()
	if side == domain.ERP && !r.p.Accepts(home.Fields) {
		_, err := r.settle(domain.ActionSkipped, "not a record of this pairing")
		return true, err
	}
	if tok := r.store(side).Token(home.Fields); tok != "" && tok != r.in.LinkID {
		owner, err := r.e.tokenOwner(ctx, r.p.Name, side, r.st.ID(side), tok)
		if err != nil {
			return true, err
		}
		if owner {
			r.res.Outcome = domain.Outcome{Action: domain.ActionForwarded, Forward: tok}
			r.res.State = r.st
			return true, nil
		}
	}
	switch {
	case r.in.Change.Review == domain.ReviewReject:
		return true, r.reject()
	case r.st.State == domain.StateRejected && r.in.Change.Review != domain.ReviewApprove:
		// Rejected stays rejected until an operator approves it.
		r.st.Applied++
		r.res.Outcome.Action = domain.ActionRejected
		r.res.State = r.st
		return true, nil
	}
	if len(r.p.MergeCriteria) == 0 && !r.p.Creation.Allows(other) {
		// Nothing to match by and nothing to create: no need to map it.
		_, err := r.settle(domain.ActionSkipped, fmt.Sprintf("not created in %s: the %s pairing creates records %s only", other, r.p.Name, r.p.Creation))
		return true, err
	}
	c, err := r.canonical(ctx, side, home)
	if r.blocked(err) {
		return true, nil
	}
	if err != nil {
		return true, mappingError(fmt.Errorf("map %s record %s: %w", side, r.st.ID(side), err))
	}
	matches, err := r.match(ctx, other, c)
	if err != nil {
		return true, err
	}
	if pick := r.in.Change.Choose; pick != "" {
		if !slices.Contains(matches, pick) {
			return true, r.hold(fmt.Sprintf("%s %s was approved as its counterpart, but it is not one of the unlinked records that match by %s (%s)",
				r.store(other).Label(), pick, strings.Join(mergeFields(r.p), ", "), orNone(matches)))
		}
		matches = []string{pick}
	}
	switch len(matches) {
	case 1:
		r.st.SetID(other, matches[0])
		rec, err := r.get(ctx, other, matches[0])
		if err != nil {
			return true, fmt.Errorf("read matched %s %s: %w", r.store(other).Label(), matches[0], err)
		}
		r.recs[other] = rec
		move, err := r.movesHome(ctx, other, matches[0], rec)
		if err != nil {
			return true, err
		}
		if move {
			r.moveTo = domain.LinkWorkflowID(r.p.Name, other, matches[0])
		} else if err := r.e.links.RegisterAlias(ctx, r.p.Name, other, matches[0], r.in.LinkID); err != nil {
			return true, r.handOver(err)
		}
		if err := r.ownCreate(ctx, other, rec, c); err != nil {
			return true, err
		}
		r.res.Outcome.Action = domain.ActionMatched
		return false, nil
	case 0:
	default:
		if r.p.Review {
			return true, r.hold(fmt.Sprintf("%d %s records match by %s (%s); approve one with --match, or approve creating a new one",
				len(matches), r.store(other).Label(), strings.Join(mergeFields(r.p), ", "), strings.Join(matches, ", ")))
		}
		r.st.State = domain.StateError
		r.st.Reason = fmt.Sprintf("%d %s records match by %s (%s); merge the duplicates, then run `starter resync`",
			len(matches), r.store(other).Label(), strings.Join(mergeFields(r.p), ", "), strings.Join(matches, ", "))
		r.res.Outcome.Action = domain.ActionError
		r.res.State = r.st
		return true, nil
	}
	if !r.p.MayCreate(other, c) {
		why := fmt.Sprintf("the %s pairing creates records %s only", r.p.Name, r.p.Creation)
		if r.p.Creation.Allows(other) {
			why = fmt.Sprintf("the %s gate holds it back", r.p.Gate)
		}
		_, err := r.settle(domain.ActionSkipped, fmt.Sprintf("not created in %s: %s", other, why))
		return true, err
	}
	if r.p.Review && r.in.Change.Review != domain.ReviewApprove {
		return true, r.hold(fmt.Sprintf("nothing in %s matches it; approving creates it there", r.store(other).Label()))
	}
	return true, r.create(ctx, other, c)
}

// hold leaves a first contact waiting for an operator's decision (the
// pairing's review option): the link is pending, with what it would do as
// its reason, and nothing is written.
func (r *run) hold(why string) error {
	r.st.State, r.st.BlockedOn = domain.StatePending, ""
	r.st.Reason = "awaiting review: " + why + " (`starter approve` or `starter reject`)"
	r.st.Applied++
	r.res.Outcome.Action = domain.ActionHeld
	r.res.State = r.st
	return nil
}

// reject settles a first contact an operator rejected: the record stays
// unsynced, and its later changes do nothing, until it is approved.
func (r *run) reject() error {
	r.st.State, r.st.BlockedOn = domain.StateRejected, ""
	r.st.Reason = "rejected at review: not synced until approved (`starter approve`)"
	r.st.Applied++
	r.res.Outcome.Action = domain.ActionRejected
	r.res.State = r.st
	return nil
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// movesHome reports whether a pair matched from this end lives under the
// link ID of the matched record (other, id) instead: a matched pair lives
// under the smaller of its two link IDs, so the first contacts made from its
// two ends at the same time (a poll of each side, before either link runs)
// register the same index entry, the larger ID pointing at the smaller, and
// never one each way. A record this link created itself (it carries its
// token) stays here, as does one whose link is an index entry already (an
// earlier attempt of this first contact made it point here).
func (r *run) movesHome(ctx context.Context, other domain.Side, id string, rec Record) (bool, error) {
	to := domain.LinkWorkflowID(r.p.Name, other, id)
	if to >= r.in.LinkID || r.store(other).Token(rec.Fields) == r.in.LinkID {
		return false, nil
	}
	info, err := r.e.links.Inspect(ctx, to)
	if err != nil {
		return false, err
	}
	return info.Kind != AliasLink, nil
}

// moveHome hands a matched pair to the link of the matched record (moveTo),
// once the merge has settled its state: that link starts with the state (or,
// running already, gets this change and adopts the record), and this record's
// link becomes its index entry. The outcome names the new home as its
// forward, which retires a running link here into an index entry.
func (r *run) moveHome(ctx context.Context) error {
	_, side, id, err := domain.ParseLinkWorkflowID(r.moveTo)
	if err != nil {
		return err
	}
	ch := r.in.Change
	started, err := r.e.links.Start(ctx, r.p.Name, side, id, r.res.State, ch, r.res.Outcome.Action)
	if err != nil {
		return fmt.Errorf("hand the pair on to %s: %w", r.moveTo, err)
	}
	home := r.moveTo
	err = r.e.links.RegisterAlias(ctx, r.p.Name, ch.Side, ch.ID, home)
	var claimed *ClaimedError
	switch {
	case errors.As(err, &claimed) && claimed.Home == r.in.LinkID:
		// The matched record's link has meanwhile retired into this one:
		// the pair stays here after all.
		return nil
	case errors.As(err, &claimed):
		home = claimed.Home
	case err != nil:
		return fmt.Errorf("hand the pair on to %s: %w", r.moveTo, err)
	}
	if !started {
		if _, err := r.e.links.ApplyTo(ctx, r.p.Name, home, ch); err != nil {
			return fmt.Errorf("hand the pair on to %s: %w", home, err)
		}
	}
	r.res.Outcome.Forward = home
	return nil
}

// handOver turns a *ClaimedError into a forward: another link holds the
// counterpart and stays the home, so this link becomes its index entry.
func (r *run) handOver(err error) error {
	var claimed *ClaimedError
	if !errors.As(err, &claimed) {
		return err
	}
	r.res.Outcome = domain.Outcome{Action: domain.ActionForwarded, Forward: claimed.Home}
	r.res.State = r.st
	return nil
}

// match looks for unlinked counterparts by the pairing's merge criteria. The
// normalised index answers (it finds values written differently too, and
// costs one request per batch when nothing changed); when it gives a broken
// answer, equality look-ups of the value as it is and normalised still find
// every exact twin.
func (r *run) match(ctx context.Context, other domain.Side, c mappings.Canonical) ([]string, error) {
	key, ok := r.p.MatchKey(c)
	if !ok {
		return nil, nil
	}
	found, answered, err := r.e.indexCandidates(ctx, r.p, r.sides, other, c, r.batch.askedAt(r.e.now))
	if err != nil {
		if r.e.unavailable(err) {
			// Deciding now could create a twin of a record the index would
			// have found: try again once the API answers.
			return nil, err
		}
		// A broken answer will not mend by retrying.
		r.e.log.WarnContext(ctx, "normalised merge index unavailable; matching by equal values only", "pairing", r.p.Name, "error", err)
		answered = false
	}
	if !answered {
		found = nil
		for _, q := range matchQueries(r.p, c, other) {
			ids, err := r.store(other).Find(ctx, q.Property, q.Value)
			if err != nil {
				return nil, fmt.Errorf("look for a matching %s by %s: %w", r.store(other).Label(), q.Property, err)
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
func (r *run) candidate(ctx context.Context, other domain.Side, id, key string) (bool, error) {
	rec, err := r.get(ctx, other, id)
	if err != nil {
		return false, err
	}
	if rec.Gone || (other == domain.ERP && !r.p.Accepts(rec.Fields)) {
		return false, nil
	}
	cand, err := r.canonical(ctx, other, rec)
	var re *resolveError
	if errors.As(err, &re) {
		// Its references could not be resolved for now (a referenced link out
		// of reach): it may well be the match, and taking it for none would
		// create its twin. Decide once they can be.
		return false, err
	}
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
	// before it has an index entry of its own: it is that link's.
	if tok := r.store(other).Token(rec.Fields); tok != "" && tok != r.in.LinkID {
		owner, err := r.e.tokenOwner(ctx, r.p.Name, other, id, tok)
		if err != nil || owner {
			return false, err
		}
	}
	return true, nil
}

// tokenOwner reports whether the link whose ID a record (side, id) carries as
// its token owns the record: it holds it, or may take it, or does not run
// yet. A record carries a token because that link created it, and the link
// runs only once its first contact is done, moments after the create: a
// record met in between is still that link's, and taking it for unlinked
// would let a second link claim the pair, each then forwarding to the other.
// A token naming another pairing, or a link that holds another record on
// that side, owns nothing.
func (e *Engine) tokenOwner(ctx context.Context, pairing string, side domain.Side, id, tok string) (bool, error) {
	tp, ts, _, err := domain.ParseLinkWorkflowID(tok)
	if err != nil || tp != pairing || ts == side {
		return false, nil
	}
	info, err := e.links.Inspect(ctx, tok)
	if err != nil {
		return false, err
	}
	return info.Kind == NoLink || info.Holds(side, id), nil
}

// free reports whether the link workflow of the candidate record (other,
// id) leaves the record free to link to this one: nothing runs there; or a
// link runs that has no counterpart yet (its own first contact may be under
// way: registering the index entry settles which of the two stays, the same
// way from both ends) or has this record already; or an index entry points
// here.
func (r *run) free(ctx context.Context, other domain.Side, id string) (bool, error) {
	info, err := r.e.links.Inspect(ctx, domain.LinkWorkflowID(r.p.Name, other, id))
	if err != nil {
		return false, err
	}
	switch info.Kind {
	case NoLink:
		return true, nil
	case AliasLink:
		home, err := r.e.links.FindHome(ctx, r.p.Name, other, id)
		return home == r.in.LinkID, err
	}
	mine := other.Other()
	return info.Holds(mine, r.st.ID(mine)), nil
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
// canonical values c on side other: the first merge criterion's property on
// that side, with the value as it is and as the criterion normalises it.
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
	prop := f.Side(other).Property
	if prop == "" || c[k.Field] == nil {
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

// lookupPath reads a dotted path of a nested record.
func lookupPath(rec map[string]any, path string) any {
	var cur any = rec
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
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
