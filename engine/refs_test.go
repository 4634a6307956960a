package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
)

func personLink(side domain.Side, id string) string {
	return domain.LinkWorkflowID("persons", side, id)
}

// TestAReferenceToALinkedRecordResolvesFromTheLinksSearchAttributes: a
// person whose organisation is linked gets its ERP customer's id from one
// look at the organisation's link, with no delivery to it.
func TestAReferenceToALinkedRecordResolvesFromTheLinksSearchAttributes(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	before := e.link(orgLink(oid))
	// A delivery to the organisation's own link would fail.
	e.links.failID["ensure "+orgLink(oid)] = errors.New("not to be woken")
	pid := e.crm["Persons"].add(crmPerson(1, oid))

	tally := e.dispatch("persons", e.crm["Persons"].change(pid))

	assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
	contact := e.erp["contacts"].get(e.link(personLink(domain.WebCRM, pid)).ErpID)
	assert.Equal(t, cid, contact["customerId"])
	assert.Equal(t, "person", contact["contactType"], "the pairing's constant")
	assert.Equal(t, "bo.berg1@fjord.example", contact["email"])
	assert.NotContains(t, e.links.ensured, orgLink(oid))
	assert.Equal(t, before.Applied, e.link(orgLink(oid)).Applied)
}

// TestAReferenceToARecordTandemCreatedResolvesFromItsCreatorsLink: an ERP
// customer tandem created has no link of its own, only its creator's token.
// A contact that refers to it resolves through the creator's link, found by
// its search attributes, and starts no link for the customer (Ensure would).
func TestAReferenceToARecordTandemCreatedResolvesFromItsCreatorsLink(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1) // the customer was created by the organisation's link
	kid := e.erp["contacts"].add(erpContact(1, "person", cid))

	tally := e.dispatch("persons", e.erp["contacts"].change(kid))

	assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 1}, tally.Actions)
	person := e.crm["Persons"].get(e.link(personLink(domain.ERP, kid)).CrmID)
	assert.Equal(t, oid, person["PersonOrganisationId"].(json.Number).String())
	assert.NotContains(t, e.links.ensured, erpLink(cid), "no link is started for the customer")
	_, own := e.links.state(erpLink(cid))
	assert.False(t, own)
}

// TestAReferenceToAnUnlinkedRecordSyncsItFirst: the referenced record is
// synced through its link (Ensure) before the record that refers to it, from
// either side.
func TestAReferenceToAnUnlinkedRecordSyncsItFirst(t *testing.T) {
	t.Run("webCRM person", func(t *testing.T) {
		e := newEnv(t)
		oid := e.crm["Organisations"].add(crmOrg(1))
		pid := e.crm["Persons"].add(crmPerson(1, oid))

		tally := e.dispatch("persons", e.crm["Persons"].change(pid))

		assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
		assert.Equal(t, orgLink(oid), e.links.ensured[0], "the organisation first")
		org := e.link(orgLink(oid))
		assert.Equal(t, domain.StateOK, org.State)
		contact := e.erp["contacts"].get(e.link(personLink(domain.WebCRM, pid)).ErpID)
		assert.Equal(t, org.ErpID, contact["customerId"])
	})
	t.Run("ERP contact", func(t *testing.T) {
		e := newEnv(t)
		cid := e.erp["customers"].add(erpCustomer(1))
		kid := e.erp["contacts"].add(erpContact(1, "person", cid))

		tally := e.dispatch("persons", e.erp["contacts"].change(kid))

		assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 1}, tally.Actions)
		org := e.link(erpLink(cid))
		require.NotEmpty(t, org.CrmID)
		person := e.crm["Persons"].get(e.link(personLink(domain.ERP, kid)).CrmID)
		assert.Equal(t, org.CrmID, person["PersonOrganisationId"].(json.Number).String())
		assert.Equal(t, "Holm1", person["PersonLastName"])
		assert.Equal(t, 1, e.crm["Persons"].count("batch"), "the person is created in a batch")
		assert.Equal(t, 1, e.crm["Organisations"].count("create"), "its organisation by its link, first")
	})
}

// TestAReferenceThatCannotBeLinkedBlocks: a person whose organisation cannot
// be synced waits, blocked on that link with its reason, and syncs once the
// cause is mended.
func TestAReferenceThatCannotBeLinkedBlocks(t *testing.T) {
	e := newEnv(t)
	nameless := crmOrg(1)
	delete(nameless, "OrganisationName")
	oid := e.crm["Organisations"].add(nameless)
	pid := e.crm["Persons"].add(crmPerson(1, oid))

	tally := e.dispatch("persons", e.crm["Persons"].change(pid))

	assert.Equal(t, map[string]int{domain.ActionBlocked: 1}, tally.Actions)
	assert.Equal(t, 1, tally.Failed)
	st := e.link(personLink(domain.WebCRM, pid))
	assert.Equal(t, domain.StateBlocked, st.State)
	assert.Equal(t, orgLink(oid), st.BlockedOn)
	assert.Contains(t, st.Reason, "waiting for organisations webcrm record "+oid+" to be linked (its link is error: ")
	assert.Contains(t, st.Reason, "has no value for name")
	assert.Zero(t, e.erp["contacts"].size())

	e.crm["Organisations"].edit(oid, map[string]any{"OrganisationName": "Fjord Tech 1 A/S"})
	out, err := e.links.Apply(context.Background(), "persons", domain.Change{Side: domain.WebCRM, ID: pid, Source: domain.SourceRetry})
	require.NoError(t, err)
	assert.Equal(t, domain.ActionCreatedERP, out.Action)
	assert.Equal(t, domain.StateOK, e.link(personLink(domain.WebCRM, pid)).State)
	assert.Empty(t, e.link(personLink(domain.WebCRM, pid)).BlockedOn)
}

// TestAReferenceToALinkSettledWithoutCounterpartIsSkipped: an ERP order line
// of an order entered in the ERP (orders are never created in webCRM) is not
// synced, rather than blocked for ever.
func TestAReferenceToALinkSettledWithoutCounterpartIsSkipped(t *testing.T) {
	e := newEnv(t)
	order := e.erp["orders"].add(map[string]any{"orderNumber": "E-1", "customerId": "CU-9999", "status": "open"})
	line := e.erp["order-lines"].add(map[string]any{"orderId": order, "productNumber": "P-1", "quantity": 2, "unitPrice": 10})

	tally := e.dispatch("quotationlines", e.erp["order-lines"].change(line))

	assert.Equal(t, map[string]int{domain.ActionSkipped: 1}, tally.Actions)
	assert.Zero(t, tally.Failed)
	st := e.link(domain.LinkWorkflowID("quotationlines", domain.ERP, line))
	assert.Equal(t, domain.StateOK, st.State)
	assert.Contains(t, st.Reason, "not synced: it refers to opportunities erp record "+order+", which its link is ok: not created in webcrm")
	assert.Zero(t, e.crm["QuotationLines"].size())
}

// TestAReferenceOutOfReachIsTransient: when the referenced record's link
// cannot be reached (Temporal unreachable), the error is retried, not taken
// for a record that cannot be mapped.
func TestAReferenceOutOfReachIsTransient(t *testing.T) {
	unreachable := errors.New("context deadline exceeded")
	t.Run("writing the reference", func(t *testing.T) {
		e := newEnv(t)
		oid, _ := e.linkedOrg(1)
		e.links.failID["inspect "+orgLink(oid)] = unreachable
		pid := e.crm["Persons"].add(crmPerson(1, oid))

		e.dispatch("persons", e.crm["Persons"].change(pid))

		err := e.links.lastErr(personLink(domain.WebCRM, pid))
		require.ErrorIs(t, err, unreachable)
		assert.Equal(t, Transient, e.eng.Classify(err).Class)
		assert.Zero(t, e.erp["contacts"].size())
	})
	t.Run("reading the reference", func(t *testing.T) {
		e := newEnv(t)
		cid := e.erp["customers"].add(erpCustomer(1))
		e.links.fails["ensure"] = unreachable
		kid := e.erp["contacts"].add(erpContact(1, "person", cid))

		e.dispatch("persons", e.erp["contacts"].change(kid))

		err := e.links.lastErr(personLink(domain.ERP, kid))
		require.ErrorIs(t, err, unreachable)
		assert.Contains(t, err.Error(), "resolve organisations erp record "+cid)
		assert.Equal(t, Transient, e.eng.Classify(err).Class)
		assert.Zero(t, e.crm["Persons"].size())
	})
	t.Run("mapping a match candidate", func(t *testing.T) {
		e := newEnv(t)
		oid, cid := e.linkedOrg(1)
		pid := e.crm["Persons"].add(crmPerson(1, oid))
		twin := erpContact(1, "person", cid)
		twin["email"] = "bo.berg1@fjord.example"
		kid := e.erp["contacts"].add(twin)
		// The candidate's customer is resolved through the customer's own
		// link ID, which cannot be reached now.
		e.links.failID["inspect "+erpLink(cid)] = unreachable

		e.dispatch("persons", e.crm["Persons"].change(pid))

		assert.Equal(t, 1, e.erp["contacts"].size(), "no second contact while the candidate cannot be judged")
		err := e.links.lastErr(personLink(domain.WebCRM, pid))
		require.ErrorIs(t, err, unreachable)
		assert.Equal(t, Transient, e.eng.Classify(err).Class)

		delete(e.links.failID, "inspect "+erpLink(cid))
		out, err := e.links.Apply(context.Background(), "persons", e.crm["Persons"].change(pid))
		require.NoError(t, err)
		assert.Equal(t, domain.ActionMatched, out.Action)
		assert.Equal(t, kid, out.ErpID)
	})
}

// linkedOpportunity makes a linked organisation and a webCRM opportunity of
// it, synced to an ERP order; it returns the opportunity's and the order's
// ids.
func (e *env) linkedOpportunity() (opp, order string) {
	e.t.Helper()
	oid, _ := e.linkedOrg(1)
	opp = e.crm["Opportunities"].add(crmOpp(1, oid))
	e.dispatch("opportunities", e.crm["Opportunities"].change(opp))
	st := e.link(domain.LinkWorkflowID("opportunities", domain.WebCRM, opp))
	if st.ErpID == "" {
		e.t.Fatalf("opportunity not linked: %+v", st)
	}
	return opp, st.ErpID
}

func lineLink(side domain.Side, id string) string {
	return domain.LinkWorkflowID("quotationlines", side, id)
}

// TestAQuotationLinesProductIsEnsuredOnTheSideItIsWrittenTo: a line names
// its product by number: a product only in the other system is synced first;
// one neither system has is a Validation error naming it.
func TestAQuotationLinesProductIsEnsuredOnTheSideItIsWrittenTo(t *testing.T) {
	t.Run("only on the other side", func(t *testing.T) {
		e := newEnv(t)
		opp, order := e.linkedOpportunity()
		wprod := e.crm["Products"].add(crmProduct("P-0001"))
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))

		tally := e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
		prod := e.link(domain.LinkWorkflowID("products", domain.WebCRM, wprod))
		assert.Equal(t, "P-0001", e.erp["products"].get(prod.ErpID)["productNumber"])
		line := e.erp["order-lines"].get(e.link(lineLink(domain.WebCRM, lid)).ErpID)
		assert.Equal(t, order, line["orderId"])
		assert.Equal(t, "P-0001", line["productNumber"])
		assert.Equal(t, "3", line["quantity"].(json.Number).String())
	})
	t.Run("only on the other side, and it cannot be synced", func(t *testing.T) {
		e := newEnv(t)
		opp, _ := e.linkedOpportunity()
		wprod := e.crm["Products"].add(crmProduct("P-0001"))
		e.erp["products"].fails["create"] = clientErr(Validation, "400 name is required")
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))

		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		assert.Equal(t, domain.StateError, e.link(domain.LinkWorkflowID("products", domain.WebCRM, wprod)).State)
		st := e.link(lineLink(domain.WebCRM, lid))
		assert.Equal(t, domain.StateBlocked, st.State, "the line waits for its product rather than name one the ERP lacks")
		assert.Contains(t, st.Reason, "waiting for products webcrm record "+wprod)
		assert.Zero(t, e.erp["order-lines"].size())
	})
	t.Run("on both sides", func(t *testing.T) {
		e := newEnv(t)
		opp, _ := e.linkedOpportunity()
		e.crm["Products"].add(crmProduct("P-0001"))
		e.erp["products"].add(map[string]any{"productNumber": "P-0001", "name": "Widget"})
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))

		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		assert.Equal(t, domain.StateOK, e.link(lineLink(domain.WebCRM, lid)).State)
		for _, id := range e.links.ensured {
			assert.NotContains(t, id, "link/products/")
		}
		assert.Zero(t, e.crm["Products"].count("find"), "found where the line goes")
	})
	t.Run("in neither", func(t *testing.T) {
		e := newEnv(t)
		opp, _ := e.linkedOpportunity()
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0404", 3))

		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		st := e.link(lineLink(domain.WebCRM, lid))
		assert.Equal(t, domain.StateError, st.State)
		assert.Contains(t, st.Reason, `quotationlines webcrm record `+lid+` refers to products product-number "P-0404", which neither system has`)
		assert.Equal(t, Validation, e.eng.Classify(e.links.lastErr(lineLink(domain.WebCRM, lid))).Class)
		assert.Zero(t, e.erp["order-lines"].size())
	})
	t.Run("look-up fails", func(t *testing.T) {
		e := newEnv(t)
		opp, _ := e.linkedOpportunity()
		e.erp["products"].fails["find"] = clientErr(Unavailable, "503")
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))

		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		err := e.links.lastErr(lineLink(domain.WebCRM, lid))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `look up products product-number "P-0001" in erp`)
		assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
	})
	t.Run("an edit to a product only on the other side", func(t *testing.T) {
		e := newEnv(t)
		opp, _ := e.linkedOpportunity()
		e.crm["Products"].add(crmProduct("P-0001"))
		e.erp["products"].add(map[string]any{"productNumber": "P-0001", "name": "Widget"})
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))
		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))
		wprod := e.crm["Products"].add(crmProduct("P-0002"))

		e.crm["QuotationLines"].edit(lid, map[string]any{"QuotationLineData1": "P-0002"})
		tally := e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		assert.Equal(t, map[string]int{domain.ActionUpdated: 1}, tally.Actions)
		prod := e.link(domain.LinkWorkflowID("products", domain.WebCRM, wprod))
		assert.Equal(t, "P-0002", e.erp["products"].get(prod.ErpID)["productNumber"])
		assert.Equal(t, "P-0002", e.erp["order-lines"].get(e.link(lineLink(domain.WebCRM, lid)).ErpID)["productNumber"])
	})
}

// TestAQuotationLineLooksUpItsProductOnlyWhenItWritesIt: an edit that does
// not touch the product number, and a line without one, look nothing up; a
// look-up on the other side that fails, or a product link out of reach, is
// retried.
func TestAQuotationLineLooksUpItsProductOnlyWhenItWritesIt(t *testing.T) {
	t.Run("edits and empty numbers", func(t *testing.T) {
		e := newEnv(t)
		lid, olid := e.linkedLine()
		finds := e.erp["products"].count("find") + e.crm["Products"].count("find")

		e.crm["QuotationLines"].edit(lid, map[string]any{"QuotationLineQuantity": 7})
		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))
		opp := e.crm["QuotationLines"].get(lid)["QuotationLineOpportunityId"].(json.Number).String()
		other := e.crm["QuotationLines"].add(crmLine(opp, "", 1))
		e.dispatch("quotationlines", e.crm["QuotationLines"].change(other))

		assert.Equal(t, "7", e.erp["order-lines"].get(olid)["quantity"].(json.Number).String())
		assert.Equal(t, domain.StateOK, e.link(lineLink(domain.WebCRM, other)).State)
		assert.Equal(t, finds, e.erp["products"].count("find")+e.crm["Products"].count("find"))
	})
	t.Run("the other side's look-up fails", func(t *testing.T) {
		e := newEnv(t)
		opp, _ := e.linkedOpportunity()
		e.crm["Products"].fails["find"] = clientErr(Unavailable, "503")
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))

		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		err := e.links.lastErr(lineLink(domain.WebCRM, lid))
		require.ErrorContains(t, err, `look up products product-number "P-0001" in webcrm`)
		assert.Zero(t, e.erp["order-lines"].size())
	})
	t.Run("the product's link out of reach", func(t *testing.T) {
		e := newEnv(t)
		opp, _ := e.linkedOpportunity()
		wprod := e.crm["Products"].add(crmProduct("P-0001"))
		e.links.failID["inspect "+domain.LinkWorkflowID("products", domain.WebCRM, wprod)] = errors.New("deadline exceeded")
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))

		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		err := e.links.lastErr(lineLink(domain.WebCRM, lid))
		require.Error(t, err)
		assert.Equal(t, Transient, e.eng.Classify(err).Class)
		assert.Zero(t, e.erp["order-lines"].size())
	})
}

// TestAnEditNamingARecordThatCannotBeLinkedBlocks: a linked record edited to
// refer to a record that cannot be linked waits for it (from either side);
// one naming a product neither system has is refused; one whose reference is
// out of reach is retried.
func TestAnEditNamingARecordThatCannotBeLinkedBlocks(t *testing.T) {
	oppLink := func(id string) string { return domain.LinkWorkflowID("opportunities", domain.WebCRM, id) }
	t.Run("webCRM edit", func(t *testing.T) {
		e := newEnv(t)
		opp, order := e.linkedOpportunity()
		odd := crmPerson(1, e.crm["Opportunities"].get(opp)["OpportunityOrganisationId"].(json.Number).String())
		odd["PersonStatus"] = "On leave" // not in the value table: the person cannot be synced
		pid := e.crm["Persons"].add(odd)

		e.crm["Opportunities"].edit(opp, map[string]any{"OpportunityPersonId": pid, "OpportunityDescription": "More widgets"})
		tally := e.dispatch("opportunities", e.crm["Opportunities"].change(opp))

		assert.Equal(t, map[string]int{domain.ActionBlocked: 1}, tally.Actions)
		st := e.link(oppLink(opp))
		assert.Equal(t, personLink(domain.WebCRM, pid), st.BlockedOn)
		assert.Contains(t, st.Reason, "its link is error")
		assert.Equal(t, "Widgets for Fjord 1", e.erp["orders"].get(order)["description"], "nothing written while blocked")
	})
	t.Run("ERP edit", func(t *testing.T) {
		e := newEnv(t)
		opp, order := e.linkedOpportunity()
		orphan := e.erp["contacts"].add(erpContact(9, "person", "")) // no customer: cannot be created in webCRM

		e.erp["orders"].edit(order, map[string]any{"contactId": orphan})
		tally := e.dispatch("opportunities", e.erp["orders"].change(order))

		assert.Equal(t, map[string]int{domain.ActionBlocked: 1}, tally.Actions)
		assert.Equal(t, personLink(domain.ERP, orphan), e.link(oppLink(opp)).BlockedOn)
		assert.Nil(t, e.crm["Opportunities"].get(opp)["OpportunityPersonId"])
	})
	t.Run("a reference out of reach", func(t *testing.T) {
		e := newEnv(t)
		opp, _ := e.linkedOpportunity()
		e.crm["Opportunities"].edit(opp, map[string]any{"OpportunityAssignedTo": 42})
		e.links.failID["inspect "+domain.LinkWorkflowID("users", domain.WebCRM, "42")] = errors.New("deadline exceeded")

		e.dispatch("opportunities", e.crm["Opportunities"].change(opp))

		err := e.links.lastErr(oppLink(opp))
		require.ErrorContains(t, err, "map changes for ERP orders")
		assert.Equal(t, Transient, e.eng.Classify(err).Class)
	})
	t.Run("a product neither system has", func(t *testing.T) {
		e := newEnv(t)
		lid, olid := e.linkedLine()

		e.crm["QuotationLines"].edit(lid, map[string]any{"QuotationLineData1": "P-0404"})
		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))

		err := e.links.lastErr(lineLink(domain.WebCRM, lid))
		require.ErrorContains(t, err, `refers to products product-number "P-0404", which neither system has`)
		assert.Equal(t, "P-0001", e.erp["order-lines"].get(olid)["productNumber"])
	})
}

// TestAReadBackThatCannotBeMappedIsNotTakenAsSeen: when the record a create
// answered cannot be mapped back (its customer's link out of reach), the
// link takes no version for it: the poll that delivers it merges it.
func TestAReadBackThatCannotBeMappedIsNotTakenAsSeen(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	e.links.failID["inspect "+erpLink(cid)] = errors.New("deadline exceeded")
	pid := e.crm["Persons"].add(crmPerson(1, oid))

	tally := e.dispatch("persons", e.crm["Persons"].change(pid))

	assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
	st := e.link(personLink(domain.WebCRM, pid))
	assert.Empty(t, st.ErpVersion)
	delete(e.links.failID, "inspect "+erpLink(cid))

	again := e.dispatch("persons", e.erp["contacts"].change(st.ErpID))

	assert.Equal(t, map[string]int{domain.ActionNoop: 1}, again.Actions)
	assert.Equal(t, "1", e.link(personLink(domain.WebCRM, pid)).ErpVersion)
	assert.Zero(t, e.crm["Persons"].writes())
}
