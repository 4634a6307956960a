package integration

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/workflows"
)

// Requirement 10: with the server suggesting continue-as-new after 40
// history events, many edits to one record make its link continue as new
// (more than once) and still converge, and the pairing workflow continues
// as new keeping its watermarks and counters.
func TestContinueAsNewKeepsLinksAndWatermarks(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{SuggestContinueAsNew: 40, Pairings: []string{pOrgs}})
	org := s.crmPut("Organisations", crmOrg(1))
	// Records nobody touches again: a poll that lost its watermark or feed
	// token would read them all again.
	const still = 10
	for i := 2; i <= still+1; i++ {
		s.crmPut("Organisations", crmOrg(i))
	}
	customer := str(s.waitERPCounterpart(pOrgs, org), "id")
	link := linkID(pOrgs, domain.WebCRM, itoa(org))
	pairing := workflows.PairingWorkflowID(pOrgs)

	var before workflows.PairingStatus
	s.waitFor("the pairing to report its watermarks", waitTimeout, func() error {
		st, err := s.pairingStatus(pOrgs)
		if err != nil {
			return err
		}
		if st.WebCRMWatermark.IsZero() || st.ERPToken == "" {
			return fmt.Errorf("watermark %s, token %q", st.WebCRMWatermark, st.ERPToken)
		}
		before = st
		return nil
	})
	pairingCANs := s.continuedAsNew(pairing)

	const edits = 16
	for i := 1; i <= edits; i++ {
		phone := fmt.Sprintf("+45 40 00 00 %02d", i)
		if i%2 == 1 {
			s.crmPatch("Organisations", org, map[string]any{"OrganisationTelephone": phone})
			s.waitERPField("customers", customer, "phone", phone)
		} else {
			s.erpPatch("customers", customer, map[string]any{"phone": phone})
			s.waitCRMField("Organisations", org, "OrganisationTelephone", phone)
		}
	}
	last := fmt.Sprintf("+45 40 00 00 %02d", edits)
	if got, want := str(s.crmGet("Organisations", org), "OrganisationTelephone"), s.crm.Stored("Organisations", "OrganisationTelephone", last); got != want {
		t.Errorf("webCRM phone = %q, want %q", got, want)
	}
	if got := str(s.erpGet("customers", customer), "phone"); got != last {
		t.Errorf("ERP phone = %q, want %q", got, last)
	}
	n := s.continuedAsNew(link)
	t.Logf("link %s continued as new %d times", link, n)
	if n == 0 {
		t.Errorf("link %s never continued as new", link)
	}
	st := s.waitLinked(pOrgs, domain.WebCRM, itoa(org))
	if st.ErpID != customer || st.Applied < edits {
		t.Errorf("link state after continue-as-new: ERP %q, applied %d; want ERP %q and at least %d applied", st.ErpID, st.Applied, customer, edits)
	}

	s.waitFor("the pairing to continue as new", waitTimeout, func() error {
		if s.continuedAsNew(pairing) <= pairingCANs {
			return fmt.Errorf("no new continue-as-new yet")
		}
		return nil
	})
	t.Logf("pairing %s continued as new %d times", pairing, s.continuedAsNew(pairing))
	after, err := s.pairingStatus(pOrgs)
	if err != nil {
		t.Fatal(err)
	}
	if after.WebCRMWatermark.Before(before.WebCRMWatermark) {
		t.Errorf("webCRM watermark went back from %s to %s across continue-as-new", before.WebCRMWatermark, after.WebCRMWatermark)
	}
	if b, err1 := strconv.ParseInt(before.ERPToken, 10, 64); err1 == nil {
		if a, err2 := strconv.ParseInt(after.ERPToken, 10, 64); err2 != nil || a < b {
			t.Errorf("ERP feed token went from %q to %q across continue-as-new", before.ERPToken, after.ERPToken)
		}
	} else if after.ERPToken == "" {
		t.Errorf("ERP feed token lost across continue-as-new (was %q)", before.ERPToken)
	}
	if after.Totals.Polls <= before.Totals.Polls {
		t.Errorf("poll counter went from %d to %d across continue-as-new", before.Totals.Polls, after.Totals.Polls)
	}
	if n := len(s.erp.Records("customers")); n != still+1 {
		t.Errorf("ERP holds %d customers, want %d", n, still+1)
	}
	if n := s.crm.Count("Organisations"); n != still+1 {
		t.Errorf("webCRM holds %d organisations, want %d", n, still+1)
	}
	s.assertQuiet()

	// Once nothing changes, a continue-as-new must not make the next polls
	// read old records again.
	quiet, err := s.pairingStatus(pOrgs)
	if err != nil {
		t.Fatal(err)
	}
	cans := s.continuedAsNew(pairing)
	s.waitFor("another continue-as-new of the pairing", waitTimeout, func() error {
		if s.continuedAsNew(pairing) <= cans {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	s.waitPolls(2)
	later, err := s.pairingStatus(pOrgs)
	if err != nil {
		t.Fatal(err)
	}
	// A quiet poll sees the newest record again (the webCRM query reads
	// from its watermark inclusive) and skips it: one change per poll. A
	// lost watermark or feed token would add every record of a side.
	polls := later.Totals.Polls - quiet.Totals.Polls
	if extra := later.Totals.Seen - quiet.Totals.Seen - polls; extra >= still {
		t.Errorf("%d polls after a quiet continue-as-new saw %d changes more than one a poll; the watermark or the feed token was not kept", polls, extra)
	}
	t.Logf("polls %d -> %d, changes seen %d -> %d across a quiet continue-as-new", quiet.Totals.Polls, later.Totals.Polls, quiet.Totals.Seen, later.Totals.Seen)
}
