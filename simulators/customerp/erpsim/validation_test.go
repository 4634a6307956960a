package erpsim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

// fixture creates one record of each kind and returns their ids.
type fixture struct{ customer, person, employee, product, order, line string }

func newFixture(h *harness) fixture {
	var f fixture
	f.customer = h.put("customers", map[string]any{"name": "Nordlys Rør ApS", "organisationNumber": "DK11223344"})
	f.person = h.put("contacts", map[string]any{"contactType": "person", "customerId": f.customer, "lastName": "Jensen", "email": "mj@nordlys.dk"})
	f.employee = h.put("contacts", map[string]any{"contactType": "employee", "lastName": "Berg"})
	f.product = h.put("products", map[string]any{"name": "Ventil", "productNumber": "P-1", "salesPrice": n("10")})
	f.order = h.put("orders", map[string]any{"customerId": f.customer, "contactId": f.person})
	f.line = h.put("order-lines", map[string]any{"orderId": f.order, "productId": f.product, "quantity": n("1"), "unitPrice": n("10")})
	return f
}

// TestEveryValidationRule sends one bad input per rule and checks the status and the field the
// problem details name; nothing is written.
func TestEveryValidationRule(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	f := newFixture(h)
	with := func(base map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for bk, bv := range base {
			out[bk] = bv
		}
		if v == nil && k != "" && !strings.HasPrefix(k, "=") {
			delete(out, k)
		} else {
			out[strings.TrimPrefix(k, "=")] = v
		}
		return out
	}
	cu := map[string]any{"name": "A"}
	per := map[string]any{"contactType": "person", "customerId": f.customer}
	pr := map[string]any{"name": "P"}
	or := map[string]any{"customerId": f.customer}
	ln := map[string]any{"orderId": f.order, "quantity": n("1"), "unitPrice": n("2")}
	long := func(k int) string { return strings.Repeat("x", k) }
	cases := []struct {
		name     string
		resource string
		body     map[string]any
		status   int
		field    string
		message  string
	}{
		{"customer name missing", "customers", with(cu, "name", nil), 400, "name", "is required"},
		{"customer name null", "customers", with(cu, "=name", nil), 400, "name", "is required"},
		{"customer name empty", "customers", with(cu, "name", ""), 400, "name", "at least 1"},
		{"customer name too long", "customers", with(cu, "name", long(201)), 400, "name", "at most 200"},
		{"customer name not a string", "customers", with(cu, "name", 5), 400, "name", "must be a string"},
		{"customer name replacement character", "customers", with(cu, "name", "bad \ufffd"), 400, "name", "UTF-8"},
		{"customer unknown field", "customers", with(cu, "colour", "red"), 400, "colour", "unknown field"},
		{"customer read-only id", "customers", with(cu, "id", "CU-1"), 400, "id", "read-only"},
		{"customer read-only version", "customers", with(cu, "version", 3), 400, "version", "read-only"},
		{"customer e-mail", "customers", with(cu, "email", "not-an-email"), 400, "email", "e-mail"},
		{"customer country code", "customers", with(cu, "postalAddress", map[string]any{"countryCode": "dk"}), 400, "postalAddress.countryCode", "must match"},
		{"customer address unknown field", "customers", with(cu, "postalAddress", map[string]any{"street": "x"}), 400, "postalAddress.street", "unknown field"},
		{"customer address not an object", "customers", with(cu, "postalAddress", "Vestergade 1"), 400, "postalAddress", "must be an object"},
		{"customer postal code too long", "customers", with(cu, "deliveryAddress", map[string]any{"postalCode": long(21)}), 400, "deliveryAddress.postalCode", "at most 20"},
		{"customer active not a bool", "customers", with(cu, "active", "yes"), 400, "active", "true or false"},
		{"customer externalRef too long", "customers", with(cu, "externalRef", long(201)), 400, "externalRef", "at most 200"},
		{"contact type missing", "contacts", with(per, "contactType", nil), 400, "contactType", "is required"},
		{"contact type unknown", "contacts", with(per, "contactType", "user"), 400, "contactType", "one of"},
		{"person without customer", "contacts", with(per, "customerId", nil), 400, "customerId", "required when contactType is person"},
		{"person with missing customer", "contacts", with(per, "customerId", "CU-999999"), 422, "customerId", "does not exist"},
		{"contact birth date", "contacts", with(per, "birthDate", "2024-02-30"), 400, "birthDate", "must be a date"},
		{"contact e-mail too long", "contacts", with(per, "email", long(250)+"@x.dk"), 400, "email", "at most 254"},
		{"product name missing", "products", with(pr, "name", nil), 400, "name", "is required"},
		{"product price as string", "products", with(pr, "salesPrice", "12.5"), 400, "salesPrice", "must be a number"},
		{"product price 11 decimals", "products", with(pr, "salesPrice", n("1.12345678901")), 400, "salesPrice", "at most 15 digits"},
		{"product price 16 digits", "products", with(pr, "salesPrice", n("1234567890123456")), 400, "salesPrice", "at most 15 digits"},
		{"product stock not a number", "products", with(pr, "stockQuantity", true), 400, "stockQuantity", "must be a number"},
		{"order customer missing", "orders", with(or, "customerId", nil), 400, "customerId", "is required"},
		{"order customer unknown", "orders", with(or, "customerId", "CU-999999"), 422, "customerId", "does not exist"},
		{"order contact unknown", "orders", with(or, "contactId", "CT-999999"), 422, "contactId", "does not exist"},
		{"order sales rep unknown", "orders", with(or, "salesRepContactId", "CT-999999"), 422, "salesRepContactId", "does not exist"},
		{"order currency", "orders", with(or, "currency", "dkk"), 400, "currency", "must match"},
		{"order discount over 100", "orders", with(or, "discount", n("101")), 400, "discount", "at most 100"},
		{"order discount negative", "orders", with(or, "discount", n("-1")), 400, "discount", "at least 0"},
		{"order status", "orders", with(or, "status", "shipped"), 400, "status", "one of"},
		{"order date", "orders", with(or, "orderDate", "01-03-2025"), 400, "orderDate", "must be a date"},
		{"order lines read-only", "orders", with(or, "lines", []any{}), 400, "lines", "read-only"},
		{"order total read-only", "orders", with(or, "totalAmount", n("5")), 400, "totalAmount", "read-only"},
		{"line order missing", "order-lines", with(ln, "orderId", nil), 400, "orderId", "is required"},
		{"line order unknown", "order-lines", with(ln, "orderId", "OR-999999"), 422, "orderId", "does not exist"},
		{"line quantity missing", "order-lines", with(ln, "quantity", nil), 400, "quantity", "is required"},
		{"line price not a number", "order-lines", with(ln, "unitPrice", "x"), 400, "unitPrice", "must be a number"},
		{"line sort order fraction", "order-lines", with(ln, "sortOrder", n("1.5")), 400, "sortOrder", "integer"},
		{"line sort order negative", "order-lines", with(ln, "sortOrder", n("-1")), 400, "sortOrder", "at least 0"},
		{"line product unknown", "order-lines", with(ln, "productId", "PR-999999"), 422, "productId", "does not exist"},
		{"line discount over 100", "order-lines", with(ln, "discountPercent", n("100.5")), 400, "discountPercent", "at most 100"},
		{"line vat negative", "order-lines", with(ln, "vatPercent", n("-5")), 400, "vatPercent", "at least 0"},
		{"line read-only lineId", "order-lines", with(ln, "lineId", "OL-1"), 400, "lineId", "read-only"},
	}
	before := h.srv.Stats().Writes
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := h.do(http.MethodPost, "/"+tc.resource, tc.body)
			require.Equal(t, tc.status, a.Status, "body %s", a.Body)
			p := a.problem(t)
			assertField(t, p, tc.field, tc.message)
		})
	}
	t.Run("line cannot move to another order", func(t *testing.T) {
		other := h.put("orders", map[string]any{"customerId": f.customer})
		line, ok := h.srv.Record("order-lines", f.line)
		require.True(t, ok)
		a := h.do(http.MethodPut, "/order-lines/"+f.line, map[string]any{"orderId": other, "quantity": n("1"), "unitPrice": n("10")},
			"If-Match", fmt.Sprintf(`"%v"`, line["version"]))
		require.Equal(t, 422, a.Status, "%s", a.Body)
		assertField(t, a.problem(t), "orderId", "cannot move")
	})
	assert.Equal(t, before, h.srv.Stats().Writes, "no bad input was written")
}

func assertField(t *testing.T, p customerp.Problem, field, message string) {
	t.Helper()
	for _, fe := range p.Errors {
		if fe.Field == field {
			assert.Contains(t, fe.Message, message)
			return
		}
	}
	t.Errorf("no error for field %q in %+v", field, p.Errors)
}

// TestBodyAndQueryErrors covers what is wrong with a request as a whole.
func TestBodyAndQueryErrors(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{MaxBodyBytes: 2048})
	cases := []struct {
		name        string
		method      string
		path        string
		body        any
		contentType string
		status      int
		field       string
	}{
		{"invalid UTF-8", "POST", "/customers", []byte("{\"name\":\"\xff\xfe\"}"), "", 400, ""},
		{"not JSON", "POST", "/customers", "{name:", "", 400, ""},
		{"a JSON array", "POST", "/customers", `[{"name":"a"}]`, "", 400, ""},
		{"two JSON values", "POST", "/customers", `{"name":"a"} {"name":"b"}`, "", 400, ""},
		{"not application/json", "POST", "/customers", `{"name":"a"}`, "text/plain", 415, ""},
		{"body too large", "POST", "/customers", `{"name":"` + strings.Repeat("x", 4096) + `"}`, "", 413, ""},
		{"unknown query parameter", "GET", "/customers?colour=red", nil, "", 400, "colour"},
		{"filter of another resource", "GET", "/products?email=a@b.dk", nil, "", 400, "email"},
		{"limit zero", "GET", "/customers?limit=0", nil, "", 400, "limit"},
		{"limit too large", "GET", "/customers/changes?limit=1001", nil, "", 400, "limit"},
		{"since not a token", "GET", "/customers/changes?since=abc", nil, "", 400, "since"},
		{"after not a cursor", "GET", "/customers?after=-5", nil, "", 400, "after"},
		{"contact type filter", "GET", "/contacts?contactType=user", nil, "", 400, "contactType"},
		{"repeated parameter", "GET", "/customers?limit=1&limit=2", nil, "", 400, "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a answer
			if tc.contentType != "" {
				a = h.do(tc.method, tc.path, tc.body, "Content-Type", tc.contentType)
			} else {
				a = h.do(tc.method, tc.path, tc.body)
			}
			require.Equal(t, tc.status, a.Status, "%s", a.Body)
			p := a.problem(t)
			if tc.field != "" {
				assertField(t, p, tc.field, "")
			}
		})
	}
	assert.Empty(t, h.srv.Records("customers"))
}
