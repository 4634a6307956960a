package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/internal/hookreg"
	"github.com/tandemsync/tandem/internal/service"
)

// linePair is one linked quotation line: its webCRM id, its ERP order
// line's id and its opportunity.
type linePair struct {
	crm, opp int
	erp      string
}

// deleteLatencies measures (8) how long a deleted quotation line takes to
// disappear on the other side: webCRM → ERP found by the poll of its
// opportunity's next edit (no hooks), ERP → webCRM through the change feed,
// then both again with webCRM hooks registered. n deletes each, every one
// of a line of its own opportunity, on a stack of its own.
func deleteLatencies(ctx context.Context, s settings, n int, rep *report) error {
	b, err := startStack(ctx, s, devstack.Options{})
	if err != nil {
		return err
	}
	defer b.close()
	st, svc, cfg := b.st, b.svc, b.cfg

	org, err := st.WebCRM.Put("Organisations", map[string]any{"OrganisationName": "Delete Bench A/S", "OrganisationVatNumber": "DK39990001"})
	if err != nil {
		return err
	}
	if _, err := st.WebCRM.Put("Products", map[string]any{"ProductCustom1": "P-DEL", "ProductCustom2": "Widget", "ProductCustom3": "stk", "ProductPrice": 10.0, "ProductVatCode": "25"}); err != nil {
		return err
	}
	const perOpp = 4 // one line for each of the four measurements
	for i := range n {
		opp, err := st.WebCRM.Put("Opportunities", map[string]any{
			"OpportunityOrganisationId": org, "OpportunityNumber": fmt.Sprintf("D-%05d", i),
			"OpportunityDescription": fmt.Sprintf("Delete bench %d", i), "OpportunityCurrencyName": "DKK",
			"OpportunityOrderDate": "2025-03-01T00:00:00.0000000Z", "OpportunityWinYesNo": false,
		})
		if err != nil {
			return err
		}
		for j := range perOpp {
			if _, err := st.WebCRM.Put("QuotationLines", map[string]any{
				"QuotationLineOpportunityId": opp, "QuotationLineData1": "P-DEL", "QuotationLineQuantity": float64(j + 1),
				"QuotationLinePrice": 10.0, "QuotationLineDiscount": 0.0, "QuotationLineVatPercentage": 25.0, "QuotationLineSortOrder": j + 1,
			}); err != nil {
				return err
			}
		}
	}
	begin := time.Now()
	if err := service.StartPairings(ctx, svc.Client(), svc.Mappings().Names(), service.StartOptions{PollInterval: s.poll, ERPPollInterval: cfg.Sync.ERPPollInterval, ReconcileEvery: -1}); err != nil {
		return err
	}
	var lines []linePair
	for deadline := time.Now().Add(10 * time.Minute); ; {
		lines = linkedLines(st)
		if len(lines) >= n*perOpp {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d quotation lines reached the ERP in 10 minutes", len(lines), n*perOpp)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Lines of one opportunity go to different measurements, so that the
	// edit of one measurement's opportunity compares no line of another's.
	byOpp := map[int][]linePair{}
	var opps []int
	for _, l := range lines {
		if byOpp[l.opp] == nil {
			opps = append(opps, l.opp)
		}
		byOpp[l.opp] = append(byOpp[l.opp], l)
	}
	set := func(k int) []linePair {
		var out []linePair
		for _, o := range opps {
			out = append(out, byOpp[o][k])
		}
		return out[:n]
	}
	rep.printf("8. delete → gone on the other side, %d quotation lines each way (each of its own opportunity; %d lines synced in %s), poll interval %s (the ERP feed is read every %s); no reconcile runs\n",
		n, len(lines), time.Since(begin).Round(time.Second), s.poll, cfg.Sync.ERPPollInterval)
	measure := func(label, dir string, byEdit bool, ls []linePair) error {
		st.WebCRM.ResetStats()
		lat, err := deleteLatency(ctx, st, dir, byEdit, ls)
		if err != nil {
			return fmt.Errorf("%s %s: %w", label, dir, err)
		}
		ws := st.WebCRM.Stats()
		rep.printf("   %s %-13s p50 %6s  p99 %6s  (webCRM requests meanwhile, polls included: %d; 429 answers: %d)\n",
			label, dir, pct(lat, 50), pct(lat, 99), ws.TotalRequests, ws.RateLimited)
		return nil
	}
	if err := measure("no hooks, by the opportunity's edit", "webCRM → ERP", true, set(0)); err != nil {
		return err
	}
	if err := measure("no hooks, by the ERP feed         ", "ERP → webCRM", false, set(1)); err != nil {
		return err
	}
	if _, err := hookreg.Register(ctx, svc.WebCRM(), "http://"+cfg.Worker.HooksAddr, cfg.Worker.HooksSecret, hookreg.Entities(svc.Mappings()), hookreg.Events); err != nil {
		return err
	}
	if err := measure("with hooks (Delete hook)          ", "webCRM → ERP", false, set(2)); err != nil {
		return err
	}
	if err := measure("with hooks, by the ERP feed       ", "ERP → webCRM", false, set(3)); err != nil {
		return err
	}
	rep.printf("\n")
	return nil
}

// linkedLines returns the quotation lines tandem created in the ERP, read
// from the order lines' externalRef (the home link ID).
func linkedLines(st *devstack.Stack) []linePair {
	var out []linePair
	for _, rec := range st.ERP.Records("order-lines") {
		ref, _ := rec["externalRef"].(string)
		id, _ := rec["id"].(string)
		s, ok := strings.CutPrefix(ref, "link/quotationlines/webcrm/")
		if !ok {
			continue
		}
		crm, err := strconv.Atoi(s)
		if err != nil {
			continue
		}
		line, ok := st.WebCRM.Record("QuotationLines", crm)
		if !ok {
			continue
		}
		opp, _ := line["QuotationLineOpportunityId"].(int64)
		out = append(out, linePair{crm: crm, erp: id, opp: int(opp)})
	}
	return out
}

// deleteLatency deletes the lines on one side, one every half second (and,
// byEdit, edits each line's opportunity at once, as a person does), and
// measures how long each takes to disappear on the other side.
func deleteLatency(ctx context.Context, st *devstack.Stack, direction string, byEdit bool, lines []linePair) ([]time.Duration, error) {
	toERP := strings.HasPrefix(direction, "webCRM")
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, len(lines))
	for i, l := range lines {
		start := time.Now()
		var err error
		if toERP {
			err = st.WebCRM.Remove("QuotationLines", l.crm)
			if err == nil && byEdit {
				err = st.WebCRM.Patch("Opportunities", l.opp, map[string]any{"OpportunityDescription": fmt.Sprintf("Delete bench %d, one line fewer", i)})
			}
		} else {
			err = st.ERP.Remove("order-lines", l.erp)
		}
		if err != nil {
			return nil, fmt.Errorf("delete %d: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for deadline := start.Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				var there bool
				if toERP {
					_, there = st.ERP.Record("order-lines", l.erp)
				} else {
					_, there = st.WebCRM.Record("QuotationLines", l.crm)
				}
				if !there {
					mu.Lock()
					lat = append(lat, time.Since(start))
					mu.Unlock()
					return
				}
			}
			errs <- fmt.Errorf("%s delete of %+v not seen after 3 minutes", direction, l)
		}()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return lat, err
	}
	return lat, nil
}
