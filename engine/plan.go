package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// Verdicts of a plan: what the first contact of a record not linked yet would
// do.
const (
	// PlanMatched: the record and exactly one unlinked record on the other
	// side share the merge key; they would be linked.
	PlanMatched = "matched"
	// PlanAmbiguous: the merge key is shared by more than one record on a
	// side; the first contact would link one of them (whichever is met
	// first) and create or hold the rest.
	PlanAmbiguous = "ambiguous"
	// PlanCreate: no counterpart; one would be created on the other side.
	PlanCreate = "create"
	// PlanBlocked: the record refers to a record that would not be linked
	// first, so it would wait.
	PlanBlocked = "blocked"
	// PlanSkipped: not synced by design (the pairing creates records on one
	// side only, or its gate holds the record back).
	PlanSkipped = "skipped"
	// PlanInvalid: the record cannot be mapped; its link would be in error.
	PlanInvalid = "invalid"
	// PlanRejected: an operator rejected the record's first contact at
	// review; it is not synced.
	PlanRejected = "rejected"
	// PlanLinked counts records that are linked already (no entry each).
	PlanLinked = "linked"
)

// PlanVerdicts lists the verdicts in the order plans print their totals.
func PlanVerdicts() []string {
	return []string{PlanLinked, PlanMatched, PlanAmbiguous, PlanCreate, PlanBlocked, PlanSkipped, PlanInvalid, PlanRejected}
}

// PlanEntry is what the first sync would do with one record, or with one
// matched pair.
type PlanEntry struct {
	Pairing string      `json:"pairing"`
	Verdict string      `json:"verdict"`
	Side    domain.Side `json:"side"`
	ID      string      `json:"id"`
	// CounterpartID is the matched record on the other side.
	CounterpartID string `json:"counterpartId,omitempty"`
	// Candidates are the other side's records that share the merge key of an
	// ambiguous record.
	Candidates []string `json:"candidates,omitempty"`
	// Criterion names the merge fields; Value and CounterpartValue are the
	// two records' values of them as the criteria normalise them.
	Criterion        string `json:"criterion,omitempty"`
	Value            string `json:"value,omitempty"`
	CounterpartValue string `json:"counterpartValue,omitempty"`
	// Reason says why a record is blocked, skipped or invalid, and where a
	// record would be created.
	Reason string `json:"reason,omitempty"`
	// Choose is the operator's: the candidate an ambiguous record is to be
	// linked to, filled in before the plan is given to `starter approve
	// --plan`.
	Choose string `json:"choose,omitempty"`
}

// PairingPlan is the plan of one pairing: one entry per record that is not
// linked yet (one per matched pair) and the totals per verdict, in records.
type PairingPlan struct {
	Pairing string         `json:"pairing"`
	Entries []PlanEntry    `json:"entries"`
	Totals  map[string]int `json:"totals"`
}

// PlanProgress is called as a plan reads records: n records of a side of a
// pairing so far.
type PlanProgress func(pairing string, side domain.Side, n int)

// Plan reads both sides of the named pairings (every pairing when names is
// empty) and says what their first sync would do to each record not linked
// yet, writing nothing: it lists records and links and looks at link
// workflows, and neither creates, updates nor starts anything. Pairings are
// planned after the pairings they refer to, so that a person whose
// organisation would be matched or created is not taken for blocked. The
// links are those Temporal's visibility lists, which trails the links by
// seconds.
func (e *Engine) Plan(ctx context.Context, names []string, progress PlanProgress) ([]PairingPlan, error) {
	if progress == nil {
		progress = func(string, domain.Side, int) {}
	}
	order, err := e.planOrder(names)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	pr := &planResolver{links: e.links, planned: map[string]map[domain.Side]map[string]PlanEntry{}}
	var out []PairingPlan
	for _, p := range order {
		pp, err := e.planPairing(ctx, p, pr, progress)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", p.Name, err)
		}
		if len(names) == 0 || want[p.Name] {
			out = append(out, pp)
		}
	}
	return out, nil
}

// planOrder returns the pairings to plan: the named ones and those they
// depend on, each after its dependencies.
func (e *Engine) planOrder(names []string) ([]*mappings.Pairing, error) {
	if len(names) == 0 {
		names = e.set.Names()
	}
	var out []*mappings.Pairing
	done := map[string]bool{}
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		if done[name] {
			return nil
		}
		if slices.Contains(path, name) {
			return fmt.Errorf("the pairings depend on each other: %s", strings.Join(append(path, name), " → "))
		}
		p, err := e.pairing(name)
		if err != nil {
			return err
		}
		for _, d := range p.DependsOn {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		done[name] = true
		out = append(out, p)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// planRecord is a record of a plan: its side, id and canonical values, or
// the verdict that settled it before matching.
type planRecord struct {
	side    domain.Side
	id      string
	c       mappings.Canonical
	settled *PlanEntry
}

func (e *Engine) planPairing(ctx context.Context, p *mappings.Pairing, pr *planResolver, progress PlanProgress) (PairingPlan, error) {
	sides := e.sides(p)
	// A link that holds both records is a pair; one that holds a record
	// alone is a first contact still to be done (held for review, in error,
	// skipped), planned like a record without a link, unless an operator
	// rejected it.
	linked := map[domain.Side]map[string]bool{domain.WebCRM: {}, domain.ERP: {}}
	rejected := map[domain.Side]map[string]bool{domain.WebCRM: {}, domain.ERP: {}}
	err := e.links.List(ctx, p.Name, func(refs []LinkRef) error {
		for _, l := range refs {
			switch {
			case l.CrmID != "" && l.ErpID != "":
				linked[domain.WebCRM][l.CrmID] = true
				linked[domain.ERP][l.ErpID] = true
			case l.State == domain.StateRejected && l.CrmID != "":
				rejected[domain.WebCRM][l.CrmID] = true
			case l.State == domain.StateRejected && l.ErpID != "":
				rejected[domain.ERP][l.ErpID] = true
			}
		}
		return nil
	})
	if err != nil {
		return PairingPlan{}, fmt.Errorf("list the links: %w", err)
	}
	plan := PairingPlan{Pairing: p.Name, Totals: map[string]int{}}
	for _, v := range PlanVerdicts() {
		plan.Totals[v] = 0
	}
	var recs []planRecord
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		store, list := sides.Store[side], sides.List[side]
		if list == nil {
			continue
		}
		n := 0
		err := planPages(ctx, list, func(ch domain.Change) error {
			n++
			progress(p.Name, side, n)
			if linked[side][ch.ID] {
				plan.Totals[PlanLinked]++
				return nil
			}
			if rejected[side][ch.ID] {
				plan.Totals[PlanRejected]++
				plan.Entries = append(plan.Entries, PlanEntry{Pairing: p.Name, Verdict: PlanRejected, Side: side, ID: ch.ID,
					Reason: "an operator rejected its first contact (`starter approve` lets it through)"})
				return nil
			}
			rec, err := planRead(ctx, store, ch)
			if err != nil {
				return err
			}
			if rec.Gone || (side == domain.ERP && !p.Accepts(rec.Fields)) {
				return nil
			}
			if store.Token(rec.Fields) != "" {
				// Created by tandem for a link the listing does not show yet.
				plan.Totals[PlanLinked]++
				return nil
			}
			recs = append(recs, e.planMap(ctx, p, pr, side, ch.ID, rec))
			return nil
		})
		if err != nil {
			return PairingPlan{}, fmt.Errorf("read %s: %w", store.Label(), err)
		}
	}
	for _, en := range decide(p, recs) {
		if en.Verdict == PlanCreate {
			en = blockedCreate(ctx, p, pr, en, recs)
		}
		pr.remember(en)
		plan.Entries = append(plan.Entries, en)
		plan.Totals[en.Verdict]++
		if en.Verdict == PlanMatched {
			plan.Totals[en.Verdict]++ // a pair is two records
		}
	}
	order := PlanVerdicts()
	sort.SliceStable(plan.Entries, func(i, j int) bool {
		a, b := plan.Entries[i], plan.Entries[j]
		if a.Verdict != b.Verdict {
			return slices.Index(order, a.Verdict) < slices.Index(order, b.Verdict)
		}
		if a.Side != b.Side {
			return a.Side == domain.WebCRM
		}
		return a.ID < b.ID
	})
	return plan, nil
}

// planPages calls fn with every record a lister lists.
func planPages(ctx context.Context, list Lister, fn func(domain.Change) error) error {
	cursor := ""
	for {
		page, next, last, err := list.Page(ctx, cursor, time.Time{}, planPageSize)
		if err != nil {
			return err
		}
		for _, ch := range page {
			if err := fn(ch); err != nil {
				return err
			}
		}
		if last || next == cursor {
			return nil
		}
		cursor = next
	}
}

// planPageSize is the page a plan reads: webCRM's largest.
const planPageSize = 1000

func planRead(ctx context.Context, store Store, ch domain.Change) (Record, error) {
	if len(ch.Record) > 0 {
		rec, err := store.Decode(ch.Record)
		if err == nil {
			return rec, nil
		}
	}
	rec, err := store.Get(ctx, ch.ID)
	if err != nil {
		return Record{}, fmt.Errorf("read %s %s: %w", store.Label(), ch.ID, err)
	}
	return rec, nil
}

// planMap maps a record to its canonical values, or settles it as blocked or
// invalid.
func (e *Engine) planMap(ctx context.Context, p *mappings.Pairing, pr *planResolver, side domain.Side, id string, rec Record) planRecord {
	out := planRecord{side: side, id: id}
	var err error
	if side == domain.WebCRM {
		out.c, _, err = p.FromWebCRM(ctx, rec.Fields, pr)
	} else {
		out.c, _, err = p.FromERP(ctx, rec.Fields, pr)
	}
	var u *mappings.UnresolvedReference
	switch {
	case errors.As(err, &u):
		out.settled = &PlanEntry{Pairing: p.Name, Verdict: PlanBlocked, Side: side, ID: id,
			Reason: fmt.Sprintf("refers to %s %s record %s, which %s", u.Pairing, u.Side, u.ID, pr.why(u))}
	case err != nil:
		out.settled = &PlanEntry{Pairing: p.Name, Verdict: PlanInvalid, Side: side, ID: id, Reason: err.Error()}
	}
	return out
}

// decide gives every mapped record its verdict: records that share a merge
// key, one on each side, are matched; a key shared by more records on either
// side makes each of them ambiguous; the rest are created where the pairing
// allows it.
func decide(p *mappings.Pairing, recs []planRecord) []PlanEntry {
	var out []PlanEntry
	byKey := map[string]map[domain.Side][]planRecord{}
	var keys []string
	for _, r := range recs {
		if r.settled != nil {
			out = append(out, *r.settled)
			continue
		}
		key, ok := p.MatchKey(r.c)
		if !ok {
			out = append(out, createEntry(p, r))
			continue
		}
		if byKey[key] == nil {
			byKey[key] = map[domain.Side][]planRecord{}
			keys = append(keys, key)
		}
		byKey[key][r.side] = append(byKey[key][r.side], r)
	}
	criterion := strings.Join(mergeFields(p), ", ")
	for _, key := range keys {
		g := byKey[key]
		crm, erp := g[domain.WebCRM], g[domain.ERP]
		switch {
		case len(crm) == 1 && len(erp) == 1:
			out = append(out, PlanEntry{Pairing: p.Name, Verdict: PlanMatched, Side: domain.WebCRM, ID: crm[0].id,
				CounterpartID: erp[0].id, Criterion: criterion,
				Value: planValue(p, crm[0].c), CounterpartValue: planValue(p, erp[0].c)})
		case len(crm) == 0 || len(erp) == 0:
			for _, r := range append(crm, erp...) {
				out = append(out, createEntry(p, r))
			}
		default:
			for _, r := range append(crm, erp...) {
				var cands []string
				for _, o := range g[r.side.Other()] {
					cands = append(cands, o.id)
				}
				out = append(out, PlanEntry{Pairing: p.Name, Verdict: PlanAmbiguous, Side: r.side, ID: r.id,
					Candidates: cands, Criterion: criterion, Value: planValue(p, r.c),
					Reason: fmt.Sprintf("%d webCRM and %d ERP records share the key", len(crm), len(erp))})
			}
		}
	}
	return out
}

// blockedCreate turns a planned create into blocked when the record's
// references do not translate to the side it would be created on (a
// webCRM person whose organisation would not be linked).
func blockedCreate(ctx context.Context, p *mappings.Pairing, pr *planResolver, en PlanEntry, recs []planRecord) PlanEntry {
	i := slices.IndexFunc(recs, func(r planRecord) bool { return r.side == en.Side && r.id == en.ID })
	if i < 0 {
		return en
	}
	other := en.Side.Other()
	var err error
	if other == domain.ERP {
		_, _, err = p.ToERP(ctx, recs[i].c, p.WritableFields(other, false), pr)
	} else {
		_, _, err = p.ToWebCRM(ctx, recs[i].c, p.WritableFields(other, false), pr)
	}
	var u *mappings.UnresolvedReference
	if errors.As(err, &u) {
		en.Verdict = PlanBlocked
		en.Reason = fmt.Sprintf("refers to %s %s record %s, which %s", u.Pairing, u.Side, u.ID, pr.why(u))
	}
	return en
}

// planValue shows a record's merge values as the criteria normalise them.
func planValue(p *mappings.Pairing, c mappings.Canonical) string {
	parts := make([]string, len(p.MergeCriteria))
	for i, k := range p.MergeCriteria {
		parts[i] = k.Apply(c[k.Field])
	}
	return strings.Join(parts, " | ")
}

func createEntry(p *mappings.Pairing, r planRecord) PlanEntry {
	other := r.side.Other()
	if !p.MayCreate(other, r.c) {
		why := fmt.Sprintf("the %s pairing creates records %s only", p.Name, p.Creation)
		if p.Creation.Allows(other) {
			why = fmt.Sprintf("the %s gate holds it back", p.Gate)
		}
		return PlanEntry{Pairing: p.Name, Verdict: PlanSkipped, Side: r.side, ID: r.id, Reason: "not created in " + string(other) + ": " + why}
	}
	return PlanEntry{Pairing: p.Name, Verdict: PlanCreate, Side: r.side, ID: r.id, Reason: "would be created in " + string(other)}
}

// planResolver resolves references for a plan without writing: through the
// referenced pairing's link when there is one (a look, which wakes no link),
// else through the plan of that pairing made before.
type planResolver struct {
	links   Links
	planned map[string]map[domain.Side]map[string]PlanEntry
}

var _ mappings.Resolver = (*planResolver)(nil)

// newPlanned stands for the id of a record the plan would create: its value
// is not known before the create.
const newPlanned = "(new)"

func (r *planResolver) remember(en PlanEntry) {
	put := func(side domain.Side, id string) {
		if r.planned[en.Pairing] == nil {
			r.planned[en.Pairing] = map[domain.Side]map[string]PlanEntry{}
		}
		if r.planned[en.Pairing][side] == nil {
			r.planned[en.Pairing][side] = map[string]PlanEntry{}
		}
		r.planned[en.Pairing][side][id] = en
	}
	put(en.Side, en.ID)
	if en.Verdict == PlanMatched {
		put(en.Side.Other(), en.CounterpartID)
	}
}

// Resolve implements mappings.Resolver.
func (r *planResolver) Resolve(ctx context.Context, pairing string, side domain.Side, id string) (string, bool, error) {
	other, info, err := lookLinked(ctx, r.links, pairing, side, id)
	if err != nil {
		return "", false, fmt.Errorf("look up the link of %s %s record %s: %w", pairing, side, id, err)
	}
	if info.Kind == HomeLink && other != "" && info.State != domain.StateDeleted {
		return other, true, nil
	}
	en, ok := r.planned[pairing][side][id]
	switch {
	case !ok:
		return "", false, nil
	case en.Verdict == PlanMatched && en.Side == side:
		return en.CounterpartID, true, nil
	case en.Verdict == PlanMatched:
		return en.ID, true, nil
	case en.Verdict == PlanCreate:
		return newPlanned, true, nil
	}
	return "", false, nil
}

// why says why a referenced record would not be linked first.
func (r *planResolver) why(u *mappings.UnresolvedReference) string {
	en, ok := r.planned[u.Pairing][u.Side][u.ID]
	if !ok {
		return "is not linked and was not found"
	}
	s := "would be " + en.Verdict
	if en.Reason != "" {
		s += " (" + en.Reason + ")"
	}
	return s
}
