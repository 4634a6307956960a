// Command bench measures tandem end to end and prints each figure with its
// settings:
//
//	go run ./bench                 # default sizes, about 11 minutes on 2 cores
//	go run ./bench -n 2000 -edits 50 -creates 100   # a quick run
//	go run ./bench -linkscale -linkscale-steps 1000,100000,1000000   # 9 only
//
// It starts what it needs in this process (a persistent Temporal dev server
// with WAL pragmas as a child process, the webCRM simulator, the CustomERP
// server and a tandem worker) and measures, in one run:
//
//  1. backfill webCRM → ERP of N organisations through the full stack, and a
//     direct-copy baseline with the same clients, mappings and concurrency
//     (page → map → create, no Temporal); the ratio;
//  2. webCRM requests per record (backfill and steady state) and writes
//     caused by echoes and no-op changes;
//  3. edit → visible on the other side, p50 and p99, in each direction,
//     with polling only and with webCRM hooks;
//  4. ERP → webCRM creation while the simulator enforces 250 requests/min;
//  5. apply latency at the link count of the backfill (measured before 4,
//     which spends the webCRM budget), and the process's peak memory;
//  6. the share of the webCRM budget spent on polling at default settings;
//  7. with -scaleout, and only that: a backfill of ERP customers into webCRM
//     and a burst of ERP edits, carried by one and by three workers on one
//     webCRM token (one of the three killed on the way), on the dev server
//     and on the server at -temporal-address: webCRM requests per minute, the
//     highest 60-second window and the 429 answers;
//  8. delete → gone on the other side, p50 and p99, of quotation lines on a
//     stack of their own: webCRM → ERP found by the poll of the
//     opportunity's next edit and by the Delete hook, ERP → webCRM through
//     the change feed (-deletes N each way; -deletes-only runs only this);
//  9. with -linkscale, and only that: links per pairing. The worker runs in
//     a process of its own; for each step of -linkscale-steps (e.g.
//     1000,100000,1000000) the webCRM organisations are seeded up to the
//     step's count and backfilled into the ERP, then -linkscale-edits
//     webCRM edits → ERP with hooks give the apply latency's p50 and p99
//     (and the p99's ratio to the first step's), /proc gives the
//     worker's VmRSS and VmHWM, and its pprof endpoint the heap live after
//     a collection; -linkscale-memlimit sets the worker's GOMEMLIMIT. One
//     line per step, printed when measured.
//
// With -longpoll, and only that, it measures ERP → webCRM edit latency (3) and
// the ERP feed's requests at rest with the interval read and with the long
// poll, one after the other in one run.
//
// The raw output is also written to bench/results/<time>.txt.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

type settings struct {
	n           int
	persons     int
	edits       int
	creates     int
	concurrency int
	poll        time.Duration
	out         string
	cpuProfile  string
	logFile     string // the worker's log, when set

	// An external Temporal server (e.g. scripts/temporal-postgres's) instead of the dev server.
	temporalAddress, temporalNamespace string
	temporalPID                        int

	// scaleOut runs only measurement 7, with its sizes.
	scaleOut bool
	// deletes is the number of deletes each way of measurement 8; with
	// deletesOnly, only measurement 8 runs.
	deletes     int
	deletesOnly bool
	scale       scaleSettings
	// longPoll runs only the ERP → webCRM latency, interval read and long poll side by side.
	longPoll bool
	// sustained, when set, runs only measurement 4 held for this long.
	sustained time.Duration
	// linkScale runs only measurement 9, with its steps and edits.
	linkScale bool
	links     linkScaleSettings
}

func main() {
	var s settings
	flag.IntVar(&s.n, "n", 10000, "organisations in the backfill (1, 2, 5); -n 100000 for the large scale run")
	flag.IntVar(&s.persons, "persons", -1, "persons in the backfill (1), each of one of the organisations (default n/5)")
	flag.IntVar(&s.edits, "edits", 200, "edits in each direction (3)")
	flag.IntVar(&s.creates, "creates", 5000, "ERP customers created into rate-limited webCRM (4)")
	flag.IntVar(&s.concurrency, "concurrency", 96, "records dispatched at once, also used by the baseline")
	flag.DurationVar(&s.poll, "poll", 10*time.Second, "poll interval (six pairings poll webCRM once each per interval, from the same 250/min budget)")
	flag.StringVar(&s.out, "out", "bench/results", "directory for the raw output")
	flag.StringVar(&s.logFile, "log", "", "write the worker's log (info and above) to this file; without it the log is discarded")
	flag.StringVar(&s.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (worker, simulators) during the full-stack backfill (1), or during -sustained, to this file")
	flag.StringVar(&s.temporalAddress, "temporal-address", "", "run against the Temporal server at this host:port (e.g. scripts/temporal-postgres's) instead of a dev server")
	flag.StringVar(&s.temporalNamespace, "temporal-namespace", "", "with -temporal-address: the namespace (default a new bench-<time> one)")
	flag.IntVar(&s.temporalPID, "temporal-pid", 0, "with -temporal-address: the server's process id, to count its CPU in (1)")
	flag.BoolVar(&s.scaleOut, "scaleout", false, "run only measurement 7: one and three workers on one webCRM token, on the dev server and on -temporal-address when given")
	flag.IntVar(&s.scale.records, "scale-records", 2000, "ERP customers backfilled into webCRM (7)")
	flag.IntVar(&s.scale.edits, "scale-edits", 400, "ERP edits carried to webCRM after the backfill (7)")
	flag.IntVar(&s.deletes, "deletes", 20, "quotation lines deleted in each direction, with and without hooks (8)")
	flag.BoolVar(&s.deletesOnly, "deletes-only", false, "run only measurement 8: delete latencies on a stack of their own")
	flag.BoolVar(&s.longPoll, "longpoll", false, "run only ERP → webCRM edit latency (3) and ERP feed requests at rest, with the interval read (the baseline) and with the long poll, in one run")
	flag.DurationVar(&s.sustained, "sustained", 0, "run only measurement 4 held this long (10m for the goal): ERP customers written faster than webCRM's budget lets through, counted each minute")
	flag.BoolVar(&s.linkScale, "linkscale", false, "run only measurement 9: apply latency and worker memory (the worker in a process of its own) as the organisations links grow through -linkscale-steps")
	s.links.steps = []int{1000, 10000}
	flag.Func("linkscale-steps", "with -linkscale: organisations (and links) after each step, ascending, comma-separated (default 1000,10000; 1000,100000,1000000 for the goal)", func(v string) error {
		steps, err := parseSteps(v)
		s.links.steps = steps
		return err
	})
	flag.IntVar(&s.links.edits, "linkscale-edits", 200, "with -linkscale: webCRM edits → ERP (hooks) whose latency is measured at each step (9)")
	flag.StringVar(&s.links.ops, "linkscale-ops-metrics", "off", "with -linkscale: the worker's TANDEM_OPS_METRICS, how often it counts the links by state for its gauges, or off (9)")
	flag.StringVar(&s.links.memLimit, "linkscale-memlimit", "", "with -linkscale: the worker's GOMEMLIMIT, Go's soft memory limit (e.g. 440MiB); none when empty (9)")
	flag.Parse()
	if s.persons < 0 {
		s.persons = s.n / 5
	}
	if err := run(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// report prints to stdout and keeps a copy for the results file.
type report struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (r *report) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	fmt.Print(line)
	r.buf.WriteString(line)
}

func run(ctx context.Context, s settings) error {
	rep := &report{}
	rep.printf("tandem benchmark %s\nmachine: %s/%s, %d CPUs, %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	if s.scaleOut {
		rep.printf("settings: scale-records=%d scale-edits=%d concurrency=%d poll=%s erp-poll=%s\n\n",
			s.scale.records, s.scale.edits, s.concurrency, s.poll, config.Default().Sync.ERPPollInterval)
		if err := scaleOut(ctx, s, s.scale, rep); err != nil {
			return err
		}
		return save(s.out, rep.buf.String())
	}
	if s.deletesOnly {
		rep.printf("settings: deletes=%d concurrency=%d poll=%s erp-poll=%s\n\n", s.deletes, s.concurrency, s.poll, config.Default().Sync.ERPPollInterval)
		if err := deleteLatencies(ctx, s, s.deletes, rep); err != nil {
			return err
		}
		return save(s.out, rep.buf.String())
	}
	if s.sustained > 0 {
		rep.printf("settings: sustained=%s concurrency=%d poll=%s erp-poll=%s\n\n", s.sustained, s.concurrency, s.poll, config.Default().Sync.ERPPollInterval)
		if err := sustainedCreates(ctx, s, s.sustained, rep); err != nil {
			return err
		}
		return save(s.out, rep.buf.String())
	}
	if s.linkScale {
		rep.printf("settings: linkscale-steps=%s linkscale-edits=%d linkscale-memlimit=%q linkscale-ops-metrics=%s concurrency=%d poll=%s erp-poll=%s\n\n",
			joinInts(s.links.steps), s.links.edits, s.links.memLimit, s.links.ops, s.concurrency, s.poll, config.Default().Sync.ERPPollInterval)
		if err := linkScale(ctx, s, s.links, rep); err != nil {
			return err
		}
		return save(s.out, rep.buf.String())
	}
	if s.longPoll {
		rep.printf("settings: n=%d edits=%d concurrency=%d poll=%s erp-poll=%s\n\n",
			s.n, s.edits, s.concurrency, s.poll, config.Default().Sync.ERPPollInterval)
		if err := longPollBench(ctx, s, rep); err != nil {
			return err
		}
		return save(s.out, rep.buf.String())
	}
	rep.printf("settings: n=%d persons=%d edits=%d creates=%d concurrency=%d poll=%s erp-poll=%s\n\n",
		s.n, s.persons, s.edits, s.creates, s.concurrency, s.poll, config.Default().Sync.ERPPollInterval)
	server := "Temporal dev server"
	if s.temporalAddress != "" {
		if s.temporalNamespace == "" {
			s.temporalNamespace = "bench-" + time.Now().UTC().Format("20060102-150405")
		}
		server = "Temporal server"
		rep.printf("temporal: %s, namespace %s\n\n", s.temporalAddress, s.temporalNamespace)
	}
	b, err := startStack(ctx, s, devstack.Options{
		TemporalAddress: s.temporalAddress, TemporalNamespace: s.temporalNamespace, TemporalPID: s.temporalPID,
	})
	if err != nil {
		return err
	}
	defer b.close()
	st, svc, cfg := b.st, b.svc, b.cfg

	orgIDs, err := seedOrganisations(st, 0, s.n)
	if err != nil {
		return err
	}
	if err := seedPersons(st, orgIDs, s.persons); err != nil {
		return err
	}
	// 1 + 2: backfill through the stack.
	st.WebCRM.ResetStats()
	st.ERP.ResetStats()
	serverCPU0, selfCPU0 := cpuSeconds(st.Temporal.PID()), cpuSeconds(os.Getpid())
	stopProfile, err := startCPUProfile(s.cpuProfile)
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := backfill(ctx, svc.Client(), "organisations", workflows.BackfillWebCRM, s.concurrency); err != nil {
		stopProfile()
		return err
	}
	stackTime := time.Since(start)
	stopProfile()
	serverCPU, selfCPU := cpuSeconds(st.Temporal.PID())-serverCPU0, cpuSeconds(os.Getpid())-selfCPU0
	webStats := st.WebCRM.Stats()
	erpCount := len(st.ERP.Records("customers"))
	rep.printf("1. backfill webCRM → ERP, %d organisations\n", s.n)
	rep.printf("   full stack:  %6.1f records/s (%s; ERP now holds %d customers)\n", float64(s.n)/stackTime.Seconds(), stackTime.Round(time.Millisecond), erpCount)
	baseRate, err := baseline(ctx, st, svc.Mappings(), s)
	if err != nil {
		return err
	}
	rep.printf("   baseline:    %6.1f records/s (direct copy: page → map → create, same clients, mappings, concurrency and ERP storage)\n", baseRate)
	rep.printf("   ratio:       %.2f× of the baseline\n", float64(s.n)/stackTime.Seconds()/baseRate)
	rep.printf("   where the time goes: CPU during the backfill: %s %.0f s (%.0f%% of %d cores), worker + simulators %.0f s (%.0f%%)\n",
		server, serverCPU, 100*serverCPU/stackTime.Seconds()/float64(runtime.NumCPU()), runtime.NumCPU(), selfCPU, 100*selfCPU/stackTime.Seconds()/float64(runtime.NumCPU()))
	if s.persons > 0 {
		start := time.Now()
		if _, err := backfill(ctx, svc.Client(), "persons", workflows.BackfillWebCRM, s.concurrency); err != nil {
			return err
		}
		took := time.Since(start)
		rep.printf("   persons:     %6.1f records/s (%d persons in %s; each resolves its organisation's link for the ERP customer it refers to)\n",
			float64(s.persons)/took.Seconds(), s.persons, took.Round(time.Millisecond))
	}
	rep.printf("\n")
	rep.printf("2. webCRM requests per record in the organisations backfill: %.4f (%d requests)\n", float64(webStats.TotalRequests)/float64(s.n), webStats.TotalRequests)
	rep.printf("   webCRM requests by call: %s\n", requestBreakdown(webStats.Requests))

	// The ERP side of the backfill: every customer the webCRM side created
	// is visited once more and must be skipped without a write.
	st.WebCRM.ResetStats()
	st.ERP.ResetStats()
	start = time.Now()
	erpSide, err := backfill(ctx, svc.Client(), "organisations", workflows.BackfillERP, s.concurrency)
	if err != nil {
		return err
	}
	erpTime := time.Since(start)
	ws, es := st.WebCRM.Stats(), st.ERP.Stats()
	rep.printf("   backfill of the ERP side after it: %d customers visited in %s (%.0f records/s; %v); webCRM requests %d, webCRM writes %d, ERP writes %d (writes must be 0)\n",
		erpSide.Done, erpTime.Round(time.Millisecond), float64(erpSide.Done)/erpTime.Seconds(), erpSide.Actions, ws.TotalRequests, totalWebWrites(ws.Writes), sumInt(es.Writes))
	if s.persons > 0 {
		if _, err := backfill(ctx, svc.Client(), "persons", workflows.BackfillERP, s.concurrency); err != nil {
			return err
		}
	}

	// Steady state: start the pairings. They start where the backfills
	// started reading (BackfillProgress.From), so their first polls read
	// only what changed since, and must write nothing.
	st.WebCRM.ResetStats()
	st.ERP.ResetStats()
	names := svc.Mappings().Names()
	start = time.Now()
	if err := service.StartPairings(ctx, svc.Client(), names, service.StartOptions{PollInterval: s.poll, ERPPollInterval: cfg.Sync.ERPPollInterval, ReconcileEvery: -1}); err != nil {
		return err
	}
	if err := waitPolls(ctx, svc.Client(), "organisations", 3, 5*time.Minute); err != nil {
		return err
	}
	if ps, err := pairingStatus(ctx, svc.Client(), "organisations"); err == nil {
		rep.printf("   pairings started after the backfills: 3 polls in %s; organisations read %d records and dispatched %d (they start from the backfills' positions; what they read is the 5 s overlap window before the webCRM mark, read until it settles, and every dispatch was skipped as already seen)\n",
			time.Since(start).Round(time.Millisecond), ps.Totals.Seen, ps.Totals.Dispatched)
	}
	if events, err := linkEvents(ctx, svc.Client(), "organisations"); err == nil {
		rep.printf("   history events of a backfilled link, settled: %d (a link workflow started with its state)\n", events)
	}
	ws, es = st.WebCRM.Stats(), st.ERP.Stats()
	rep.printf("   steady state after 3 polls over %d linked records: webCRM requests %d, webCRM writes %d, ERP writes %d (echo and no-op writes must be 0)\n\n",
		s.n, ws.TotalRequests, totalWebWrites(ws.Writes), sumInt(es.Writes))

	// 3: edit latency, polling only, then with hooks.
	rep.printf("3. edit → visible on the other side, %d edits each way, poll interval %s (the ERP feed is read every %s)\n", s.edits, s.poll, cfg.Sync.ERPPollInterval)
	for _, hooks := range []bool{false, true} {
		if hooks {
			if _, err := registerHooks(ctx, cfg); err != nil {
				return err
			}
		}
		for _, dir := range []string{"webCRM → ERP", "ERP → webCRM"} {
			st.WebCRM.ResetStats()
			lat, err := editLatency(ctx, st, dir, s.edits)
			if err != nil {
				return err
			}
			label := "polling only"
			if hooks {
				label = "with hooks  "
			}
			ws := st.WebCRM.Stats()
			rep.printf("   %s %-13s p50 %6s  p99 %6s  (webCRM requests meanwhile, polls included: %d, %.1f per edit; 429 answers: %d)\n",
				label, dir, pct(lat, 50), pct(lat, 99), ws.TotalRequests, float64(ws.TotalRequests)/float64(s.edits), ws.RateLimited)
		}
	}
	rep.printf("\n")

	// 5: scale and memory: apply latency (webCRM edit → ERP, with hooks, so
	// the poll interval does not dominate) at the link count of the
	// backfill, measured before item 4 spends the webCRM budget.
	links, err := svc.Client().CountWorkflow(ctx, countLinks("organisations"))
	if err != nil {
		return err
	}
	lat, err := editLatency(ctx, st, "webCRM → ERP", min(200, s.n))
	if err != nil {
		return err
	}
	rep.printf("5. with %d organisations links: apply latency (webCRM edit → ERP, hooks) p50 %s p99 %s; peak memory of this process (worker + simulators + bench) %s\n",
		links.GetCount(), pct(lat, 50), pct(lat, 99), peakRSS())
	if sim, rest, err := heapSplit(); err == nil {
		rep.printf("   in-use Go heap after a GC: simulators %.0f MB, worker + bench %.0f MB (from a heap profile; the resident size adds the GC's headroom, stacks and runtime)\n",
			float64(sim)/1e6, float64(rest)/1e6)
	}
	rep.printf("\n")

	// 4: ERP → webCRM creation under the webCRM rate limit.
	rate, calls, err := createUnderLimit(ctx, st, s.creates)
	if err != nil {
		return err
	}
	ws4 := st.WebCRM.Stats()
	rep.printf("4. ERP → webCRM creation of %d customers with webCRM at 250 requests/min: %.0f records/min (%.2f webCRM requests per record; 429 answers: %d)\n",
		s.creates, rate, calls, ws4.RateLimited)
	rep.printf("   webCRM requests by call: %s\n\n", requestBreakdown(ws4.Requests))

	// 6: polling cost at default settings (30 s interval, six pairings).
	perPoll, err := pollCost(ctx, st, svc.Client(), names)
	if err != nil {
		return err
	}
	perMinute := perPoll * 60 / workflows.DefaultPollInterval.Seconds()
	rep.printf("6. polling: %.1f webCRM requests per poll of all %d pairings; at the default %s interval %.1f requests/min = %.1f%% of the 250/min budget\n\n",
		perPoll, len(names), workflows.DefaultPollInterval, perMinute, perMinute/250*100)
	if s.deletes > 0 {
		if err := deleteLatencies(ctx, s, s.deletes, rep); err != nil {
			return err
		}
	}
	return save(s.out, rep.buf.String())
}

// requestBreakdown lists request counts by call, largest first.
func requestBreakdown(byCall map[string]map[int]int64) string {
	type row struct {
		call string
		n    int64
	}
	var rows []row
	for call, byStatus := range byCall {
		var n int64
		for _, c := range byStatus {
			n += c
		}
		rows = append(rows, row{call, n})
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].n > rows[j].n || rows[i].n == rows[j].n && rows[i].call < rows[j].call
	})
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s %d", r.call, r.n)
	}
	return strings.Join(parts, ", ")
}

// startCPUProfile starts profiling this process into path (nothing when
// path is empty) and returns the function that stops it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// seedOrganisations writes n webCRM organisations, numbered from first (so
// that a later call with first at the count so far adds new ones), and
// returns their ids.
func seedOrganisations(st *devstack.Stack, first, n int) ([]int, error) {
	ids := make([]int, 0, n)
	for i := first; i < first+n; i++ {
		id, err := st.WebCRM.Put("Organisations", map[string]any{
			"OrganisationName":      fmt.Sprintf("Bench Organisation %05d ApS", i),
			"OrganisationVatNumber": fmt.Sprintf("DK9%07d", i),
			"OrganisationAddress":   fmt.Sprintf("Søndergade %d\n2. sal", i%200+1),
			"OrganisationPostCode":  "8000",
			"OrganisationCity":      "Aarhus C",
			"OrganisationCountry":   "Danmark",
			"OrganisationTelephone": fmt.Sprintf("+45 70 %02d %02d %02d", i%100, (i/100)%100, (i/10000)%100),
		})
		if err != nil {
			return nil, fmt.Errorf("seed organisation %d: %w", i, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// seedPersons writes n webCRM persons, spread over the organisations.
func seedPersons(st *devstack.Stack, orgIDs []int, n int) error {
	for i := 0; i < n && len(orgIDs) > 0; i++ {
		_, err := st.WebCRM.Put("Persons", map[string]any{
			"PersonOrganisationId": orgIDs[(i*7)%len(orgIDs)],
			"PersonFirstName":      "Bench",
			"PersonLastName":       fmt.Sprintf("Person %05d", i),
			"PersonEmail":          fmt.Sprintf("bench.person%05d@example.com", i),
			"PersonTitle":          "Buyer",
			"PersonStatus":         "Active",
		})
		if err != nil {
			return fmt.Errorf("seed person %d: %w", i, err)
		}
	}
	return nil
}

// backfill runs the backfill of one side of a pairing under its usual
// workflow ID (so the pairings find the positions it hands over) and
// returns its result.
func backfill(ctx context.Context, c client.Client, pairing, side string, concurrency int) (workflows.BackfillProgress, error) {
	var p workflows.BackfillProgress
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.BackfillWorkflowID(pairing, side), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.BackfillWorkflow, workflows.BackfillInput{Pairing: pairing, Side: side, PageSize: 1000, Concurrency: concurrency})
	if err != nil {
		return p, err
	}
	if err := run.Get(ctx, &p); err != nil {
		return p, fmt.Errorf("backfill of %s (%s): %w", pairing, side, err)
	}
	if p.Failed > 0 {
		return p, fmt.Errorf("backfill of %s (%s): %d records failed (%v)", pairing, side, p.Failed, p.Actions)
	}
	return p, nil
}

// baseline copies the same organisations into a fresh ERP, persisted to a
// file like the stack's, with the same clients, mappings and concurrency,
// without Temporal.
func baseline(ctx context.Context, st *devstack.Stack, set *mappings.Set, s settings) (float64, error) {
	dir, err := os.MkdirTemp("", "tandem-baseline-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	erp, err := erpsim.New(erpsim.Options{APIKey: "bench", DBPath: filepath.Join(dir, "customerp.db")})
	if err != nil {
		return 0, err
	}
	defer erp.Close()
	srv := serveLocal(erp)
	defer srv.Close()
	ec, err := customerp.New(customerp.Config{BaseURL: srv.URL, APIKey: "bench"})
	if err != nil {
		return 0, err
	}
	wc, err := webcrm.New(webcrm.Config{BaseURL: st.WebCRMURL, APIToken: devstack.DefaultWebCRMToken, RequestsPerMinute: 100000})
	if err != nil {
		return 0, err
	}
	p, _ := set.Pairing("organisations")
	fields := p.WritableFields(domain.ERP, false)
	start := time.Now()
	sem := make(chan struct{}, s.concurrency)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	err = wc.ListAll(ctx, webcrm.Organisations, 1000, func(page []webcrm.Record) error {
		for _, rec := range page {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, _, err := p.FromWebCRM(ctx, rec, nil)
				if err == nil {
					var body map[string]any
					body, _, err = p.ToERP(ctx, c, fields, nil)
					if err == nil {
						id, _ := rec.ID(webcrm.Organisations)
						_, err = ec.Create(ctx, customerp.Customers, customerp.Record(body), "baseline-"+strconv.Itoa(id))
					}
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}()
		}
		return nil
	})
	wg.Wait()
	if err != nil {
		return 0, err
	}
	if e := firstErr.Load(); e != nil {
		return 0, fmt.Errorf("baseline: %w", e.(error))
	}
	return float64(s.n) / time.Since(start).Seconds(), nil
}

func waitPolls(ctx context.Context, c client.Client, pairing string, polls int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	first := -1
	for time.Now().Before(deadline) {
		if st, err := pairingStatus(ctx, c, pairing); err == nil {
			if first < 0 {
				first = st.Totals.Polls
			}
			if st.Totals.Polls-first >= polls {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("pairing %s did not poll %d times in %s", pairing, polls, timeout)
}

func pairingStatus(ctx context.Context, c client.Client, pairing string) (workflows.PairingStatus, error) {
	var st workflows.PairingStatus
	v, err := c.QueryWorkflow(ctx, workflows.PairingWorkflowID(pairing), "", workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

func totalWebWrites[T interface{ Total() int64 }](m map[string]T) int64 {
	var n int64
	for _, w := range m {
		n += w.Total()
	}
	return n
}

func sumInt(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// pct returns the p-th percentile of d, rounded to 10 ms, or "n/a".
func pct(d []time.Duration, p int) string {
	if len(d) == 0 {
		return "n/a"
	}
	return percentile(d, p).Round(10 * time.Millisecond).String()
}

// percentile returns the p-th percentile of d (sorting it), or 0 when d is
// empty.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := (len(d)*p + 99) / 100
	return d[min(max(i-1, 0), len(d)-1)]
}

// peakRSS returns this process's peak resident memory.
func peakRSS() string { return procStatus("self", "VmHWM") }

// procStatus returns one field of /proc/<pid>/status (pid "self" is this
// process), such as "VmRSS" or "VmHWM", as written there ("123456 kB"), or
// "unknown".
func procStatus(pid, field string) string {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func save(dir, text string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(dir, time.Now().UTC().Format("20060102-150405")+".txt")
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Println("\nraw output saved to", name)
	return nil
}
