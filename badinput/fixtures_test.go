package badinput

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/webcrm"
)

// webCRM entity and ERP resource of each pairing (the default mappings).
var (
	crmEntity = map[string]webcrm.Entity{pOrgs: webcrm.Organisations, pPersons: webcrm.Persons,
		pProducts: webcrm.Products, pOpps: webcrm.Opportunities, pLines: webcrm.QuotationLines}
	erpResource = map[string]customerp.Resource{pOrgs: customerp.Customers, pPersons: customerp.Contacts,
		pProducts: customerp.Products, pOpps: customerp.Orders, pLines: customerp.OrderLines}
	// touchField is, per pairing, a plain text field both sides map, which a
	// test edits to show that a record syncs again.
	touchField = map[string]struct{ crm, erp string }{
		pOrgs:     {"OrganisationTelephone", "phone"},
		pPersons:  {"PersonTitle", "title"},
		pProducts: {"ProductVatCode", "vatCode"},
		pOpps:     {"OpportunityDescription", "description"},
		pLines:    {"QuotationLineComment", "description"},
	}
)

// ---- records as a person would enter them in each system ----

func crmOrg(n int) map[string]any {
	return map[string]any{
		"OrganisationName":      fmt.Sprintf("Badinput Org %d ApS", n),
		"OrganisationVatNumber": fmt.Sprintf("DK%08d", 70000000+n),
		"OrganisationAddress":   fmt.Sprintf("Skovvej %d", n),
		"OrganisationPostCode":  "8000",
		"OrganisationCity":      "Aarhus",
		"OrganisationCountry":   "Danmark",
		"OrganisationTelephone": fmt.Sprintf("+45 70 00 %04d", n%10000),
	}
}

func crmPerson(n, org int) map[string]any {
	return map[string]any{
		"PersonOrganisationId": org,
		"PersonFirstName":      "Ida",
		"PersonLastName":       fmt.Sprintf("Holm%d", n),
		"PersonEmail":          fmt.Sprintf("ida.holm%d@badinput.example", n),
		"PersonTitle":          "Buyer",
		"PersonStatus":         "Active",
		"PersonBirthday":       "1980-05-17T00:00:00",
	}
}

func crmProduct(n int) map[string]any {
	return map[string]any{
		"ProductCustom1":   fmt.Sprintf("BI-%05d", n),
		"ProductCustom2":   fmt.Sprintf("Gadget %d", n),
		"ProductCustom3":   "stk",
		"ProductPrice":     10.5,
		"ProductCostPrice": 4.25,
		"ProductVatCode":   "25",
	}
}

func crmOpp(n, org int) map[string]any {
	return map[string]any{
		"OpportunityOrganisationId": org,
		"OpportunityNumber":         fmt.Sprintf("BI-%06d", n),
		"OpportunityDescription":    fmt.Sprintf("Gadgets %d", n),
		"OpportunityCurrencyName":   "DKK",
		"OpportunityOrderDate":      "2025-03-01T00:00:00",
		"OpportunityWinYesNo":       false,
	}
}

func crmLine(opp int, product string) map[string]any {
	return map[string]any{
		"QuotationLineOpportunityId": opp,
		"QuotationLineData1":         product,
		"QuotationLineQuantity":      2,
		"QuotationLinePrice":         10.5,
		"QuotationLineVatPercentage": 25,
		"QuotationLineComment":       "Gadgets",
		"QuotationLineSortOrder":     1,
	}
}

func erpCustomer(n int) map[string]any {
	return map[string]any{
		"name":               fmt.Sprintf("Badinput Kunde %d AS", n),
		"organisationNumber": fmt.Sprintf("NO%09d", 800000000+n),
		"phone":              fmt.Sprintf("+47 80 00 %04d", n%10000),
		"postalAddress":      map[string]any{"line1": fmt.Sprintf("Storgata %d", n), "postalCode": "0150", "city": "Oslo", "countryCode": "NO"},
	}
}

func erpContact(n int, customer string) map[string]any {
	return map[string]any{
		"contactType": "person",
		"customerId":  customer,
		"firstName":   "Ola",
		"lastName":    fmt.Sprintf("Lie%d", n),
		"email":       fmt.Sprintf("ola.lie%d@badinput.example", n),
		"title":       "Manager",
		"birthDate":   "1975-10-02",
		"active":      true,
	}
}

func erpProduct(n int) map[string]any {
	return map[string]any{
		"productNumber": fmt.Sprintf("EP-%05d", n),
		"name":          fmt.Sprintf("Sprocket %d", n),
		"unit":          "pcs",
		"salesPrice":    json.Number("20.5"),
		"costPrice":     json.Number("8.75"),
		"vatCode":       "25",
		"stockQuantity": json.Number("12"),
	}
}

// ---- direct edits, as a person in each system's screens ----

func (e *env) crmPut(t reporter, entity webcrm.Entity, rec map[string]any) int {
	t.Helper()
	id, err := e.crm.Put(string(entity), rec)
	if err != nil {
		t.Fatalf("webCRM: put %s: %v", entity, err)
	}
	return id
}

func (e *env) crmPatch(t reporter, entity webcrm.Entity, id int, fields map[string]any) {
	t.Helper()
	if err := e.crm.Patch(string(entity), id, fields); err != nil {
		t.Fatalf("webCRM: patch %s %d: %v", entity, id, err)
	}
}

func (e *env) crmGet(t reporter, entity webcrm.Entity, id string) map[string]any {
	t.Helper()
	n, err := strconv.Atoi(id)
	if err != nil {
		t.Fatalf("webCRM %s id %q is not a number", entity, id)
	}
	rec, ok := e.crm.Record(string(entity), n)
	if !ok {
		t.Fatalf("webCRM %s %s does not exist", entity, id)
	}
	return rec
}

func (e *env) erpPut(t reporter, r customerp.Resource, rec map[string]any) string {
	t.Helper()
	out, err := e.erp.Put(string(r), rec)
	if err != nil {
		t.Fatalf("ERP: put %s: %v", r, err)
	}
	return str(out, "id")
}

func (e *env) erpPatch(t reporter, r customerp.Resource, id string, fields map[string]any) {
	t.Helper()
	if _, err := e.erp.Patch(string(r), id, fields); err != nil {
		t.Fatalf("ERP: patch %s %s: %v", r, id, err)
	}
}

func (e *env) erpGet(t reporter, r customerp.Resource, id string) map[string]any {
	t.Helper()
	rec, ok := e.erp.Record(string(r), id)
	if !ok {
		t.Fatalf("ERP %s %s does not exist", r, id)
	}
	return rec
}

// erpByRef returns the ERP records of r whose externalRef is ref.
func (e *env) erpByRef(r customerp.Resource, ref string) []map[string]any {
	var out []map[string]any
	for _, rec := range e.erp.Records(string(r)) {
		if rec["externalRef"] == ref {
			out = append(out, rec)
		}
	}
	return out
}

// crmByField returns the webCRM records of entity whose field equals value.
func (e *env) crmByField(entity webcrm.Entity, field, value string) []map[string]any {
	var out []map[string]any
	for _, rec := range e.crm.Records(string(entity)) {
		if str(rec, field) == value {
			out = append(out, rec)
		}
	}
	return out
}

// str reads a (dotted) field of a record as text; "" when absent.
func str(rec map[string]any, path string) string {
	switch v := customerp.Record(rec).Lookup(path).(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}
