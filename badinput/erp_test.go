package badinput

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/webcrm"
)

// erpCases is the catalogue of malformed CustomERP answers about one record.
func erpCases() []recordCase {
	const (
		getCustomer = "GET /customers/{id}"
		getContact  = "GET /contacts/{id}"
		getProduct  = "GET /products/{id}"
		getOrder    = "GET /orders/{id}"
		getLine     = "GET /order-lines/{id}"
		outField    = "error naming the record, the field and the value; not retried; the next edit syncs"
	)
	cases := append(transportCases(domain.ERP), valueCases(domain.ERP)...)
	return append(cases, []recordCase{
		{
			name: "422-with-field-errors", input: "422 Unprocessable Entity with problem details naming a field",
			where:   "PUT /customers/{id}, when a webCRM edit is written to the ERP",
			outcome: "error naming the record, the field and the server's message; not retried",
			linked:  true, trigger: editOther,
			fault: func(k *kase) {
				k.rule(answer(k.t.Name(), k.onPut(), 422, "application/problem+json",
					`{"type":"urn:customerp:problem:validation","title":"Unprocessable Entity","status":422,`+
						`"detail":"the body is invalid","errors":[{"field":"phone","message":"must be a Norwegian number"}]}`))
			},
			want: domain.StateError, reason: []string{"422", "phone", "must be a Norwegian number"},
		},
		// ---- wrong JSON types ----
		{
			name: "address-is-string", input: `postalAddress (an object) is a string ("Storgata 1, 0150 Oslo")`, where: getCustomer,
			outcome: "error naming the record and postalAddress (the address is not silently taken as empty)",
			fault:   func(k *kase) { k.edit(set("postalAddress", "Storgata 1, 0150 Oslo")) },
			want:    domain.StateError, reason: []string{"postalAddress"},
			after: func(k *kase, st domain.LinkState) {
				want := str(k.e.erpGet(k.t, customerp.Customers, k.id), "postalAddress.line1")
				if got := str(k.e.crmGet(k.t, webcrm.Organisations, st.CrmID), "OrganisationAddress"); got != want {
					k.t.Errorf("after recovery webCRM OrganisationAddress is %q, want %q", got, want)
				}
			},
		},
		{
			name: "stock-infinity", input: `stockQuantity is "Infinity"`, where: getProduct, outcome: outField,
			pairing: pProducts,
			fault:   func(k *kase) { k.edit(set("stockQuantity", "Infinity")) },
			want:    domain.StateError, reason: []string{"stock-quantity", "Infinity"},
		},
		{
			name: "active-is-number", input: "a contact's active (a bool) is the number 2", where: getContact, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("active", json.Number("2"))) },
			want:    domain.StateError, reason: []string{"status", "2"},
		},
		{
			name: "active-is-word", input: `a contact's active is the string "yes"`, where: getContact, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("active", "yes")) },
			want:    domain.StateError, reason: []string{"status", "yes"},
		},
		{
			name: "birthdate-is-number", input: "a contact's birthDate is the number 19751002", where: getContact, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("birthDate", json.Number("19751002"))) },
			want:    domain.StateError, reason: []string{"birth-date"},
		},
		// ---- unknown enum values, impossible dates ----
		{
			name: "order-status-unknown", input: `an order's status is "archived" (not in the value table)`, where: getOrder, outcome: outField,
			pairing: pOpps, home: domain.WebCRM, linked: true,
			fault: func(k *kase) { k.edit(set("status", "archived")) },
			want:  domain.StateError, reason: []string{"status", "archived"},
		},
		{
			name: "birthdate-feb-30", input: `a contact's birthDate is "2026-02-30"`, where: getContact, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("birthDate", "2026-02-30")) },
			want:    domain.StateError, reason: []string{"birth-date", "2026-02-30"},
		},
		{
			name: "birthdate-year-0", input: `a contact's birthDate is "0000-01-01" (year 0)`, where: getContact, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("birthDate", "0000-01-01")) },
			want:    domain.StateError, reason: []string{"birth-date", "0000-01-01"},
		},
		// ---- missing required fields ----
		{
			name: "customer-without-name", input: "a customer without name", where: getCustomer,
			outcome: "error naming the record and webCRM's required OrganisationName; no nameless organisation is created",
			fault:   func(k *kase) { k.edit(drop("name")) },
			want:    domain.StateError, reason: []string{"name"},
			check: func(k *kase, _ domain.LinkState) {
				ref := domain.LinkWorkflowID(pOrgs, domain.ERP, k.id)
				if recs := k.e.crmByField(webcrm.Organisations, "OrganisationCustom15", ref); len(recs) > 0 {
					k.t.Errorf("a webCRM organisation was created for the nameless customer: %v", recs[0]["OrganisationId"])
				}
			},
			after: func(k *kase, st domain.LinkState) {
				want := str(k.e.erpGet(k.t, customerp.Customers, k.id), "name")
				if got := str(k.e.crmGet(k.t, webcrm.Organisations, st.CrmID), "OrganisationName"); got != want {
					k.t.Errorf("after recovery webCRM OrganisationName is %q, want %q", got, want)
				}
			},
		},
		{
			name: "contact-without-customer", input: "a contact of type person without customerId", where: getContact,
			outcome: "error naming the record and webCRM's required PersonOrganisationId; no person without organisation is created",
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(drop("customerId")) },
			want:    domain.StateError, reason: []string{"organisation"},
			after: func(k *kase, st domain.LinkState) {
				org, found, err := k.e.linkState(pOrgs, domain.ERP, k.extra["customer"])
				if err != nil || !found {
					k.t.Fatalf("look up the link of customer %s: found %v, %v", k.extra["customer"], found, err)
				}
				if got := str(k.e.crmGet(k.t, webcrm.Persons, st.CrmID), "PersonOrganisationId"); got != org.CrmID {
					k.t.Errorf("after recovery the webCRM person %s is at organisation %q, want %s (the ERP contact's customer %s)",
						st.CrmID, got, org.CrmID, k.extra["customer"])
				}
			},
		},
		{
			name: "version-missing", input: "version is missing", where: getCustomer, outcome: outTransient,
			fault: func(k *kase) { k.edit(drop("version")) },
			want:  domain.StateError, reason: []string{"version"},
		},
		// ---- ids ----
		{
			name: "id-null", input: "id is null", where: getCustomer, outcome: outTransient,
			fault: func(k *kase) { k.edit(set("id", nil)) },
			want:  domain.StateError, reason: []string{"no string id"},
		},
		{
			name: "id-is-number", input: "id is a number (9) instead of a string", where: getCustomer, outcome: outTransient,
			fault: func(k *kase) { k.edit(set("id", json.Number("9"))) },
			want:  domain.StateError, reason: []string{"no string id"},
		},
		{
			name: "id-of-another-record", input: "GET /customers/{id} answers a record with another id", where: "GET /customers/{id}",
			outcome: "error naming the record asked for and the id answered (the answer is not used as if it were the record)",
			fault:   func(k *kase) { k.edit(set("id", "CU-77"+itoa(k.n))) },
			want:    domain.StateError, reason: []string{"CU-77"},
		},
		// ---- references ----
		{
			name: "contact-customer-missing", input: "a contact's customerId names a customer that does not exist", where: getContact,
			outcome: "blocked: waiting for that customer, named in the reason; the link retries by itself",
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("customerId", "CU-99"+itoa(k.n))) },
			want:    domain.StateBlocked, noID: true, reason: []string{"CU-99"},
		},
		{
			name: "line-product-unknown", input: "an order line whose productNumber is no product", where: getLine,
			outcome: "error naming the line and the unknown product number",
			pairing: pLines,
			fault:   func(k *kase) { k.edit(set("productNumber", "NOPE-"+itoa(k.n))) },
			want:    domain.StateError, reason: []string{"NOPE-"},
		},
		// ---- sizes, encodings, nesting ----
		{
			name: "name-1mb", input: "a customer name of 1 MB", where: getCustomer,
			outcome: "tolerated: the webCRM organisation name is cut to webCRM's 200 characters (a warning, as for the city below)",
			fault:   func(k *kase) { k.edit(set("name", strings.Repeat("Fjord ", 1<<20/6))) },
			want:    domain.StateOK,
			check: func(k *kase, st domain.LinkState) {
				if got := utf8.RuneCountInString(str(k.e.crmGet(k.t, webcrm.Organisations, st.CrmID), "OrganisationName")); got != 200 {
					k.t.Errorf("webCRM OrganisationName has %d characters, want 200", got)
				}
			},
		},
		{
			name: "city-over-webcrm-limit", input: "a customer city of 80 characters (the ERP takes 100, webCRM 50)", where: getCustomer,
			outcome: "tolerated with a warning in the worker log: webCRM gets the first 50 characters; the ERP keeps all 80",
			fault: func(k *kase) {
				k.e.erpPatch(k.t, customerp.Customers, k.id, map[string]any{"postalAddress": map[string]any{"city": longCity}})
			},
			want: domain.StateOK,
			check: func(k *kase, st domain.LinkState) {
				if got := str(k.e.crmGet(k.t, webcrm.Organisations, st.CrmID), "OrganisationCity"); got != longCity[:50] {
					k.t.Errorf("webCRM OrganisationCity is %q, want the first 50 characters", got)
				}
				if w := k.e.logs.Warnings("cut from 80 to 50"); len(w) == 0 {
					k.t.Errorf("the worker logged no warning about cutting the city to webCRM's 50 characters")
				}
			},
			after: func(k *kase, _ domain.LinkState) {
				if got := str(k.e.erpGet(k.t, customerp.Customers, k.id), "postalAddress.city"); got != longCity {
					k.t.Errorf("after another sync the ERP city is %q, want the full 80 characters", got)
				}
			},
		},
	}...)
}

// longCity is 80 characters: fine for the ERP, too long for webCRM.
const longCity = "Nordre Aasen Nordre Aasen Nordre Aasen Nordre Aasen Nordre Aasen Nordre Aasen No"
