package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/webcrm"
)

// slowPoll is a webCRM poll interval no test here waits for: what crosses
// within a test's deadline crossed by a hook or the ERP feed. No reconcile
// runs in these tests.
const slowPoll = 10 * time.Minute

// hookedEntities are the webCRM entities of the six pairings.
var hookedEntities = []webcrm.Entity{webcrm.Organisations, webcrm.Persons, webcrm.Users, webcrm.Products, webcrm.Opportunities, webcrm.QuotationLines}

// waitERPGone waits until the ERP record is gone and returns how long it took.
func (s *stack) waitERPGone(resource, id string) time.Duration {
	s.t.Helper()
	began := time.Now()
	s.waitFor(fmt.Sprintf("ERP %s %s to be deleted", resource, id), waitTimeout, func() error {
		if _, ok := s.erp.Record(resource, id); ok {
			return fmt.Errorf("it is still there")
		}
		return nil
	})
	return time.Since(began)
}

// waitCRMGone waits until the webCRM record is gone and returns how long it took.
func (s *stack) waitCRMGone(entity string, id int) time.Duration {
	s.t.Helper()
	began := time.Now()
	s.waitFor(fmt.Sprintf("webCRM %s %d to be deleted", entity, id), waitTimeout, func() error {
		if _, ok := s.crm.Record(entity, id); ok {
			return fmt.Errorf("it is still there")
		}
		return nil
	})
	return time.Since(began)
}

// TestAWebCRMLineDeleteCrossesByItsHook: with hooks registered, a quotation
// line deleted in webCRM takes its ERP order line with it at once: webCRM's
// Delete hook names the line, its link applies the propagate policy. The
// webCRM poll is ten minutes apart and no reconcile runs, so nothing else
// could have found the delete. webCRM does not document its hook bodies;
// this test has them name the record (the simulator's JSON body): a Delete
// hook whose body names no record only pokes the poll, and the delete waits
// for the opportunity's next change or the reconcile.
func TestAWebCRMLineDeleteCrossesByItsHook(t *testing.T) {
	t.Parallel()
	faults := realWebCRM(stackOptions{})
	faults.HookBody = webcrmsim.HookBodyJSON
	s := newStack(t, stackOptions{Hooks: true, PollEvery: slowPoll, Pairings: allPairings, WebCRMFaults: &faults})
	s.registerHooks(hookedEntities...)
	g := s.crmGraph(1)
	s.waitLinked(pLines, domain.WebCRM, itoa(g.Line))

	delivered := s.crmStats().Hooks.Delivered
	if err := s.crm.Remove("QuotationLines", g.Line); err != nil {
		t.Fatalf("webCRM: remove quotation line %d: %v", g.Line, err)
	}
	took := s.waitERPGone("order-lines", g.OrderLine)
	t.Logf("ERP order line %s gone %s after webCRM quotation line %d was deleted", g.OrderLine, took, g.Line)
	s.waitLinkState(pLines, domain.WebCRM, itoa(g.Line), domain.StateDeleted)
	// The simulator counts a delivery once the worker has answered it, which
	// can be after the delete crossed.
	s.waitFor("the Delete hook's delivery to be counted", waitTimeout, func() error {
		if hs := s.crmStats().Hooks; hs.Delivered <= delivered {
			return fmt.Errorf("no Delete hook was delivered: %+v", hs)
		}
		return nil
	})
	if _, ok := s.erp.Record("orders", g.Order); !ok {
		t.Errorf("ERP order %s went with its line", g.Order)
	}
}

// TestAnERPLineDeleteCrossesByTheFeed: an order line deleted in the ERP
// reaches webCRM through the change feed's tombstone, read every 2 s,
// though the webCRM poll is ten minutes apart.
func TestAnERPLineDeleteCrossesByTheFeed(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Hooks: true, PollEvery: slowPoll, ERPPollEvery: 2 * time.Second, Pairings: allPairings})
	s.registerHooks(hookedEntities...)
	g := s.crmGraph(1)
	s.waitLinked(pLines, domain.WebCRM, itoa(g.Line))

	if err := s.erp.Remove("order-lines", g.OrderLine); err != nil {
		t.Fatalf("ERP: remove order line %s: %v", g.OrderLine, err)
	}
	took := s.waitCRMGone("QuotationLines", g.Line)
	t.Logf("webCRM quotation line %d gone %s after ERP order line %s was deleted", g.Line, took, g.OrderLine)
	s.waitLinkState(pLines, domain.WebCRM, itoa(g.Line), domain.StateDeleted)
	if _, ok := s.crm.Record("Opportunities", g.Opp); !ok {
		t.Errorf("webCRM opportunity %d went with its line", g.Opp)
	}
}

// TestAnOpportunityEditComparesItsLines: without hooks, webCRM shows no
// trace of a deleted quotation line (no tombstone, and its opportunity's
// UpdatedAt stays), so a poll that sees the opportunity change compares its
// lines with its order's lines: the next edit of the opportunity takes the
// deleted line's order line with it within a poll, without a reconcile. The
// listing of lines may miss a line (hostile webCRM); only a read by id that
// answers 404 deletes.
func TestAnOpportunityEditComparesItsLines(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Pairings: allPairings})
	g := s.crmGraph(1)
	kept := s.crmPut("QuotationLines", crmLine(g.Opp, "P-0001", 5))
	keptLine := str(s.waitERPCounterpart(pLines, kept), "id")
	s.waitLinked(pLines, domain.WebCRM, itoa(g.Line))

	if err := s.crm.Remove("QuotationLines", g.Line); err != nil {
		t.Fatalf("webCRM: remove quotation line %d: %v", g.Line, err)
	}
	s.crmPatch("Opportunities", g.Opp, map[string]any{"OpportunityDescription": "Widgets for Fjord 1, revised"})
	took := s.waitERPGone("order-lines", g.OrderLine)
	t.Logf("ERP order line %s gone %s after the opportunity's edit", g.OrderLine, took)
	s.waitLinkState(pLines, domain.WebCRM, itoa(g.Line), domain.StateDeleted)
	s.waitERPField("orders", g.Order, "description", "Widgets for Fjord 1, revised")
	if _, ok := s.erp.Record("order-lines", keptLine); !ok {
		t.Errorf("ERP order line %s of webCRM line %d, which is still there, was deleted", keptLine, kept)
	}
}

// TestADeleteHookThatNamesNoRecordStartsTheReconcile: webCRM does not
// document its hook bodies. A Delete hook whose body is empty names the
// entity (in its target URL) but not the record, and webCRM keeps no
// tombstones, so the hook starts the pairing's reconciliation at once
// (at most one per pairing every five minutes), which finds the deleted
// line by its missing read and propagates the delete. The poll is ten
// minutes apart and the schedule's own run a day away.
func TestADeleteHookThatNamesNoRecordStartsTheReconcile(t *testing.T) {
	t.Parallel()
	faults := realWebCRM(stackOptions{})
	faults.HookBody = webcrmsim.HookBodyEmpty
	s := newStack(t, stackOptions{Hooks: true, PollEvery: slowPoll, Pairings: allPairings, WebCRMFaults: &faults})
	s.registerHooks(hookedEntities...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := service.StartPairings(ctx, s.c, []string{pLines}, service.StartOptions{PollInterval: slowPoll, ReconcileEvery: 24 * time.Hour}); err != nil {
		t.Fatalf("reconcile schedule: %v", err)
	}
	g := s.crmGraph(1)
	s.waitLinked(pLines, domain.WebCRM, itoa(g.Line))

	if err := s.crm.Remove("QuotationLines", g.Line); err != nil {
		t.Fatalf("webCRM: remove quotation line %d: %v", g.Line, err)
	}
	took := s.waitERPGone("order-lines", g.OrderLine)
	t.Logf("ERP order line %s gone %s after webCRM quotation line %d was deleted (hook body empty)", g.OrderLine, took, g.Line)
	s.waitLinkState(pLines, domain.WebCRM, itoa(g.Line), domain.StateDeleted)
}
