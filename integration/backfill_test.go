package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// Requirement 12: records created while a pairing is paused (and before
// it ever ran, for products) are synced by BackfillWorkflow; a second
// backfill writes nothing and creates no duplicates, and neither does the
// pairing when it resumes.
func TestBackfillSyncsPausedRecordsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: []string{pOrgs}})
	s.pause(pOrgs)

	var orgs []int
	for i := 1; i <= 3; i++ {
		orgs = append(orgs, s.crmPut("Organisations", crmOrg(i)))
	}
	var customers []string
	for i := 1; i <= 2; i++ {
		customers = append(customers, s.erpPut("customers", map[string]any{
			"name": fmt.Sprintf("Nordlys %d AS", i), "organisationNumber": fmt.Sprintf("NO9%08d", i)}))
	}
	// One organisation exists on both sides already: it is matched, not copied.
	both := s.crmPut("Organisations", crmOrg(9))
	twin := s.erpPut("customers", map[string]any{"name": "Fjord Tech 9 A/S", "organisationNumber": "DK31000009"})
	// Products: the pairing never ran.
	prod := s.crmPut("Products", crmProduct("B-1"))
	erpProd := s.erpPut("products", map[string]any{"productNumber": "B-2", "name": "Gizmo", "salesPrice": 5})

	first := s.backfill(pOrgs, workflows.BackfillBoth)
	t.Logf("first organisations backfill: %+v", first)
	s.backfill(pProducts, workflows.BackfillBoth)
	for _, id := range orgs {
		s.waitERPCounterpart(pOrgs, id)
	}
	for _, id := range customers {
		s.waitCRMCounterpart(pOrgs, id)
	}
	if st := s.waitLinked(pOrgs, domain.WebCRM, itoa(both)); st.ErpID != twin {
		t.Errorf("webCRM organisation %d linked to ERP %s, want its twin %s", both, st.ErpID, twin)
	}
	s.waitERPCounterpart(pProducts, prod)
	s.waitCRMCounterpart(pProducts, erpProd)
	counts := func() string {
		return fmt.Sprintf("webCRM %d organisations, %d products; ERP %d customers, %d products",
			s.crm.Count("Organisations"), s.crm.Count("Products"), len(s.erp.Records("customers")), len(s.erp.Records("products")))
	}
	want := "webCRM 6 organisations, 2 products; ERP 6 customers, 2 products"
	if got := counts(); got != want {
		t.Errorf("after the first backfill: %s; want %s", got, want)
	}

	before := s.writes()
	second := s.backfill(pOrgs, workflows.BackfillBoth)
	s.backfill(pProducts, workflows.BackfillBoth)
	t.Logf("second organisations backfill: %+v", second)
	if d := s.writes().diff(before); len(d) > 0 {
		t.Errorf("the second backfill wrote: %v", d)
	}
	if got := counts(); got != want {
		t.Errorf("after the second backfill: %s; want %s", got, want)
	}
	if second.Failed != 0 {
		t.Errorf("second backfill: %d records failed", second.Failed)
	}

	s.resume(pOrgs)
	s.assertQuiet()
	if got := counts(); got != want {
		t.Errorf("after the pairing resumed: %s; want %s", got, want)
	}
}

// backfill runs BackfillWorkflow for one pairing and side to its end.
func (s *stack) backfill(pairing, side string) workflows.BackfillProgress {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	run, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        workflows.BackfillWorkflowID(pairing, side),
		TaskQueue: workflows.TaskQueue,
	}, workflows.BackfillWorkflow, workflows.BackfillInput{Pairing: pairing, Side: side, PageSize: 2})
	if err != nil {
		s.t.Fatalf("start backfill of %s (%s): %v", pairing, side, err)
	}
	var p workflows.BackfillProgress
	if err := run.Get(ctx, &p); err != nil {
		s.t.Fatalf("backfill of %s (%s): %v", pairing, side, err)
	}
	if p.Phase != "done" {
		s.t.Errorf("backfill of %s (%s) ended in phase %q", pairing, side, p.Phase)
	}
	return p
}

// A pairing started after a backfill reads each side from where the
// backfill started reading it, not from the beginning, and still syncs what
// changed after the backfill, once.
func TestPairingStartsWhereItsBackfillStarted(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	var orgs []int
	for i := 1; i <= 4; i++ {
		orgs = append(orgs, s.crmPut("Organisations", crmOrg(i)))
	}
	s.erpPut("customers", map[string]any{"name": "Nordlys 1 AS", "organisationNumber": "NO900000001"})

	// The webCRM side first, then the ERP side, as two backfills: the
	// pairing takes each side's position from the backfill that read it.
	crm := s.backfill(pOrgs, workflows.BackfillWebCRM)
	erp := s.backfill(pOrgs, workflows.BackfillERP)
	newest := time.Time{}
	for _, id := range orgs {
		at, err := webcrm.Record(s.crmGet("Organisations", id)).UpdatedAt(webcrm.Organisations)
		if err != nil {
			t.Fatalf("organisation %d: %v", id, err)
		}
		newest = maxTime(newest, at)
	}
	if !crm.From.WebCRMSince.Equal(newest) || crm.From.ERPToken != "" {
		t.Errorf("webCRM backfill hands over %+v; want the newest organisation's change time %s and no ERP token", crm.From, newest)
	}
	if erp.From.ERPToken == "" || !erp.From.WebCRMSince.IsZero() {
		t.Errorf("ERP backfill hands over %+v; want an ERP feed token only", erp.From)
	}

	// Started paused, the pairing shows the positions it took before it polls.
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.PairingWorkflowID(pOrgs), TaskQueue: workflows.TaskQueue},
		workflows.PairingWorkflow, workflows.PairingInput{Pairing: pOrgs, PollIntervalSeconds: 1, Paused: true, PauseReason: "test"}); err != nil {
		t.Fatalf("start pairing: %v", err)
	}
	s.started = append(s.started, pOrgs)
	s.waitFor("the pairing to take the backfills' positions", s.timeout, func() error {
		st, err := s.pairingStatus(pOrgs)
		if err != nil {
			return err
		}
		if !st.WebCRMWatermark.Equal(crm.From.WebCRMSince) || st.ERPToken != erp.From.ERPToken {
			return fmt.Errorf("positions %s / %q, want %s / %q", st.WebCRMWatermark, st.ERPToken, crm.From.WebCRMSince, erp.From.ERPToken)
		}
		return nil
	})

	// What changes after the backfill still crosses, once.
	late := s.crmPut("Organisations", crmOrg(7))
	lateCustomer := s.erpPut("customers", map[string]any{"name": "Nordlys 2 AS", "organisationNumber": "NO900000002"})
	s.crmPatch("Organisations", orgs[0], map[string]any{"OrganisationCity": "Bergen"})
	s.resume(pOrgs)
	s.waitERPCounterpart(pOrgs, late)
	s.waitCRMCounterpart(pOrgs, lateCustomer)
	st := s.waitLinked(pOrgs, domain.WebCRM, itoa(orgs[0]))
	s.waitERPField("customers", st.ErpID, "postalAddress.city", "Bergen")
	s.checkCounts(map[string]int{"Organisations": 7}, map[string]int{"customers": 7})
	s.assertQuiet()
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// An ERP record deleted while no pairing ran, before a backfill's mark, is
// a delete whose tombstone the pairing started from that mark never reads:
// the reconciliation finds it, and the link applies the delete policy.
func TestReconcileFindsAnERPDeleteNoPairingRead(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	org := s.crmPut("Organisations", crmOrg(1))
	kept := s.crmPut("Organisations", crmOrg(2))
	s.backfill(pOrgs, workflows.BackfillWebCRM)
	customer := str(s.waitERPCounterpart(pOrgs, org), "id")
	s.waitERPCounterpart(pOrgs, kept)
	if err := s.erp.Remove("customers", customer); err != nil {
		t.Fatalf("ERP: remove customer %s: %v", customer, err)
	}
	s.backfill(pOrgs, workflows.BackfillERP)
	s.startPairings(pOrgs)
	s.waitPolls(2)
	if st, _ := s.linkState(pOrgs, domain.WebCRM, itoa(org)); st.State == domain.StateDeleted {
		t.Fatalf("the pairing read the tombstone: it did not start from the backfill's mark")
	}
	res := s.reconcile(pOrgs, 1)
	if res.Missing != 1 || res.Links != 2 || res.Dispatched != 1 {
		t.Errorf("reconcile: %+v; want 1 of 2 links missing and dispatched", res)
	}
	st := s.waitLinkState(pOrgs, domain.WebCRM, itoa(org), domain.StateDeleted)
	t.Logf("link of webCRM %d: %s", org, st.Reason)
	if _, ok := s.crm.Record("Organisations", org); !ok {
		t.Errorf("webCRM organisation %d was deleted; the organisations policy is ignore", org)
	}
	if st, _ := s.linkState(pOrgs, domain.WebCRM, itoa(kept)); st.State != domain.StateOK {
		t.Errorf("the other link is %s (%s), want ok", st.State, st.Reason)
	}
	s.assertQuiet()
}
