package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLinkWorkflowIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pairing string
		side    Side
		id      string
		want    string
	}{
		{"organisations", WebCRM, "123", "link/organisations/webcrm/123"},
		{"persons", ERP, "c-9f2", "link/persons/erp/c-9f2"},
		// An id may itself hold slashes; only the first three separate parts.
		{"quotationlines", ERP, "orders/7/lines/2", "link/quotationlines/erp/orders/7/lines/2"},
	} {
		got := LinkWorkflowID(tc.pairing, tc.side, tc.id)
		assert.Equal(t, tc.want, got)
		p, s, id, err := ParseLinkWorkflowID(got)
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
		_, _, _, err := ParseLinkWorkflowID(id)
		require.Error(t, err, id)
		assert.Contains(t, err.Error(), "not a link workflow ID", id)
	}
	_, _, _, err := ParseLinkWorkflowID("link/organisations/crm/1")
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
	assert.Equal(t, ERP, WebCRM.Other())
	assert.Equal(t, WebCRM, ERP.Other())
	assert.True(t, WebCRM.Valid())
	assert.True(t, ERP.Valid())
	assert.False(t, Side("").Valid())
	assert.False(t, Side("WebCRM").Valid())
}

func TestSearchAttributeNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"TandemPairing", "TandemCrmId", "TandemErpId", "TandemState"}, SearchAttributeNames())
}
