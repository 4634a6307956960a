package integration

import (
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// Requirement 11: webCRM answering bursts of 429 and a share of 5xx (and
// the ERP some 503s) does not stop convergence: creates and edits both ways
// arrive, nothing is duplicated, and once the faults stop everything is
// quiet.
func TestConvergesThroughRateLimitsAndServerErrors(t *testing.T) {
	t.Parallel()
	// Link applies that meet only 429s give up after six attempts and retry
	// by their own timer (30 s, then 60 s), so waits here are longer.
	s := newStack(t, stackOptions{Pairings: allPairings, Timeout: 2 * time.Minute, ExpectWarnings: true})
	if err := s.crm.Faults().Set(webcrmsim.FaultConfig{ServerErrorRate: 0.1, Force429Requests: 6, RetryAfterSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.erp.Faults().Set(erpsim.FaultConfig{ErrorRate: 0.05, RateLimitBurst: 4}); err != nil {
		t.Fatal(err)
	}
	// A fresh burst of 429s every five seconds while the test runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = s.crm.Faults().Force429(6, 0, 1)
			}
		}
	}()
	faultsOn := true
	endFaults := func() {
		if faultsOn {
			close(stop)
			wg.Wait()
			faultsOn = false
		}
	}
	defer endFaults()

	g := s.crmGraph(1)
	customer := s.erpPut("customers", map[string]any{"name": "Nordlys AS", "organisationNumber": "NO912345678"})
	contact := s.erpPut("contacts", map[string]any{"contactType": "person", "customerId": customer, "lastName": "Nordmann", "email": "kari@nordlys.example"})
	s.crmPatch("Organisations", g.Org, map[string]any{"OrganisationTelephone": "+45 12 12 12 12"})
	s.erpPatch("products", g.ErpProduct, map[string]any{"salesPrice": 77})
	s.crmPatch("QuotationLines", g.Line, map[string]any{"QuotationLineQuantity": 9})

	org := s.waitCRMCounterpart(pOrgs, customer)
	person := s.waitCRMCounterpart(pPersons, contact)
	if got := str(person, "PersonOrganisationId"); got != str(org, "OrganisationId") {
		t.Errorf("person's organisation = %s, want %s", got, str(org, "OrganisationId"))
	}
	s.waitERPField("customers", g.Customer, "phone", "+45 12 12 12 12")
	s.waitCRMField("Products", g.Product, "ProductPrice", "77")
	s.waitERPField("order-lines", g.OrderLine, "quantity", "9")

	endFaults()
	st := s.crm.Stats()
	t.Logf("webCRM faults injected: %v (429 answers %d); ERP faults injected: %d", st.Faults, st.RateLimited, s.erp.Stats().FaultsInjected)
	if st.Faults["429"] == 0 || st.Faults["5xx"] == 0 {
		t.Errorf("the run met no 429 or no 5xx from webCRM (%v); the test proves nothing", st.Faults)
	}
	s.crm.Faults().Clear()
	s.erp.Faults().Clear()

	s.checkCounts(map[string]int{"Organisations": 2, "Persons": 2, "Users": 1, "Products": 1, "Opportunities": 1, "QuotationLines": 1},
		map[string]int{"customers": 2, "contacts": 3, "products": 1, "orders": 1, "order-lines": 1})
	s.waitLinked(pPersons, domain.ERP, contact)
	s.assertQuiet()
}
