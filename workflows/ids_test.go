package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/domain"
)

func TestLinkWorkflowIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pairing string
		side    domain.Side
		id      string
		want    string
	}{
		{"organisations", domain.WebCRM, "123", "link/organisations/webcrm/123"},
		{"persons", domain.ERP, "c-9f2", "link/persons/erp/c-9f2"},
		// An id may itself hold slashes; only the first three separate parts.
		{"quotationlines", domain.ERP, "orders/7/lines/2", "link/quotationlines/erp/orders/7/lines/2"},
	} {
		got := domain.LinkWorkflowID(tc.pairing, tc.side, tc.id)
		assert.Equal(t, tc.want, got)
		p, s, id, err := domain.ParseLinkWorkflowID(got)
		require.NoError(t, err, got)
		assert.Equal(t, tc.pairing, p)
		assert.Equal(t, tc.side, s)
		assert.Equal(t, tc.id, id)
	}
}

func TestParseLinkWorkflowIDRejects(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"",
		"link",
		"link/organisations/webcrm",
		"link/organisations/webcrm/",
		"link//webcrm/1",
		"pairing/organisations/webcrm/1",
		"Link/organisations/webcrm/1",
	} {
		_, _, _, err := domain.ParseLinkWorkflowID(id)
		require.Error(t, err, id)
		assert.Contains(t, err.Error(), "not a link workflow ID", id)
	}
	_, _, _, err := domain.ParseLinkWorkflowID("link/organisations/crm/1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown side "crm"`)
}

func TestOtherWorkflowIDs(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "pairing/persons", PairingWorkflowID("persons"))
	assert.Equal(t, "backfill/persons/both", BackfillWorkflowID("persons", BackfillBoth))
	assert.Equal(t, "reconcile/persons", ReconcileWorkflowID("persons"))
}

func TestSide(t *testing.T) {
	t.Parallel()
	assert.Equal(t, domain.ERP, domain.WebCRM.Other())
	assert.Equal(t, domain.WebCRM, domain.ERP.Other())
	assert.True(t, domain.WebCRM.Valid())
	assert.True(t, domain.ERP.Valid())
	assert.False(t, domain.Side("").Valid())
	assert.False(t, domain.Side("WebCRM").Valid())
}

func TestSearchAttributeNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"TandemPairing", "TandemCrmId", "TandemErpId", "TandemState"}, SearchAttributeNames())
}
