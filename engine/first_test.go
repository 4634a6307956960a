package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
)

// erpLink is the link ID of ERP customer id.
func erpLink(id string) string { return domain.LinkWorkflowID("organisations", domain.ERP, id) }

// TestFirstContactCreatesTheERPCounterpart: a new webCRM organisation gets
// its ERP customer, carrying the link's ID as externalRef (so no index entry
// is needed), and its link starts in step with both versions in its memo.
func TestFirstContactCreatesTheERPCounterpart(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	id := orgs.add(crmOrg(1))
	ch := orgs.change(id)

	tally := e.dispatch("organisations", ch)

	require.Equal(t, 1, customers.size())
	st := e.link(orgLink(id))
	cust := customers.get(st.ErpID)
	assert.Equal(t, "Fjord Tech 1 A/S", cust["name"])
	assert.Equal(t, "DK31000001", cust["organisationNumber"])
	assert.Equal(t, "+45 11 22 33 01", cust["phone"])
	assert.Equal(t, map[string]any{"line1": "Havnegade 1", "line2": "2. th.", "postalCode": "8000", "city": "Aarhus", "countryCode": "DK", "state": nil}, cust["postalAddress"])
	assert.Equal(t, orgLink(id), cust["externalRef"], "the create carries the link's ID as its token")

	assert.Equal(t, domain.StateOK, st.State)
	assert.Equal(t, id, st.CrmID)
	assert.Equal(t, ch.Version, st.CrmVersion)
	assert.Equal(t, "1", st.ErpVersion, "the version the create answered")
	assert.Equal(t, 1, st.Writes)
	assert.NotEmpty(t, st.Snapshot)
	assert.NotEmpty(t, st.Hash)

	info, err := e.links.Inspect(context.Background(), orgLink(id))
	require.NoError(t, err)
	assert.Equal(t, domain.LinkMemo{CrmVersion: ch.Version, ErpVersion: "1"}, info.Seen)
	assert.Equal(t, []string{orgLink(id)}, e.links.started)
	assert.Zero(t, e.links.count("alias"), "a record that carries its token needs no index entry")
	assert.Zero(t, e.links.count("apply"), "a first contact done in the dispatch does not go through the link")

	assert.Equal(t, 1, tally.Dispatched)
	assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
	assert.Zero(t, tally.Failed)
	assert.Equal(t, 1, e.metrics.appliedN("organisations", domain.WebCRM, domain.ActionCreatedERP))
}

// TestFirstContactOnAStoreWithoutTokensRegistersTheIndexEntry: a record
// created on a side whose records carry no token gets an index entry at once,
// which leads its changes to the link.
func TestFirstContactOnAStoreWithoutTokensRegistersTheIndexEntry(t *testing.T) {
	e := newEnv(t)
	e.makePlain("Organisations")
	cid := e.erp["customers"].add(erpCustomer(1))

	tally := e.dispatch("organisations", e.erp["customers"].change(cid))

	assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 1}, tally.Actions)
	assert.Equal(t, 1, e.crm["Organisations"].count("create"), "one by one: the store takes no batches")
	assert.Zero(t, e.crm["Organisations"].count("batch"))
	st := e.link(erpLink(cid))
	require.NotEmpty(t, st.CrmID)
	assert.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(st.CrmID)))
	assert.Nil(t, e.crm["Organisations"].get(st.CrmID)["OrganisationCustom15"])
}

// TestFirstContactsCreateWebCRMRecordsInBatches: new ERP customers are created
// in webCRM by CreateBatch, MaxBatch at a time, each carrying its link's ID
// as the correlation token.
func TestFirstContactsCreateWebCRMRecordsInBatches(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	orgs.maxBatch = 2
	var changes []domain.Change
	for n := 1; n <= 3; n++ {
		changes = append(changes, customers.change(customers.add(erpCustomer(n))))
	}

	tally := e.dispatch("organisations", changes...)

	assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 3}, tally.Actions)
	assert.Equal(t, 2, orgs.count("batch"), "three records, two a batch")
	assert.Zero(t, orgs.count("create"))
	require.Equal(t, 3, orgs.size())
	for _, ch := range changes {
		st := e.link(erpLink(ch.ID))
		assert.Equal(t, domain.StateOK, st.State)
		org := orgs.get(st.CrmID)
		require.NotNil(t, org, ch.ID)
		assert.Equal(t, erpLink(ch.ID), org["OrganisationCustom15"])
		assert.Equal(t, customers.get(ch.ID)["name"], org["OrganisationName"])
		assert.Equal(t, "Danmark", org["OrganisationCountry"])
		assert.Equal(t, org["OrganisationUpdatedAt"], st.CrmVersion, "the version of the created record, so its poll is skipped")
	}
	for _, ch := range changes {
		st := e.link(erpLink(ch.ID))
		assert.Equal(t, erpLink(ch.ID), e.links.aliasOf(orgLink(st.CrmID)),
			"a webCRM record gets its index entry at once: a delete hook names it by id alone")
	}
}

// TestRecordsABatchDidNotCreateGoToTheirLinks: a record a batch left out is
// handed to its link, which creates it on its own or records why it cannot;
// a batch refused as a whole sends every record there.
func TestRecordsABatchDidNotCreateGoToTheirLinks(t *testing.T) {
	t.Run("one left out, created by its link", func(t *testing.T) {
		e := newEnv(t)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		a, b := customers.add(erpCustomer(1)), customers.add(erpCustomer(2))
		orgs.fault = func(op, key string) error {
			if op == "batch" && key == erpLink(b) {
				return clientErr(Validation, "row 2: refused")
			}
			return nil
		}

		tally := e.dispatch("organisations", customers.change(a), customers.change(b))

		assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 2}, tally.Actions)
		assert.Equal(t, 1, orgs.count("batch"))
		assert.Equal(t, 1, orgs.count("create"), "the left-out record is created by its link alone")
		assert.Equal(t, 1, e.links.count("apply"))
		assert.Equal(t, 2, orgs.size())
		assert.Equal(t, domain.StateOK, e.link(erpLink(b)).State)
	})
	t.Run("one left out that cannot be created", func(t *testing.T) {
		e := newEnv(t)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		a, b := customers.add(erpCustomer(1)), customers.add(erpCustomer(2))
		orgs.fault = func(op, key string) error {
			if key == erpLink(b) {
				return clientErr(Validation, "OrganisationName: refused")
			}
			return nil
		}

		tally := e.dispatch("organisations", customers.change(a), customers.change(b))

		assert.Equal(t, 1, tally.Failed)
		assert.Equal(t, []string{erpLink(b)}, tally.FailedLinks)
		st := e.link(erpLink(b))
		assert.Equal(t, domain.StateError, st.State)
		assert.Contains(t, st.Reason, "OrganisationName: refused")
		assert.Equal(t, Validation, e.eng.Classify(e.links.lastErr(erpLink(b))).Class)
		assert.Equal(t, 1, orgs.size())
	})
	t.Run("the whole batch refused", func(t *testing.T) {
		e := newEnv(t)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		a, b := customers.add(erpCustomer(1)), customers.add(erpCustomer(2))
		orgs.rejectBatch = "400: the request was refused"

		tally := e.dispatch("organisations", customers.change(a), customers.change(b))

		assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 2}, tally.Actions)
		assert.Equal(t, 2, orgs.count("create"), "each record goes to its link, which creates it alone")
		assert.Equal(t, 2, orgs.size())
		assert.Contains(t, e.logs.String(), "a batch of creates was refused")
	})
}

// TestABatchOfNewRecordsIsWrittenWithoutALookUpOfItsTokens: the merge
// index, brought up to date for the dispatch, holds no record carrying the
// batch's tokens, so the batch is written without looking them up. When the
// answer is lost, the next dispatch's refresh finds the records the batch
// made, and the batch looks its tokens up instead of making them twice.
func TestABatchOfNewRecordsIsWrittenWithoutALookUpOfItsTokens(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	var changes []domain.Change
	for n := 1; n <= 3; n++ {
		// No VAT number: nothing to match, so the next dispatch creates again.
		c := erpCustomer(n)
		delete(c, "organisationNumber")
		changes = append(changes, customers.change(customers.add(c)))
	}
	orgs.lostBatchAnswer = clientErr(Unavailable, "connection reset after the request was sent")

	_, err := e.eng.Dispatch(context.Background(), "organisations", changes)

	require.Error(t, err)
	assert.Zero(t, orgs.count("batch-lookup"), "the index stood in for the look-up")
	assert.Equal(t, 3, orgs.size(), "the lost batch was carried out")

	orgs.lostBatchAnswer = nil
	tally := e.dispatch("organisations", changes...)

	assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 3}, tally.Actions)
	assert.Equal(t, 1, orgs.count("batch-lookup"), "the index holds the tokens: the batch looks them up")
	assert.Equal(t, 3, orgs.size(), "no record is made twice")
	for _, ch := range changes {
		st := e.link(erpLink(ch.ID))
		assert.Equal(t, erpLink(ch.ID), orgs.get(st.CrmID)["OrganisationCustom15"])
	}

	// A side without a normalised merge index looks the tokens up.
	e.noIndex["organisations/webcrm"] = true
	fresh := erpCustomer(4)
	delete(fresh, "organisationNumber")
	e.dispatch("organisations", customers.change(customers.add(fresh)))
	assert.Equal(t, 2, orgs.count("batch-lookup"))
	assert.Equal(t, 4, orgs.size())
}

// TestABatchCreateThatFailsFailsTheDispatch: when nothing is known of what a
// batch did, the dispatch fails (its caller retries it) and no link starts.
func TestABatchCreateThatFailsFailsTheDispatch(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	orgs.fails["batch"] = clientErr(Unavailable, "503 Service Unavailable")
	a, b := customers.add(erpCustomer(1)), customers.add(erpCustomer(2))

	_, err := e.eng.Dispatch(context.Background(), "organisations", []domain.Change{customers.change(a), customers.change(b)})

	require.Error(t, err)
	assert.Contains(t, err.Error(), "create 2 webCRM Organisations in one batch")
	assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
	assert.Empty(t, e.links.started)
	assert.Zero(t, e.links.count("apply"), "not replaced by creates of another kind")
	assert.Zero(t, orgs.size())
}

// TestFirstContactMatchesOneCounterpartThroughTheNormalisedIndex: "DK
// 12.34-56 78" and "dk12345678" are one VAT number: the records are linked,
// not duplicated, and the counterpart gets an index entry.
func TestFirstContactMatchesOneCounterpartThroughTheNormalisedIndex(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	cust := erpCustomer(1)
	cust["organisationNumber"] = "dk12345678"
	cust["name"] = "Fjord Tech 1 A/S"
	delete(cust, "phone")
	cid := customers.add(cust)
	org := crmOrg(1)
	org["OrganisationVatNumber"] = "DK 12.34-56 78"
	oid := orgs.add(org)

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
	assert.Equal(t, 1, customers.size(), "no second customer")
	assert.Zero(t, customers.count("create"))
	assert.Zero(t, customers.count("find"), "the index answered")
	st := e.link(erpLink(cid))
	assert.Equal(t, oid, st.CrmID)
	assert.Equal(t, domain.StateOK, st.State)
	assert.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(oid)), "the pair lives under the smaller link ID")
	assert.Equal(t, "+45 11 22 33 01", customers.get(cid)["phone"], "the merge fills what the ERP lacks")
}

// TestTwinsPutTheLinkInErrorNamingBoth: two unlinked counterparts by the merge
// criteria: nothing is linked or created, and the reason names both.
func TestTwinsPutTheLinkInErrorNamingBoth(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	a, b := erpCustomer(1), erpCustomer(2)
	a["organisationNumber"], b["organisationNumber"] = "DK31000001", "dk 3100 0001"
	ca, cb := customers.add(a), customers.add(b)
	oid := orgs.add(crmOrg(1))

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionError: 1}, tally.Actions)
	assert.Equal(t, 1, tally.Failed)
	assert.Equal(t, []string{orgLink(oid)}, tally.FailedLinks)
	st := e.link(orgLink(oid))
	assert.Equal(t, domain.StateError, st.State)
	assert.Contains(t, st.Reason, "2 ERP customers records match by vat-number ("+ca+", "+cb+")")
	assert.Empty(t, st.ErpID)
	assert.Equal(t, 2, customers.size())
	assert.Empty(t, e.links.aliasOf(erpLink(ca)))
}

// TestIndexUnavailableDecidesNothing: when the index cannot answer for now, a
// first contact neither matches nor creates (it might create a twin of what
// the index would find): the link records a retryable error.
func TestIndexUnavailableDecidesNothing(t *testing.T) {
	t.Run("webCRM record, ERP index down", func(t *testing.T) {
		e := newEnv(t)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		customers.fails["index"] = clientErr(Unavailable, "502 Bad Gateway")
		oid := orgs.add(crmOrg(1))

		tally := e.dispatch("organisations", orgs.change(oid))

		assert.Equal(t, 1, tally.Failed)
		assert.Zero(t, customers.size())
		assert.Zero(t, customers.count("find"), "no fallback on equality look-ups")
		st := e.link(orgLink(oid))
		assert.Equal(t, domain.StateError, st.State)
		assert.Contains(t, st.Reason, "index organisations erp merge values")
		assert.Equal(t, Unavailable, e.eng.Classify(e.links.lastErr(orgLink(oid))).Class)
	})
	t.Run("ERP records, webCRM index rate limited", func(t *testing.T) {
		e := newEnv(t)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		orgs.fails["index"] = &apiError{class: RateLimited, msg: "429", retry: 7e9}
		cid := customers.add(erpCustomer(1))

		_, err := e.eng.Dispatch(context.Background(), "organisations", []domain.Change{customers.change(cid)})

		require.Error(t, err)
		c := e.eng.Classify(err)
		assert.Equal(t, RateLimited, c.Class)
		assert.Equal(t, 7e9, float64(c.RetryAfter))
		assert.Zero(t, orgs.size())
		assert.Empty(t, e.links.started)
	})
}

// TestIndexBrokenOrMissingFallsBackOnEqualityLookUps: an index that answers
// something unusable, or a side without one, leaves matching to equality
// look-ups of the value as it is and normalised.
func TestIndexBrokenOrMissingFallsBackOnEqualityLookUps(t *testing.T) {
	for name, setup := range map[string]func(e *env){
		"broken":  func(e *env) { e.erp["customers"].fails["index"] = clientErr(Transient, "unexpected end of JSON input") },
		"missing": func(e *env) { e.noIndex["organisations/erp"] = true },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			setup(e)
			orgs, customers := e.crm["Organisations"], e.erp["customers"]
			cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
			org := crmOrg(1)
			org["OrganisationVatNumber"] = " dk 3100-0001 "
			oid := orgs.add(org)

			tally := e.dispatch("organisations", orgs.change(oid))

			assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
			assert.Equal(t, oid, e.link(erpLink(cid)).CrmID)
			assert.Equal(t, 2, customers.count("find"), "the value as it is, then normalised")
			assert.Equal(t, 1, customers.size())
		})
	}
	t.Run("broken webCRM index in a batch", func(t *testing.T) {
		e := newEnv(t)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		orgs.fails["index"] = clientErr(Validation, "400: bad script")
		oid := orgs.add(crmOrg(1))
		cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})

		tally := e.dispatch("organisations", customers.change(cid))

		assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
		assert.Equal(t, oid, e.link(erpLink(cid)).CrmID)
		assert.Contains(t, e.logs.String(), "each first contact looks on its own")
		assert.Contains(t, e.logs.String(), "matching by equal values only")
		assert.Zero(t, orgs.count("getmany"))
		assert.Equal(t, 1, orgs.count("find"), "DK31000001 is already normalised: one look-up")
	})
}

// TestAFirstContactWithATokenGoesToTheLinkThatCreatedIt: a record tandem
// created carries its link's ID; delivered to a link of its own (a hook, a
// resync), it makes that link an index entry of the one that created it,
// which applies the change.
func TestAFirstContactWithATokenGoesToTheLinkThatCreatedIt(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	customers := e.erp["customers"]
	customers.edit(cid, map[string]any{"phone": "+45 99 88 77 66"})

	out, err := e.links.Apply(context.Background(), "organisations", customers.change(cid))

	require.NoError(t, err)
	assert.Equal(t, domain.ActionUpdated, out.Action)
	assert.Equal(t, orgLink(oid), e.links.aliasOf(erpLink(cid)), "the record's own link retired into the home")
	assert.Equal(t, domain.ActionForwarded, e.links.result(erpLink(cid)).Outcome.Action)
	assert.Equal(t, "+45 99 88 77 66", e.crm["Organisations"].get(oid)["OrganisationTelephone"])
	assert.Equal(t, 1, customers.size())
	assert.Equal(t, 1, e.crm["Organisations"].size())
}

// TestALinkClaimedFromBothEndsSettlesOnTheSmallerID: two links that claim one
// pair settle on the smaller workflow ID, from either end.
func TestALinkClaimedFromBothEndsSettlesOnTheSmallerID(t *testing.T) {
	t.Run("the other record's link is the smaller", func(t *testing.T) {
		e := newEnv(t)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
		// The customer's own first contact is under way in its link.
		e.links.seed(erpLink(cid), domain.LinkState{ErpID: cid, State: domain.StatePending})
		oid := orgs.add(crmOrg(1))

		tally := e.dispatch("organisations", orgs.change(oid))

		assert.Equal(t, 1, tally.Dispatched)
		assert.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(oid)), "the first contact became an index entry")
		st := e.link(erpLink(cid))
		assert.Equal(t, oid, st.CrmID)
		assert.Equal(t, domain.StateOK, st.State)
		assert.Equal(t, "+45 11 22 33 01", customers.get(cid)["phone"], "the change was applied at the home")
		assert.Equal(t, 1, customers.size())
		assert.Empty(t, e.links.started)
	})
	t.Run("this record's link is the smaller", func(t *testing.T) {
		e := newEnv(t)
		orgs, customers := e.crm["Organisations"], e.erp["customers"]
		oid := orgs.add(crmOrg(1))
		e.links.seed(orgLink(oid), domain.LinkState{CrmID: oid, State: domain.StatePending})
		cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})

		tally := e.dispatch("organisations", customers.change(cid))

		assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
		assert.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(oid)), "the larger link retired into this one")
		assert.Equal(t, oid, e.link(erpLink(cid)).CrmID)
		assert.Equal(t, 1, orgs.size())
	})
}

// TestERPRecordsThePairingsFilterRejectsAreNotItsRecords: an employee contact
// is no person: delivered to persons it is skipped with the reason; and a
// user is not matched to a person contact of the same e-mail.
func TestERPRecordsThePairingsFilterRejectsAreNotItsRecords(t *testing.T) {
	t.Run("skipped", func(t *testing.T) {
		e := newEnv(t)
		contacts := e.erp["contacts"]
		id := contacts.add(erpContact(1, "employee", ""))

		tally := e.dispatch("persons", contacts.change(id))

		assert.Equal(t, map[string]int{domain.ActionSkipped: 1}, tally.Actions)
		st := e.link(domain.LinkWorkflowID("persons", domain.ERP, id))
		assert.Equal(t, domain.StateOK, st.State)
		assert.Equal(t, "not a record of this pairing", st.Reason)
		assert.Zero(t, e.crm["Persons"].size())
	})
	for name, setup := range map[string]func(e *env){
		"through the index":      func(*env) {},
		"by equality look-ups":   func(e *env) { e.noIndex["users/erp"] = true },
		"index broken, fallback": func(e *env) { e.erp["contacts"].fails["index"] = clientErr(Transient, "garbled") },
	} {
		t.Run("not a candidate "+name, func(t *testing.T) {
			e := newEnv(t)
			setup(e)
			contacts := e.erp["contacts"]
			person := erpContact(1, "person", "")
			person["email"] = "ann1@tandem.example"
			pid := contacts.add(person)
			uid := e.crm["Users"].add(map[string]any{"UserName": "Ann Bø Ås", "UserEmail": "ann1@tandem.example", "UserTitle": "Sales"})

			tally := e.dispatch("users", e.crm["Users"].change(uid))

			assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
			st := e.link(domain.LinkWorkflowID("users", domain.WebCRM, uid))
			require.NotEqual(t, pid, st.ErpID)
			emp := contacts.get(st.ErpID)
			assert.Equal(t, "employee", emp["contactType"])
			assert.Equal(t, "Ann Bø", emp["firstName"])
			assert.Equal(t, "Ås", emp["lastName"])
			assert.Equal(t, "person", contacts.get(pid)["contactType"])
		})
	}
}

// TestCreationRuleOrGateSkipsTheCreate: a first contact that may not create
// its counterpart is settled without one, with the reason.
func TestCreationRuleOrGateSkipsTheCreate(t *testing.T) {
	t.Run("users are not created in webCRM", func(t *testing.T) {
		e := newEnv(t)
		id := e.erp["contacts"].add(erpContact(1, "employee", ""))

		tally := e.dispatch("users", e.erp["contacts"].change(id))

		assert.Equal(t, map[string]int{domain.ActionSkipped: 1}, tally.Actions)
		st := e.link(domain.LinkWorkflowID("users", domain.ERP, id))
		assert.Equal(t, domain.StateOK, st.State)
		assert.Equal(t, "not created in webcrm: the users pairing creates records webcrm-to-erp only", st.Reason)
		assert.Zero(t, e.crm["Users"].size())
	})
	t.Run("orders are not created in webCRM, nor mapped", func(t *testing.T) {
		e := newEnv(t)
		orders := e.erp["orders"]
		id := orders.add(map[string]any{"orderNumber": "E-1", "customerId": "CU-9999", "status": "open", "currency": "DKK"})

		tally := e.dispatch("opportunities", orders.change(id))

		assert.Equal(t, map[string]int{domain.ActionSkipped: 1}, tally.Actions)
		st := e.link(domain.LinkWorkflowID("opportunities", domain.ERP, id))
		assert.Equal(t, "not created in webcrm: the opportunities pairing creates records webcrm-to-erp only", st.Reason)
		assert.Zero(t, e.links.count("ensure"), "its customer is not looked up")
		assert.Zero(t, e.crm["Opportunities"].size())
	})
	t.Run("the won-only gate", func(t *testing.T) {
		e := newEnvWith(t, editedSet(t, "opportunities.yaml", "gate: all", "gate: won-only"))
		org, cust := e.linkedOrg(1)
		opps := e.crm["Opportunities"]
		open := opps.add(crmOpp(1, org))
		wonRec := crmOpp(2, org)
		wonRec["OpportunityWinYesNo"] = true
		won := opps.add(wonRec)

		tally := e.dispatch("opportunities", opps.change(open), opps.change(won))

		assert.Equal(t, map[string]int{domain.ActionSkipped: 1, domain.ActionCreatedERP: 1}, tally.Actions)
		st := e.link(domain.LinkWorkflowID("opportunities", domain.WebCRM, open))
		assert.Equal(t, "not created in erp: the won-only gate holds it back", st.Reason)
		order := e.erp["orders"].get(e.link(domain.LinkWorkflowID("opportunities", domain.WebCRM, won)).ErpID)
		assert.Equal(t, "won", order["status"])
		assert.Equal(t, cust, order["customerId"])
		assert.Equal(t, 1, e.erp["orders"].size())
	})
}

// TestRequiredOnCreateMissingIsValidation: a counterpart the other side
// needs a value for that the record lacks is not created: a Validation error
// naming the property, recorded by the link.
func TestRequiredOnCreateMissingIsValidation(t *testing.T) {
	t.Run("ERP customer without a name", func(t *testing.T) {
		e := newEnv(t)
		org := crmOrg(1)
		delete(org, "OrganisationName")
		oid := e.crm["Organisations"].add(org)

		tally := e.dispatch("organisations", e.crm["Organisations"].change(oid))

		assert.Equal(t, 1, tally.Failed)
		st := e.link(orgLink(oid))
		assert.Equal(t, domain.StateError, st.State)
		assert.Contains(t, st.Reason, "cannot create the ERP customers counterpart of webcrm record "+oid+": webcrm has no value for name, which ERP customers needs")
		assert.Equal(t, Validation, e.eng.Classify(e.links.lastErr(orgLink(oid))).Class)
		assert.Zero(t, e.erp["customers"].count("create"))
	})
	t.Run("webCRM person without an organisation", func(t *testing.T) {
		e := newEnv(t)
		id := e.erp["contacts"].add(erpContact(1, "person", ""))

		tally := e.dispatch("persons", e.erp["contacts"].change(id))

		assert.Equal(t, 1, tally.Failed)
		link := domain.LinkWorkflowID("persons", domain.ERP, id)
		assert.Contains(t, e.link(link).Reason, "has no value for PersonOrganisationId")
		assert.True(t, e.eng.Classify(e.links.lastErr(link)).Class.Permanent())
		assert.Zero(t, e.crm["Persons"].count("batch"))
	})
}

// TestACandidateLinkedElsewhereIsNoMatch: a counterpart tandem created for
// another link (its token), one whose index entry names another link, or
// whose own link holds another record, is no candidate: the record gets a
// counterpart of its own.
func TestACandidateLinkedElsewhereIsNoMatch(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	_, tokened := e.linkedOrg(1) // carries organisation 1's link ID
	aliased := customers.add(map[string]any{"name": "A", "organisationNumber": "DK31000001"})
	require.NoError(t, e.links.RegisterAlias(context.Background(), "organisations", domain.ERP, aliased, orgLink("77")))
	holding := customers.add(map[string]any{"name": "B", "organisationNumber": "DK31000001"})
	e.links.seed(erpLink(holding), domain.LinkState{CrmID: "78", ErpID: holding, State: domain.StateOK})
	dup := crmOrg(1)
	dup["OrganisationName"] = "Fjord Tech 1 A/S (copy)"
	oid := orgs.add(dup)

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
	st := e.link(orgLink(oid))
	assert.NotContains(t, []string{tokened, aliased, holding}, st.ErpID)
	assert.Equal(t, 4, customers.size())
}

// TestAMatchedCandidateWhoseIndexEntryPointsHereIsFree: a counterpart whose
// index entry already names this link (an earlier attempt registered it) is
// still this link's match; a twin whose entry names another link is not.
func TestAMatchedCandidateWhoseIndexEntryPointsHereIsFree(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
	twin := customers.add(map[string]any{"name": "Fjord Tech 1", "organisationNumber": "DK 31 00 00 01"})
	oid := orgs.add(crmOrg(1))
	require.NoError(t, e.links.RegisterAlias(context.Background(), "organisations", domain.ERP, cid, orgLink(oid)))
	require.NoError(t, e.links.RegisterAlias(context.Background(), "organisations", domain.ERP, twin, orgLink("99")))

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
	assert.Equal(t, cid, e.link(orgLink(oid)).ErpID)
}

// TestFirstContactErrorsOfTheStores: a failed read of the matched record or
// a failed create leaves the link in error with the client's class.
func TestFirstContactErrorsOfTheStores(t *testing.T) {
	t.Run("create", func(t *testing.T) {
		e := newEnv(t)
		e.erp["customers"].fails["create"] = clientErr(Validation, "422: organisationNumber is invalid")
		oid := e.crm["Organisations"].add(crmOrg(1))

		e.dispatch("organisations", e.crm["Organisations"].change(oid))

		st := e.link(orgLink(oid))
		assert.Contains(t, st.Reason, "create ERP customers: 422: organisationNumber is invalid")
		assert.Equal(t, Validation, e.eng.Classify(e.links.lastErr(orgLink(oid))).Class)
	})
	t.Run("read of the match", func(t *testing.T) {
		e := newEnv(t)
		cid := e.erp["customers"].add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
		oid := e.crm["Organisations"].add(crmOrg(1))
		reads := 0
		e.erp["customers"].fault = func(op, key string) error {
			if op == "get" && key == cid {
				if reads++; reads > 1 { // the candidate check reads it first
					return clientErr(Unavailable, "connection reset")
				}
			}
			return nil
		}

		_, err := e.eng.Apply(context.Background(), domain.ApplyInput{Pairing: "organisations", LinkID: orgLink(oid),
			State: domain.LinkState{State: domain.StatePending}, Change: e.crm["Organisations"].change(oid)})

		require.Error(t, err)
		assert.Contains(t, err.Error(), "read matched ERP customers "+cid)
		assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
	})
	t.Run("look-up", func(t *testing.T) {
		e := newEnv(t)
		e.noIndex["organisations/erp"] = true
		e.erp["customers"].fails["find"] = clientErr(Unavailable, "503")
		oid := e.crm["Organisations"].add(crmOrg(1))

		e.dispatch("organisations", e.crm["Organisations"].change(oid))

		assert.Contains(t, e.link(orgLink(oid)).Reason, "look for a matching ERP customers by organisationNumber")
		assert.Zero(t, e.erp["customers"].size())
	})
}

// TestACandidateThatIsNotAMatchOnCloserLook: the index names candidates; the
// record read is what decides: one changed since the index read, or one that
// cannot be mapped, is no match; one a case-blind look-up finds twice is one
// match, not twins.
func TestACandidateThatIsNotAMatchOnCloserLook(t *testing.T) {
	t.Run("changed since the index read", func(t *testing.T) {
		e := newEnv(t)
		customers := e.erp["customers"]
		cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
		customers.fault = func(op, key string) error {
			if op == "get" && key == cid {
				customers.recs[cid]["organisationNumber"] = "DK99999999" // edited in the moment between
			}
			return nil
		}
		oid := e.crm["Organisations"].add(crmOrg(1))

		tally := e.dispatch("organisations", e.crm["Organisations"].change(oid))

		assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
		assert.NotEqual(t, cid, e.link(orgLink(oid)).ErpID)
	})
	t.Run("cannot be mapped", func(t *testing.T) {
		e := newEnv(t)
		oid, cid := e.linkedOrg(1)
		odd := erpContact(1, "person", cid)
		odd["email"], odd["active"] = "bo.berg1@fjord.example", "perhaps"
		kid := e.erp["contacts"].add(odd)
		pid := e.crm["Persons"].add(crmPerson(1, oid))

		tally := e.dispatch("persons", e.crm["Persons"].change(pid))

		assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
		assert.NotEqual(t, kid, e.link(personLink(domain.WebCRM, pid)).ErpID)
	})
	t.Run("found twice by a case-blind look-up", func(t *testing.T) {
		e := newEnv(t)
		e.crm["Organisations"].fails["index"] = clientErr(Transient, "garbled")
		oid := e.crm["Organisations"].add(crmOrg(1)) // DK31000001
		cust := erpCustomer(1)
		cust["organisationNumber"] = "dk31000001"
		cid := e.erp["customers"].add(cust)

		tally := e.dispatch("organisations", e.erp["customers"].change(cid))

		assert.Equal(t, 2, e.crm["Organisations"].count("find"), "as it is and normalised: both find it")
		assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
		assert.Equal(t, oid, e.link(erpLink(cid)).CrmID)
	})
}

// TestFirstContactErrorsOfTheLinks: a first contact that cannot reach the
// links it must look at or register decides nothing; its link records a
// retryable error.
func TestFirstContactErrorsOfTheLinks(t *testing.T) {
	down := errors.New("temporal: unavailable")
	t.Run("the candidate's link", func(t *testing.T) {
		e := newEnv(t)
		cid := e.erp["customers"].add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
		e.links.failID["inspect "+erpLink(cid)] = down
		oid := e.crm["Organisations"].add(crmOrg(1))

		e.dispatch("organisations", e.crm["Organisations"].change(oid))

		assert.ErrorIs(t, e.links.lastErr(orgLink(oid)), down)
		assert.Zero(t, e.erp["customers"].count("create"))
	})
	t.Run("the candidate's read", func(t *testing.T) {
		e := newEnv(t)
		cid := e.erp["customers"].add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
		e.erp["customers"].fault = func(op, key string) error {
			if op == "get" && key == cid {
				return clientErr(Unavailable, "502")
			}
			return nil
		}
		oid := e.crm["Organisations"].add(crmOrg(1))

		e.dispatch("organisations", e.crm["Organisations"].change(oid))

		assert.Equal(t, Unavailable, e.eng.Classify(e.links.lastErr(orgLink(oid))).Class)
		assert.Zero(t, e.erp["customers"].count("create"))
	})
	t.Run("the match's index entry", func(t *testing.T) {
		e := newEnv(t)
		oid := e.crm["Organisations"].add(crmOrg(1))
		e.links.failID["alias "+orgLink(oid)] = down
		cid := e.erp["customers"].add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})

		e.dispatch("organisations", e.erp["customers"].change(cid))

		assert.ErrorIs(t, e.links.lastErr(erpLink(cid)), down)
		assert.Equal(t, domain.StateError, e.link(erpLink(cid)).State)
		assert.Equal(t, 1, e.crm["Organisations"].size())
	})
	t.Run("the created record's index entry", func(t *testing.T) {
		e := newEnv(t)
		e.makePlain("Organisations")
		e.links.fails["alias"] = down
		cid := e.erp["customers"].add(erpCustomer(1))

		e.dispatch("organisations", e.erp["customers"].change(cid))

		assert.ErrorIs(t, e.links.lastErr(erpLink(cid)), down)
	})
	t.Run("the token's link", func(t *testing.T) {
		e := newEnv(t)
		_, cid := e.linkedOrg(1)
		e.links.failID["inspect "+orgLink("1")] = down

		out, err := e.links.Apply(context.Background(), "organisations", e.erp["customers"].change(cid))

		require.NoError(t, err)
		assert.Equal(t, domain.ActionError, out.Action)
		assert.ErrorIs(t, e.links.lastErr(erpLink(cid)), down)
	})
}

// customerOf is the ERP customer tandem creates for crmOrg(n), carrying
// token as its externalRef.
func customerOf(n int, token string) map[string]any {
	return map[string]any{
		"name":               fmt.Sprintf("Fjord Tech %d A/S", n),
		"organisationNumber": fmt.Sprintf("DK%08d", 31000000+n),
		"phone":              fmt.Sprintf("+45 11 22 33 %02d", n%100),
		"postalAddress": map[string]any{
			"line1": fmt.Sprintf("Havnegade %d", n), "line2": "2. th.", "postalCode": "8000", "city": "Aarhus", "countryCode": "DK", "state": nil,
		},
		"externalRef": token,
	}
}

// TestAMatchedRecordTheLinkCreatedItselfIsTheMergeBase: an earlier attempt
// created the ERP customer from the organisation as it was then, and its
// answer was lost; a person edited the organisation before that create
// landed. The retry matches the customer, which carries the link's own token:
// its values are what the link synced, so the edit is written to the ERP
// rather than lost to the customer's later stamp.
func TestAMatchedRecordTheLinkCreatedItselfIsTheMergeBase(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	oid := orgs.add(crmOrg(1))
	orgs.edit(oid, map[string]any{"OrganisationTelephone": "+45 99 88 77 66"})
	cid := customers.add(customerOf(1, orgLink(oid))) // landed after the edit

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
	assert.Equal(t, "+45 99 88 77 66", customers.get(cid)["phone"], "the edit made since the create reaches the ERP")
	assert.Equal(t, "+45 99 88 77 66", orgs.get(oid)["OrganisationTelephone"], "the create's older value is not written back")
	assert.Equal(t, 1, customers.size())
	st := e.link(orgLink(oid))
	assert.Equal(t, cid, st.ErpID)
	assert.Zero(t, st.Conflicts, "an edit on one side against its own create is no conflict")
}

// TestAMatchedRecordCarryingAnotherTokenIsNoBase: a match that only looks
// alike (no token of this link) is merged by the pairing's rules: no base,
// so the later stamp wins each field both hold differently.
func TestAMatchedRecordCarryingAnotherTokenIsNoBase(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	oid := orgs.add(crmOrg(1))
	orgs.edit(oid, map[string]any{"OrganisationTelephone": "+45 99 88 77 66"})
	cust := customerOf(1, "")
	delete(cust, "externalRef")
	cid := customers.add(cust)

	e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, "+45 11 22 33 01", orgs.get(oid)["OrganisationTelephone"], "the ERP's later value wins")
	assert.Equal(t, "+45 11 22 33 01", customers.get(cid)["phone"])
}

// TestACreateThatFindsItsEarlierAttemptMergesFromIt: an earlier attempt
// created the customer with the VAT number of then (its answer was lost);
// the number was corrected in webCRM since, so the retry matches nothing and
// creates again. The ERP answers with the customer the first attempt made
// (it carries the token), whose values differ from those sent: they become
// the base, and the correction is written to it.
func TestACreateThatFindsItsEarlierAttemptMergesFromIt(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	oid := orgs.add(crmOrg(1))
	cid := customers.add(customerOf(1, orgLink(oid)))
	orgs.edit(oid, map[string]any{"OrganisationVatNumber": "DK39999999"})

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
	assert.Equal(t, 1, customers.size())
	assert.Equal(t, "DK39999999", customers.get(cid)["organisationNumber"], "the correction reaches the customer the first attempt made")
	assert.Equal(t, "DK39999999", orgs.get(oid)["OrganisationVatNumber"])
	st := e.link(orgLink(oid))
	assert.Equal(t, cid, st.ErpID)
	assert.Equal(t, 2, st.Writes, "the create, then the write of the correction")

	// In step now: the next look writes nothing.
	e.dispatch("organisations", orgs.change(oid))
	assert.Equal(t, "DK39999999", customers.get(cid)["organisationNumber"])
	assert.Equal(t, 2, e.link(orgLink(oid)).Writes)
}

// TestABatchCreateThatFindsItsEarlierAttemptMergesFromIt: the webCRM
// organisation of ERP customer 1 was made by a batch whose answer was lost;
// the customer's number and phone were edited in the ERP since, so the retry
// matches nothing and creates again. The batch's look-up by token finds the
// organisation the first batch made, holding the values of then: they are
// the base, and the ERP's edits are written to it rather than undone.
func TestABatchCreateThatFindsItsEarlierAttemptMergesFromIt(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	cid := customers.add(erpCustomer(1))
	oid := orgs.add(firstBatchOrg(cid, "+45 20 30 40 01"))
	customers.edit(cid, map[string]any{"organisationNumber": "DK42999999", "phone": "+45 70 70 70 70"})

	tally := e.dispatch("organisations", customers.change(cid))

	assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 1}, tally.Actions)
	assert.Equal(t, 1, orgs.size())
	assert.Equal(t, "DK42999999", orgs.get(oid)["OrganisationVatNumber"])
	assert.Equal(t, "+45 70 70 70 70", orgs.get(oid)["OrganisationTelephone"])
	assert.Equal(t, "DK42999999", customers.get(cid)["organisationNumber"], "the ERP's edit is not undone")
	assert.Equal(t, "+45 70 70 70 70", customers.get(cid)["phone"])
	assert.Equal(t, oid, e.link(erpLink(cid)).CrmID)
}

// firstBatchOrg is the organisation an earlier batch made for ERP customer 1
// (erpCustomer(1), id cid), as webCRM holds it, with its telephone as given.
func firstBatchOrg(cid, phone string) map[string]any {
	return map[string]any{
		"OrganisationName": "Nordlys 1 ApS", "OrganisationVatNumber": "DK42000001",
		"OrganisationAddress": "Strandvejen 1", "OrganisationPostCode": "2900", "OrganisationCity": "Hellerup",
		"OrganisationCountry": "Danmark", "OrganisationTelephone": phone,
		"OrganisationCustom15": erpLink(cid),
	}
}

// TestARecordFoundAgainKeepsItsServersFormOfTheValues: as above, but webCRM
// stored the first batch's phone without its spaces, and only the number was
// edited in the ERP since. The number is written; the phone is webCRM's form
// of the customer's, not an edit: it is written to neither side.
func TestARecordFoundAgainKeepsItsServersFormOfTheValues(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	cid := customers.add(erpCustomer(1))
	oid := orgs.add(firstBatchOrg(cid, "+4520304001"))
	orgs.rewrite = func(prop string, v any) any {
		if s, ok := v.(string); ok && prop == "OrganisationTelephone" {
			return strings.ReplaceAll(s, " ", "")
		}
		return v
	}
	customers.edit(cid, map[string]any{"organisationNumber": "DK42999999"})
	customerWrites := customers.writes()

	tally := e.dispatch("organisations", customers.change(cid))

	assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 1}, tally.Actions)
	assert.Equal(t, 1, orgs.size())
	assert.Equal(t, "DK42999999", orgs.get(oid)["OrganisationVatNumber"])
	assert.Equal(t, "+4520304001", orgs.get(oid)["OrganisationTelephone"])
	assert.Equal(t, "+45 20 30 40 01", customers.get(cid)["phone"], "webCRM's form is not written back")
	assert.Equal(t, customerWrites, customers.writes(), "nothing to write to the customer")
	assert.Equal(t, [][]string{{"OrganisationVatNumber"}}, orgs.changed, "the phone is no edit to write")

	orgWrites := orgs.writes()
	e.dispatch("organisations", customers.change(cid))
	e.dispatch("organisations", orgs.change(oid))
	assert.Equal(t, orgWrites, orgs.writes(), "in step")
	assert.Equal(t, customerWrites, customers.writes(), "in step")
}

// TestAPairMatchedFromTheLargerEndLivesUnderTheSmallerID: an organisation
// meets its customer. The pair goes to the customer's link (the smaller ID)
// and the organisation becomes its index entry; no entry ever points from
// the customer to the organisation. A first contact of the customer made at
// the same moment registers the same entry, so the two can never point at
// each other.
func TestAPairMatchedFromTheLargerEndLivesUnderTheSmallerID(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
	e.links.failID["alias "+erpLink(cid)] = errors.New("an index entry from the smaller ID to the larger")
	oid := orgs.add(crmOrg(1))

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
	st := e.link(erpLink(cid))
	assert.Equal(t, oid, st.CrmID)
	assert.Equal(t, domain.StateOK, st.State)
	assert.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(oid)))
	assert.Empty(t, e.links.aliasOf(erpLink(cid)))
	assert.Equal(t, []string{erpLink(cid)}, e.links.started)
	assert.Equal(t, "+45 11 22 33 01", customers.get(cid)["phone"], "merged before the move")

	// The customer's own first contact, had it run at the same time, finds
	// the pair where it is.
	customers.edit(cid, map[string]any{"website": "fjord.example"})
	tally = e.dispatch("organisations", customers.change(cid))
	assert.Equal(t, map[string]int{domain.ActionUpdated: 1}, tally.Actions)
	assert.Equal(t, "fjord.example", orgs.get(oid)["OrganisationWww"])
	assert.Equal(t, 1, orgs.size())
	assert.Equal(t, 1, customers.size())
}

// TestAPairMatchedInsideTheLargerLinkRetiresIt: the organisation's own link
// runs (a hook started it) and meets the customer: its apply starts the
// customer's link with the pair and the organisation's link retires into it.
func TestAPairMatchedInsideTheLargerLinkRetiresIt(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
	oid := orgs.add(crmOrg(1))

	out, err := e.links.Apply(context.Background(), "organisations", orgs.change(oid))

	require.NoError(t, err)
	assert.Equal(t, domain.ActionMatched, out.Action)
	assert.Equal(t, erpLink(cid), out.Forward)
	assert.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(oid)), "the organisation's link retired")
	assert.Equal(t, oid, e.link(erpLink(cid)).CrmID)
	assert.Equal(t, 1, e.links.count("applyto")+len(e.links.started), "the pair reached the customer's link once")
}

// TestHandingAPairOnFailsWhenTheLinksDoNotAnswer: the match is made, but the
// customer's link cannot be started, or the organisation's index entry not
// registered: the organisation's link records a retryable error, nothing is
// created, and the next try hands the pair on.
func TestHandingAPairOnFailsWhenTheLinksDoNotAnswer(t *testing.T) {
	down := clientErr(Unavailable, "temporal: unavailable")
	for _, op := range []string{"start", "alias"} {
		t.Run(op, func(t *testing.T) {
			e := newEnv(t)
			orgs, customers := e.crm["Organisations"], e.erp["customers"]
			cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
			oid := orgs.add(crmOrg(1))
			target := erpLink(cid)
			if op == "alias" {
				target = orgLink(oid)
			}
			e.links.failID[op+" "+target] = down

			e.dispatch("organisations", orgs.change(oid))

			assert.ErrorIs(t, e.links.lastErr(orgLink(oid)), down)
			assert.Equal(t, Unavailable, e.eng.Classify(e.links.lastErr(orgLink(oid))).Class)
			assert.Equal(t, 1, customers.size())
			assert.Equal(t, 1, orgs.size())

			delete(e.links.failID, op+" "+target)
			_, err := e.links.Apply(context.Background(), "organisations", orgs.change(oid))
			require.NoError(t, err)
			assert.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(oid)))
			assert.Equal(t, oid, e.link(erpLink(cid)).CrmID)
			assert.Equal(t, 1, customers.size())
		})
	}
}
