package webcrm

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteExcluded checks the generated lists of properties a PUT or PATCH body never
// carries: credentials and the fields webCRM maintains, and nothing tandem syncs.
func TestWriteExcluded(t *testing.T) {
	t.Parallel()
	cases := map[Entity]struct{ in, out []string }{
		Users: {
			in: []string{"UserPassword", "UserAuthenticationCode", "UserTicket", "UserUpdatedAt", "UserPasswordUpdatedAt",
				"UserLastLoginDateTime", "UserLoginCount", "UserWrongPasswordCount", "UserTicketExpirationDateTime"},
			out: []string{"UserPasswordInUrl", "UserName", "UserEmail", "UserLoginName", "UserId"},
		},
		Persons: {
			in:  []string{"PersonPassword", "PersonCampaignPassword", "PersonMemberPassword", "PersonHistory", "PersonLastLoginDateTime"},
			out: []string{"PersonLastName", "PersonEmail", "PersonStatus", "PersonOrganisationId"},
		},
		Organisations: {
			in:  []string{"OrganisationUpdatedAt", "OrganisationCreatedBy", "OrganisationLastDisplayedAt", "OrganisationLastItemType", "OrganisationLastItemUpdatedAt"},
			out: []string{"OrganisationName", "OrganisationVatNumber", "OrganisationCustom15", "OrganisationOwner"},
		},
		Products:       {in: []string{"ProductHistory"}, out: []string{"ProductPrice", "ProductOrganisationId"}},
		Opportunities:  {in: []string{"OpportunityHistory"}, out: []string{"OpportunityErpId", "OpportunityErpStatus", "OpportunityOrderValue"}},
		QuotationLines: {out: []string{"QuotationLineLinkedDataId", "QuotationLinePrice", "QuotationLineData1"}},
	}
	for _, e := range Entities() {
		got := e.WriteExcluded()
		for _, stamp := range []string{"CreatedAt", "CreatedBy", "UpdatedAt", "UpdatedBy"} {
			assert.Contains(t, got, e.Table()+stamp, e)
		}
		for _, p := range cases[e].in {
			assert.Contains(t, got, p, e)
		}
		for _, p := range cases[e].out {
			assert.NotContains(t, got, p, e)
		}
		assert.NotContains(t, got, e.IDField(), e)
		for _, p := range got {
			assert.True(t, HasProperty(e, p), "%s: %s is not a property", e, p)
		}
		require.Len(t, slices.Compact(slices.Sorted(slices.Values(got))), len(got), "%s: no duplicates", e)
	}
	require.Len(t, cases, len(Entities()))

	// A fresh slice on every call.
	first := Users.WriteExcluded()
	first[0] = "changed"
	assert.NotEqual(t, "changed", Users.WriteExcluded()[0])
	assert.Nil(t, Entity("Widgets").WriteExcluded())
}
