package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// TestWorkersShareTheTokensBudget: three workers on one webCRM token, which
// allows 250 requests a minute, carry 200 ERP edits; one of them is killed
// on the way. Every edit arrives, webCRM answers no request 429 and sees
// no more than 250 in any minute: the budget is the token's, not a process's
// (before, each worker counted alone: three of them sent 488 a minute and half
// their requests were answered 429).
func TestWorkersShareTheTokensBudget(t *testing.T) {
	t.Parallel()
	const perMinute, orgs = 250, 40
	faults := webcrmsim.FaultConfig{}
	s := newStack(t, stackOptions{WebCRMFaults: &faults, WebCRMRateLimit: perMinute, ExpectWarnings: true,
		Timeout: 6 * time.Minute, Configure: func(c *config.Config) { c.WebCRM.RequestsPerMinute = perMinute }})
	s.startWorker()
	s.startWorker() // three workers
	var crm []int
	for i := range orgs {
		crm = append(crm, s.crmPut("Organisations", crmOrg(100+i)))
	}
	s.startPairings(pOrgs)
	customers := make([]string, orgs)
	for i, id := range crm {
		customers[i] = str(s.waitERPCounterpart(pOrgs, id), "id")
	}
	s.crm.ResetStats()
	// 200 ERP edits in five rounds, each edit three webCRM requests (read,
	// write, read back): 600 requests, well over two minutes of the budget.
	// A round reaches webCRM before the next is made, so no edit hides
	// another in the ERP feed.
	const rounds = 5
	for r := range rounds {
		phone := func(i int) string { return fmt.Sprintf("+45 70 %02d %02d %02d", r, i/100, i%100) }
		for i, c := range customers {
			s.erpPatch("customers", c, map[string]any{"phone": phone(i)})
		}
		if r == 1 {
			s.stopWorker() // one of the three dies while the round is carried
		}
		for i, id := range crm {
			s.waitCRMField("Organisations", id, "OrganisationTelephone", phone(i))
		}
	}
	st := s.crmStats()
	t.Logf("webCRM: %d requests, %d answered 429, at most %d in any minute", st.TotalRequests, st.RateLimited, st.PeakPerMinute)
	if st.RateLimited != 0 {
		t.Errorf("webCRM answered %d requests 429", st.RateLimited)
	}
	if st.PeakPerMinute > perMinute {
		t.Errorf("webCRM saw %d requests in one minute; the token allows %d", st.PeakPerMinute, perMinute)
	}
	if st.TotalRequests < perMinute {
		t.Errorf("only %d requests: the burst did not test the budget", st.TotalRequests)
	}
	if bad := s.linksWhere(pOrgs, domain.StateError, domain.StateBlocked); len(bad) > 0 {
		t.Errorf("%d links in error or blocked, e.g. %s", len(bad), bad[0])
	}
}
