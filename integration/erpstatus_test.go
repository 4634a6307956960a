package integration

import (
	"testing"
	"time"

	"github.com/tandemsync/tandem/webcrm"
)

// TestAnOpportunityShowsItsOrdersERPState: an opportunity created in webCRM
// gets its order, and then shows webCRM's ERP properties: the order's id,
// ERP status Synchronized and the time of the write. Reading that back is no
// edit (the polls that follow write nothing); an ERP edit brings a new sync
// time along with it.
func TestAnOpportunityShowsItsOrdersERPState(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: []string{pOrgs, pOpps}})
	org := s.crmPut("Organisations", crmOrg(1))
	opp := s.crmPut("Opportunities", crmOpp(1, org, 0, 0))
	order := str(s.waitERPCounterpart(pOpps, opp), "id")

	s.waitCRMField("Opportunities", opp, "OpportunityErpId", order)
	s.waitCRMField("Opportunities", opp, "OpportunityErpStatus", "Synchronized")
	first := syncedAt(t, s.crmGet("Opportunities", opp))
	s.assertQuiet()

	s.erpPatch("orders", order, map[string]any{"description": "Widgets, revised"})
	s.waitCRMField("Opportunities", opp, "OpportunityDescription", "Widgets, revised")
	if second := syncedAt(t, s.crmGet("Opportunities", opp)); !second.After(first) {
		t.Errorf("the sync time did not move on with the write: %s, then %s", first, second)
	}
	expect(t, "order", s.erpGet("orders", order), map[string]string{"description": "Widgets, revised", "status": "open"})
	s.assertQuiet()
}

// syncedAt reads a webCRM opportunity's ERP sync time.
func syncedAt(t *testing.T, rec map[string]any) time.Time {
	t.Helper()
	v := str(rec, "OpportunityErpSyncDateTime")
	if v == "" {
		t.Fatalf("the opportunity has no ERP sync time: %v", rec)
	}
	tm, err := webcrm.ParseTime(v)
	if err != nil {
		t.Fatalf("ERP sync time %q: %v", v, err)
	}
	return tm
}
