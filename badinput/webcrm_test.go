package badinput

import (
	"encoding/json"
	"strings"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/webcrm"
)

// webcrmCases is the catalogue of malformed webCRM answers about one record.
func webcrmCases() []recordCase {
	const (
		getOrg     = "GET /Organisations/{id}"
		getPerson  = "GET /Persons/{id}"
		getProduct = "GET /Products/{id}"
		getOpp     = "GET /Opportunities/{id}"
		getLine    = "GET /QuotationLines/{id}"
		outField   = "error naming the record, the field and the value; not retried; the next edit syncs"
	)
	cases := append(transportCases(domain.WebCRM), valueCases(domain.WebCRM)...)
	return append(cases, []recordCase{
		// ---- wrong JSON types ----
		{
			name: "name-is-number", input: "OrganisationName is a JSON number (12345)", where: getOrg,
			outcome: "tolerated: the number is taken as its text",
			fault:   func(k *kase) { k.edit(set("OrganisationName", json.Number("12345"))) },
			want:    domain.StateOK,
			check: func(k *kase, st domain.LinkState) {
				if got := str(k.e.erpGet(k.t, customerp.Customers, st.ErpID), "name"); got != "12345" {
					k.t.Errorf("ERP customer name is %q, want 12345", got)
				}
			},
		},
		{
			name: "won-flag-is-number", input: "OpportunityWinYesNo (a bool) is the number 2", where: getOpp, outcome: outField,
			pairing: pOpps,
			fault:   func(k *kase) { k.edit(set("OpportunityWinYesNo", json.Number("2"))) },
			want:    domain.StateError, reason: []string{"OpportunityWinYesNo"},
		},
		{
			name: "email-not-an-address", input: `PersonEmail is no e-mail address ("ida at example")`, where: getPerson,
			outcome: "error naming the record and the ERP's complaint about email; not retried",
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("PersonEmail", "ida at example")) },
			want:    domain.StateError, reason: []string{"email"},
		},
		// ---- unknown enum values, impossible dates ----
		{
			name: "person-status-unknown", input: `PersonStatus is "Weird" (not in the value table)`, where: getPerson, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("PersonStatus", "Weird")) },
			want:    domain.StateError, reason: []string{"status", "Weird"},
		},
		{
			name: "birthday-feb-30", input: `PersonBirthday is "2026-02-30T00:00:00"`, where: getPerson, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("PersonBirthday", "2026-02-30T00:00:00")) },
			want:    domain.StateError, reason: []string{"birth-date", "2026-02-30"},
		},
		{
			name: "birthday-year-0", input: `PersonBirthday is "0000-01-01T00:00:00" (year 0)`, where: getPerson, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("PersonBirthday", "0000-01-01T00:00:00")) },
			want:    domain.StateError, reason: []string{"birth-date", "0000-01-01"},
		},
		// ---- missing required fields ----
		{
			name: "person-without-last-name", input: "a person without PersonLastName", where: getPerson,
			outcome: "tolerated: the ERP contact gets no last name (the mapping's empty marker \"-\" stands for none)",
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(drop("PersonLastName")) },
			want:    domain.StateOK,
			check: func(k *kase, st domain.LinkState) {
				if got := str(k.e.erpGet(k.t, customerp.Contacts, st.ErpID), "lastName"); got != "" {
					k.t.Errorf("ERP contact lastName is %q, want none", got)
				}
			},
		},
		{
			name: "person-without-organisation", input: "a person without PersonOrganisationId", where: getPerson,
			outcome: "error naming the record and the ERP's required customerId; not retried",
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(drop("PersonOrganisationId")) },
			want:    domain.StateError, reason: []string{"customerId"},
		},
		{
			name: "organisation-name-blank", input: `OrganisationName is blank ("   ")`, where: getOrg,
			outcome: "error naming the record and the ERP's required name; not retried",
			fault:   func(k *kase) { k.edit(set("OrganisationName", "   ")) },
			want:    domain.StateError, reason: []string{"name"},
		},
		// ---- ids ----
		{
			name: "id-null", input: "OrganisationId is null", where: getOrg, outcome: outTransient,
			fault: func(k *kase) { k.edit(set("OrganisationId", nil)) },
			want:  domain.StateError, reason: []string{"OrganisationId"},
		},
		{
			name: "id-negative", input: "OrganisationId is negative (-id)", where: getOrg, outcome: outTransient,
			fault: func(k *kase) { k.edit(set("OrganisationId", json.Number("-"+k.crmID()))) },
			want:  domain.StateError, reason: []string{"OrganisationId"},
		},
		{
			name: "id-as-string", input: `OrganisationId is a string ("7")`, where: getOrg,
			outcome: "tolerated: the same id",
			fault:   func(k *kase) { k.edit(set("OrganisationId", k.crmID())) },
			want:    domain.StateOK,
		},
		// ---- references ----
		{
			name: "person-organisation-missing", input: "PersonOrganisationId names an organisation that does not exist", where: getPerson,
			outcome: "blocked: waiting for that organisation, named in the reason; the link retries by itself",
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("PersonOrganisationId", 900000+k.n)) },
			want:    domain.StateBlocked, noID: true,
			check: func(k *kase, st domain.LinkState) {
				if !namesID(st.Reason, itoa(900000+k.n)) {
					k.t.Errorf("the reason does not name organisation %d: %s", 900000+k.n, st.Reason)
				}
			},
		},
		{
			name: "person-organisation-deleted", input: "the person's organisation was deleted in webCRM (PersonOrganisationId points at a removed record)", where: getPerson,
			outcome: "blocked: waiting for that organisation, named in the reason; moving the person to an existing organisation syncs it",
			pairing: pPersons,
			fault: func(k *kase) {
				if err := k.e.crm.Remove(string(webcrm.Organisations), mustAtoi(k.t, k.extra["org"])); err != nil {
					k.t.Fatalf("remove organisation %s: %v", k.extra["org"], err)
				}
			},
			want: domain.StateBlocked, noID: true,
			check: func(k *kase, st domain.LinkState) {
				if !namesID(st.Reason, k.extra["org"]) {
					k.t.Errorf("the reason does not name organisation %s: %s", k.extra["org"], st.Reason)
				}
			},
			fix: func(k *kase) {
				org := k.e.crmPut(k.t, webcrm.Organisations, crmOrg(k.e.next()))
				k.e.crmPatch(k.t, webcrm.Persons, mustAtoi(k.t, k.id), map[string]any{"PersonOrganisationId": org})
			},
		},
		{
			name: "person-organisation-not-a-number", input: `PersonOrganisationId is a string that is no id ("abc")`, where: getPerson, outcome: outField,
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("PersonOrganisationId", "abc")) },
			want:    domain.StateError, reason: []string{"organisation", "abc"},
		},
		{
			name: "person-organisation-negative", input: "PersonOrganisationId is negative (-5)", where: getPerson,
			outcome: "taken as no organisation: error naming the record and the ERP's required customerId",
			pairing: pPersons,
			fault:   func(k *kase) { k.edit(set("PersonOrganisationId", json.Number("-5"))) },
			want:    domain.StateError, reason: []string{"customerId"},
		},
		{
			name: "line-product-unknown", input: "a quotation line whose product number (QuotationLineData1) is no product", where: getLine,
			outcome: "error naming the line and the unknown product number",
			pairing: pLines,
			fault:   func(k *kase) { k.edit(set("QuotationLineData1", "NOPE-"+itoa(k.n))) },
			want:    domain.StateError, reason: []string{"NOPE-"},
		},
		// ---- sizes, encodings, nesting ----
		{
			name: "name-1mb", input: "OrganisationName of 1 MB (1,000,000 characters)", where: getOrg,
			outcome: "error naming the record and the ERP's limit on name; the reason stays short",
			fault:   func(k *kase) { k.edit(set("OrganisationName", strings.Repeat("Fjord ", 1_000_000/6))) },
			want:    domain.StateError, reason: []string{"name"},
		},
		{
			name: "city-over-erp-limit", input: "OrganisationCity of 150 characters (the ERP takes 100)", where: getOrg,
			outcome: "error naming the record and postalAddress.city; not retried",
			fault:   func(k *kase) { k.edit(set("OrganisationCity", strings.Repeat("Aarhus ", 22)[:150])) },
			want:    domain.StateError, reason: []string{"postalAddress.city"},
		},
	}...)
}
