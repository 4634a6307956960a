package integration

import (
	"testing"
)

// Requirement 3: edits of linked records cross over both ways in every
// pairing, and a deliberate clear propagates too.
func TestEditsCrossBothWays(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: allPairings})
	g := s.crmGraph(1)

	// webCRM -> ERP, all pairings at once.
	s.crmPatch("Organisations", g.Org, map[string]any{"OrganisationTelephone": "+45 99 88 77 66", "OrganisationCity": "Aalborg"})
	s.crmPatch("Persons", g.Person, map[string]any{"PersonTitle": nil, "PersonDirectPhone": "+45 70 70 70 70"})
	s.crmPatch("Users", g.User, map[string]any{"UserTitle": "Head of Sales"})
	s.crmPatch("Products", g.Product, map[string]any{"ProductPrice": 120.75})
	s.crmPatch("Opportunities", g.Opp, map[string]any{"OpportunityDescription": "Widgets, second round", "OpportunityWinYesNo": true})
	s.crmPatch("QuotationLines", g.Line, map[string]any{"QuotationLineQuantity": 7.5})

	s.waitERPField("customers", g.Customer, "phone", "+45 99 88 77 66")
	s.waitERPField("customers", g.Customer, "postalAddress.city", "Aalborg")
	s.waitERPField("contacts", g.Contact, "phoneWork", "+45 70 70 70 70")
	s.waitERPField("contacts", g.Contact, "title", "")
	s.waitERPField("contacts", g.Employee, "title", "Head of Sales")
	s.waitERPField("products", g.ErpProduct, "salesPrice", "120.75")
	s.waitERPField("orders", g.Order, "description", "Widgets, second round")
	s.waitERPField("orders", g.Order, "status", "won")
	s.waitERPField("order-lines", g.OrderLine, "quantity", "7.5")

	// ERP -> webCRM, all pairings at once.
	s.erpPatch("customers", g.Customer, map[string]any{"name": "Fjord Technology A/S"})
	s.erpPatch("contacts", g.Contact, map[string]any{"phoneMobile": "+45 20 20 20 20"})
	s.erpPatch("contacts", g.Employee, map[string]any{"phoneWork": "+45 30 30 30 30"})
	s.erpPatch("products", g.ErpProduct, map[string]any{"stockQuantity": 42, "costPrice": 41})
	s.erpPatch("orders", g.Order, map[string]any{"description": "Widgets, final", "discount": 5})
	s.erpPatch("order-lines", g.OrderLine, map[string]any{"unitPrice": 95})

	s.waitCRMField("Organisations", g.Org, "OrganisationName", "Fjord Technology A/S")
	s.waitCRMField("Persons", g.Person, "PersonMobilePhone", "+45 20 20 20 20")
	s.waitCRMField("Users", g.User, "UserTelephone", "+45 30 30 30 30")
	s.waitCRMField("Products", g.Product, "ProductQuantity", "42")
	s.waitCRMField("Products", g.Product, "ProductCostPrice", "41")
	s.waitCRMField("Opportunities", g.Opp, "OpportunityDescription", "Widgets, final")
	s.waitCRMField("Opportunities", g.Opp, "OpportunityDiscount", "5")
	s.waitCRMField("QuotationLines", g.Line, "QuotationLinePrice", "95")

	// The earlier edits still hold on both sides.
	expect(t, "customer", s.erpGet("customers", g.Customer), map[string]string{"phone": "+45 99 88 77 66", "name": "Fjord Technology A/S"})
	expect(t, "opportunity", s.crmGet("Opportunities", g.Opp), map[string]string{"OpportunityWinYesNo": "true"})
	expect(t, "quotation line", s.crmGet("QuotationLines", g.Line), map[string]string{"QuotationLineQuantity": "7.5"})
	s.assertQuiet()
}
