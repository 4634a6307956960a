package reliability

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/workflows"
)

// TestTwinsMatchedFromERPSide creates one company in both systems, its VAT
// number written differently ("DK 31 41 5926" in webCRM, "dk31415926" in the
// ERP), so that the engine meets the ERP record first: a poll whose webCRM
// half fails (three 429 answers) while its ERP half runs. The two must be
// matched, not each given a new counterpart (promise 2). TestConvergence
// found this race with twins created a moment apart; this test makes it
// happen on purpose: the ERP record's first contact comes within seconds of
// an earlier one, which read the webCRM merge values into the index.
func TestTwinsMatchedFromERPSide(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	// Only the organisations pairing polls, so the 429 answers below meet
	// its webCRM poll and nothing else.
	for _, name := range allPairings[1:] {
		e.signal(name, workflows.SignalPause, "reliability: one pairing at a time")
	}
	// An earlier ERP-born company: its first contact reads webCRM's merge
	// values into the engine's normalised index.
	erp := e.erpServer()
	first, err := erp.Put("customers", map[string]any{"name": "Earlier AB", "organisationNumber": "SE 556677-8899"})
	if err != nil {
		t.Fatalf("ERP: %v", err)
	}
	firstID := fmt.Sprint(first["id"])
	if err := waitFor(30*time.Second, 50*time.Millisecond, func() error {
		if l := e.mustSnapLink("organisations", domain.ERP, firstID); l == nil || l.crmID == "" {
			return fmt.Errorf("ERP customer %s not linked yet", firstID)
		}
		return nil
	}); err != nil {
		t.Fatalf("%v", err)
	}
	// The twins, and a webCRM poll that fails three times, so the next
	// look at this company comes from the ERP feed.
	if err := e.crm.Faults().Force429(3, 0, 1); err != nil {
		t.Fatalf("webCRM faults: %v", err)
	}
	crmID, err := e.crm.Put("Organisations", map[string]any{"OrganisationName": "Twin A/S", "OrganisationVatNumber": "DK 31 41 5926", "OrganisationCity": "Aarhus"})
	if err != nil {
		t.Fatalf("webCRM: %v", err)
	}
	twin, err := erp.Put("customers", map[string]any{"name": "Twin A/S", "organisationNumber": "dk31415926"})
	if err != nil {
		t.Fatalf("ERP: %v", err)
	}
	erpID := fmt.Sprint(twin["id"])
	if err := waitFor(60*time.Second, 50*time.Millisecond, func() error {
		if l := e.mustSnapLink("organisations", domain.ERP, erpID); l == nil || l.state != domain.StateOK {
			return fmt.Errorf("ERP customer %s not linked yet: %v", erpID, l)
		}
		return nil
	}); err != nil {
		t.Fatalf("%v", err)
	}
	for _, name := range allPairings[1:] {
		e.signal(name, workflows.SignalResume, nil)
	}
	if err := e.waitQuiet(faultQuietTimeout, nil); err != nil {
		t.Fatalf("no quiescence: %v", err)
	}
	l := e.mustSnapLink("organisations", domain.ERP, erpID)
	st, _ := e.pairingStatus("organisations")
	t.Logf("ERP customer %s: %v; webCRM answered 429 %d times; last poll error: %q", erpID, l, e.crm.Stats().RateLimited, st.LastError)
	if l == nil || l.crmID != strconv.Itoa(crmID) {
		t.Errorf("webCRM organisation %d and ERP customer %s (the same VAT number) were not matched: the ERP customer is linked by %v", crmID, erpID, l)
	}
	var vat []string
	for _, r := range e.crm.Records("Organisations") {
		if fmt.Sprint(r["OrganisationVatNumber"]) != "SE 556677-8899" {
			vat = append(vat, fmt.Sprintf("%v (%v)", r["OrganisationId"], r["OrganisationVatNumber"]))
		}
	}
	if len(vat) != 1 {
		t.Errorf("webCRM holds %d organisations with the twins' VAT number: %v (a duplicate)", len(vat), vat)
	}
	if n := len(erp.Records("customers")); n != 2 {
		t.Errorf("the ERP holds %d customers, want 2 (the earlier one and the twin)", n)
	}
}

// signal sends a signal to a pairing workflow and, for a pause, waits until
// it has taken it.
func (e *env) signal(pairing, name string, arg any) {
	e.t.Helper()
	ctx, cancel := callCtx()
	defer cancel()
	if err := e.c.SignalWorkflow(ctx, workflows.PairingWorkflowID(pairing), "", name, arg); err != nil {
		e.t.Fatalf("signal %s to pairing %s: %v", name, pairing, err)
	}
	if name != workflows.SignalPause {
		return
	}
	if err := waitFor(30*time.Second, 100*time.Millisecond, func() error {
		st, err := e.pairingStatus(pairing)
		if err != nil {
			return err
		}
		if !st.Paused {
			return fmt.Errorf("pairing %s still runs", pairing)
		}
		return nil
	}); err != nil {
		e.t.Fatalf("%v", err)
	}
}

// mustSnapLink returns the home link naming a record, from a fresh snapshot.
func (e *env) mustSnapLink(pairing string, side domain.Side, id string) *linkRef {
	e.t.Helper()
	s, err := e.takeSnap()
	if err != nil {
		e.t.Fatalf("snapshot: %v", err)
	}
	return s.linkOf(pairing, side, id)
}
