package integration

import (
	"testing"
)

// expect checks fields of a record: path -> wanted value.
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
		"orderId": g.Order, "productNumber": "P-0001", "productId": g.ErpProduct,
		"quantity": "3", "unitPrice": "99.5", "vatPercent": "25", "description": "Widgets",
	})
	for p, res := range erpResource {
		if p == pUsers {
			continue // contacts are counted with persons
		}
		want := 1
		if res == "contacts" {
			want = 2 // the person and the employee
		}
		if n := len(s.erp.Records(res)); n != want {
			t.Errorf("ERP holds %d %s, want %d", n, res, want)
		}
	}
	s.assertQuiet()
}
