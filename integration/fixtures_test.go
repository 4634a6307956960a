package integration

import (
	"fmt"
)

// graph is one linked set of records across all six pairings, born in
// webCRM: an organisation with a person, a user, a product, an opportunity
// of the organisation and one quotation line of it.
type graph struct {
	// webCRM ids
	Org, Person, User, Product, Opp, Line int
	// ERP ids of the counterparts
	Customer, Contact, Employee, ErpProduct, Order, OrderLine string
}

// crmOrg returns the fields of a webCRM organisation numbered n.
func crmOrg(n int) map[string]any {
	return map[string]any{
		"OrganisationName":      fmt.Sprintf("Fjord Tech %d A/S", n),
		"OrganisationVatNumber": fmt.Sprintf("DK%08d", 31000000+n),
		"OrganisationAddress":   fmt.Sprintf("Havnegade %d\n2. th.", n),
		"OrganisationPostCode":  "8000",
		"OrganisationCity":      "Aarhus",
		"OrganisationCountry":   "Danmark",
		"OrganisationTelephone": fmt.Sprintf("+45 11 22 33 %02d", n%100),
	}
}

// crmPerson returns the fields of a webCRM person numbered n at org.
func crmPerson(n, org int) map[string]any {
	return map[string]any{
		"PersonOrganisationId": org,
		"PersonFirstName":      "Bo",
		"PersonLastName":       fmt.Sprintf("Berg%d", n),
		"PersonEmail":          fmt.Sprintf("Bo.Berg%d@Fjord.example", n),
		"PersonTitle":          "CFO",
		"PersonStatus":         "Active",
	}
}

// crmUser returns the fields of a webCRM user numbered n.
func crmUser(n int) map[string]any {
	return map[string]any{
		"UserName":  fmt.Sprintf("Ann Bø Ås%d", n),
		"UserEmail": fmt.Sprintf("ann%d@tandem.example", n),
		"UserTitle": "Sales",
	}
}

// crmProduct returns the fields of a webCRM product with number.
func crmProduct(number string) map[string]any {
	return map[string]any{
		"ProductCustom1":   number,
		"ProductCustom2":   "Widget " + number,
		"ProductCustom3":   "stk",
		"ProductPrice":     99.5,
		"ProductCostPrice": 40.25,
		"ProductVatCode":   "25",
	}
}

// crmOpp returns the fields of a webCRM opportunity numbered n.
func crmOpp(n, org, person, user int) map[string]any {
	rec := map[string]any{
		"OpportunityOrganisationId": org,
		"OpportunityNumber":         fmt.Sprintf("T-%06d", n),
		"OpportunityDescription":    fmt.Sprintf("Widgets for Fjord %d", n),
		"OpportunityCurrencyName":   "DKK",
		"OpportunityOrderDate":      "2025-03-01T00:00:00.0000000Z",
		"OpportunityWinYesNo":       false,
	}
	if person > 0 {
		rec["OpportunityPersonId"] = person
	}
	if user > 0 {
		rec["OpportunityAssignedTo"] = user
	}
	return rec
}

// crmLine returns the fields of a webCRM quotation line of opp.
func crmLine(opp int, product string, qty float64) map[string]any {
	return map[string]any{
		"QuotationLineOpportunityId": opp,
		"QuotationLineData1":         product,
		"QuotationLineQuantity":      qty,
		"QuotationLinePrice":         99.5,
		"QuotationLineDiscount":      0.0,
		"QuotationLineVatPercentage": 25.0,
		"QuotationLineComment":       "Widgets",
		"QuotationLineSortOrder":     1,
	}
}

// crmGraph creates a graph in webCRM (numbered n) and waits until every
// record of it has its ERP counterpart.
func (s *stack) crmGraph(n int) graph {
	s.t.Helper()
	var g graph
	g.User = s.crmPut("Users", crmUser(n))
	g.Org = s.crmPut("Organisations", crmOrg(n))
	g.Person = s.crmPut("Persons", crmPerson(n, g.Org))
	number := fmt.Sprintf("P-%04d", n)
	g.Product = s.crmPut("Products", crmProduct(number))
	g.Opp = s.crmPut("Opportunities", crmOpp(n, g.Org, g.Person, g.User))
	g.Line = s.crmPut("QuotationLines", crmLine(g.Opp, number, 3))
	s.linkGraph(&g)
	return g
}

// linkGraph fills g's ERP ids from the counterparts once they exist.
func (s *stack) linkGraph(g *graph) {
	s.t.Helper()
	g.Customer = str(s.waitERPCounterpart(pOrgs, g.Org), "id")
	g.Contact = str(s.waitERPCounterpart(pPersons, g.Person), "id")
	g.Employee = str(s.waitERPCounterpart(pUsers, g.User), "id")
	g.ErpProduct = str(s.waitERPCounterpart(pProducts, g.Product), "id")
	g.Order = str(s.waitERPCounterpart(pOpps, g.Opp), "id")
	g.OrderLine = str(s.waitERPCounterpart(pLines, g.Line), "id")
}
