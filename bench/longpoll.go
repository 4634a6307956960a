package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/workflows"
)

// restWindow is how long the ERP feed's requests are counted at rest.
const restWindow = 60 * time.Second

// longPollBench measures ERP → webCRM edit latency and the ERP feed's
// requests at rest with the interval read (NoERPLongPoll, the baseline) and
// with the long poll, one after the other on the same stack, worker and
// links: the pairings are started in one mode, measured, terminated and
// started in the other.
func longPollBench(ctx context.Context, s settings, rep *report) error {
	b, err := startStack(ctx, s, devstack.Options{})
	if err != nil {
		return err
	}
	defer b.close()
	st, svc, cfg := b.st, b.svc, b.cfg

	if _, err := seedOrganisations(st, 0, s.n); err != nil {
		return err
	}
	if _, err := backfill(ctx, svc.Client(), "organisations", workflows.BackfillWebCRM, s.concurrency); err != nil {
		return err
	}
	names := svc.Mappings().Names()
	rep.printf("3. ERP → webCRM edit latency, %d edits, poll interval %s, ERP poll interval %s; %d organisations linked; ERP feed requests at rest counted over %s with no edits\n",
		s.edits, s.poll, cfg.Sync.ERPPollInterval, s.n, restWindow)
	for _, noLongPoll := range []bool{true, false} {
		label := "long poll    "
		if noLongPoll {
			label = "interval read"
		}
		if err := service.StartPairings(ctx, svc.Client(), names, service.StartOptions{PollInterval: s.poll,
			ERPPollInterval: cfg.Sync.ERPPollInterval, NoERPLongPoll: noLongPoll, ReconcileEvery: -1}); err != nil {
			return err
		}
		if err := waitPolls(ctx, svc.Client(), "organisations", 2, 5*time.Minute); err != nil {
			return err
		}
		st.ERP.ResetStats()
		time.Sleep(restWindow) // at rest: nothing edits
		rest := feedRequests(st)
		st.WebCRM.ResetStats()
		lat, err := editLatency(ctx, st, "ERP → webCRM", s.edits)
		if err != nil {
			return err
		}
		ws := st.WebCRM.Stats()
		rep.printf("   %s p50 %6s  p99 %6s  max %6s  ERP feed requests at rest: %.1f/min (six pairings)  (webCRM requests meanwhile %d; 429 answers: %d)\n",
			label, pct(lat, 50), pct(lat, 99), pct(lat, 100), float64(rest)*float64(time.Minute)/float64(restWindow), ws.TotalRequests, ws.RateLimited)
		for _, name := range names {
			if err := svc.Client().TerminateWorkflow(ctx, workflows.PairingWorkflowID(name), "", "bench: next mode"); err != nil {
				return fmt.Errorf("terminate pairing %s: %w", name, err)
			}
		}
	}
	rep.printf("\n")
	return nil
}

// feedRequests counts the ERP change-feed requests since the last reset.
func feedRequests(st *devstack.Stack) int64 {
	var n int64
	for route, byStatus := range st.ERP.Stats().Requests {
		if strings.HasSuffix(route, "/changes") {
			for _, c := range byStatus {
				n += c
			}
		}
	}
	return n
}
