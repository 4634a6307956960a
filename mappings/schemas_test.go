package mappings

import (
	"fmt"
	"io/fs"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/webcrm"
)

// testSchemas accepts a fixed list of property names and kinds, written down from the
// CustomERP contract (CONTRACTS.md) and the webCRM API reference (DTO properties and their
// swagger types). The starter and worker wire the real lists from the clients later.
func testSchemas() Schemas {
	web := map[string]map[string]Kind{}
	add := func(m map[string]map[string]Kind, entity string, k Kind, props ...string) {
		if m[entity] == nil {
			m[entity] = map[string]Kind{}
		}
		for _, p := range props {
			m[entity][p] = k
		}
	}
	numbered := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i+1)
		}
		return out
	}
	// Organisations
	add(web, "Organisations", KindInteger, "OrganisationId", "OrganisationOwner", "OrganisationOwner2", "OrganisationTerritoryId")
	add(web, "Organisations", KindDateTime, "OrganisationCreatedAt", "OrganisationUpdatedAt")
	add(web, "Organisations", KindBoolean, "OrganisationNoAds")
	add(web, "Organisations", KindString, "OrganisationName", "OrganisationAddress", "OrganisationPostCode", "OrganisationCity",
		"OrganisationState", "OrganisationCountry", "OrganisationTelephone", "OrganisationFax", "OrganisationWww", "OrganisationDomain",
		"OrganisationComment", "OrganisationDivisionName", "OrganisationVatNumber", "OrganisationVatCountry", "OrganisationType", "OrganisationStatus", "OrganisationMemo")
	add(web, "Organisations", KindString, numbered("OrganisationCustom", 15)...)
	// Persons
	add(web, "Persons", KindInteger, "PersonId", "PersonOrganisationId", "PersonSortOrder")
	add(web, "Persons", KindDateTime, "PersonCreatedAt", "PersonUpdatedAt", "PersonBirthday")
	add(web, "Persons", KindBoolean, "PersonBlockMassEmail", "PersonEmailBounces")
	add(web, "Persons", KindString, "PersonStatus", "PersonFirstName", "PersonMiddleName", "PersonLastName", "PersonName", "PersonTitle",
		"PersonSalutation", "PersonEmail", "PersonEmail2", "PersonDirectPhone", "PersonMobilePhone", "PersonComment", "PersonMemo")
	add(web, "Persons", KindString, numbered("PersonCustom", 15)...)
	// Users
	add(web, "Users", KindInteger, "UserId", "UserGroupId", "UserLanguageId")
	add(web, "Users", KindDateTime, "UserCreatedAt", "UserUpdatedAt")
	add(web, "Users", KindBoolean, "UserIsRestApiEnabled")
	add(web, "Users", KindString, "UserName", "UserInitials", "UserEmail", "UserLoginName", "UserTitle", "UserTelephone",
		"UserMobilePhone", "UserCurrencyName", "UserMemo")
	add(web, "Users", KindString, numbered("UserCustom", 15)...)
	// Products
	add(web, "Products", KindInteger, "ProductId", "ProductOrganisationId", "ProductPersonId", "ProductProductYear", "ProductSortOrder")
	add(web, "Products", KindNumber, "ProductPrice", "ProductListPrice", "ProductCostPrice", "ProductDiscount", "ProductQuantity")
	add(web, "Products", KindDateTime, "ProductCreatedAt", "ProductUpdatedAt")
	add(web, "Products", KindString, "ProductCombined", "ProductComment", "ProductVatCode", "ProductStockStatus", "ProductMemo")
	add(web, "Products", KindString, numbered("ProductCustom", 15)...)
	// Opportunities
	add(web, "Opportunities", KindInteger, "OpportunityId", "OpportunityOrganisationId", "OpportunityPersonId", "OpportunityAssignedTo",
		"OpportunityAssignedTo2", "OpportunityLevel", "OpportunityPercent", "OpportunityWinPercent")
	add(web, "Opportunities", KindNumber, "OpportunityDiscount", "OpportunityOrderValue")
	add(web, "Opportunities", KindBoolean, "OpportunityWinYesNo")
	add(web, "Opportunities", KindDateTime, "OpportunityCreatedAt", "OpportunityUpdatedAt", "OpportunityOrderDate", "OpportunityLostDate", "OpportunityNextFollowUp", "OpportunityErpSyncDateTime")
	add(web, "Opportunities", KindString, "OpportunityNumber", "OpportunityDescription", "OpportunityComment", "OpportunityCurrencyName",
		"OpportunityLevelText", "OpportunityErpId", "OpportunityErpStatus", "OpportunityMemo")
	add(web, "Opportunities", KindString, numbered("OpportunityCustom", 15)...)
	// QuotationLines
	add(web, "QuotationLines", KindInteger, "QuotationLineId", "QuotationLineOpportunityId", "QuotationLineOrganisationId",
		"QuotationLinePersonId", "QuotationLineSortOrder", "QuotationLineLinkedDataId")
	add(web, "QuotationLines", KindNumber, "QuotationLinePrice", "QuotationLineListPrice", "QuotationLineCostPrice",
		"QuotationLineQuantity", "QuotationLineDiscount", "QuotationLineVatPercentage")
	add(web, "QuotationLines", KindDateTime, "QuotationLineCreatedAt", "QuotationLineUpdatedAt")
	add(web, "QuotationLines", KindString, "QuotationLineMemo", "QuotationLineComment", "QuotationLineStockStatus")
	add(web, "QuotationLines", KindString, numbered("QuotationLineData", 9)...)

	erp := map[string]map[string]Kind{}
	for _, r := range []string{"customers", "contacts", "products", "orders", "order-lines"} {
		add(erp, r, KindString, "id", "externalRef")
		add(erp, r, KindInteger, "version")
		add(erp, r, KindDateTime, "updatedAt")
	}
	add(erp, "customers", KindString, "customerNumber", "name", "organisationNumber", "email", "phone", "website", "description")
	for _, a := range []string{"postalAddress", "deliveryAddress"} {
		for _, f := range []string{"line1", "line2", "postalCode", "city", "state", "countryCode"} {
			add(erp, "customers", KindString, a+"."+f)
		}
	}
	add(erp, "customers", KindBoolean, "active")
	add(erp, "contacts", KindString, "contactType", "customerId", "firstName", "lastName", "fullName", "email", "phoneWork", "phoneMobile", "title")
	add(erp, "contacts", KindDate, "birthDate")
	add(erp, "contacts", KindBoolean, "active")
	add(erp, "products", KindString, "productNumber", "name", "unit", "vatCode")
	add(erp, "products", KindNumber, "salesPrice", "costPrice", "stockQuantity")
	add(erp, "products", KindBoolean, "active")
	add(erp, "orders", KindString, "orderNumber", "customerId", "contactId", "salesRepContactId", "currency", "description", "status")
	add(erp, "orders", KindDate, "orderDate")
	add(erp, "orders", KindNumber, "discount", "totalAmount")
	add(erp, "order-lines", KindString, "lineId", "orderId", "productNumber", "productId", "description")
	add(erp, "order-lines", KindNumber, "quantity", "unitPrice", "discountPercent", "vatPercent", "costPrice")
	add(erp, "order-lines", KindInteger, "sortOrder")

	has := func(m map[string]map[string]Kind) func(string, string) bool {
		return func(e, p string) bool { _, ok := m[e][p]; return ok }
	}
	kind := func(m map[string]map[string]Kind) func(string, string) Kind {
		return func(e, p string) Kind { return m[e][p] }
	}
	// The properties never written to webCRM are the client's own lists.
	excluded := func(e, p string) bool { return slices.Contains(webcrm.Entity(e).WriteExcluded(), p) }
	return Schemas{WebCRM: has(web), ERP: has(erp), WebCRMKind: kind(web), ERPKind: kind(erp), WebCRMWriteExcluded: excluded}
}

// loadDefaults loads the embedded defaults, checked against testSchemas.
func loadDefaults(t testing.TB) *Set {
	t.Helper()
	s, err := DefaultWith(testSchemas())
	require.NoError(t, err)
	return s
}

func pairing(t testing.TB, s *Set, name string) *Pairing {
	t.Helper()
	p, ok := s.Pairing(name)
	require.True(t, ok, "pairing %s", name)
	return p
}

func TestDefaultsLoadAgainstSchemas(t *testing.T) {
	t.Parallel()
	s := loadDefaults(t)
	require.Equal(t, []string{"organisations", "products", "users", "persons", "opportunities", "quotationlines"}, s.Names())

	// Without schemas too (Default is what a worker uses before wiring the clients).
	d, err := Default()
	require.NoError(t, err)
	require.Equal(t, s.Names(), d.Names())

	type want struct {
		entity, resource, correlation string
		creation                      Creation
		policy                        DeleteAction
		criteria                      []MergeKey
		dependsOn                     []string
	}
	cases := map[string]want{
		"organisations":  {"Organisations", "customers", "OrganisationCustom15", CreateBoth, Ignore, []MergeKey{{"vat-number", NormaliseIdentifier}}, nil},
		"persons":        {"Persons", "contacts", "PersonCustom15", CreateBoth, Deactivate, []MergeKey{{"email", NormaliseLower}}, []string{"organisations"}},
		"users":          {"Users", "contacts", "UserCustom15", CreateWebCRMToERP, Deactivate, []MergeKey{{"email", NormaliseLower}}, nil},
		"products":       {"Products", "products", "ProductCustom15", CreateBoth, Deactivate, []MergeKey{{"product-number", NormaliseExact}}, nil},
		"opportunities":  {"Opportunities", "orders", "OpportunityCustom15", CreateWebCRMToERP, Ignore, nil, []string{"organisations", "persons", "users"}},
		"quotationlines": {"QuotationLines", "order-lines", "QuotationLineData9", CreateBoth, Propagate, nil, []string{"opportunities", "products"}},
	}
	for name, w := range cases {
		p := pairing(t, s, name)
		require.Equal(t, w.entity, p.WebCRMEntity, name)
		require.Equal(t, w.resource, p.ERPResource, name)
		require.Equal(t, w.correlation, p.CorrelationField, name)
		require.Equal(t, w.creation, p.Creation, name)
		require.Equal(t, w.policy, p.DeletePolicy.Policy, name)
		require.Equal(t, w.criteria, p.MergeCriteria, name)
		require.Equal(t, w.dependsOn, p.DependsOn, name)
		got, ok := s.ForWebCRM(w.entity)
		require.True(t, ok)
		require.Equal(t, name, got.Name)
	}

	// Contacts are split between persons and users by contactType.
	pp, ok := s.ForERP("contacts", map[string]any{"contactType": "person"})
	require.True(t, ok)
	require.Equal(t, "persons", pp.Name)
	pu, ok := s.ForERP("contacts", map[string]any{"contactType": "employee"})
	require.True(t, ok)
	require.Equal(t, "users", pu.Name)
	_, ok = s.ForERP("contacts", map[string]any{"contactType": "supplier"})
	require.False(t, ok)

	// Delete policies per direction.
	persons := pairing(t, s, "persons")
	act, d1 := persons.DeletePolicy.OnDelete(domain.ERP)
	require.Equal(t, Deactivate, act)
	require.Equal(t, &Deactivation{Property: "PersonStatus", Value: "Resigned"}, d1)
	act, d2 := persons.DeletePolicy.OnDelete(domain.WebCRM)
	require.Equal(t, Deactivate, act)
	require.Equal(t, &Deactivation{Property: "active", Value: false}, d2)
	act, _ = pairing(t, s, "products").DeletePolicy.OnDelete(domain.ERP)
	require.Equal(t, Ignore, act, "webCRM products have no inactive flag")
	act, _ = pairing(t, s, "quotationlines").DeletePolicy.OnDelete(domain.WebCRM)
	require.Equal(t, Propagate, act)

	// PersonOrganisationId may be set when a person is created, never changed afterwards.
	require.Contains(t, persons.WritableFields(domain.WebCRM, false), "organisation")
	require.NotContains(t, persons.WritableFields(domain.WebCRM, true), "organisation")
	// The opportunity status is derived in webCRM and never written there.
	require.NotContains(t, pairing(t, s, "opportunities").WritableFields(domain.WebCRM, false), "status")
}

func TestDefaultFilesAreTheSixPairings(t *testing.T) {
	t.Parallel()
	require.Empty(t, CheckFS(DefaultFiles(), testSchemas()))
	entries, err := fs.ReadDir(DefaultFiles(), ".")
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"organisations.yaml", "persons.yaml", "users.yaml", "products.yaml", "opportunities.yaml", "quotationlines.yaml"}, names)
}
