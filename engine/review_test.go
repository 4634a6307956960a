package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
)

// newReviewEnv is an env whose organisations pairing holds first contacts
// for review.
func newReviewEnv(t *testing.T) *env {
	return newEnvWith(t, editedSet(t, "organisations.yaml", "\ndelete:", "\nreview: true\ndelete:"))
}

// decide sends an operator's decision on a record's first contact to its
// link.
func (e *env) decide(side domain.Side, id, review, choose string) domain.Outcome {
	e.t.Helper()
	out, err := e.links.Apply(context.Background(), "organisations",
		domain.Change{Side: side, ID: id, Source: domain.SourceReview, Review: review, Choose: choose})
	require.NoError(e.t, err)
	return out
}

// TestReviewHoldsACreateUntilApproved: with review on, a record with no
// counterpart waits in a pending link that says what approving would do;
// polls of it write nothing; approving creates the counterpart once.
func TestReviewHoldsACreateUntilApproved(t *testing.T) {
	e := newReviewEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	id := orgs.add(crmOrg(1))

	tally := e.dispatch("organisations", orgs.change(id))
	assert.Equal(t, map[string]int{domain.ActionHeld: 1}, tally.Actions)
	st := e.link(orgLink(id))
	assert.Equal(t, domain.StatePending, st.State)
	assert.Contains(t, st.Reason, "awaiting review: nothing in ERP customers matches it; approving creates it there")
	assert.Zero(t, customers.size(), "nothing is written while the link waits")

	orgs.edit(id, map[string]any{"OrganisationCity": "Odense"})
	e.dispatch("organisations", orgs.change(id))
	assert.Zero(t, customers.size(), "a later change of a held record writes nothing either")
	assert.Equal(t, domain.StatePending, e.link(orgLink(id)).State)

	out := e.decide(domain.WebCRM, id, domain.ReviewApprove, "")
	assert.Equal(t, domain.ActionCreatedERP, out.Action)
	require.Equal(t, 1, customers.size())
	st = e.link(orgLink(id))
	assert.Equal(t, domain.StateOK, st.State)
	assert.Equal(t, "Odense", customers.get(st.ErpID)["postalAddress"].(map[string]any)["city"])

	e.decide(domain.WebCRM, id, domain.ReviewApprove, "")
	assert.Equal(t, 1, customers.size(), "approving twice creates nothing more")
}

// TestReviewLetsAUniqueMatchThrough: a record with exactly one twin is
// matched at once, review or not.
func TestReviewLetsAUniqueMatchThrough(t *testing.T) {
	e := newReviewEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	id := orgs.add(crmOrg(1))
	cust := customers.add(map[string]any{"name": "Twin", "organisationNumber": "DK31000001"})

	tally := e.dispatch("organisations", orgs.change(id))
	assert.Equal(t, map[string]int{domain.ActionMatched: 1}, tally.Actions)
	assert.Equal(t, domain.StateOK, e.link(erpLink(cust)).State)
}

// TestReviewHoldsAnAmbiguousMatchUntilOneIsChosen: with review on, a record
// two ERP records match waits (not in error) with both candidates named; an
// approval that picks a record outside them keeps it waiting and says why;
// one that picks a candidate links the two and creates nothing.
func TestReviewHoldsAnAmbiguousMatchUntilOneIsChosen(t *testing.T) {
	e := newReviewEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	id := orgs.add(crmOrg(1))
	c1 := customers.add(map[string]any{"name": "One", "organisationNumber": "DK31000001"})
	c2 := customers.add(map[string]any{"name": "Two", "organisationNumber": "dk 31000001"})
	other := customers.add(map[string]any{"name": "Other", "organisationNumber": "DK99"})

	e.dispatch("organisations", orgs.change(id))
	st := e.link(orgLink(id))
	assert.Equal(t, domain.StatePending, st.State)
	assert.Contains(t, st.Reason, c1+", "+c2)

	e.decide(domain.WebCRM, id, domain.ReviewApprove, other)
	st = e.link(orgLink(id))
	assert.Equal(t, domain.StatePending, st.State)
	assert.Contains(t, st.Reason, "ERP customers "+other+" was approved as its counterpart, but it is not one of")

	out := e.decide(domain.WebCRM, id, domain.ReviewApprove, c2)
	assert.Equal(t, domain.ActionMatched, out.Action)
	assert.Equal(t, 3, customers.size(), "a chosen match creates nothing")
	home := e.links.aliasOf(orgLink(id))
	if home == "" {
		home = orgLink(id)
	}
	st = e.link(home)
	assert.Equal(t, domain.StateOK, st.State)
	assert.Equal(t, c2, st.ErpID)
}

// TestARejectedFirstContactStaysUnsyncedUntilApproved: a rejected record's
// link says so; its later changes write nothing and keep it rejected; an
// approval afterwards creates its counterpart.
func TestARejectedFirstContactStaysUnsyncedUntilApproved(t *testing.T) {
	e := newReviewEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	id := orgs.add(crmOrg(1))
	e.dispatch("organisations", orgs.change(id))

	out := e.decide(domain.WebCRM, id, domain.ReviewReject, "")
	assert.Equal(t, domain.ActionRejected, out.Action)
	st := e.link(orgLink(id))
	assert.Equal(t, domain.StateRejected, st.State)
	assert.Contains(t, st.Reason, "rejected at review")

	orgs.edit(id, map[string]any{"OrganisationCity": "Odense"})
	e.dispatch("organisations", orgs.change(id))
	assert.Zero(t, customers.size())
	assert.Equal(t, domain.StateRejected, e.link(orgLink(id)).State)

	e.decide(domain.WebCRM, id, domain.ReviewApprove, "")
	assert.Equal(t, 1, customers.size())
	assert.Equal(t, domain.StateOK, e.link(orgLink(id)).State)
}

// TestWithoutReviewAnAmbiguousMatchIsAnError: the default keeps the error
// that asks to merge the duplicates.
func TestWithoutReviewAnAmbiguousMatchIsAnError(t *testing.T) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	id := orgs.add(crmOrg(1))
	customers.add(map[string]any{"name": "One", "organisationNumber": "DK31000001"})
	customers.add(map[string]any{"name": "Two", "organisationNumber": "DK31000001"})
	e.dispatch("organisations", orgs.change(id))
	assert.Equal(t, domain.StateError, e.link(orgLink(id)).State)
}
