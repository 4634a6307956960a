package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
)

// deleted is the change a feed or a reconcile delivers of a deleted record.
func deleted(side domain.Side, id string) domain.Change {
	return domain.Change{Side: side, ID: id, Deleted: true, Source: domain.SourcePoll}
}

// linkedLine makes a linked opportunity and a webCRM quotation line of it,
// synced to an ERP order line; it returns both line ids.
func (e *env) linkedLine() (crmID, erpID string) {
	e.t.Helper()
	opp, _ := e.linkedOpportunity()
	e.crm["Products"].add(crmProduct("P-0001"))
	e.erp["products"].add(map[string]any{"productNumber": "P-0001", "name": "Widget P-0001"})
	crmID = e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))
	e.dispatch("quotationlines", e.crm["QuotationLines"].change(crmID))
	st := e.link(lineLink(domain.WebCRM, crmID))
	if st.ErpID == "" {
		e.t.Fatalf("line not linked: %+v", st)
	}
	return crmID, st.ErpID
}

// TestDeletePolicies: what a delete on one side does to the other record,
// per the pairing's policy; the link ends in state deleted with the reason.
func TestDeletePolicies(t *testing.T) {
	t.Run("propagate: an order line deleted in the ERP", func(t *testing.T) {
		e := newEnv(t)
		lid, olid := e.linkedLine()
		e.erp["order-lines"].drop(olid)

		tally := e.dispatch("quotationlines", deleted(domain.ERP, olid))

		assert.Equal(t, map[string]int{domain.ActionDeleted: 1}, tally.Actions)
		assert.Nil(t, e.crm["QuotationLines"].get(lid), "deleted in webCRM too")
		st := e.link(lineLink(domain.WebCRM, lid))
		assert.Equal(t, domain.StateDeleted, st.State)
		assert.Equal(t, "deleted in erp; deleted in webcrm too", st.Reason)
		assert.Equal(t, 1, e.metrics.appliedN("quotationlines", domain.ERP, domain.ActionDeleted))
	})
	t.Run("propagate: a quotation line deleted in webCRM", func(t *testing.T) {
		e := newEnv(t)
		lid, olid := e.linkedLine()
		e.crm["QuotationLines"].drop(lid)

		e.dispatch("quotationlines", deleted(domain.WebCRM, lid))

		assert.Nil(t, e.erp["order-lines"].get(olid))
		assert.Equal(t, "deleted in webcrm; deleted in erp too", e.link(lineLink(domain.WebCRM, lid)).Reason)
	})
	t.Run("deactivate: a person deleted in webCRM", func(t *testing.T) {
		e := newEnv(t)
		oid, _ := e.linkedOrg(1)
		pid := e.crm["Persons"].add(crmPerson(1, oid))
		e.dispatch("persons", e.crm["Persons"].change(pid))
		kid := e.link(personLink(domain.WebCRM, pid)).ErpID
		e.crm["Persons"].drop(pid)

		e.dispatch("persons", deleted(domain.WebCRM, pid))

		contact := e.erp["contacts"].get(kid)
		require.NotNil(t, contact, "the contact is kept")
		assert.Equal(t, false, contact["active"])
		assert.Equal(t, "Berg1", contact["lastName"], "the rest is left as it was")
		assert.Equal(t, "deleted in webcrm; deactivated in erp", e.link(personLink(domain.WebCRM, pid)).Reason)
	})
	t.Run("deactivate: a contact deleted in the ERP", func(t *testing.T) {
		e := newEnv(t)
		oid, _ := e.linkedOrg(1)
		pid := e.crm["Persons"].add(crmPerson(1, oid))
		e.dispatch("persons", e.crm["Persons"].change(pid))
		kid := e.link(personLink(domain.WebCRM, pid)).ErpID
		e.erp["contacts"].drop(kid)

		e.dispatch("persons", deleted(domain.ERP, kid))

		assert.Equal(t, "Resigned", e.crm["Persons"].get(pid)["PersonStatus"])
		assert.Equal(t, domain.StateDeleted, e.link(personLink(domain.WebCRM, pid)).State)
	})
	t.Run("deactivate without a way to deactivate: a product deleted in the ERP", func(t *testing.T) {
		e := newEnv(t)
		wid := e.crm["Products"].add(crmProduct("P-0001"))
		e.dispatch("products", e.crm["Products"].change(wid))
		link := domain.LinkWorkflowID("products", domain.WebCRM, wid)
		e.erp["products"].drop(e.link(link).ErpID)

		e.dispatch("products", deleted(domain.ERP, e.link(link).ErpID))

		assert.NotNil(t, e.crm["Products"].get(wid))
		assert.Zero(t, e.crm["Products"].writes())
		assert.Equal(t, "deleted in erp; webcrm record kept (delete policy deactivate)", e.link(link).Reason)
	})
	t.Run("ignore: a customer deleted in the ERP", func(t *testing.T) {
		e := newEnv(t)
		oid, cid := e.linkedOrg(1)
		e.erp["customers"].drop(cid)

		e.dispatch("organisations", deleted(domain.ERP, cid))

		assert.NotNil(t, e.crm["Organisations"].get(oid))
		assert.Zero(t, e.crm["Organisations"].writes())
		st := e.link(orgLink(oid))
		assert.Equal(t, domain.StateDeleted, st.State)
		assert.Equal(t, "deleted in erp; webcrm record kept (delete policy ignore)", st.Reason)
	})
}

// TestADeleteOfADeletedLinkIsSeen: a delete delivered again (a feed read
// twice, a reconcile after a poll) changes nothing.
func TestADeleteOfADeletedLinkIsSeen(t *testing.T) {
	e := newEnv(t)
	lid, olid := e.linkedLine()
	e.erp["order-lines"].drop(olid)
	e.dispatch("quotationlines", deleted(domain.ERP, olid))
	writes := e.crm["QuotationLines"].writes()
	applied := e.link(lineLink(domain.WebCRM, lid)).Applied

	tally := e.dispatch("quotationlines", deleted(domain.ERP, olid))

	assert.Equal(t, map[string]int{domain.ActionSeen: 1}, tally.Actions)
	assert.Equal(t, writes, e.crm["QuotationLines"].writes())
	assert.Equal(t, applied, e.link(lineLink(domain.WebCRM, lid)).Applied)
}

// TestARecordFoundGoneOnReadIsADelete: a change that names a record a read
// finds gone (a resync, a hook after the delete) applies the delete policy;
// with both records gone nothing is written.
func TestARecordFoundGoneOnReadIsADelete(t *testing.T) {
	e := newEnv(t)
	lid, olid := e.linkedLine()
	e.crm["QuotationLines"].drop(lid)
	e.erp["order-lines"].drop(olid)

	out, err := e.links.Apply(context.Background(), "quotationlines", domain.Change{Side: domain.WebCRM, ID: lid, Source: domain.SourceResync})

	require.NoError(t, err)
	assert.Equal(t, domain.ActionDeleted, out.Action)
	assert.Equal(t, "deleted in webcrm", out.Reason)
	assert.Zero(t, e.erp["order-lines"].count("remove"))
}

// TestADeleteThatCannotBeAppliedIsAnError: a failed propagation or
// deactivation leaves the link in error with the client's class, to be
// retried.
func TestADeleteThatCannotBeAppliedIsAnError(t *testing.T) {
	t.Run("propagate", func(t *testing.T) {
		e := newEnv(t)
		lid, olid := e.linkedLine()
		e.crm["QuotationLines"].fails["remove"] = clientErr(Unavailable, "503")
		e.erp["order-lines"].drop(olid)

		e.dispatch("quotationlines", deleted(domain.ERP, olid))

		err := e.links.lastErr(lineLink(domain.WebCRM, lid))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "delete webCRM QuotationLines "+lid)
		assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
		assert.Equal(t, domain.StateError, e.link(lineLink(domain.WebCRM, lid)).State)
	})
	t.Run("deactivate", func(t *testing.T) {
		e := newEnv(t)
		wid := e.crm["Products"].add(crmProduct("P-0001"))
		e.dispatch("products", e.crm["Products"].change(wid))
		link := domain.LinkWorkflowID("products", domain.WebCRM, wid)
		e.erp["products"].fails["update"] = clientErr(Validation, "422: active is read-only")
		e.crm["Products"].drop(wid)

		e.dispatch("products", deleted(domain.WebCRM, wid))

		err := e.links.lastErr(link)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "deactivate ERP products")
		assert.Equal(t, Validation, e.eng.Classify(err).Class)
	})
}

// TestADeleteOfAnUnlinkedRecordIsSkipped: a deleted record no link holds has
// nothing to do; a failure to look for its link fails the dispatch.
func TestADeleteOfAnUnlinkedRecordIsSkipped(t *testing.T) {
	e := newEnv(t)
	tally := e.dispatch("organisations", deleted(domain.ERP, "CU-4242"))
	assert.Equal(t, map[string]int{domain.ActionSkipped: 1}, tally.Actions)
	assert.Zero(t, e.links.count("applyto"))

	e.links.fails["findhome"] = clientErr(Unavailable, "visibility unavailable")
	_, err := e.eng.Dispatch(context.Background(), "organisations", []domain.Change{deleted(domain.ERP, "CU-4242")})
	require.Error(t, err)
	assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
}
