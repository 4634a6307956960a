package integration

import (
	"testing"
)

// expect checks fields of a record: path -> wanted value.
// crmStored maps the values of a webCRM record's expected fields to the form
// webCRM stores them in when tandem writes them (see webcrmsim.Server.Stored).
func (s *stack) crmStored(entity string, want map[string]string) map[string]string {
	out := make(map[string]string, len(want))
	for k, v := range want {
		out[k] = s.crm.Stored(entity, k, v)
	}
	return out
}

func expect(t *testing.T, what string, rec map[string]any, want map[string]string) {
	t.Helper()
	for path, w := range want {
		if got := str(rec, path); !same(got, w) {
			t.Errorf("%s: %s = %q, want %q", what, path, got, w)
		}
	}
}

// Requirement 1: a record created in webCRM appears in the ERP, in every
// pairing, with its references translated (the person's customer, the
// order's customer, contact and sales rep, the line's order and product).
func TestCreateInWebCRMReachesERP(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: allPairings})
	g := s.crmGraph(1)

	expect(t, "customer", s.erpGet("customers", g.Customer), map[string]string{
		"name": "Fjord Tech 1 A/S", "organisationNumber": "DK31000001",
		"postalAddress.line1": "Havnegade 1", "postalAddress.line2": "2. th.",
		"postalAddress.postalCode": "8000", "postalAddress.city": "Aarhus", "postalAddress.countryCode": "DK",
		"phone": "+45 11 22 33 01",
	})
	expect(t, "person contact", s.erpGet("contacts", g.Contact), map[string]string{
		"contactType": "person", "customerId": g.Customer, "firstName": "Bo", "lastName": "Berg1",
		"email": "bo.berg1@fjord.example", "title": "CFO", "active": "true",
	})
	expect(t, "employee contact", s.erpGet("contacts", g.Employee), map[string]string{
		"contactType": "employee", "firstName": "Ann Bø", "lastName": "Ås1", "email": "ann1@tandem.example", "title": "Sales",
	})
	expect(t, "product", s.erpGet("products", g.ErpProduct), map[string]string{
		"productNumber": "P-0001", "name": "Widget P-0001", "unit": "stk", "salesPrice": "99.5", "costPrice": "40.25", "vatCode": "25",
	})
	expect(t, "order", s.erpGet("orders", g.Order), map[string]string{
		"customerId": g.Customer, "contactId": g.Contact, "salesRepContactId": g.Employee,
		"orderNumber": "T-000001", "description": "Widgets for Fjord 1", "currency": "DKK", "status": "open",
		"orderDate": "2025-03-01",
	})
	expect(t, "order line", s.erpGet("order-lines", g.OrderLine), map[string]string{
		"orderId": g.Order, "productNumber": "P-0001",
		"quantity": "3", "unitPrice": "99.5", "vatPercent": "25", "description": "Widgets",
	})
	s.checkCounts(nil, map[string]int{"customers": 1, "contacts": 2, "products": 1, "orders": 1, "order-lines": 1})
	s.assertQuiet()
}

// Requirement 2: a record created in the ERP appears in webCRM where the
// pairing creates that way (customers, person contacts, products, order
// lines of a linked order), and not for employee contacts and ERP-born
// orders: their links settle with a reason and nothing is created.
func TestCreateInERPReachesWebCRM(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: allPairings})
	g := s.crmGraph(1)

	customer := s.erpPut("customers", map[string]any{
		"name": "Nordlys AS", "organisationNumber": "NO 912 345 678", "phone": "+47 22 00 00 00",
		"postalAddress": map[string]any{"line1": "Storgata 1", "postalCode": "0155", "city": "Oslo", "countryCode": "NO"},
	})
	contact := s.erpPut("contacts", map[string]any{
		"contactType": "person", "customerId": customer, "firstName": "Kari", "lastName": "Nordmann",
		"email": "kari@nordlys.example", "title": "CEO", "active": true,
	})
	product := s.erpPut("products", map[string]any{
		"productNumber": "E-100", "name": "Gadget", "unit": "pcs", "salesPrice": 10.5, "costPrice": 4,
		"vatCode": "25", "stockQuantity": 7, "active": true,
	})
	line := s.erpPut("order-lines", map[string]any{
		"orderId": g.Order, "productNumber": "E-100", "quantity": 2, "unitPrice": 10.5,
		"description": "Gadgets", "sortOrder": 2,
	})
	employee := s.erpPut("contacts", map[string]any{
		"contactType": "employee", "firstName": "Per", "lastName": "Hansen", "email": "per@tandem.example",
	})
	order := s.erpPut("orders", map[string]any{
		"customerId": customer, "orderNumber": "E-1", "currency": "NOK", "status": "open", "orderDate": "2025-04-01",
	})
	orphan := s.erpPut("order-lines", map[string]any{"orderId": order, "productNumber": "E-100", "quantity": 1, "unitPrice": 10.5})

	org := s.waitCRMCounterpart(pOrgs, customer)
	expect(t, "organisation", org, s.crmStored("Organisations", map[string]string{
		"OrganisationName": "Nordlys AS", "OrganisationVatNumber": "NO 912 345 678", "OrganisationAddress": "Storgata 1",
		"OrganisationPostCode": "0155", "OrganisationCity": "Oslo", "OrganisationCountry": "Norge",
		"OrganisationTelephone": "+47 22 00 00 00",
	}))
	person := s.waitCRMCounterpart(pPersons, contact)
	expect(t, "person", person, map[string]string{
		"PersonOrganisationId": str(org, "OrganisationId"), "PersonFirstName": "Kari", "PersonLastName": "Nordmann",
		"PersonEmail": "kari@nordlys.example", "PersonTitle": "CEO", "PersonStatus": "Active",
	})
	expect(t, "product", s.waitCRMCounterpart(pProducts, product), map[string]string{
		"ProductCustom1": "E-100", "ProductCustom2": "Gadget", "ProductCustom3": "pcs", "ProductPrice": "10.5",
		"ProductCostPrice": "4", "ProductVatCode": "25", "ProductQuantity": "7",
	})
	expect(t, "quotation line", s.waitCRMCounterpart(pLines, line), map[string]string{
		"QuotationLineOpportunityId": itoa(g.Opp), "QuotationLineData1": "E-100", "QuotationLineQuantity": "2",
		"QuotationLinePrice": "10.5", "QuotationLineComment": "Gadgets", "QuotationLineSortOrder": "2",
	})

	// Not created in webCRM: the links settle in state ok with a reason and no webCRM id.
	for _, c := range []struct{ pairing, id string }{{pUsers, employee}, {pOpps, order}, {pLines, orphan}} {
		st := s.waitLinkState(c.pairing, "erp", c.id, "ok")
		if st.CrmID != "" || st.Reason == "" {
			t.Errorf("%s ERP %s: link has webCRM id %q and reason %q; want none and a reason", c.pairing, c.id, st.CrmID, st.Reason)
		}
		t.Logf("%s ERP %s settled: %s", c.pairing, c.id, st.Reason)
	}
	s.checkCounts(map[string]int{"Organisations": 2, "Persons": 2, "Users": 1, "Products": 2, "Opportunities": 1, "QuotationLines": 2}, nil)
	s.assertQuiet()
}
