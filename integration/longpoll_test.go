package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tandemsync/tandem/internal/service"
)

// TestAnERPEditReachesWebCRMThroughTheLongPoll: with webCRM polled every ten
// minutes and no hooks, the pairing holds a long poll of the ERP feed open
// against the reference server between polls, and an ERP edit reaches webCRM
// through it, well before the next webCRM poll.
func TestAnERPEditReachesWebCRMThroughTheLongPoll(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{PollEvery: 10 * time.Minute})
	erpID := s.erpPut("customers", map[string]any{"name": "Longpoll Logistics A/S", "organisationNumber": "DK31313131"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := service.StartPairings(ctx, s.c, []string{pOrgs}, service.StartOptions{
		PollInterval: 10 * time.Minute, ERPPollInterval: 2 * time.Second, ReconcileEvery: -1}); err != nil {
		t.Fatalf("start pairing: %v", err)
	}
	s.started = append(s.started, pOrgs)
	crm := s.waitCRMCounterpart(pOrgs, erpID)
	crmID, err := strconv.Atoi(str(crm, crmIDField[pOrgs]))
	if err != nil {
		t.Fatalf("webCRM id of the counterpart: %v", err)
	}

	// Between webCRM polls a read of the customers feed is held open: the long poll.
	s.waitFor("a held read of the ERP customers feed", s.timeout, func() error {
		if n := s.inFlightNow("erp GET /customers"); n < 1 {
			return fmt.Errorf("%d reads in flight", n)
		}
		return nil
	})
	s.erpPatch("customers", erpID, map[string]any{"name": "Longpoll Logistics Nord A/S"})
	// The next webCRM poll is ten minutes away: only the ERP feed brings it.
	s.waitCRMField("Organisations", crmID, "OrganisationName", "Longpoll Logistics Nord A/S")
	st, err := s.pairingStatus(pOrgs)
	if err != nil {
		t.Fatalf("pairing status: %v", err)
	}
	if st.Totals.Polls != 1 {
		t.Fatalf("webCRM was polled %d times; want only the first poll", st.Totals.Polls)
	}
}
