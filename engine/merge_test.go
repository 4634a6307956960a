package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// stored decodes a side's stored-as values of a link.
func stored(t *testing.T, st domain.LinkState, side domain.Side) mappings.Canonical {
	t.Helper()
	c, err := decodeCanonical(st.Stored(side))
	require.NoError(t, err)
	return c
}

// snapshot decodes a link's snapshot.
func snapshot(t *testing.T, st domain.LinkState) mappings.Canonical {
	t.Helper()
	c, err := decodeCanonical(st.Snapshot)
	require.NoError(t, err)
	return c
}

// TestAnEditCrossesToTheOtherSide: an edit on either side is written to the
// other, and only there; the link takes both new versions, so the poll that
// delivers tandem's own write skips it.
func TestAnEditCrossesToTheOtherSide(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]

	orgs.edit(oid, map[string]any{"OrganisationCity": "Viborg"})
	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionUpdated: 1}, tally.Actions)
	assert.Equal(t, "Viborg", customers.get(cid)["postalAddress"].(map[string]any)["city"])
	assert.Equal(t, "2. th.", customers.get(cid)["postalAddress"].(map[string]any)["line2"], "the rest of the record is kept")
	assert.Equal(t, 1, customers.count("update"))
	assert.Zero(t, orgs.count("update"), "no write back")
	st := e.link(orgLink(oid))
	assert.Equal(t, "2", st.ErpVersion)
	assert.Equal(t, orgs.change(oid).Version, st.CrmVersion)
	assert.Equal(t, "Viborg", snapshot(t, st)["city"])
	assert.Equal(t, 2, st.Writes)

	// The poll of the ERP write finds it seen.
	again := e.dispatch("organisations", customers.change(cid))
	assert.Equal(t, map[string]int{domain.ActionSeen: 1}, again.Actions)
	assert.Equal(t, 1, customers.count("update"))

	customers.edit(cid, map[string]any{"phone": "+45 70 80 90 00"})
	e.dispatch("organisations", customers.change(cid))
	org := orgs.get(oid)
	assert.Equal(t, "+45 70 80 90 00", org["OrganisationTelephone"])
	assert.Equal(t, "Viborg", org["OrganisationCity"])
	assert.Equal(t, 1, orgs.count("update"))
	assert.Equal(t, org["OrganisationUpdatedAt"], e.link(orgLink(oid)).CrmVersion, "the read-back's version")
}

// TestAChangeThatChangesNothingWritesNothing: an edit of a property the
// pairing does not map is a no-op on both sides.
func TestAChangeThatChangesNothingWritesNothing(t *testing.T) {
	e := newEnv(t)
	oid, _ := e.linkedOrg(1)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	orgs.edit(oid, map[string]any{"OrganisationCustom3": "internal note"})
	ch := orgs.change(oid)

	tally := e.dispatch("organisations", ch)

	assert.Equal(t, map[string]int{domain.ActionNoop: 1}, tally.Actions)
	assert.Zero(t, customers.count("update"))
	assert.Zero(t, orgs.count("update"))
	st := e.link(orgLink(oid))
	assert.Equal(t, ch.Version, st.CrmVersion)
	assert.Equal(t, 1, st.Writes)
	assert.Equal(t, 2, st.Applied)
}

// TestConflictsAreRecordedWithTheirRule: a field changed on both sides is
// decided by its owner, a one-way field edited on the wrong side is put back,
// and each decision is recorded with its rule and counted.
func TestConflictsAreRecordedWithTheirRule(t *testing.T) {
	t.Run("newest", func(t *testing.T) {
		e := newEnv(t)
		oid, cid := e.linkedOrg(1)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		orgs.edit(oid, map[string]any{"OrganisationCity": "Viborg"})
		customers.edit(cid, map[string]any{"postalAddress": map[string]any{"city": "Odense"}}) // later

		e.dispatch("organisations", orgs.change(oid))

		res := e.links.result(orgLink(oid))
		assert.Equal(t, []domain.ConflictNote{{Field: "city", Winner: domain.ERP, Rule: mappings.RuleNewest}}, res.Conflicts)
		assert.Equal(t, 1, res.Outcome.Conflicts)
		assert.Equal(t, 1, res.State.Conflicts)
		assert.Equal(t, "Odense", orgs.get(oid)["OrganisationCity"])
		assert.Equal(t, "Odense", customers.get(cid)["postalAddress"].(map[string]any)["city"])
		assert.Zero(t, customers.count("update"), "the ERP holds the winner already")
		assert.Equal(t, 1, e.metrics.conflicts["organisations"])
	})
	t.Run("one-way field put back", func(t *testing.T) {
		e := newEnv(t)
		products, wproducts := e.erp["products"], e.crm["Products"]
		pid := products.add(map[string]any{"productNumber": "P-0001", "name": "Widget", "unit": "stk", "salesPrice": 99.5, "stockQuantity": 12})
		e.dispatch("products", products.change(pid))
		st := e.link(domain.LinkWorkflowID("products", domain.ERP, pid))
		require.Equal(t, json.Number("12"), wproducts.get(st.CrmID)["ProductQuantity"])

		wproducts.edit(st.CrmID, map[string]any{"ProductQuantity": 5})
		e.dispatch("products", wproducts.change(st.CrmID))

		res := e.links.result(domain.LinkWorkflowID("products", domain.ERP, pid))
		assert.Equal(t, []domain.ConflictNote{{Field: "stock-quantity", Winner: domain.ERP, Rule: mappings.RuleDirectionToWebCRM}}, res.Conflicts)
		assert.Equal(t, json.Number("12"), wproducts.get(st.CrmID)["ProductQuantity"], "the ERP keeps the stock")
		assert.Zero(t, products.count("update"))
	})
}

// removeSpaces is a server that stores phone numbers without spaces.
func removeSpaces(prop string, v any) any {
	if s, ok := v.(string); ok && prop == "phone" {
		return strings.ReplaceAll(s, " ", "")
	}
	return v
}

// TestAValueTheServerStoresDifferentlyCausesNoWriteBack: the ERP stores a
// phone without its spaces: that is its form of the synced value, kept as
// such, and neither the read-back nor a later merge writes webCRM; a real
// edit on either side still crosses.
func TestAValueTheServerStoresDifferentlyCausesNoWriteBack(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	customers.rewrite = removeSpaces
	oid, cid := e.linkedOrg(1)

	assert.Equal(t, "+4511223301", customers.get(cid)["phone"])
	st := e.link(orgLink(oid))
	assert.Equal(t, mappings.Canonical{"phone": "+4511223301"}, stored(t, st, domain.ERP))
	assert.Equal(t, "+45 11 22 33 01", snapshot(t, st)["phone"], "the synced value is webCRM's")
	assert.Equal(t, "1", st.ErpVersion, "the create's version: its poll is skipped")
	assert.Equal(t, map[string]int{domain.ActionSeen: 1}, e.dispatch("organisations", customers.change(cid)).Actions)

	// A merge of another edit leaves the phone alone on both sides.
	orgs.edit(oid, map[string]any{"OrganisationCity": "Viborg"})
	e.dispatch("organisations", orgs.change(oid))
	assert.Zero(t, orgs.count("update"), "no write back of the phone")
	assert.Equal(t, "+45 11 22 33 01", orgs.get(oid)["OrganisationTelephone"])
	st = e.link(orgLink(oid))
	assert.Equal(t, mappings.Canonical{"phone": "+4511223301"}, stored(t, st, domain.ERP), "still the synced value's form")
	assert.Equal(t, "2", st.ErpVersion)

	// A real edit in webCRM crosses, and its new form is remembered.
	orgs.edit(oid, map[string]any{"OrganisationTelephone": "+45 70 80 90 00"})
	e.dispatch("organisations", orgs.change(oid))
	assert.Equal(t, "+4570809000", customers.get(cid)["phone"])
	st = e.link(orgLink(oid))
	assert.Equal(t, mappings.Canonical{"phone": "+4570809000"}, stored(t, st, domain.ERP))
	assert.Equal(t, "+45 70 80 90 00", snapshot(t, st)["phone"])
	assert.Zero(t, orgs.count("update"))

	// A real edit in the ERP crosses too, and is the synced value itself.
	customers.edit(cid, map[string]any{"phone": "+45 40 50 60 70"})
	e.dispatch("organisations", customers.change(cid))
	assert.Equal(t, "+45 40 50 60 70", orgs.get(oid)["OrganisationTelephone"])
	st = e.link(orgLink(oid))
	assert.Empty(t, stored(t, st, domain.ERP), "a moved field's stored form is dropped")
	assert.Equal(t, "+45 40 50 60 70", snapshot(t, st)["phone"])
	assert.Equal(t, 1, orgs.count("update"))
}

// TestAnEditMadeBetweenTandemsWriteAndItsReadBackIsMerged: someone edits the
// webCRM record in the moment between tandem's PUT and its read-back: the
// link keeps the version its write was based on, so the poll that delivers
// the edit merges it rather than skipping it as seen.
func TestAnEditMadeBetweenTandemsWriteAndItsReadBackIsMerged(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	before := e.link(orgLink(oid)).CrmVersion
	orgs.between = func(rec map[string]any) { rec["OrganisationCity"] = "Skagen" }

	customers.edit(cid, map[string]any{"phone": "+45 70 80 90 00"})
	e.dispatch("organisations", customers.change(cid))

	assert.Equal(t, "+45 70 80 90 00", orgs.get(oid)["OrganisationTelephone"])
	st := e.link(orgLink(oid))
	assert.Equal(t, before, st.CrmVersion, "the read-back is not taken as seen")
	assert.Contains(t, e.logs.String(), "record changed while tandem wrote it")
	orgs.between = nil

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionUpdated: 1}, tally.Actions)
	assert.Equal(t, "Skagen", customers.get(cid)["postalAddress"].(map[string]any)["city"])
	assert.Equal(t, "+45 70 80 90 00", customers.get(cid)["phone"])
}

// TestAWriteWithoutReadBack: without a read-back the link keeps the version
// its write was based on (webCRM), or the version the write answered (ERP);
// the poll of a webCRM write then merges to a no-op.
func TestAWriteWithoutReadBack(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	orgs.noReadBack, customers.noReadBack = true, true
	before := e.link(orgLink(oid)).CrmVersion

	customers.edit(cid, map[string]any{"phone": "+45 70 80 90 00"})
	e.dispatch("organisations", customers.change(cid))
	assert.Equal(t, before, e.link(orgLink(oid)).CrmVersion)

	tally := e.dispatch("organisations", orgs.change(oid))
	assert.Equal(t, map[string]int{domain.ActionNoop: 1}, tally.Actions)
	assert.Equal(t, 1, orgs.count("update"))

	orgs.edit(oid, map[string]any{"OrganisationCity": "Viborg"})
	e.dispatch("organisations", orgs.change(oid))
	assert.Equal(t, "3", e.link(orgLink(oid)).ErpVersion, "the version the ERP answered")
	assert.Equal(t, map[string]int{domain.ActionSeen: 1}, e.dispatch("organisations", customers.change(cid)).Actions)
}

// TestADeliveredRecordOlderThanTheLinksIsReadAgain: a change that delivers a
// version older than the one the link synced (a late poll, a slow hook) is
// not taken as an edit back to the old values: the record is read again.
func TestADeliveredRecordOlderThanTheLinksIsReadAgain(t *testing.T) {
	for _, side := range domain.Sides() {
		t.Run(string(side), func(t *testing.T) {
			e := newEnv(t)
			oid, cid := e.linkedOrg(1)
			orgs, customers := e.crm["Organisations"], e.erp["customers"]
			db, id, edit := orgs, oid, map[string]any{"OrganisationCity": "Viborg"}
			if side == domain.ERP {
				db, id, edit = customers, cid, map[string]any{"postalAddress": map[string]any{"city": "Viborg"}}
			}
			old := db.change(id)
			db.edit(id, edit)
			e.dispatch("organisations", db.change(id))
			writes, gets := orgs.writes()+customers.writes(), db.count("get")

			_, err := e.links.ApplyTo(context.Background(), "organisations", orgLink(oid), old)

			require.NoError(t, err)
			assert.Equal(t, domain.ActionNoop, e.links.result(orgLink(oid)).Outcome.Action)
			assert.Equal(t, writes, orgs.writes()+customers.writes(), "nothing written back")
			assert.Equal(t, "Viborg", orgs.get(oid)["OrganisationCity"])
			assert.Equal(t, gets+1, db.count("get"), "read again")
		})
	}
}

// TestApplyRefusesWhatItCannotUse: a change naming another record than the
// link's, an unknown pairing, a snapshot or stored values it cannot read, a
// record it cannot map: Validation errors, nothing written.
func TestApplyRefusesWhatItCannotUse(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	st := e.link(orgLink(oid))
	ch := e.crm["Organisations"].change(oid)
	ctx := context.Background()
	corrupt := func(f func(*domain.LinkState)) domain.LinkState {
		s := st
		s.CrmVersion = ""
		f(&s)
		return s
	}
	badPerson := crmPerson(1, oid)
	badPerson["PersonStatus"] = "On leave"
	pid := e.crm["Persons"].add(badPerson)
	coid := e.erp["contacts"].add(erpContact(1, "person", cid))

	cases := map[string]struct {
		in   domain.ApplyInput
		want string
	}{
		"another record": {domain.ApplyInput{Pairing: "organisations", LinkID: orgLink(oid), State: st,
			Change: domain.Change{Side: domain.ERP, ID: "CU-9"}}, "change of erp record CU-9 reached the link of erp record " + cid},
		"unknown pairing": {domain.ApplyInput{Pairing: "accounts", Change: ch}, `unknown pairing "accounts"`},
		"snapshot": {domain.ApplyInput{Pairing: "organisations", LinkID: orgLink(oid), Change: ch,
			State: corrupt(func(s *domain.LinkState) { s.Snapshot = json.RawMessage(`{"name":`) })}, "decode snapshot"},
		"stored values": {domain.ApplyInput{Pairing: "organisations", LinkID: orgLink(oid), Change: ch,
			State: corrupt(func(s *domain.LinkState) { s.ErpStored = json.RawMessage(`{"sort":1.5}`) })}, "decode erp stored values"},
		"unmappable record": {domain.ApplyInput{Pairing: "persons", LinkID: "link/persons/webcrm/" + pid,
			State: domain.LinkState{State: domain.StatePending}, Change: e.crm["Persons"].change(pid)}, "not in the field's value table"},
		"unmappable linked record": {domain.ApplyInput{Pairing: "persons", LinkID: "link/persons/webcrm/" + pid,
			State:  domain.LinkState{CrmID: pid, ErpID: coid, State: domain.StateOK, Snapshot: json.RawMessage(`{}`)},
			Change: e.crm["Persons"].change(pid)}, "map webcrm record " + pid},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			writes := e.crm["Organisations"].writes() + e.erp["customers"].writes() + e.erp["contacts"].writes()
			_, err := e.eng.Apply(ctx, tc.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, Validation, e.eng.Classify(err).Class)
			assert.Equal(t, writes, e.crm["Organisations"].writes()+e.erp["customers"].writes()+e.erp["contacts"].writes())
		})
	}
}

// TestAWriteRefusedAsStaleIsRetryable: an ERP PUT whose If-Match the server
// refuses is a Stale error, retried by the link (which reads both again).
func TestAWriteRefusedAsStaleIsRetryable(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	customers := e.erp["customers"]
	customers.fails["update"] = clientErr(Stale, "412 Precondition Failed")
	e.crm["Organisations"].edit(oid, map[string]any{"OrganisationCity": "Viborg"})

	e.dispatch("organisations", e.crm["Organisations"].change(oid))

	err := e.links.lastErr(orgLink(oid))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "update ERP customers "+cid)
	assert.Equal(t, Stale, e.eng.Classify(err).Class)
	assert.False(t, e.eng.Classify(err).Class.Permanent())

	delete(customers.fails, "update")
	e.dispatch("organisations", e.crm["Organisations"].change(oid))
	assert.Equal(t, "Viborg", customers.get(cid)["postalAddress"].(map[string]any)["city"])
	assert.Equal(t, domain.StateOK, e.link(orgLink(oid)).State)
}

// TestASideThatCannotBeReadFailsTheApply: a read of the counterpart that
// fails leaves the link with the client's class.
func TestASideThatCannotBeReadFailsTheApply(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	e.erp["customers"].fails["get"] = clientErr(Unavailable, "dial tcp: connection refused")
	e.crm["Organisations"].edit(oid, map[string]any{"OrganisationCity": "Viborg"})

	e.dispatch("organisations", e.crm["Organisations"].change(oid))

	err := e.links.lastErr(orgLink(oid))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read ERP customers "+cid)
	assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
}

// TestDecodeCanonicalKeepsWholeNumbersWhole: snapshots read back give whole
// numbers as int64 (as the mappings make them) and refuse other numbers.
func TestDecodeCanonicalKeepsWholeNumbersWhole(t *testing.T) {
	c, err := decodeCanonical(json.RawMessage(`{"sort-order":3,"unit-price":"99.5","name":"x"}`))
	require.NoError(t, err)
	assert.Equal(t, mappings.Canonical{"sort-order": int64(3), "unit-price": "99.5", "name": "x"}, c)
	c, err = decodeCanonical(nil)
	assert.NoError(t, err)
	assert.Nil(t, c)
	_, err = decodeCanonical(json.RawMessage(`{"sort-order":1.5}`))
	assert.ErrorContains(t, err, `"1.5" is not a whole number`)
	_, err = decodeCanonical(json.RawMessage(`[1]`))
	assert.Error(t, err)
}

// TestAValueRewrittenByAWriteWithoutReadBackIsNoEdit: webCRM stores an ERP
// phone without its spaces, and the read-back after the write fails. The poll
// that delivers the written record shows webCRM's form of the value tandem
// wrote: that is no webCRM edit, and the ERP keeps its spaced value (found by
// the convergence test: the spaceless form was written back over the ERP edit).
func TestAValueRewrittenByAWriteWithoutReadBackIsNoEdit(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	orgs.rewrite = func(prop string, v any) any {
		if s, ok := v.(string); ok && prop == "OrganisationTelephone" {
			return strings.ReplaceAll(s, " ", "")
		}
		return v
	}
	orgs.noReadBack = true
	customers.edit(cid, map[string]any{"phone": "+45 34 83 34 64"})
	e.dispatch("organisations", customers.change(cid))
	require.Equal(t, "+4534833464", orgs.get(oid)["OrganisationTelephone"], "webCRM stored its form")

	writes := customers.writes()
	tally := e.dispatch("organisations", orgs.change(oid))
	assert.Equal(t, map[string]int{domain.ActionNoop: 1}, tally.Actions)
	assert.Equal(t, writes, customers.writes(), "nothing is written back to the ERP")
	assert.Equal(t, "+45 34 83 34 64", customers.get(cid)["phone"])

	orgs.edit(oid, map[string]any{"OrganisationTelephone": "+45 99 99 99 99"})
	e.dispatch("organisations", orgs.change(oid))
	assert.Equal(t, "+45 99 99 99 99", customers.get(cid)["phone"], "a real edit still crosses")
}
