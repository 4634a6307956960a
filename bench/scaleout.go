package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/workflows"
)

// scaleSettings are the sizes of the scale-out measurement.
type scaleSettings struct {
	records, edits int
}

// scaleResult is one scale-out run: a backfill and an edit burst carried by
// some workers on one webCRM token.
type scaleResult struct {
	server           string
	workers          int
	backfill, burst  time.Duration
	requests, on429  int64
	peak             int     // the most requests webCRM let through in any sliding minute
	perMinute        []int64 // requests in each minute of the run, from its start
	killed           bool
	backfillRequests int64
}

// scaleOut measures the webCRM budget shared by workers: for each Temporal
// server (the dev server, and the one at -temporal-address when given) and
// for one and three workers, a fresh stack backfills ss.records ERP customers
// into webCRM and then carries an ss.edits burst of ERP edits to it, with the
// simulator enforcing 250 requests a minute for the token and every worker
// configured for that budget. With three workers, one is killed (no grace)
// once a third of the burst has arrived.
func scaleOut(ctx context.Context, s settings, ss scaleSettings, rep *report) error {
	type server struct {
		label, address string
		pid            int
	}
	servers := []server{{label: "dev server"}}
	if s.temporalAddress != "" {
		servers = append(servers, server{"Temporal at " + s.temporalAddress, s.temporalAddress, s.temporalPID})
	}
	rep.printf("7. scale-out: %d ERP customers backfilled into webCRM, then %d ERP edits carried to webCRM, webCRM at 250 requests/min for the token, every worker set to WEBCRM_REQUESTS_PER_MINUTE=250; with 3 workers one is killed once a third of the edits arrived\n",
		ss.records, ss.edits)
	var results []scaleResult
	for _, srv := range servers {
		for _, workers := range []int{1, 3} {
			r, err := scaleOnce(ctx, s, ss, srv.address, srv.pid, workers)
			if err != nil {
				return fmt.Errorf("scale-out on the %s with %d workers: %w", srv.label, workers, err)
			}
			r.server = srv.label
			results = append(results, r)
			rep.printf("   %-28s %d worker(s): backfill %7s (%d webCRM requests), burst %7s; webCRM requests %5d, 429 answers %d, highest 60 s window %3d%s\n",
				r.server, r.workers, r.backfill.Round(time.Second), r.backfillRequests, r.burst.Round(time.Second), r.requests, r.on429, r.peak,
				map[bool]string{true: ", one worker killed", false: ""}[r.killed])
			rep.printf("   %-28s   requests per minute: %s\n", "", joinInts(r.perMinute))
		}
	}
	base := results[0]
	for _, r := range results[1:] {
		rep.printf("   %s, %d worker(s) / dev server, 1 worker: burst %.2f×, backfill %.2f×\n",
			r.server, r.workers, r.burst.Seconds()/base.burst.Seconds(), r.backfill.Seconds()/base.backfill.Seconds())
	}
	rep.printf("\n")
	return nil
}

// scaleOnce runs one scale-out measurement on a stack of its own.
func scaleOnce(ctx context.Context, s settings, ss scaleSettings, address string, pid, workers int) (scaleResult, error) {
	res := scaleResult{workers: workers}
	dir, err := os.MkdirTemp("", "tandem-bench-scale-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := devstack.Options{DataDir: dir, UIPort: -1, Progress: os.Stderr, Logger: logger}
	if address != "" {
		opts.TemporalAddress, opts.TemporalPID = address, pid
		opts.TemporalNamespace = fmt.Sprintf("bench-scale-%d-%s", workers, time.Now().UTC().Format("20060102-150405"))
	}
	st, err := devstack.Start(ctx, opts)
	if err != nil {
		return res, err
	}
	defer st.Stop()
	cfg := st.Config()
	cfg.Sync.Concurrency = s.concurrency
	cfg.WebCRM.RequestsPerMinute = 250
	cfg.Worker.MetricsAddr = "off"

	var svcs []*service.Service
	stops := make([]context.CancelFunc, workers)
	var wg sync.WaitGroup
	defer func() {
		for _, stop := range stops {
			if stop != nil {
				stop()
			}
		}
		wg.Wait()
		for _, svc := range svcs {
			svc.Close()
		}
	}()
	for i := range workers {
		c := cfg
		c.Worker.HooksAddr = "off"
		if i == 0 {
			port, err := devserver.FreePort()
			if err != nil {
				return res, err
			}
			c.Worker.HooksAddr = "127.0.0.1:" + strconv.Itoa(port)
		}
		svc, err := service.New(c, service.Options{Logger: logger, StopGrace: -1})
		if err != nil {
			return res, err
		}
		svcs = append(svcs, svc)
		wctx, stop := context.WithCancel(ctx)
		stops[i] = stop
		wg.Add(1)
		go func() { defer wg.Done(); _ = svc.Run(wctx) }()
	}
	tc := svcs[0].Client()

	ids := make([]string, ss.records)
	for i := range ss.records {
		rec, err := st.ERP.Put("customers", map[string]any{
			"name":               fmt.Sprintf("Scale Kunde %04d A/S", i),
			"organisationNumber": fmt.Sprintf("DK7%07d", i),
			"phone":              fmt.Sprintf("+45 50 00 %04d", i),
		})
		if err != nil {
			return res, fmt.Errorf("create ERP customer %d: %w", i, err)
		}
		ids[i], _ = rec["id"].(string)
	}

	st.WebCRM.ResetStats()
	began := time.Now()
	samples := sampleRequests(ctx, st, 5*time.Second)
	defer samples.stop()

	if _, err := backfill(ctx, tc, "organisations", workflows.BackfillERP, s.concurrency); err != nil {
		return res, err
	}
	res.backfill = time.Since(began)
	res.backfillRequests = st.WebCRM.Stats().TotalRequests

	if err := service.StartPairings(ctx, tc, []string{"organisations"}, service.StartOptions{
		PollInterval: s.poll, ERPPollInterval: cfg.Sync.ERPPollInterval, ReconcileEvery: -1}); err != nil {
		return res, err
	}
	burstStart := time.Now()
	phone := func(i int) string { return fmt.Sprintf("+45 51 00 %04d", i) }
	edited := ss.edits
	if edited > len(ids) {
		edited = len(ids)
	}
	for i := range edited {
		if _, err := st.ERP.Patch("customers", ids[i], map[string]any{"phone": phone(i)}); err != nil {
			return res, fmt.Errorf("edit ERP customer %s: %w", ids[i], err)
		}
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		arrived := 0
		byToken := map[string]string{}
		for _, rec := range st.WebCRM.Records("Organisations") {
			tok, _ := rec["OrganisationCustom15"].(string)
			tel, _ := rec["OrganisationTelephone"].(string)
			byToken[tok] = tel
		}
		for i := range edited {
			if byToken["link/organisations/erp/"+ids[i]] == phone(i) {
				arrived++
			}
		}
		if arrived == edited {
			break
		}
		if workers > 1 && !res.killed && arrived >= edited/3 {
			stops[workers-1]() // killed: no grace for its running activities
			res.killed = true
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%d of %d edits reached webCRM in 30 minutes", arrived, edited)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	res.burst = time.Since(burstStart)
	ws := st.WebCRM.Stats()
	res.requests, res.on429, res.peak = ws.TotalRequests, ws.RateLimited, ws.PeakPerMinute
	res.perMinute = samples.perMinute(began, ws.TotalRequests)
	return res, nil
}

// requestSampler records webCRM's request count at an interval.
type requestSampler struct {
	mu     sync.Mutex
	at     []time.Time
	counts []int64
	done   chan struct{}
	wg     sync.WaitGroup
}

func sampleRequests(ctx context.Context, st *devstack.Stack, every time.Duration) *requestSampler {
	r := &requestSampler{done: make(chan struct{})}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.done:
				return
			case now := <-t.C:
				n := st.WebCRM.Stats().TotalRequests
				r.mu.Lock()
				r.at, r.counts = append(r.at, now), append(r.counts, n)
				r.mu.Unlock()
			}
		}
	}()
	return r
}

func (r *requestSampler) stop() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	r.wg.Wait()
}

// perMinute returns the requests made in each whole minute since began (the
// last, partial minute included), from the last sample at or before each
// minute's end; total is the count at the end.
func (r *requestSampler) perMinute(began time.Time, total int64) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	var prev int64
	for m := 1; ; m++ {
		end := began.Add(time.Duration(m) * time.Minute)
		at := prev
		last := true
		for i, t := range r.at {
			if !t.After(end) {
				at = r.counts[i]
			} else {
				last = false
				break
			}
		}
		if last {
			out = append(out, total-prev)
			return out
		}
		out = append(out, at-prev)
		prev = at
	}
}

// joinInts joins the numbers with spaces.
func joinInts[T int | int64](v []T) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.FormatInt(int64(n), 10)
	}
	return strings.Join(parts, " ")
}
