package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

// Requirement 9: the worker stopped while a batch of creates is in flight
// (both APIs slowed down, one change at a time, so the stop lands in the
// middle of an apply: while webCRM serves a quotation line create) and a
// new worker started: every record ends with exactly one
// counterpart, in both directions, including quotation lines, which have
// no correlation field in webCRM.
func TestWorkerRestartMidApplyMakesNoDuplicates(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: []string{pOrgs, pOpps, pLines}, Concurrency: 1, ExpectWarnings: true})
	org := s.crmPut("Organisations", crmOrg(100))
	opp := s.crmPut("Opportunities", crmOpp(100, org, 0, 0))
	order := str(s.waitERPCounterpart(pOpps, opp), "id")

	const n = 4
	if err := s.erp.Faults().Set(erpsim.FaultConfig{LatencyMillis: 300}); err != nil {
		t.Fatal(err)
	}
	if err := s.crm.Faults().SetLatency(300*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	var orgs []int
	var customers, lines []string
	for i := 1; i <= n; i++ {
		orgs = append(orgs, s.crmPut("Organisations", crmOrg(i)))
		customers = append(customers, s.erpPut("customers", map[string]any{
			"name": fmt.Sprintf("Nordlys %d AS", i), "organisationNumber": fmt.Sprintf("NO9%08d", i)}))
		lines = append(lines, s.erpPut("order-lines", map[string]any{
			"orderId": order, "description": fmt.Sprintf("line %d", i), "quantity": i, "unitPrice": 10}))
	}
	// counterparts counts the records of this batch that have one.
	counterparts := func() int {
		c := 0
		for _, id := range orgs {
			if len(s.erpByRef("customers", linkID(pOrgs, domain.WebCRM, itoa(id)))) > 0 {
				c++
			}
		}
		for _, id := range customers {
			if len(s.crmByField("Organisations", "OrganisationCustom15", linkID(pOrgs, domain.ERP, id))) > 0 {
				c++
			}
		}
		for i := 1; i <= n; i++ {
			if len(s.crmByField("QuotationLines", "QuotationLineComment", fmt.Sprintf("line %d", i))) > 0 {
				c++
			}
		}
		return c
	}
	// Stop the worker while webCRM is serving a quotation line create (a
	// line is the one record without a correlation token in webCRM), after
	// a few other counterparts exist.
	deadline := time.Now().Add(waitTimeout)
	// Lines created on their own go through POST, lines created with others in one batch through PATCH.
	for counterparts() < 2 || s.inFlightNow("webcrm POST /QuotationLines")+s.inFlightNow("webcrm PATCH /QuotationLines") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no quotation line create under way within %s (%d counterparts)", waitTimeout, counterparts())
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.stopWorker()
	t.Logf("worker stopped at %s", time.Now().Format("15:04:05.000"))
	stoppedAt := counterparts()
	t.Logf("worker stopped with %d of %d counterparts created", stoppedAt, 3*n)
	if stoppedAt == 3*n {
		t.Fatalf("the batch finished before the worker stopped; nothing was interrupted")
	}
	restarted := time.Now()
	s.startWorker()
	s.waitFor("every record of the batch to have its counterpart", 3*waitTimeout, func() error {
		if c := counterparts(); c < 3*n {
			return fmt.Errorf("%d of %d counterparts", c, 3*n)
		}
		return nil
	})
	t.Logf("the new worker finished the batch in %s", time.Since(restarted).Round(100*time.Millisecond))
	s.erp.Faults().Clear()
	s.crm.Faults().Clear()

	for _, id := range orgs {
		s.waitERPCounterpart(pOrgs, id) // exactly one ERP customer carries its link
	}
	for _, id := range customers {
		s.waitCRMCounterpart(pOrgs, id) // exactly one webCRM organisation carries its link
	}
	for i, id := range lines {
		st := s.waitLinked(pLines, domain.ERP, id)
		if recs := s.crmByField("QuotationLines", "QuotationLineComment", fmt.Sprintf("line %d", i+1)); len(recs) != 1 {
			t.Errorf("ERP order line %s (line %d) has %d webCRM quotation lines (its link names %s)", id, i+1, len(recs), st.CrmID)
		}
	}
	if got, want := s.crm.Count("Organisations"), 2*n+1; got != want {
		t.Errorf("webCRM holds %d organisations, want %d", got, want)
	}
	if got, want := len(s.erp.Records("customers")), 2*n+1; got != want {
		t.Errorf("ERP holds %d customers, want %d", got, want)
	}
	if got := s.crm.Count("QuotationLines"); got != n {
		t.Errorf("webCRM holds %d quotation lines for %d ERP order lines", got, n)
		for _, r := range s.crm.Records("QuotationLines") {
			t.Logf("webCRM quotation line %s %q created %s", str(r, "QuotationLineId"), str(r, "QuotationLineComment"), str(r, "QuotationLineCreatedAt"))
		}
	}
	if got := len(s.erp.Records("order-lines")); got != n {
		t.Errorf("ERP holds %d order lines, want %d", got, n)
	}
	s.assertQuiet()
}
