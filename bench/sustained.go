package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/workflows"
)

// sustainedFeed is how many ERP customers a second the sustained run writes:
// more than webCRM's budget lets through (12,500 a minute at two requests per
// 100 records), so a backlog always waits and the budget is what bounds the
// figure.
const sustainedFeed = 250

// sustainedCreates is measurement 4 held for d: ERP customers are written at
// sustainedFeed a second while every pairing runs and webCRM allows 250
// requests a minute; each minute it prints the webCRM organisations made
// from them, the webCRM requests and the 429 answers. The sustained rate
// leaves out the first minute, whose requests the simulator's window has not
// yet counted against later ones.
func sustainedCreates(ctx context.Context, s settings, d time.Duration, rep *report) error {
	b, err := startStack(ctx, s, devstack.Options{})
	if err != nil {
		return err
	}
	defer b.close()
	st, svc, cfg := b.st, b.svc, b.cfg
	names := svc.Mappings().Names()
	if err := service.StartPairings(ctx, svc.Client(), names, service.StartOptions{PollInterval: s.poll,
		ERPPollInterval: cfg.Sync.ERPPollInterval, ReconcileEvery: -1}); err != nil {
		return err
	}
	if err := waitPolls(ctx, svc.Client(), "organisations", 1, 5*time.Minute); err != nil {
		return err
	}
	rep.printf("4s. ERP → webCRM creation sustained for %s: ERP customers written at %d/s, all %d pairings polling every %s, webCRM at 250 requests/min\n",
		d, sustainedFeed, len(names), s.poll)
	st.WebCRM.ResetStats()
	callsBefore, err := temporalCalls(svc.Metrics())
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(s.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	fctx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	written := make(chan int, 1)
	go func() {
		n := 0
		defer func() { written <- n }()
		tick := time.NewTicker(time.Second / sustainedFeed)
		defer tick.Stop()
		for {
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
			}
			if _, err := st.ERP.Put("customers", map[string]any{
				"name":               fmt.Sprintf("Sustained ERP Kunde %06d A/S", n),
				"organisationNumber": fmt.Sprintf("DK7%07d", n),
				"phone":              fmt.Sprintf("+45 50 %02d %04d", n/10000%100, n%10000),
			}); err != nil {
				rep.printf("   writing ERP customer %d: %v\n", n, err)
				return
			}
			n++
		}
	}()
	made := func() int {
		n := 0
		for _, rec := range st.WebCRM.Records("Organisations") {
			if tok, _ := rec["OrganisationCustom15"].(string); strings.HasPrefix(tok, "link/organisations/erp/") {
				n++
			}
		}
		return n
	}
	start := time.Now()
	var created, requests []int64
	serverCPU0, selfCPU0 := cpuSeconds(st.Temporal.PID()), cpuSeconds(os.Getpid())
	firstMade := int64(made())
	prevMade, prevReq, prevLimited := firstMade, int64(0), int64(0)
	for minute := 1; time.Since(start) < d; minute++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(start.Add(time.Duration(minute) * time.Minute))):
		}
		m, ws := int64(made()), st.WebCRM.Stats()
		created = append(created, m-prevMade)
		requests = append(requests, ws.TotalRequests-prevReq)
		backlog, err := workflowBacklog(ctx, svc.Client(), cfg.Temporal.Namespace, workflows.TaskQueue)
		if err != nil {
			return err
		}
		rep.printf("   minute %2d: %5d organisations made, %3d webCRM requests, %d answers 429, %d workflow tasks waiting\n", minute, m-prevMade, ws.TotalRequests-prevReq, ws.RateLimited-prevLimited, backlog)
		prevMade, prevReq, prevLimited = m, ws.TotalRequests, ws.RateLimited
	}
	serverCPU, selfCPU := cpuSeconds(st.Temporal.PID())-serverCPU0, cpuSeconds(os.Getpid())-selfCPU0
	elapsed := time.Since(start).Seconds()
	stopFeed()
	n := <-written
	ws := st.WebCRM.Stats()
	if len(created) < 2 {
		return fmt.Errorf("sustained run of %s is too short: at least two minutes", d)
	}
	var sumMade, sumReq int64
	for i := 1; i < len(created); i++ {
		sumMade += created[i]
		sumReq += requests[i]
	}
	minutes := float64(len(created) - 1)
	rep.printf("   sustained (minutes 2–%d): %.0f organisations/min, %.1f webCRM requests/min, %.2f requests per 100 records; %d ERP customers written, %d answers 429 in all\n",
		len(created), float64(sumMade)/minutes, float64(sumReq)/minutes, 100*float64(sumReq)/float64(max(sumMade, 1)), n, ws.RateLimited)
	total := float64(prevMade - firstMade)
	rep.printf("   CPU (of %d): Temporal dev server %.2f, this process (worker, simulators, feed) %.2f; CPU seconds per 1,000 organisations: %.1f and %.1f\n",
		runtime.NumCPU(), serverCPU/elapsed, selfCPU/elapsed, 1000*serverCPU/max(total, 1), 1000*selfCPU/max(total, 1))
	rep.printf("   webCRM requests by call: %s\n", requestBreakdown(ws.Requests))
	if callsAfter, err := temporalCalls(svc.Metrics()); err == nil {
		rep.printf("   Temporal calls of the worker and its client per organisation made, by operation: %s\n",
			callsPer(callsBefore, callsAfter, total, "organisation"))
	}
	rep.printf("   /Queries by shape:\n")
	shapes := slices.SortedFunc(maps.Keys(ws.Queries), func(a, b string) int { return cmp.Compare(ws.Queries[b], ws.Queries[a]) })
	for _, q := range shapes {
		rep.printf("     %5d  %s\n", ws.Queries[q], q)
	}
	rep.printf("\n")
	return nil
}
