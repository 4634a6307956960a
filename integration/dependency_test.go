package integration

import (
	"fmt"
	"testing"

	"github.com/tandemsync/tandem/domain"
)

// Requirement 6, first way: a person whose organisation has no link yet
// (its pairing is not even running) makes the organisation sync first, then
// completes; the organisations pairing started later finds it linked and
// creates no second customer.
func TestPersonSyncsItsOrganisationFirst(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: []string{pPersons}})
	org := s.crmPut("Organisations", crmOrg(1))
	person := s.crmPut("Persons", crmPerson(1, org))

	contact := s.waitERPCounterpart(pPersons, person)
	st, found := s.linkState(pOrgs, domain.WebCRM, itoa(org))
	if !found || st.State != domain.StateOK || st.ErpID == "" {
		t.Fatalf("organisation link: found %v, state %q (%s), ERP id %q; want ok and linked", found, st.State, st.Reason, st.ErpID)
	}
	if got := str(contact, "customerId"); got != st.ErpID {
		t.Errorf("ERP contact's customerId = %q, want the organisation's customer %q", got, st.ErpID)
	}

	s.startPairings(pOrgs)
	s.waitPolls(2)
	if n := len(s.erp.Records("customers")); n != 1 {
		t.Errorf("ERP holds %d customers, want 1", n)
	}
	if n := len(s.erpByRef("customers", linkID(pOrgs, domain.WebCRM, itoa(org)))); n != 1 {
		t.Errorf("%d ERP customers carry the organisation's link, want 1", n)
	}
	s.assertQuiet()
}

// Requirement 6, second way: a person whose organisation cannot be linked
// yet (it has no name, which the ERP requires) waits in state blocked,
// naming the organisation's link; once the organisation is fixed in webCRM
// and linked, the person's link completes by itself.
func TestPersonBlockedUntilItsOrganisationLinks(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: []string{pOrgs, pPersons}, ExpectWarnings: true})
	fields := crmOrg(1)
	delete(fields, "OrganisationName")
	org := s.crmPut("Organisations", fields)
	person := s.crmPut("Persons", crmPerson(1, org))

	st := s.waitLinkState(pPersons, domain.WebCRM, itoa(person), domain.StateBlocked)
	if want := linkID(pOrgs, domain.WebCRM, itoa(org)); st.BlockedOn != want {
		t.Errorf("person link blocked on %q, want %q (reason %q)", st.BlockedOn, want, st.Reason)
	}
	t.Logf("person link blocked: %s", st.Reason)
	if n := len(s.erp.Records("contacts")); n != 0 {
		t.Fatalf("ERP holds %d contacts while the person is blocked, want 0", n)
	}

	s.crmPatch("Organisations", org, map[string]any{"OrganisationName": "Fjord Tech 1 A/S"})
	customer := s.waitERPCounterpart(pOrgs, org)
	s.waitFor(fmt.Sprintf("the blocked person %d to complete", person), 2*waitTimeout, func() error {
		recs := s.erpByRef("contacts", linkID(pPersons, domain.WebCRM, itoa(person)))
		if len(recs) != 1 {
			_, st, _, _ := s.lookup(pPersons, domain.WebCRM, itoa(person))
			return fmt.Errorf("%d ERP contacts for it; link %s: %s", len(recs), st.State, st.Reason)
		}
		return nil
	})
	contact := s.waitERPCounterpart(pPersons, person)
	if got, want := str(contact, "customerId"), str(customer, "id"); got != want {
		t.Errorf("ERP contact's customerId = %q, want %q", got, want)
	}
	s.assertQuiet()
}

// A quotation line names its product by number (the pairing depends on
// products: "the product number on a line should exist as a product
// first"). When the product has not reached the ERP yet, the line must not
// end up without its product: the ERP order line carries the productId of
// the product with that number once both are synced. Here the products
// pairing starts only after the line was seen.
func TestQuotationLineGetsItsProduct(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: []string{pOrgs, pOpps, pLines}})
	org := s.crmPut("Organisations", crmOrg(1))
	opp := s.crmPut("Opportunities", crmOpp(1, org, 0, 0))
	product := s.crmPut("Products", crmProduct("P-0009"))
	line := s.crmPut("QuotationLines", crmLine(opp, "P-0009", 2))

	s.waitFor(fmt.Sprintf("quotation line %d to be seen by its link", line), waitTimeout, func() error {
		_, st, found, err := s.lookup(pLines, domain.WebCRM, itoa(line))
		if err != nil {
			return err
		}
		if !found || st.Applied == 0 && st.State != domain.StateBlocked {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	s.startPairings(pProducts)
	erpProduct := str(s.waitERPCounterpart(pProducts, product), "id")
	orderLine := str(s.waitERPCounterpart(pLines, line), "id")
	s.waitERPField("order-lines", orderLine, "productId", erpProduct)
	s.waitERPField("order-lines", orderLine, "productNumber", "P-0009")
	s.assertQuiet()
}
