package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/workflows"
)

// linkRef is what visibility tells about one home link.
type linkRef struct {
	id, pairing, crmID, erpID, state string
}

func (l *linkRef) String() string {
	crm, erp := l.crmID, l.erpID
	if crm == "" {
		crm = "—"
	}
	if erp == "" {
		erp = "—"
	}
	return fmt.Sprintf("%s [%s, webCRM %s ⇄ ERP %s]", l.id, l.state, crm, erp)
}

// snap is the state of both systems and of the links at one moment.
type snap struct {
	crm     map[string]map[string]map[string]any // pairing -> webCRM id -> record
	erp     map[string]map[string]map[string]any // pairing -> ERP id -> record
	homes   map[string][]*linkRef                // pairing -> home links
	byCrm   map[string]map[string][]*linkRef     // pairing -> webCRM id -> home links naming it
	byErp   map[string]map[string][]*linkRef     // pairing -> ERP id -> home links naming it
	aliases map[string]bool                      // running alias workflow IDs
	// stored tells what webCRM stores when a client writes value to
	// property of entity through the API (webcrmsim.Server.Stored): a real
	// webCRM may cut or reformat what tandem writes.
	stored func(entity, property, value string) string
}

// takeSnap reads both simulators' stores and the running links.
func (e *env) takeSnap() (*snap, error) {
	s := &snap{crm: map[string]map[string]map[string]any{}, erp: map[string]map[string]map[string]any{},
		homes: map[string][]*linkRef{}, byCrm: map[string]map[string][]*linkRef{}, byErp: map[string]map[string][]*linkRef{},
		aliases: map[string]bool{}, stored: e.crm.Stored}
	erp := e.erpServer()
	if erp == nil {
		return nil, fmt.Errorf("the ERP is down: %w", errDown)
	}
	for _, name := range allPairings {
		p, _ := e.set.Pairing(name)
		s.crm[name] = map[string]map[string]any{}
		idField := crmIDField(p.WebCRMEntity)
		for _, r := range e.crm.Records(p.WebCRMEntity) {
			s.crm[name][fmt.Sprint(r[idField])] = r
		}
		s.erp[name] = map[string]map[string]any{}
		for _, r := range erp.Records(p.ERPResource) {
			if p.Accepts(r) {
				s.erp[name][fmt.Sprint(r["id"])] = r
			}
		}
		s.byCrm[name] = map[string][]*linkRef{}
		s.byErp[name] = map[string][]*linkRef{}
	}
	homes, err := e.listWorkflows(linksQuery(""))
	if err != nil {
		return nil, err
	}
	for _, w := range homes {
		l := &linkRef{id: w.id, pairing: w.attrs[workflows.PairingKey.GetName()], crmID: w.attrs[workflows.CrmIDKey.GetName()],
			erpID: w.attrs[workflows.ErpIDKey.GetName()], state: w.attrs[workflows.StateKey.GetName()]}
		if l.pairing == "" {
			if p, _, _, err := domain.ParseLinkWorkflowID(w.id); err == nil {
				l.pairing = p
			}
		}
		if s.byCrm[l.pairing] == nil {
			return nil, fmt.Errorf("link %s names an unknown pairing %q", w.id, l.pairing)
		}
		s.homes[l.pairing] = append(s.homes[l.pairing], l)
		if l.crmID != "" {
			s.byCrm[l.pairing][l.crmID] = append(s.byCrm[l.pairing][l.crmID], l)
		}
		if l.erpID != "" {
			s.byErp[l.pairing][l.erpID] = append(s.byErp[l.pairing][l.erpID], l)
		}
	}
	aliases, err := e.listWorkflows("WorkflowType = 'LinkAliasWorkflow' AND ExecutionStatus = 'Running'")
	if err != nil {
		return nil, err
	}
	for _, w := range aliases {
		s.aliases[w.id] = true
	}
	return s, nil
}

// crmIDField is the id property of a webCRM entity ("Opportunities" ->
// "OpportunityId").
func crmIDField(entity string) string {
	switch {
	case strings.HasSuffix(entity, "ies"):
		return strings.TrimSuffix(entity, "ies") + "yId"
	case strings.HasSuffix(entity, "s"):
		return strings.TrimSuffix(entity, "s") + "Id"
	}
	return entity + "Id"
}

// linkOf returns the one home link naming a record, or nil.
func (s *snap) linkOf(pairing string, side domain.Side, id string) *linkRef {
	ls := s.byCrm[pairing][id]
	if side == domain.ERP {
		ls = s.byErp[pairing][id]
	}
	if len(ls) == 1 {
		return ls[0]
	}
	return nil
}

// problems collects what a check found.
type problems struct {
	list []string
}

func (p *problems) add(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

// checkAll runs every invariant over a snapshot and returns what is wrong.
// e is used to query the state of links whose reason matters.
func (e *env) checkAll(s *snap) []string {
	var ps problems
	ctx := context.Background()
	for _, name := range allPairings {
		p, _ := e.set.Pairing(name)
		e.checkLinks(&ps, s, p)
		checkCoverage(&ps, s, p)
		checkTokens(&ps, s, p)
		for _, l := range s.homes[name] {
			if l.state == domain.StateOK && l.crmID != "" && l.erpID != "" {
				crm, erp := s.crm[name][l.crmID], s.erp[name][l.erpID]
				if crm == nil || erp == nil {
					continue // reported by checkLinks
				}
				diffs := compareRecords(ctx, p, s, crm, erp)
				for _, d := range diffs {
					ps.add("%s: %s", l, d)
				}
				if len(diffs) > 0 {
					ps.add("%s: %s", l, e.describeLink(l, p, crm, erp))
				}
			}
		}
	}
	return ps.list
}

// describeLink tells what a link remembers and when both records changed,
// for a failure report.
func (e *env) describeLink(l *linkRef, p *mappings.Pairing, crm, erp map[string]any) string {
	st, err := e.queryLink(l.id)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("the link remembers snapshot %s, webCRM version %q, ERP version %q, %d applied, %d writes, %d conflicts (updated %s); webCRM %s is at %v, ERP %s at version %v, %v",
		st.Snapshot, st.CrmVersion, st.ErpVersion, st.Applied, st.Writes, st.Conflicts, st.UpdatedAt.Format(time.RFC3339Nano),
		l.crmID, crm[webcrmUpdatedAt(p)], l.erpID, erp["version"], erp["updatedAt"])
}

// webcrmUpdatedAt is the UpdatedAt property of a pairing's webCRM entity.
func webcrmUpdatedAt(p *mappings.Pairing) string {
	return strings.TrimSuffix(crmIDField(p.WebCRMEntity), "Id") + "UpdatedAt"
}

// checkLinks checks every home link of a pairing: a settled state, no
// record claimed twice, the records it names exist (unless deleted, where
// the delete policy must show), a reason where one is due.
func (e *env) checkLinks(ps *problems, s *snap, p *mappings.Pairing) {
	name := p.Name
	for id, ls := range s.byCrm[name] {
		if len(ls) > 1 {
			ps.add("%s: webCRM record %s is claimed by %d links: %v (promise 1: one link per record)", name, id, len(ls), ls)
		}
	}
	for id, ls := range s.byErp[name] {
		if len(ls) > 1 {
			ps.add("%s: ERP record %s is claimed by %d links: %v (promise 1: one link per record)", name, id, len(ls), ls)
		}
	}
	for _, l := range s.homes[name] {
		crm, crmOK := s.crm[name][l.crmID]
		erp, erpOK := s.erp[name][l.erpID]
		switch l.state {
		case domain.StatePending:
			ps.add("%s: still pending after quiescence", l)
			continue
		case domain.StateError, domain.StateBlocked:
			st, err := e.queryLink(l.id)
			switch {
			case err != nil:
				ps.add("%s: %v", l, err)
			case st.Reason == "":
				ps.add("%s: in state %s without a reason (promise 6)", l, st.State)
			default:
				ps.add("%s: %s: %s", l, st.State, st.Reason)
			}
			continue
		case domain.StateDeleted:
			checkDeleted(ps, p, l, crm, erp, crmOK, erpOK)
			continue
		case domain.StateOK:
		default:
			ps.add("%s: unknown state", l)
			continue
		}
		if l.crmID != "" && !crmOK {
			ps.add("%s: names webCRM %s %s, which does not exist (a link without its record)", l, p.WebCRMEntity, l.crmID)
		}
		if l.erpID != "" && !erpOK {
			ps.add("%s: names ERP %s %s, which does not exist (a link without its record)", l, p.ERPResource, l.erpID)
		}
		if l.crmID == "" || l.erpID == "" {
			// Deliberately one-sided: the pairing does not create there, or
			// the record refers to a record that is not synced.
			st, err := e.queryLink(l.id)
			if err != nil {
				ps.add("%s: %v", l, err)
				continue
			}
			missing := domain.WebCRM
			if l.erpID == "" {
				missing = domain.ERP
			}
			rec := crm
			if missing == domain.WebCRM {
				rec = erp
			}
			c, _, _ := canonical(context.Background(), p, s, missing.Other(), rec)
			allowed := p.MayCreate(missing, c)
			switch {
			case st.Reason == "":
				ps.add("%s: ok without a counterpart in %s and without a reason", l, missing)
			case allowed && !strings.Contains(st.Reason, "not synced"):
				ps.add("%s: no counterpart in %s although the pairing creates there: %s", l, missing, st.Reason)
			}
		}
	}
}

// checkDeleted checks a link in state deleted: one record is gone and the
// other shows the pairing's delete policy.
func checkDeleted(ps *problems, p *mappings.Pairing, l *linkRef, crm, erp map[string]any, crmOK, erpOK bool) {
	var gone domain.Side
	var other map[string]any
	otherOK := false
	switch {
	case l.crmID != "" && !crmOK:
		gone, other, otherOK = domain.WebCRM, erp, erpOK && l.erpID != ""
	case l.erpID != "" && !erpOK:
		gone, other, otherOK = domain.ERP, crm, crmOK && l.crmID != ""
	default:
		ps.add("%s: state deleted, but its records exist", l)
		return
	}
	action, deact := p.DeletePolicy.OnDelete(gone)
	switch action {
	case mappings.Propagate:
		if otherOK {
			ps.add("%s: deleted in %s, policy propagate, but the %s record is still there", l, gone, gone.Other())
		}
	case mappings.Deactivate:
		if !otherOK {
			break
		}
		if got := lookupPath(other, deact.Property); !sameValue(got, deact.Value) {
			ps.add("%s: deleted in %s, policy deactivate, but %s of the %s record is %v, want %v", l, gone, deact.Property, gone.Other(), got, deact.Value)
		}
	default:
		ownID := l.erpID
		if gone == domain.ERP {
			ownID = l.crmID
		}
		if !otherOK && ownID != "" {
			ps.add("%s: deleted in %s, policy ignore, but the %s record is gone too", l, gone, gone.Other())
		}
	}
}

// checkCoverage checks that every record of a pairing on either side has
// a link: every change the engine saw reached a link.
func checkCoverage(ps *problems, s *snap, p *mappings.Pairing) {
	for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
		recs, by := s.crm[p.Name], s.byCrm[p.Name]
		if side == domain.ERP {
			recs, by = s.erp[p.Name], s.byErp[p.Name]
		}
		for _, id := range sortedKeys(recs) {
			if len(by[id]) > 0 {
				continue
			}
			alias := domain.LinkWorkflowID(p.Name, side, id)
			if s.aliases[alias] {
				ps.add("%s: %s record %s has an index entry but no link names it", p.Name, side, id)
			} else {
				ps.add("%s: %s record %s has no link (its change never arrived)", p.Name, side, id)
			}
		}
	}
}

// checkTokens checks the correlation tokens tandem leaves on the records it
// creates (ERP externalRef, the webCRM correlation field): one record per
// token, linked by the link that created it (promise 2: no duplicates).
func checkTokens(ps *problems, s *snap, p *mappings.Pairing) {
	prefix := "link/" + p.Name + "/"
	check := func(side domain.Side, recs map[string]map[string]any, field string) {
		byToken := map[string][]string{}
		for id, r := range recs {
			if tok, _ := r[field].(string); strings.HasPrefix(tok, prefix) {
				byToken[tok] = append(byToken[tok], id)
			}
		}
		for _, tok := range sortedKeys(byToken) {
			ids := byToken[tok]
			sort.Strings(ids)
			if len(ids) > 1 {
				ps.add("%s: %d %s records carry the token %s: %v (promise 2: a counterpart is created at most once)", p.Name, len(ids), side, tok, ids)
			}
			_, tside, tid, err := domain.ParseLinkWorkflowID(tok)
			if err != nil {
				ps.add("%s: %s record %s carries a malformed token %q", p.Name, side, ids[0], tok)
				continue
			}
			for _, id := range ids {
				l := s.linkOf(p.Name, side, id)
				if l == nil {
					continue // reported by checkCoverage or checkLinks
				}
				creator := l.crmID
				if tside == domain.ERP {
					creator = l.erpID
				}
				if creator != tid {
					ps.add("%s: %s record %s was created for %s but is linked by %s", p.Name, side, id, tok, l)
				}
			}
		}
	}
	check(domain.ERP, s.erp[p.Name], "externalRef")
	if p.CorrelationField != "" {
		check(domain.WebCRM, s.crm[p.Name], p.CorrelationField)
	}
}

// snapResolver translates ERP ids into webCRM ids through the links of a
// snapshot.
type snapResolver struct{ s *snap }

// Resolve implements mappings.Resolver.
func (r snapResolver) Resolve(_ context.Context, pairing string, from domain.Side, id string) (string, bool, error) {
	by := r.s.byErp[pairing]
	if from == domain.WebCRM {
		by = r.s.byCrm[pairing]
	}
	for _, l := range by[id] {
		other := l.crmID
		if from == domain.WebCRM {
			other = l.erpID
		}
		if other != "" {
			return other, true, nil
		}
	}
	return "", false, nil
}

// canonical maps a record of side to the pairing's canonical form.
func canonical(ctx context.Context, p *mappings.Pairing, s *snap, side domain.Side, rec map[string]any) (mappings.Canonical, []mappings.Warning, error) {
	if side == domain.WebCRM {
		return p.FromWebCRM(ctx, rec, snapResolver{s})
	}
	return p.FromERP(ctx, rec, snapResolver{s})
}

// compareRecords maps both records of a link and compares them field by
// field, respecting directions: a one-way field whose source is empty never
// clears the other side, so it is not compared.
func compareRecords(ctx context.Context, p *mappings.Pairing, s *snap, crm, erp map[string]any) []string {
	cw, _, err := canonical(ctx, p, s, domain.WebCRM, crm)
	if err != nil {
		return []string{fmt.Sprintf("the webCRM record cannot be mapped: %v", err)}
	}
	ce, _, err := canonical(ctx, p, s, domain.ERP, erp)
	if err != nil {
		return []string{fmt.Sprintf("the ERP record cannot be mapped: %v", err)}
	}
	var out []string
	for i := range p.Fields {
		f := &p.Fields[i]
		w, e := cw[f.Name], ce[f.Name]
		switch f.Direction {
		case mappings.WebCRMToERP:
			if isEmpty(w) {
				continue
			}
		case mappings.ERPToWebCRM:
			if isEmpty(e) {
				continue
			}
		}
		if !agreeStored(ctx, p, s, f, crm, cw, ce) {
			out = append(out, fmt.Sprintf("field %s (%s) differs: webCRM %s, ERP %s", f.Name, f.Direction, show(w), show(e)))
		}
	}
	return out
}

// agreeStored reports whether field f says the same on both sides of a link
// as webCRM stores things: the canonical values agree, or the webCRM record
// holds what webCRM stores when tandem writes the ERP's value there (a real
// webCRM may cut or reformat a value on write, and a read back shows that
// form; see storedForm).
func agreeStored(ctx context.Context, p *mappings.Pairing, s *snap, f *mappings.Field, crm map[string]any, cw, ce mappings.Canonical) bool {
	if agree(f, cw[f.Name], ce[f.Name]) {
		return true
	}
	sv, ok := storedForm(ctx, p, s, f, crm, ce)
	return ok && agree(f, cw[f.Name], sv)
}

// storedForm returns the canonical value of field f that the webCRM record
// crm holds once tandem has written the ERP's value of f (from ce) to it: the
// field rendered for webCRM by the mapping, each text property as webCRM
// stores it (s.stored), read back through the mapping. ok is false when f is
// not written to webCRM or webCRM stores what tandem sends.
func storedForm(ctx context.Context, p *mappings.Pairing, s *snap, f *mappings.Field, crm map[string]any, ce mappings.Canonical) (any, bool) {
	if s.stored == nil || !slices.Contains(p.WritableFields(domain.WebCRM, true), f.Name) {
		return nil, false
	}
	body, _, err := p.ToWebCRM(ctx, ce, []string{f.Name}, snapResolver{s})
	if err != nil {
		return nil, false
	}
	rec := maps.Clone(crm)
	rewritten := false
	for k, v := range body {
		if str, ok := v.(string); ok {
			if st := s.stored(p.WebCRMEntity, k, str); st != str {
				v, rewritten = st, true
			}
		}
		rec[k] = v
	}
	if !rewritten {
		return nil, false
	}
	c, _, err := p.FromWebCRM(ctx, rec, snapResolver{s})
	if err != nil {
		return nil, false
	}
	return c[f.Name], true
}

// storedAs reports whether got, a webCRM property's value, is what webCRM
// stores when a client writes want (a text) to it through the API.
func storedAs(s *snap, entity, property string, got, want any) bool {
	w, ok := want.(string)
	if !ok || s.stored == nil {
		return false
	}
	return sameValue(got, s.stored(entity, property, w))
}

// agree reports whether two canonical values say the same; text cut to a
// side's maximum length counts as equal to the full text.
func agree(f *mappings.Field, w, e any) bool {
	if isEmpty(w) && isEmpty(e) {
		return true
	}
	if fmt.Sprint(w) == fmt.Sprint(e) {
		return true
	}
	ws, wok := w.(string)
	es, eok := e.(string)
	if !wok || !eok {
		return false
	}
	if n := f.WebCRM.MaxLength; n > 0 && utf8.RuneCountInString(es) > n {
		return strings.TrimSpace(string([]rune(es)[:n])) == ws
	}
	if n := f.ERP.MaxLength; n > 0 && utf8.RuneCountInString(ws) > n {
		return strings.TrimSpace(string([]rune(ws)[:n])) == es
	}
	return false
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

func show(v any) string {
	if v == nil {
		return "(none)"
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
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

// sameValue compares a stored value with an expected one: numbers by
// value, date-times by instant, everything else by its text.
func sameValue(got, want any) bool {
	if got == nil || want == nil {
		return isEmpty(got) && isEmpty(want)
	}
	if gm, ok := got.(map[string]any); ok {
		wm, ok := want.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range wm {
			if !sameValue(gm[k], wv) {
				return false
			}
		}
		return true
	}
	gs, ws := text(got), text(want)
	if gs == ws {
		return true
	}
	if x, ok := new(big.Rat).SetString(gs); ok {
		if y, ok := new(big.Rat).SetString(ws); ok {
			return x.Cmp(y) == 0
		}
	}
	if x, err := time.Parse(time.RFC3339Nano, gs); err == nil {
		if y, err := time.Parse(time.RFC3339Nano, ws); err == nil {
			return x.Equal(y)
		}
	}
	return false
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case *ref:
		return "ref"
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestFieldsCompareAsWebCRMStoresThem checks the field comparison itself: a
// webCRM value that is what webCRM stores when tandem writes the ERP's value
// (a phone number without its spaces, on a webCRM that rewrites values) is
// equal to it, and nothing else is.
func TestFieldsCompareAsWebCRMStoresThem(t *testing.T) {
	t.Parallel()
	set, err := service.LoadMappings("")
	if err != nil {
		t.Fatalf("load the default mappings: %v", err)
	}
	p, _ := set.Pairing("organisations")
	rewriting, err := webcrmsim.New(webcrmsim.Options{APIToken: webcrmToken, Faults: webcrmsim.HostileProfile()})
	if err != nil {
		t.Fatalf("webCRM simulator: %v", err)
	}
	defer func() { _ = rewriting.Close() }()
	plain, err := webcrmsim.New(webcrmsim.Options{APIToken: webcrmToken})
	if err != nil {
		t.Fatalf("webCRM simulator: %v", err)
	}
	defer func() { _ = plain.Close() }()
	erp := map[string]any{"id": "CU-1001", "name": "Fjord A/S", "phone": "+45 12 34 56 78"}
	crm := func(phone string) map[string]any {
		return map[string]any{"OrganisationId": 1, "OrganisationName": "Fjord A/S", "OrganisationTelephone": phone}
	}
	for _, c := range []struct {
		name   string
		stored func(entity, property, value string) string
		phone  string
		equal  bool
	}{
		{"as sent", rewriting.Stored, "+45 12 34 56 78", true},
		{"as a rewriting webCRM stores it", rewriting.Stored, "+4512345678", true},
		{"another number", rewriting.Stored, "+4512345679", false},
		{"reformatted by a webCRM that stores values as sent", plain.Stored, "+4512345678", false},
	} {
		s := &snap{byCrm: map[string]map[string][]*linkRef{}, byErp: map[string]map[string][]*linkRef{}, stored: c.stored}
		diffs := compareRecords(context.Background(), p, s, crm(c.phone), erp)
		if got := len(diffs) == 0; got != c.equal {
			t.Errorf("%s: webCRM %q against ERP %q: equal %v, want %v (%v)", c.name, c.phone, erp["phone"], got, c.equal, diffs)
		}
	}
}

// recordLinkIDs returns the link workflow IDs a failure report looks at for
// the model's records that the findings name ("<pairing> #<n> (…): …"): the
// IDs of the record on both sides, at most limit records.
func recordLinkIDs(m *model, found []string, limit int) []string {
	var ids []string
	seen := map[int]bool{}
	for _, f := range found {
		_, rest, ok := strings.Cut(f, " #")
		if !ok {
			continue
		}
		digits, _, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(digits)
		if err != nil || n < 0 || n >= len(m.recs) || seen[n] {
			continue
		}
		if len(seen) == limit {
			break
		}
		seen[n] = true
		rc := m.recs[n]
		if rc.crmID != 0 {
			ids = append(ids, domain.LinkWorkflowID(rc.pairing, domain.WebCRM, strconv.Itoa(rc.crmID)))
		}
		if rc.erpID != "" {
			ids = append(ids, domain.LinkWorkflowID(rc.pairing, domain.ERP, rc.erpID))
		}
	}
	return ids
}

// indexEntryIDs returns the link workflow IDs of the records that the
// findings say have an index entry but no link ("<pairing>: <side> record
// <id> has an index entry but no link names it").
func indexEntryIDs(found []string) []string {
	var ids []string
	for _, f := range found {
		if !strings.HasSuffix(f, "has an index entry but no link names it") {
			continue
		}
		parts := strings.Fields(f)
		if len(parts) < 4 {
			continue
		}
		side := domain.Side(parts[1])
		if !side.Valid() {
			continue
		}
		ids = append(ids, domain.LinkWorkflowID(strings.TrimSuffix(parts[0], ":"), side, parts[3]))
	}
	return ids
}

// historiesOf tells, for a failure report, what ran under each workflow ID:
// each run, from the first to the current one (followed back through
// continue-as-new, not found through visibility, which trails), with its type
// and the events that decide what a link or an index entry is: its start
// input, signals, updates, activity answers and failures, continue-as-new.
func (e *env) historiesOf(ids []string) string {
	var b strings.Builder
	for _, id := range ids {
		var runs []string
		for runID, n := "", 0; n < 10; n++ {
			var text strings.Builder
			prev, err := e.historyOf(&text, id, runID)
			if err != nil {
				runs = append(runs, fmt.Sprintf("\n  %s: %v", id, err))
				break
			}
			runs = append(runs, text.String())
			if prev == "" {
				break
			}
			runID = prev
		}
		slices.Reverse(runs)
		for _, r := range runs {
			b.WriteString(r)
		}
	}
	return b.String()
}

// historyOf writes one run's history (runID "" is the current run) and
// returns the run it continued, if any.
func (e *env) historyOf(b *strings.Builder, id, runID string) (continued string, err error) {
	ctx, cancel := callCtx()
	defer cancel()
	it := e.c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return "", err
		}
		var what string
		switch {
		case ev.GetWorkflowExecutionStartedEventAttributes() != nil:
			a := ev.GetWorkflowExecutionStartedEventAttributes()
			continued = a.GetContinuedExecutionRunId()
			fmt.Fprintf(b, "\n  %s: %s run %s", id, a.GetWorkflowType().GetName(), a.GetOriginalExecutionRunId())
			what = "started " + payloadText(a.GetInput().GetPayloads())
		case ev.GetWorkflowExecutionSignaledEventAttributes() != nil:
			a := ev.GetWorkflowExecutionSignaledEventAttributes()
			what = "signal " + a.GetSignalName() + " " + payloadText(a.GetInput().GetPayloads())
		case ev.GetWorkflowExecutionUpdateAcceptedEventAttributes() != nil:
			in := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput()
			what = "update " + in.GetName() + " " + payloadText(in.GetArgs().GetPayloads())
		case ev.GetActivityTaskCompletedEventAttributes() != nil:
			what = "activity answered " + payloadText(ev.GetActivityTaskCompletedEventAttributes().GetResult().GetPayloads())
		case ev.GetActivityTaskFailedEventAttributes() != nil:
			what = "activity failed " + ev.GetActivityTaskFailedEventAttributes().GetFailure().GetMessage()
		case ev.GetWorkflowExecutionContinuedAsNewEventAttributes() != nil:
			what = "continued as new " + payloadText(ev.GetWorkflowExecutionContinuedAsNewEventAttributes().GetInput().GetPayloads())
		default:
			continue
		}
		fmt.Fprintf(b, "\n    %s %s", ev.GetEventTime().AsTime().Format("15:04:05.000"), what)
	}
	return continued, nil
}

// payloadText shows payloads as their JSON, cut to a readable length.
func payloadText(ps []*commonpb.Payload) string {
	var parts []string
	for _, p := range ps {
		d := string(p.GetData())
		if utf8.RuneCountInString(d) > 600 {
			d = string([]rune(d)[:600]) + "…"
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, " ")
}
