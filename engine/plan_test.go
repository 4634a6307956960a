package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
)

// planOf returns the plan of one pairing out of plans.
func planOf(t *testing.T, plans []PairingPlan, pairing string) PairingPlan {
	t.Helper()
	for _, p := range plans {
		if p.Pairing == pairing {
			return p
		}
	}
	t.Fatalf("no plan of %s in %d plans", pairing, len(plans))
	return PairingPlan{}
}

// entryOf returns the entry of a record (side, id).
func entryOf(t *testing.T, p PairingPlan, side domain.Side, id string) PlanEntry {
	t.Helper()
	for _, en := range p.Entries {
		if en.Side == side && en.ID == id || en.Verdict == PlanMatched && side == domain.ERP && en.CounterpartID == id {
			return en
		}
	}
	t.Fatalf("no entry of %s %s in the %s plan: %+v", side, id, p.Pairing, p.Entries)
	return PlanEntry{}
}

// TestPlanSaysWhatTheFirstSyncWouldDoAndWritesNothing: a plan of two full
// systems tells each record's verdict (a linked pair counted, a twin matched
// with both normalised values, a key shared three ways ambiguous with its
// candidates, lone records created on the other side, a person whose
// organisation would be created planned for creation and one whose
// organisation is ambiguous blocked), and it writes nothing on either side
// and starts no link.
func TestPlanSaysWhatTheFirstSyncWouldDoAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	persons, contacts := e.crm["Persons"], e.erp["contacts"]
	e.linkedOrg(1)

	twin := orgs.add(crmOrg(2))
	twinCust := customers.add(map[string]any{"name": "Fjord Tech 2", "organisationNumber": "dk 31.00.00.02"})
	dupA, dupB := orgs.add(crmOrg(3)), orgs.add(crmOrg(3))
	dupCust := customers.add(map[string]any{"name": "Fjord Tech 3", "organisationNumber": "DK31000003"})
	lone := orgs.add(crmOrg(4))
	loneCust := customers.add(erpCustomer(5))
	newPerson := persons.add(crmPerson(1, lone))
	heldPerson := persons.add(crmPerson(2, dupA))
	orphan := contacts.add(erpContact(3, "person", "CU-none"))

	writes := func() int {
		n := 0
		for _, db := range e.crm {
			n += db.writes()
		}
		for _, db := range e.erp {
			n += db.writes()
		}
		return n
	}
	before, started := writes(), len(e.links.started)

	var read int
	plans, err := e.eng.Plan(context.Background(), []string{"persons"}, func(string, domain.Side, int) { read++ })
	require.NoError(t, err)
	assert.Equal(t, before, writes(), "a plan writes nothing")
	assert.Len(t, e.links.started, started, "a plan starts no link")
	assert.Zero(t, e.links.count("alias"), "a plan registers no index entry")
	assert.Zero(t, e.links.count("apply")+e.links.count("ensure"), "a plan sends nothing to links")
	assert.Positive(t, read, "progress is reported while reading")
	require.Len(t, plans, 1, "only the pairing asked for is returned; its dependency is planned, not printed")

	all, err := e.eng.Plan(context.Background(), nil, nil)
	require.NoError(t, err)
	op := planOf(t, all, "organisations")

	m := entryOf(t, op, domain.WebCRM, twin)
	assert.Equal(t, PlanMatched, m.Verdict)
	assert.Equal(t, twinCust, m.CounterpartID)
	assert.Equal(t, "vat-number", m.Criterion)
	assert.Equal(t, m.Value, m.CounterpartValue, "both normalised values are shown, and they agree")
	assert.Equal(t, "DK31000002", m.Value)

	for _, id := range []string{dupA, dupB} {
		en := entryOf(t, op, domain.WebCRM, id)
		assert.Equal(t, PlanAmbiguous, en.Verdict)
		assert.Equal(t, []string{dupCust}, en.Candidates)
	}
	en := entryOf(t, op, domain.ERP, dupCust)
	assert.Equal(t, PlanAmbiguous, en.Verdict)
	assert.ElementsMatch(t, []string{dupA, dupB}, en.Candidates, "every candidate is listed")

	assert.Equal(t, PlanCreate, entryOf(t, op, domain.WebCRM, lone).Verdict)
	en = entryOf(t, op, domain.ERP, loneCust)
	assert.Equal(t, PlanCreate, en.Verdict)
	assert.Contains(t, en.Reason, "webcrm")

	assert.Equal(t, map[string]int{PlanLinked: 2, PlanMatched: 2, PlanAmbiguous: 3, PlanCreate: 2,
		PlanBlocked: 0, PlanSkipped: 0, PlanInvalid: 0, PlanRejected: 0}, op.Totals)

	pp := planOf(t, all, "persons")
	assert.Equal(t, PlanCreate, entryOf(t, pp, domain.WebCRM, newPerson).Verdict,
		"a person whose organisation would be created is not blocked")
	held := entryOf(t, pp, domain.WebCRM, heldPerson)
	assert.Equal(t, PlanBlocked, held.Verdict)
	assert.Contains(t, held.Reason, "would be ambiguous")
	orph := entryOf(t, pp, domain.ERP, orphan)
	assert.Equal(t, PlanBlocked, orph.Verdict)
	assert.Contains(t, orph.Reason, "CU-none")
	assert.Equal(t, before, writes(), "a plan of every pairing writes nothing either")

	op = planOf(t, all, "opportunities")
	assert.Empty(t, op.Entries)
}

// TestPlanOfAOneWayPairingSaysWhatIsNotCreated: an ERP record of a pairing
// that creates records webcrm-to-erp only is planned as skipped, with the
// rule that holds it back.
func TestPlanOfAOneWayPairingSaysWhatIsNotCreated(t *testing.T) {
	e := newEnv(t)
	emp := e.erp["contacts"].add(erpContact(1, "employee", ""))
	plans, err := e.eng.Plan(context.Background(), []string{"users"}, nil)
	require.NoError(t, err)
	en := entryOf(t, planOf(t, plans, "users"), domain.ERP, emp)
	assert.Equal(t, PlanSkipped, en.Verdict)
	assert.Contains(t, en.Reason, "webcrm-to-erp")
}

// TestPlanOfAnUnknownPairingFails names the pairing and the known ones.
func TestPlanOfAnUnknownPairingFails(t *testing.T) {
	e := newEnv(t)
	_, err := e.eng.Plan(context.Background(), []string{"invoices"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"invoices"`)
	assert.Contains(t, err.Error(), "organisations")
}
