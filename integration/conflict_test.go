package integration

import (
	"fmt"
	"testing"

	"github.com/tandemsync/tandem/domain"
)

// Requirement 4: the same field edited on both sides before a poll is
// decided by the field's owner, else by the newest edit, and the decision
// is recorded on the link.
func TestConflictsDecidedByOwnerOrNewest(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: allPairings})
	g := s.crmGraph(1)
	before := map[string]int{}
	for p, id := range map[string]int{pOrgs: g.Org, pPersons: g.Person, pOpps: g.Opp, pProducts: g.Product} {
		st, _ := s.linkState(p, domain.WebCRM, itoa(id))
		before[p] = st.Conflicts
	}

	// Hold the polls, so both edits of each field reach the link together.
	s.pause(allPairings...)
	// Newest wins (record update times; neither system keeps field times):
	// the organisation's phone is edited in webCRM, then in the ERP; the
	// person's title in the ERP, then in webCRM.
	s.crmPatch("Organisations", g.Org, map[string]any{"OrganisationTelephone": "+45 10 10 10 10"})
	s.erpPatch("customers", g.Customer, map[string]any{"phone": "+45 20 20 20 20"})
	s.erpPatch("contacts", g.Contact, map[string]any{"title": "CTO"})
	s.crmPatch("Persons", g.Person, map[string]any{"PersonTitle": "COO"})
	// Owner wins: the order status belongs to webCRM even when the ERP edit is newer.
	s.crmPatch("Opportunities", g.Opp, map[string]any{"OpportunityWinYesNo": true})
	s.erpPatch("orders", g.Order, map[string]any{"status": "lost"})
	// Owner wins: the stock belongs to the ERP even when the webCRM edit is newer.
	s.erpPatch("products", g.ErpProduct, map[string]any{"stockQuantity": 5})
	s.crmPatch("Products", g.Product, map[string]any{"ProductQuantity": 500})
	s.resume(allPairings...)

	s.waitCRMField("Organisations", g.Org, "OrganisationTelephone", "+45 20 20 20 20")
	s.waitERPField("customers", g.Customer, "phone", "+45 20 20 20 20")
	s.waitERPField("contacts", g.Contact, "title", "COO")
	s.waitCRMField("Persons", g.Person, "PersonTitle", "COO")
	s.waitERPField("orders", g.Order, "status", "won")
	s.waitCRMField("Opportunities", g.Opp, "OpportunityWinYesNo", "true")
	s.waitCRMField("Products", g.Product, "ProductQuantity", "5")
	s.waitERPField("products", g.ErpProduct, "stockQuantity", "5")

	// The link records the decision when its apply ends, moments after the write.
	for p, id := range map[string]int{pOrgs: g.Org, pPersons: g.Person, pOpps: g.Opp, pProducts: g.Product} {
		s.waitFor(fmt.Sprintf("%s link of webCRM %d to record a conflict", p, id), s.timeout, func() error {
			st, _ := s.linkState(p, domain.WebCRM, itoa(id))
			if st.Conflicts <= before[p] {
				return fmt.Errorf("%d conflicts (had %d before)", st.Conflicts, before[p])
			}
			return nil
		})
	}
	s.assertQuiet()
}
