package mappings

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/domain"
)

// widgetsYAML is a test pairing with one field for each merge rule.
const widgetsYAML = `
pairing: widgets
webcrm: {entity: Widgets}
erp: {resource: widgets}
create: both
delete: {policy: ignore}
fields:
  - {name: newest, webcrm: A, erp: a}
  - {name: crm-owned, webcrm: B, erp: b, owner: webcrm}
  - {name: erp-owned, webcrm: C, erp: c, owner: erp}
  - {name: to-erp, webcrm: D, erp: d, direction: webcrm-to-erp}
  - {name: to-crm, webcrm: E, erp: e, direction: erp-to-webcrm}
  - {name: fixed-crm, webcrm: {property: F, immutable: true}, erp: f}
  - {name: fixed-erp, webcrm: G, erp: {property: g, immutable: true}}
  - {name: short-crm, webcrm: {property: H, max-length: 3}, erp: h}
  - {name: short-erp, webcrm: I, erp: {property: i, max-length: 3}}
  - {name: count, type: int, webcrm: J, erp: j}
`

func widgets(t testing.TB) *Pairing {
	t.Helper()
	s, err := LoadFS(fstest.MapFS{"widgets.yaml": {Data: []byte(widgetsYAML)}}, Schemas{})
	require.NoError(t, err)
	return pairing(t, s, "widgets")
}

// mirror swaps the sides of a pairing: webCRM becomes ERP and the other way round.
func mirror(p *Pairing) *Pairing {
	m := *p
	m.Fields = make([]Field, len(p.Fields))
	for i, f := range p.Fields {
		f.WebCRM, f.ERP = f.ERP, f.WebCRM
		switch f.Owner {
		case OwnerWebCRM:
			f.Owner = OwnerERP
		case OwnerERP:
			f.Owner = OwnerWebCRM
		}
		switch f.Direction {
		case WebCRMToERP:
			f.Direction = ERPToWebCRM
		case ERPToWebCRM:
			f.Direction = WebCRMToERP
		}
		m.Fields[i] = f
	}
	switch p.Creation {
	case CreateWebCRMToERP:
		m.Creation = CreateERPToWebCRM
	case CreateERPToWebCRM:
		m.Creation = CreateWebCRMToERP
	}
	return &m
}

func mirrorInput(in MergeInput) MergeInput {
	return MergeInput{
		Base: in.Base, WebCRM: in.ERP, ERP: in.WebCRM,
		WebCRMUpdatedAt: in.ERPUpdatedAt, ERPUpdatedAt: in.WebCRMUpdatedAt,
		Pairing: mirror(in.Pairing),
	}
}

func mirrorRule(r string) string {
	r = strings.ReplaceAll(r, "webcrm", "\x00")
	r = strings.ReplaceAll(r, "erp", "webcrm")
	return strings.ReplaceAll(r, "\x00", "erp")
}

// requireMirrored checks that merging with the sides swapped gives the mirrored result.
func requireMirrored(t testing.TB, in MergeInput, res MergeResult) {
	t.Helper()
	m := Merge(mirrorInput(in))
	require.Equal(t, res.Merged, m.Merged, "mirror: merged")
	require.Equal(t, res.ToWebCRM, m.ToERP, "mirror: to webCRM")
	require.Equal(t, res.ToERP, m.ToWebCRM, "mirror: to ERP")
	require.Len(t, m.Conflicts, len(res.Conflicts), "mirror: conflicts %v vs %v", res.Conflicts, m.Conflicts)
	for i, c := range res.Conflicts {
		want := Conflict{Field: c.Field, WebCRM: c.ERP, ERP: c.WebCRM, Winner: c.Winner.Other(), Rule: mirrorRule(c.Rule), FirstMatch: c.FirstMatch}
		require.Equal(t, want, m.Conflicts[i], "mirror: conflict %d", i)
	}
}

// written applies a merge's writes to a side as the side would store them (cut to its
// maximum length).
func written(p *Pairing, s domain.Side, cur, merged Canonical, fields []string) Canonical {
	if cur == nil && len(fields) == 0 {
		return nil
	}
	out := Canonical{}
	maps.Copy(out, cur)
	for _, name := range fields {
		f, _ := p.Field(name)
		v := merged[name]
		if str, ok := v.(string); ok && f.Side(s).MaxLength > 0 {
			v = f.transform(truncate(str, f.Side(s).MaxLength))
		}
		if v == nil {
			delete(out, name)
		} else {
			out[name] = v
		}
	}
	return out
}

// requireSettled checks that after applying a merge's writes, merging again writes nothing,
// and that merging the result with itself writes nothing.
func requireSettled(t testing.TB, in MergeInput, res MergeResult) {
	t.Helper()
	p := in.Pairing
	next := MergeInput{
		Base:            res.Merged,
		WebCRM:          written(p, domain.WebCRM, in.WebCRM, res.Merged, res.ToWebCRM),
		ERP:             written(p, domain.ERP, in.ERP, res.Merged, res.ToERP),
		WebCRMUpdatedAt: in.WebCRMUpdatedAt, ERPUpdatedAt: in.ERPUpdatedAt, Pairing: p,
	}
	if next.WebCRM == nil || next.ERP == nil {
		return // nothing was created (creation not allowed): no second round
	}
	again := Merge(next)
	require.Empty(t, again.ToWebCRM, "second merge writes to webCRM: in=%+v first=%+v", next, res)
	require.Empty(t, again.ToERP, "second merge writes to ERP: in=%+v first=%+v", next, res)
	require.Equal(t, res.Merged, again.Merged, "second merge changes the agreed values")

	self := Merge(MergeInput{Base: res.Merged, WebCRM: res.Merged, ERP: res.Merged, Pairing: p})
	require.Empty(t, self.ToWebCRM)
	require.Empty(t, self.ToERP)
	require.Empty(t, self.Conflicts)
	require.Equal(t, res.Merged, self.Merged)
}

var (
	t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Minute)
)

func TestMergeRules(t *testing.T) {
	t.Parallel()
	w := widgets(t)
	defaults := loadDefaults(t)
	persons := pairing(t, defaults, "persons")
	orgs := pairing(t, defaults, "organisations")
	long := strings.Repeat("Østergaard & Søn Maskinfabrik ", 9) // 270 characters

	cases := []struct {
		name      string
		in        MergeInput
		merged    Canonical
		toWebCRM  []string
		toERP     []string
		conflicts []Conflict
	}{
		{
			name:   "nothing changed",
			in:     MergeInput{Pairing: w, Base: Canonical{"newest": "x"}, WebCRM: Canonical{"newest": "x"}, ERP: Canonical{"newest": "x"}},
			merged: Canonical{"newest": "x"},
		},
		{
			name:   "changed in webCRM only",
			in:     MergeInput{Pairing: w, Base: Canonical{"newest": "x"}, WebCRM: Canonical{"newest": "y"}, ERP: Canonical{"newest": "x"}, ERPUpdatedAt: t1},
			merged: Canonical{"newest": "y"}, toERP: []string{"newest"},
		},
		{
			name:   "changed in the ERP only, even by an ERP-owned... any field",
			in:     MergeInput{Pairing: w, Base: Canonical{"crm-owned": "x"}, WebCRM: Canonical{"crm-owned": "x"}, ERP: Canonical{"crm-owned": "æøå"}},
			merged: Canonical{"crm-owned": "æøå"}, toWebCRM: []string{"crm-owned"},
		},
		{
			name:   "same edit on both sides",
			in:     MergeInput{Pairing: w, Base: Canonical{"newest": "x"}, WebCRM: Canonical{"newest": "y"}, ERP: Canonical{"newest": "y"}},
			merged: Canonical{"newest": "y"},
		},
		{
			// An ERP edit written to webCRM, whose answer was lost: webCRM
			// stored it without spaces, and the retry sees both changed.
			// The spaced form stands (even though webCRM's stamp is later),
			// and webCRM gets it again.
			name: "both changed to one text but for white space: the spaced form",
			in: MergeInput{Pairing: w, Base: Canonical{"newest": "+45 11 11 11 11"}, WebCRM: Canonical{"newest": "+4517198137"},
				ERP: Canonical{"newest": "+45 17 19 81 37"}, WebCRMUpdatedAt: t1, ERPUpdatedAt: t0},
			merged: Canonical{"newest": "+45 17 19 81 37"}, toWebCRM: []string{"newest"},
		},
		{
			name: "first match, one text but for white space: the spaced form",
			in: MergeInput{Pairing: w, WebCRM: Canonical{"newest": "+4520304050"}, ERP: Canonical{"newest": "+45 20 30 40 50"},
				WebCRMUpdatedAt: t1, ERPUpdatedAt: t0},
			merged: Canonical{"newest": "+45 20 30 40 50"}, toWebCRM: []string{"newest"},
		},
		{
			name: "both changed, one text but for case: a real conflict",
			in: MergeInput{Pairing: w, Base: Canonical{"newest": "x"}, WebCRM: Canonical{"newest": "fjord tech a/s"}, ERP: Canonical{"newest": "Fjord Tech A/S"},
				WebCRMUpdatedAt: t1, ERPUpdatedAt: t0},
			merged: Canonical{"newest": "fjord tech a/s"}, toERP: []string{"newest"},
			conflicts: []Conflict{{Field: "newest", WebCRM: "fjord tech a/s", ERP: "Fjord Tech A/S", Winner: domain.WebCRM, Rule: RuleNewest}},
		},
		{
			name: "both changed, one a shortening of the other: a real conflict",
			in: MergeInput{Pairing: w, Base: Canonical{"newest": "x"}, WebCRM: Canonical{"newest": "Fjord Tech"}, ERP: Canonical{"newest": "Fjord Tech Holding"},
				WebCRMUpdatedAt: t1, ERPUpdatedAt: t0},
			merged: Canonical{"newest": "Fjord Tech"}, toERP: []string{"newest"},
			conflicts: []Conflict{{Field: "newest", WebCRM: "Fjord Tech", ERP: "Fjord Tech Holding", Winner: domain.WebCRM, Rule: RuleNewest}},
		},
		{
			name: "both changed: newest wins",
			in: MergeInput{Pairing: w, Base: Canonical{"newest": "x"}, WebCRM: Canonical{"newest": "crm"}, ERP: Canonical{"newest": "erp"},
				WebCRMUpdatedAt: t0, ERPUpdatedAt: t1},
			merged: Canonical{"newest": "erp"}, toWebCRM: []string{"newest"},
			conflicts: []Conflict{{Field: "newest", WebCRM: "crm", ERP: "erp", Winner: domain.ERP, Rule: RuleNewest}},
		},
		{
			name: "both changed at the same time: webCRM wins",
			in: MergeInput{Pairing: w, Base: Canonical{"newest": "x"}, WebCRM: Canonical{"newest": "crm"}, ERP: Canonical{"newest": "erp"},
				WebCRMUpdatedAt: t0, ERPUpdatedAt: t0},
			merged: Canonical{"newest": "crm"}, toERP: []string{"newest"},
			conflicts: []Conflict{{Field: "newest", WebCRM: "crm", ERP: "erp", Winner: domain.WebCRM, Rule: RuleNewestTie}},
		},
		{
			name: "both changed: owners decide, whatever the times",
			in: MergeInput{Pairing: w, Base: Canonical{"crm-owned": "x", "erp-owned": "x"},
				WebCRM: Canonical{"crm-owned": "crm", "erp-owned": "crm"}, ERP: Canonical{"crm-owned": "erp", "erp-owned": "erp"},
				WebCRMUpdatedAt: t0, ERPUpdatedAt: t1},
			merged: Canonical{"crm-owned": "crm", "erp-owned": "erp"}, toWebCRM: []string{"erp-owned"}, toERP: []string{"crm-owned"},
			conflicts: []Conflict{
				{Field: "crm-owned", WebCRM: "crm", ERP: "erp", Winner: domain.WebCRM, Rule: RuleOwnerWebCRM},
				{Field: "erp-owned", WebCRM: "crm", ERP: "erp", Winner: domain.ERP, Rule: RuleOwnerERP},
			},
		},
		{
			name:   "a deliberate clear propagates",
			in:     MergeInput{Pairing: w, Base: Canonical{"newest": "x", "count": int64(2)}, WebCRM: Canonical{"count": int64(2)}, ERP: Canonical{"newest": "x"}},
			merged: Canonical{}, toWebCRM: []string{"count"}, toERP: []string{"newest"},
		},
		{
			name:   "first match: equal values, nothing to write",
			in:     MergeInput{Pairing: w, WebCRM: Canonical{"newest": "x"}, ERP: Canonical{"newest": "x"}},
			merged: Canonical{"newest": "x"},
		},
		{
			name:   "first match: an empty value never overwrites",
			in:     MergeInput{Pairing: w, WebCRM: Canonical{"newest": "x", "erp-owned": "kept"}, ERP: Canonical{"crm-owned": "y"}, ERPUpdatedAt: t1},
			merged: Canonical{"newest": "x", "erp-owned": "kept", "crm-owned": "y"}, toWebCRM: []string{"crm-owned"}, toERP: []string{"erp-owned", "newest"},
		},
		{
			name:   "first match: different values, the owner decides",
			in:     MergeInput{Pairing: w, WebCRM: Canonical{"erp-owned": "crm"}, ERP: Canonical{"erp-owned": "erp"}},
			merged: Canonical{"erp-owned": "erp"}, toWebCRM: []string{"erp-owned"},
			conflicts: []Conflict{{Field: "erp-owned", WebCRM: "crm", ERP: "erp", Winner: domain.ERP, Rule: RuleOwnerERP, FirstMatch: true}},
		},
		{
			name:   "one-way: an ERP edit of a webCRM-to-ERP field is put back",
			in:     MergeInput{Pairing: w, Base: Canonical{"to-erp": "x"}, WebCRM: Canonical{"to-erp": "x"}, ERP: Canonical{"to-erp": "edited"}},
			merged: Canonical{"to-erp": "x"}, toERP: []string{"to-erp"},
			conflicts: []Conflict{{Field: "to-erp", WebCRM: "x", ERP: "edited", Winner: domain.WebCRM, Rule: RuleDirectionToERP}},
		},
		{
			name:   "one-way: a webCRM edit of a webCRM-to-ERP field goes to the ERP",
			in:     MergeInput{Pairing: w, Base: Canonical{"to-erp": "x"}, WebCRM: Canonical{"to-erp": "y"}, ERP: Canonical{"to-erp": "x"}},
			merged: Canonical{"to-erp": "y"}, toERP: []string{"to-erp"},
		},
		{
			name:   "one-way: a webCRM edit of an ERP-to-webCRM field is put back",
			in:     MergeInput{Pairing: w, Base: Canonical{"to-crm": "4"}, WebCRM: Canonical{"to-crm": "5"}, ERP: Canonical{"to-crm": "4"}},
			merged: Canonical{"to-crm": "4"}, toWebCRM: []string{"to-crm"},
			conflicts: []Conflict{{Field: "to-crm", WebCRM: "5", ERP: "4", Winner: domain.ERP, Rule: RuleDirectionToWebCRM}},
		},
		{
			name:   "one-way: an empty source does not clear at first match",
			in:     MergeInput{Pairing: w, WebCRM: Canonical{}, ERP: Canonical{"to-erp": "erp value"}},
			merged: Canonical{},
		},
		{
			name:   "one-way: a cleared source clears the destination",
			in:     MergeInput{Pairing: w, Base: Canonical{"to-erp": "x"}, WebCRM: Canonical{}, ERP: Canonical{"to-erp": "x"}},
			merged: Canonical{}, toERP: []string{"to-erp"},
		},
		{
			name: "immutable in webCRM: an ERP change is a conflict, never written, and put back",
			in: MergeInput{Pairing: persons, Base: Canonical{"organisation": "17", "email": "a@b.dk"},
				WebCRM: Canonical{"organisation": "17", "email": "a@b.dk"}, ERP: Canonical{"organisation": "18", "email": "a@b.dk"}},
			merged: Canonical{"organisation": "17", "email": "a@b.dk"}, toERP: []string{"organisation"},
			conflicts: []Conflict{{Field: "organisation", WebCRM: "17", ERP: "18", Winner: domain.WebCRM, Rule: RuleImmutableWebCRM}},
		},
		{
			name: "immutable in webCRM: a webCRM change still flows to the ERP",
			in: MergeInput{Pairing: persons, Base: Canonical{"organisation": "17"},
				WebCRM: Canonical{"organisation": "18"}, ERP: Canonical{"organisation": "17"}},
			merged: Canonical{"organisation": "18"}, toERP: []string{"organisation"},
		},
		{
			name: "a name cut to webCRM's 200 characters is not an edit",
			in: MergeInput{Pairing: orgs, Base: Canonical{"name": strings.TrimSpace(long)},
				WebCRM: Canonical{"name": strings.TrimSpace(truncate(long, 200))}, ERP: Canonical{"name": strings.TrimSpace(long)}},
			merged: Canonical{"name": strings.TrimSpace(long)},
		},
		{
			name: "first match: a webCRM name that is the cut ERP name agrees with it",
			in: MergeInput{Pairing: orgs,
				WebCRM: Canonical{"name": strings.TrimSpace(truncate(long, 200))}, ERP: Canonical{"name": strings.TrimSpace(long)}},
			merged: Canonical{"name": strings.TrimSpace(long)},
		},
		{
			name: "a snapshot that went through JSON is not a change",
			in: MergeInput{Pairing: w, Base: Canonical{"count": float64(3)},
				WebCRM: Canonical{"count": int64(3)}, ERP: Canonical{"count": int64(3)}},
			merged: Canonical{"count": int64(3)},
		},
		{
			name:   "no ERP record yet: create it with every value that flows there",
			in:     MergeInput{Pairing: w, WebCRM: Canonical{"newest": "x", "to-erp": "y", "to-crm": "z", "fixed-erp": "f"}},
			merged: Canonical{"newest": "x", "to-erp": "y", "fixed-erp": "f"}, toERP: []string{"fixed-erp", "newest", "to-erp"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Merge(tc.in)
			require.Equal(t, tc.merged, res.Merged)
			require.Equal(t, tc.toWebCRM, res.ToWebCRM, "to webCRM")
			require.Equal(t, tc.toERP, res.ToERP, "to ERP")
			require.Equal(t, tc.conflicts, res.Conflicts)
			requireSettled(t, tc.in, res)
			if !tc.in.WebCRMUpdatedAt.Equal(tc.in.ERPUpdatedAt) || !hasTie(res) {
				requireMirrored(t, tc.in, res)
			}
		})
	}
}

func hasTie(res MergeResult) bool {
	for _, c := range res.Conflicts {
		if c.Rule == RuleNewestTie {
			return true
		}
	}
	return false
}

func TestMergeCreationRules(t *testing.T) {
	t.Parallel()
	s := loadDefaults(t)

	// Users are created only in the ERP: an ERP-born employee never reaches webCRM.
	users := pairing(t, s, "users")
	res := Merge(MergeInput{Pairing: users, ERP: Canonical{"name": "Per Ødegård", "email": "per@firma.no"}})
	require.Empty(t, res.ToWebCRM)
	res = Merge(MergeInput{Pairing: users, WebCRM: Canonical{"name": "Per Ødegård", "email": "per@firma.no"}})
	require.Equal(t, []string{"email", "name"}, res.ToERP)

	// Persons are created both ways; the organisation may be set on create.
	persons := pairing(t, s, "persons")
	res = Merge(MergeInput{Pairing: persons, ERP: Canonical{"organisation": "17", "last-name": "Ås", "status": "active"}})
	require.Equal(t, []string{"last-name", "organisation", "status"}, res.ToWebCRM)

	// Products: the stock comes from the ERP, so a webCRM-born product does not send its stock.
	products := pairing(t, s, "products")
	res = Merge(MergeInput{Pairing: products, WebCRM: Canonical{"product-number": "P1", "name": "Øl", "stock-quantity": "5"}})
	require.Equal(t, []string{"name", "product-number"}, res.ToERP)
	require.Equal(t, Canonical{"product-number": "P1", "name": "Øl"}, res.Merged)

	// Opportunities with gate won-only create orders for won opportunities only.
	opp := *pairing(t, s, "opportunities")
	opp.Gate = GateWonOnly
	res = Merge(MergeInput{Pairing: &opp, WebCRM: Canonical{"number": "T-1", "status": "open"}})
	require.Empty(t, res.ToERP)
	res = Merge(MergeInput{Pairing: &opp, WebCRM: Canonical{"number": "T-1", "status": "won"}})
	require.Equal(t, []string{"number", "status"}, res.ToERP)
	// ...and opportunities are never created in webCRM.
	res = Merge(MergeInput{Pairing: &opp, ERP: Canonical{"number": "O-1", "status": "won"}})
	require.Empty(t, res.ToWebCRM)

	// The ERP's status follows webCRM: a cancelled order (lost) of an open opportunity is put back.
	res = Merge(MergeInput{Pairing: &opp, Base: Canonical{"status": "open"}, WebCRM: Canonical{"status": "open"}, ERP: Canonical{"status": "lost"}})
	require.Equal(t, []string{"status"}, res.ToERP)
	require.Equal(t, RuleDirectionToERP, res.Conflicts[0].Rule)

	// No pairing, no records: nothing to do.
	require.Empty(t, Merge(MergeInput{}).Merged)
	require.Equal(t, Canonical{"number": "T-1"}, Merge(MergeInput{Pairing: &opp, Base: Canonical{"number": "T-1"}}).Merged)
}

// TestPairingSurvivesJSON checks that a pairing sent through JSON (as workflow input would
// be) still maps and merges the same.
func TestPairingSurvivesJSON(t *testing.T) {
	t.Parallel()
	p := pairing(t, loadDefaults(t), "persons")
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	var q Pairing
	require.NoError(t, json.Unmarshal(raw, &q))
	rec := map[string]any{"PersonOrganisationId": 17, "PersonLastName": "Ås", "PersonStatus": "Guest", "PersonEmail": "A@B.DK"}
	want, _, err := p.FromWebCRM(context.Background(), rec, nil)
	require.NoError(t, err)
	got, _, err := q.FromWebCRM(context.Background(), rec, nil)
	require.NoError(t, err)
	require.Equal(t, want, got)
	out, _, err := q.ToWebCRM(context.Background(), got, []string{"status", "last-name"}, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"PersonStatus": "Active", "PersonLastName": "Ås"}, out)
	in := MergeInput{Pairing: p, Base: Canonical{"email": "a@b.dk"}, WebCRM: got, ERP: Canonical{"email": "x@b.dk"}, ERPUpdatedAt: t1}
	a := Merge(in)
	in.Pairing = &q
	require.Equal(t, a, Merge(in))
	require.Equal(t, "x@b.dk", a.Merged["email"])
}
