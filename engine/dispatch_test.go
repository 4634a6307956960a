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

// TestAChangeTheLinkHasSeenIsSkippedWithoutAnApply: the link's memo names
// the version: one look, no delivery, no API call.
func TestAChangeTheLinkHasSeenIsSkippedWithoutAnApply(t *testing.T) {
	e := newEnv(t)
	oid, _ := e.linkedOrg(1)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	gets := orgs.count("get") + customers.count("get")
	applied := e.metrics.appliedN("organisations", domain.WebCRM, domain.ActionSeen)

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionSeen: 1}, tally.Actions)
	assert.Equal(t, 1, tally.Dispatched)
	assert.Zero(t, e.links.count("apply")+e.links.count("applyto"))
	assert.Equal(t, gets, orgs.count("get")+customers.count("get"))
	assert.Equal(t, applied, e.metrics.appliedN("organisations", domain.WebCRM, domain.ActionSeen), "no apply ran")
}

// TestAChangeOfAnIndexEntryGoesToItsHome: the record whose link is another's
// has its changes applied there. Matched from the webCRM end, the pair lives
// under the customer's link ID, the smaller, and the organisation is its
// index entry.
func TestAChangeOfAnIndexEntryGoesToItsHome(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
	oid := orgs.add(crmOrg(1))
	e.dispatch("organisations", orgs.change(oid)) // matched: the organisation is an index entry
	require.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(oid)))
	applied := e.link(erpLink(cid)).Applied

	orgs.edit(oid, map[string]any{"OrganisationWww": "fjord.example"})
	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionUpdated: 1}, tally.Actions)
	assert.Equal(t, "fjord.example", customers.get(cid)["website"])
	assert.Equal(t, applied+1, e.link(erpLink(cid)).Applied)
	_, own := e.links.state(orgLink(oid))
	assert.False(t, own, "no link of its own")
}

// TestATokenLeadsAChangeToTheLinkThatCreatedTheRecord: a record tandem
// created carries its link's ID, which routes its changes there (or skips
// them as seen) without an index entry of its own.
func TestATokenLeadsAChangeToTheLinkThatCreatedTheRecord(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]

	looks := e.links.count("inspect")
	seen := e.dispatch("organisations", customers.change(cid))
	assert.Equal(t, map[string]int{domain.ActionSeen: 1}, seen.Actions, "the create's own version")
	assert.Zero(t, e.links.count("applyto"))
	assert.Equal(t, looks+1, e.links.count("inspect"), "one look, at the link it names")

	customers.edit(cid, map[string]any{"website": "fjord.example"})
	tally := e.dispatch("organisations", customers.change(cid))

	assert.Equal(t, map[string]int{domain.ActionUpdated: 1}, tally.Actions)
	assert.Equal(t, 1, e.links.count("applyto"))
	assert.Equal(t, "fjord.example", orgs.get(oid)["OrganisationWww"])
	assert.Empty(t, e.links.aliasOf(erpLink(cid)), "still no index entry")
	_, own := e.links.state(erpLink(cid))
	assert.False(t, own)
}

// TestARecordMetBeforeItsCreatorsLinkRunsIsThatLinks: the link that creates a
// record starts only once its first contact is done, moments after the create.
// A poll of the other side that meets the record in between must not take it
// for unlinked: its first contact would match the creator's record and claim
// the pair, the creator's link would forward to the claimer, and the claimer
// to the creator (the record carries its token), each an index entry of the
// other. The change goes to the creator's link, which is started with it.
func TestARecordMetBeforeItsCreatorsLinkRunsIsThatLinks(t *testing.T) {
	e := newEnv(t)
	oid := e.crm["Organisations"].add(crmOrg(9))
	// The creator's customer, made by its first contact; its link has not
	// started yet.
	c := erpCustomer(9)
	c["name"] = crmOrg(9)["OrganisationName"]
	c["organisationNumber"] = crmOrg(9)["OrganisationVatNumber"]
	c["externalRef"] = orgLink(oid)
	cid := e.erp["customers"].add(c)

	tally := e.dispatch("organisations", e.erp["customers"].change(cid))

	assert.Zero(t, tally.Failed)
	st := e.link(orgLink(oid))
	assert.Equal(t, oid, st.CrmID, "the creator's link holds the pair")
	assert.Equal(t, cid, st.ErpID)
	_, own := e.links.state(erpLink(cid))
	assert.False(t, own, "no second link claims the pair")
	assert.Empty(t, e.links.aliasOf(orgLink(oid)), "the creator's link is no index entry")

	// The creator starting its link finds it running and applies its change there.
	tally = e.dispatch("organisations", e.crm["Organisations"].change(oid))
	assert.Zero(t, tally.Failed)
	assert.Equal(t, cid, e.link(orgLink(oid)).ErpID)
	assert.Equal(t, 1, e.erp["customers"].size(), "no second customer")
}

// TestATokenThatLeadsNowhereUsefulIsAFirstContact: a token of another
// pairing, of a link that holds another record, or a record that cannot be
// read, does not route the change.
func TestATokenThatLeadsNowhereUsefulIsAFirstContact(t *testing.T) {
	t.Run("another pairing's link", func(t *testing.T) {
		e := newEnv(t)
		c := erpCustomer(1)
		c["externalRef"] = "link/persons/webcrm/5"
		cid := e.erp["customers"].add(c)

		tally := e.dispatch("organisations", e.erp["customers"].change(cid))

		assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 1}, tally.Actions)
	})
	t.Run("a link holding another record", func(t *testing.T) {
		e := newEnv(t)
		e.links.seed(orgLink("5"), domain.LinkState{CrmID: "5", ErpID: "CU-0001", State: domain.StateOK})
		c := erpCustomer(1)
		c["externalRef"] = orgLink("5")
		cid := e.erp["customers"].add(c)

		tally := e.dispatch("organisations", e.erp["customers"].change(cid))

		assert.Equal(t, map[string]int{domain.ActionCreatedWebCRM: 1}, tally.Actions)
		assert.Equal(t, "CU-0001", e.link(orgLink("5")).ErpID)
	})
	t.Run("a record that cannot be read", func(t *testing.T) {
		e := newEnv(t)
		ch := domain.Change{Side: domain.ERP, ID: "CU-1001", Version: "3", Record: json.RawMessage(`{"id":"CU-1001",`)}

		tally := e.dispatch("organisations", ch)

		assert.Equal(t, 1, tally.Failed)
		assert.Contains(t, e.link(erpLink("CU-1001")).Reason, "decode delivered ERP customers record")
	})
	t.Run("the token's link out of reach", func(t *testing.T) {
		e := newEnv(t)
		_, cid := e.linkedOrg(1)
		e.links.failID["inspect "+orgLink("1")] = errors.New("deadline exceeded")

		_, err := e.eng.Dispatch(context.Background(), "organisations", []domain.Change{e.erp["customers"].change(cid)})

		assert.Error(t, err)
	})
}

// TestFirstContactsAreOnlyForUnlinkedRecords: in one batch, changes of linked
// records go to their links (or are seen) and only the new record has a
// first contact; a batch of linked records reads no index at all.
func TestFirstContactsAreOnlyForUnlinkedRecords(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	a, _ := e.linkedOrg(1)
	b, _ := e.linkedOrg(2)
	orgs.edit(a, map[string]any{"OrganisationCity": "Viborg"})
	fresh := orgs.add(crmOrg(3))
	index := customers.count("index")

	tally := e.dispatch("organisations", orgs.change(a), orgs.change(b), orgs.change(fresh))

	assert.Equal(t, map[string]int{domain.ActionUpdated: 1, domain.ActionSeen: 1, domain.ActionCreatedERP: 1}, tally.Actions)
	assert.Equal(t, []string{orgLink(a), orgLink(b), orgLink(fresh)}, e.links.started)
	assert.Equal(t, 1, e.links.count("apply"))
	assert.Equal(t, index+1, customers.count("index"))

	index = customers.count("index")
	e.dispatch("organisations", orgs.change(b), orgs.change(fresh))
	assert.Equal(t, index, customers.count("index"), "nothing to match: no look-up")
	assert.Zero(t, orgs.count("getmany"), "webCRM records were never candidates")
}

// TestABatchOfFirstContactsSharesOneIndexRefreshAndOneRead: the webCRM index
// is brought up to date once for a batch of ERP records, and the candidates
// it names are read in one request, whatever the concurrency.
func TestABatchOfFirstContactsSharesOneIndexRefreshAndOneRead(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	oid := orgs.add(crmOrg(1))
	twin := erpCustomer(1)
	twin["organisationNumber"] = "dk 31000001"
	var changes []domain.Change
	changes = append(changes, customers.change(customers.add(twin)))
	for n := 2; n <= 5; n++ {
		changes = append(changes, customers.change(customers.add(erpCustomer(n))))
	}

	tally, err := e.eng.WithConcurrency(4).Dispatch(context.Background(), "organisations", changes)

	require.NoError(t, err)
	assert.Equal(t, map[string]int{domain.ActionMatched: 1, domain.ActionCreatedWebCRM: 4}, tally.Actions)
	assert.Equal(t, oid, e.link(erpLink(changes[0].ID)).CrmID)
	assert.Equal(t, 1, orgs.count("index"), "one refresh for the batch")
	assert.Equal(t, 1, orgs.count("getmany"), "one read of the candidates")
	assert.Zero(t, orgs.count("get"), "the candidate came from the batch's read")
	assert.Equal(t, 1, orgs.count("batch"), "four creates in one request")
	assert.Equal(t, 5, orgs.size())
	assert.Positive(t, e.beats.Load(), "progress is reported")

	// The next batch refreshes the index from where it stopped.
	next := customers.add(erpCustomer(6))
	e.dispatch("organisations", customers.change(next))
	assert.Equal(t, 2, orgs.count("index"))
}

// TestAPrefetchThatFailsFailsTheDispatch: the candidates the index named
// cannot be read: nothing is decided.
func TestAPrefetchThatFailsFailsTheDispatch(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	orgs.add(crmOrg(1))
	twin := erpCustomer(1)
	twin["organisationNumber"] = "DK31000001"
	cid := customers.add(twin)
	orgs.fails["getmany"] = clientErr(Unavailable, "502")

	_, err := e.eng.Dispatch(context.Background(), "organisations", []domain.Change{customers.change(cid)})

	require.Error(t, err)
	assert.Contains(t, err.Error(), "prefetch 1 webCRM Organisations match candidates")
	assert.Empty(t, e.links.started)
}

// TestALinkStartedMeanwhileGetsTheChange: when a link appears under the
// record's ID while its first contact runs, the change is delivered to it,
// which finds the counterpart the first contact created (it carries the
// link's token): one record.
func TestALinkStartedMeanwhileGetsTheChange(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	oid := orgs.add(crmOrg(1))
	customers.fault = func(op, _ string) error {
		if op == "create" && customers.calls["create"] == 1 {
			e.links.seed(orgLink(oid), domain.LinkState{CrmID: oid, State: domain.StatePending})
		}
		return nil
	}

	tally := e.dispatch("organisations", orgs.change(oid))

	assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
	assert.Empty(t, e.links.started, "the start was refused")
	assert.Equal(t, 1, e.links.count("apply"))
	assert.Equal(t, 1, customers.size())
	assert.Equal(t, 1, customers.count("create"))
	assert.Equal(t, domain.StateOK, e.link(orgLink(oid)).State)
}

// TestDispatchFailsWhenADeliveryFails: a change that could not be delivered
// fails the dispatch, so that no watermark passes it.
func TestDispatchFailsWhenADeliveryFails(t *testing.T) {
	down := clientErr(Unavailable, "temporal: connection refused")
	cases := map[string]func(e *env) domain.Change{
		"inspect": func(e *env) domain.Change {
			e.links.fails["inspect"] = down
			return e.crm["Organisations"].change(e.crm["Organisations"].add(crmOrg(1)))
		},
		"apply": func(e *env) domain.Change {
			oid, _ := e.linkedOrg(1)
			e.crm["Organisations"].edit(oid, map[string]any{"OrganisationCity": "Viborg"})
			e.links.fails["apply"] = down
			return e.crm["Organisations"].change(oid)
		},
		"start": func(e *env) domain.Change {
			e.links.fails["start"] = down
			return e.crm["Organisations"].change(e.crm["Organisations"].add(crmOrg(1)))
		},
		"batch link": func(e *env) domain.Change {
			e.links.fails["start"] = down
			return e.erp["customers"].change(e.erp["customers"].add(erpCustomer(1)))
		},
		"forward": func(e *env) domain.Change {
			// The organisation carries the token of the customer's link,
			// which created it (found on its first contact: the change
			// delivers no record), and its index entry cannot be registered.
			cid := e.erp["customers"].add(map[string]any{"name": "X", "organisationNumber": "DK31000001"})
			org := crmOrg(1)
			org["OrganisationCustom15"] = erpLink(cid)
			oid := e.crm["Organisations"].add(org)
			e.links.failID["alias "+orgLink(oid)] = down
			ch := e.crm["Organisations"].change(oid)
			ch.Record = nil
			return ch
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			ch := setup(e)
			_, err := e.eng.Dispatch(context.Background(), "organisations", []domain.Change{ch})
			require.ErrorIs(t, err, down)
		})
	}
	t.Run("unknown pairing", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.eng.Dispatch(context.Background(), "leads", nil)
		require.Error(t, err)
		assert.Equal(t, Validation, e.eng.Classify(err).Class)
	})
}

// TestTallyKeepsTenFailedLinks: a batch of failures names at most ten links.
func TestTallyKeepsTenFailedLinks(t *testing.T) {
	var tl Tally
	for i := range 12 {
		tl.add(orgLink(string(rune('a'+i))), domain.Outcome{Action: domain.ActionBlocked, State: domain.StateBlocked})
	}
	tl.add(orgLink("z"), domain.Outcome{Action: domain.ActionNoop, State: domain.StateOK})
	assert.Equal(t, 13, tl.Dispatched)
	assert.Equal(t, 12, tl.Failed)
	assert.Len(t, tl.FailedLinks, 10)
	assert.Equal(t, map[string]int{domain.ActionBlocked: 12, domain.ActionNoop: 1}, tl.Actions)
}

// TestACancelledDispatchStopsWithTheContextsError: once the context is done
// (the activity is cancelled) no further change is delivered, and the
// dispatch fails with the context's error.
func TestACancelledDispatchStopsWithTheContextsError(t *testing.T) {
	e := newEnv(t)
	a, ca := e.linkedOrg(1)
	b, cb := e.linkedOrg(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.erp["customers"].fault = func(op, id string) error {
		if op == "update" && id == ca {
			cancel() // while the first change is written
		}
		return nil
	}
	for _, id := range []string{a, b} {
		e.crm["Organisations"].edit(id, map[string]any{"OrganisationCity": "Viborg"})
	}

	_, err := e.eng.Dispatch(ctx, "organisations", []domain.Change{e.crm["Organisations"].change(a), e.crm["Organisations"].change(b)})

	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "Viborg", e.erp["customers"].get(ca)["postalAddress"].(map[string]any)["city"], "the change under way ends")
	assert.Equal(t, "Aarhus", e.erp["customers"].get(cb)["postalAddress"].(map[string]any)["city"], "the next is not delivered")
}

// TestTheEchoOfARecordCreatedInWebCRMIsSkippedWithoutWakingItsLink: a record
// tandem created in webCRM has an index entry and carries its link's ID; the
// poll that reads it back finds, with one look (at that link, not at the
// entry too), that it has synced this version, and delivers nothing. Its
// next edit is delivered.
func TestTheEchoOfARecordCreatedInWebCRMIsSkippedWithoutWakingItsLink(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	cid := customers.add(map[string]any{"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001"})
	e.dispatch("organisations", customers.change(cid))
	st := e.link(erpLink(cid))
	require.NotEmpty(t, st.CrmID, "created in webCRM")
	require.Equal(t, erpLink(cid), e.links.aliasOf(orgLink(st.CrmID)), "with an index entry")
	delivered := e.links.count("apply") + e.links.count("applyto")
	looks := e.links.count("inspect")

	echo := e.dispatch("organisations", orgs.change(st.CrmID))

	assert.Equal(t, map[string]int{domain.ActionSeen: 1}, echo.Actions)
	assert.Equal(t, delivered, e.links.count("apply")+e.links.count("applyto"), "nothing delivered")
	assert.Equal(t, looks+1, e.links.count("inspect"), "one look")

	orgs.edit(st.CrmID, map[string]any{"OrganisationWww": "fjord.example"})
	edit := e.dispatch("organisations", orgs.change(st.CrmID))
	assert.Equal(t, map[string]int{domain.ActionUpdated: 1}, edit.Actions)
	assert.Equal(t, "fjord.example", customers.get(cid)["website"])
}
