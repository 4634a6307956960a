package integration

import (
	"fmt"
	"testing"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/workflows"
)

// Requirement 7: records that exist on both sides before the first run
// (same VAT number, same e-mail in another case, same product number) are
// linked, not duplicated; an empty value on one side is filled from the
// other. All pairings start at once, so the persons pairing looks at the
// ERP customer (through its contact) while the organisations pairing looks
// at the webCRM organisation. A person and a user with the same e-mail stay
// two contacts: the user matches the employee contact only.
func TestExistingRecordsAreMatchedNotDuplicated(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})

	// k organisations with one person each exist on both sides.
	const k = 4
	type pair struct {
		pairing string
		crm     int
		erp     string
	}
	var pairs []pair
	var orgs []int
	var customers []string
	for i := 1; i <= k; i++ {
		vat := fmt.Sprintf("DK1234567%d", i)
		org := s.crmPut("Organisations", map[string]any{"OrganisationName": fmt.Sprintf("Match %d A/S", i), "OrganisationVatNumber": vat, "OrganisationCountry": "Danmark"})
		person := s.crmPut("Persons", map[string]any{"PersonOrganisationId": org, "PersonFirstName": "Lise", "PersonLastName": fmt.Sprintf("Lund%d", i),
			"PersonEmail": fmt.Sprintf("Lise.Lund%d@Match.example", i), "PersonStatus": "Active"})
		customer := s.erpPut("customers", map[string]any{"name": fmt.Sprintf("Match %d A/S", i), "organisationNumber": vat, "phone": "+45 55 55 55 55",
			"postalAddress": map[string]any{"countryCode": "DK"}})
		contact := s.erpPut("contacts", map[string]any{"contactType": "person", "customerId": customer, "firstName": "Lise", "lastName": fmt.Sprintf("Lund%d", i),
			"email": fmt.Sprintf("lise.lund%d@match.example", i)})
		pairs = append(pairs, pair{pOrgs, org, customer}, pair{pPersons, person, contact})
		orgs, customers = append(orgs, org), append(customers, customer)
	}
	user := s.crmPut("Users", map[string]any{"UserName": "Ole Olsen", "UserEmail": "OLE@tandem.example"})
	product := s.crmPut("Products", crmProduct("M-1"))
	employee := s.erpPut("contacts", map[string]any{"contactType": "employee", "firstName": "Ole", "lastName": "Olsen", "email": "ole@tandem.example"})
	// A person contact with the user's e-mail: it is a person, not the user.
	namesake := s.erpPut("contacts", map[string]any{"contactType": "person", "customerId": customers[0], "firstName": "Ole", "lastName": "Olsen", "email": "ole@tandem.example"})
	erpProduct := s.erpPut("products", map[string]any{"productNumber": "M-1", "name": "Widget M-1", "unit": "stk", "salesPrice": 99.5, "costPrice": 40.25, "vatCode": "25"})
	pairs = append(pairs, pair{pUsers, user, employee}, pair{pProducts, product, erpProduct})

	// Slow answers widen the moment in which both sides of a pair have
	// their first contact under way, as a busy ERP would.
	if err := s.erp.Faults().Set(erpsim.FaultConfig{LatencyMillis: 100}); err != nil {
		t.Fatal(err)
	}
	s.startPairings(allPairings...)
	for _, c := range pairs {
		st := s.waitLinked(c.pairing, domain.WebCRM, itoa(c.crm))
		if st.ErpID != c.erp {
			t.Errorf("%s: webCRM %d linked to ERP %s, want the existing %s", c.pairing, c.crm, st.ErpID, c.erp)
		}
		if home, _, _, _ := s.lookup(c.pairing, domain.ERP, c.erp); home != linkID(c.pairing, domain.WebCRM, itoa(c.crm)) {
			home2, _, _, _ := s.lookup(c.pairing, domain.WebCRM, itoa(c.crm))
			if home != home2 {
				t.Errorf("%s: ERP %s belongs to link %q, webCRM %d to link %q; want one link", c.pairing, c.erp, home, c.crm, home2)
			}
		}
	}
	s.erp.Faults().Clear()
	// The namesake person contact is created in webCRM as a person of the first organisation.
	ns := s.waitCRMCounterpart(pPersons, namesake)
	expect(t, "namesake person", ns, map[string]string{"PersonOrganisationId": itoa(orgs[0]), "PersonEmail": "ole@tandem.example"})
	// The empty phone in webCRM is filled from the ERP.
	s.waitCRMField("Organisations", orgs[0], "OrganisationTelephone", "+45 55 55 55 55")

	s.checkCounts(map[string]int{"Organisations": k, "Persons": k + 1, "Users": 1, "Products": 1},
		map[string]int{"customers": k, "contacts": k + 2, "products": 1})
	s.assertQuiet()
}

// Requirement 7, seen from the ERP: when the ERP customer reaches tandem
// first, it still finds the webCRM organisation whose VAT number is written
// differently and links to it instead of creating a second one: once
// through a backfill of the ERP side, once through a person contact of the
// customer that the persons pairing syncs (its customer is synced first).
func TestExistingRecordsMatchFromTheERPSide(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	orgA := s.crmPut("Organisations", map[string]any{"OrganisationName": "Match A/S", "OrganisationVatNumber": "DK 12.34-56 78"})
	customerA := s.erpPut("customers", map[string]any{"name": "Match A/S", "organisationNumber": "dk12345678"})
	orgB := s.crmPut("Organisations", map[string]any{"OrganisationName": "Match B AS", "OrganisationVatNumber": "NO 999 888 777 MVA"})
	customerB := s.erpPut("customers", map[string]any{"name": "Match B AS", "organisationNumber": "no999888777mva"})
	contactB := s.erpPut("contacts", map[string]any{"contactType": "person", "customerId": customerB, "lastName": "Berg", "email": "berg@matchb.example"})

	// The persons pairing syncs the contact, and its customer first.
	s.startPairings(pPersons)
	person := s.waitCRMCounterpart(pPersons, contactB)
	if st := s.waitLinked(pOrgs, domain.ERP, customerB); st.CrmID != itoa(orgB) {
		t.Errorf("ERP customer %s linked to webCRM organisation %s, want the existing %d", customerB, st.CrmID, orgB)
	}
	if got := str(person, "PersonOrganisationId"); got != itoa(orgB) {
		t.Errorf("the contact's person is at webCRM organisation %s, want %d", got, orgB)
	}
	// A backfill of the ERP side reaches customer A.
	s.backfill(pOrgs, workflows.BackfillERP)
	if st := s.waitLinked(pOrgs, domain.ERP, customerA); st.CrmID != itoa(orgA) {
		t.Errorf("backfill: ERP customer %s linked to webCRM organisation %s, want the existing %d", customerA, st.CrmID, orgA)
	}
	if n := s.crm.Count("Organisations"); n != 2 {
		t.Errorf("webCRM holds %d organisations, want 2", n)
	}
}
