package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
)

// linesOf makes a linked opportunity with n webCRM quotation lines, each
// synced to an ERP order line; it returns the opportunity and the lines'
// ids on both sides.
func (e *env) linesOf(n int) (opp string, crm, erp []string) {
	e.t.Helper()
	opp, _ = e.linkedOpportunity()
	e.crm["Products"].add(crmProduct("P-0001"))
	e.erp["products"].add(map[string]any{"productNumber": "P-0001", "name": "Widget P-0001"})
	for range n {
		lid := e.crm["QuotationLines"].add(crmLine(opp, "P-0001", 3))
		e.dispatch("quotationlines", e.crm["QuotationLines"].change(lid))
		st := e.link(lineLink(domain.WebCRM, lid))
		require.NotEmpty(e.t, st.ErpID, "line %s linked", lid)
		crm, erp = append(crm, lid), append(erp, st.ErpID)
	}
	return opp, crm, erp
}

// TestAPollOfAnOpportunityDeletesTheLinesGoneFromWebCRM: webCRM keeps no
// tombstones, so a poll that sees an opportunity change compares its lines
// with its order's: a linked line gone from webCRM (missing from the listing
// and gone when read by id) takes its order line with it; a line only
// missing from the listing (a listing may miss a record) is kept.
func TestAPollOfAnOpportunityDeletesTheLinesGoneFromWebCRM(t *testing.T) {
	e := newEnv(t)
	opp, crm, erp := e.linesOf(3)
	lines := e.crm["QuotationLines"]
	lines.drop(crm[0])
	lines.unlisted[crm[1]] = true
	e.crm["Opportunities"].edit(opp, map[string]any{"OpportunityDescription": "Widgets, revised"})

	res, err := e.eng.PollWebCRM(context.Background(), domain.SyncInput{Pairing: "opportunities"})

	require.NoError(t, err)
	assert.Nil(t, e.erp["order-lines"].get(erp[0]), "the order line of the deleted line is deleted")
	assert.Equal(t, domain.StateDeleted, e.link(lineLink(domain.WebCRM, crm[0])).State)
	assert.Equal(t, "deleted in webcrm; deleted in erp too", e.link(lineLink(domain.WebCRM, crm[0])).Reason)
	assert.NotNil(t, e.erp["order-lines"].get(erp[1]), "a line missing from the listing but read by id is kept")
	assert.NotEqual(t, domain.StateDeleted, e.link(lineLink(domain.WebCRM, crm[1])).State)
	assert.NotNil(t, e.erp["order-lines"].get(erp[2]))
	assert.GreaterOrEqual(t, res.Dispatched, 2, "the opportunity and the delete")
}

// TestAPollComparesLinesOnlyWhenTheirOpportunityChanged: deleting a line
// in webCRM does not change its opportunity, so a poll that sees no
// opportunity change compares nothing (no request); the opportunity's next
// change has its lines compared.
func TestAPollComparesLinesOnlyWhenTheirOpportunityChanged(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	opp, crm, erp := e.linesOf(2)
	first, err := e.eng.PollWebCRM(ctx, domain.SyncInput{Pairing: "opportunities"})
	require.NoError(t, err)
	require.NotNil(t, e.erp["order-lines"].get(erp[0]), "both lines are in webCRM: nothing deleted")
	require.NotNil(t, e.erp["order-lines"].get(erp[1]))

	e.crm["QuotationLines"].drop(crm[0])
	finds := e.crm["QuotationLines"].count("find")
	second, err := e.eng.PollWebCRM(ctx, domain.SyncInput{Pairing: "opportunities", Since: first.Next, Recent: first.Recent})
	require.NoError(t, err)
	assert.NotNil(t, e.erp["order-lines"].get(erp[0]), "no opportunity changed: nothing compared")
	assert.Equal(t, finds, e.crm["QuotationLines"].count("find"), "no listing of lines")

	e.crm["Opportunities"].edit(opp, map[string]any{"OpportunityDescription": "Widgets, revised"})
	_, err = e.eng.PollWebCRM(ctx, domain.SyncInput{Pairing: "opportunities", Since: second.Next, Recent: second.Recent})
	require.NoError(t, err)
	assert.Nil(t, e.erp["order-lines"].get(erp[0]), "the opportunity's change has its lines compared")
	assert.NotNil(t, e.erp["order-lines"].get(erp[1]))
}
