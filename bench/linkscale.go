package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/workflows"
)

// linkScaleSettings are the sizes of measurement 9.
type linkScaleSettings struct {
	steps    []int  // organisations in webCRM after each step, ascending
	edits    int    // webCRM edits whose apply latency is measured at each step
	memLimit string // the worker's GOMEMLIMIT, "" for Go's default (none)
	ops      string // the worker's TANDEM_OPS_METRICS: "off", or how often it counts the links by state
}

// parseSteps parses a comma-separated list of ascending positive counts,
// such as "1000,100000,1000000".
func parseSteps(v string) ([]int, error) {
	var steps []int
	for part := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("step %q is not a positive whole number", part)
		}
		if len(steps) > 0 && n <= steps[len(steps)-1] {
			return nil, fmt.Errorf("steps must ascend: %d after %d", n, steps[len(steps)-1])
		}
		steps = append(steps, n)
	}
	return steps, nil
}

// linkScale is measurement 9: apply latency and the worker's memory as the
// links of one pairing grow. The worker runs in a process of its own; for
// each step it seeds the webCRM organisations up to the step's count,
// backfills them into the ERP, and measures webCRM edit → ERP with hooks
// and the worker's resident memory. The organisations pairing starts after
// the first step's backfill; for each later step it is paused and the hooks
// removed while seeding and backfilling, so that the new records reach the
// ERP through the backfill alone. Each step's line is printed as soon as it
// is measured. A step's backfill reads the earlier steps' records again
// (links skip them): read with Since it would hand the pairing no position,
// and the pairing would then read them all itself.
func linkScale(ctx context.Context, s settings, ls linkScaleSettings, rep *report) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := newStack(ctx, s, devstack.Options{}, false)
	if err != nil {
		return err
	}
	defer b.close()
	// The worker serves its profiles on the metrics address: its live heap
	// is read from there.
	port, err := devserver.FreePort()
	if err != nil {
		return err
	}
	cfg := b.cfg
	cfg.Worker.MetricsAddr = "127.0.0.1:" + strconv.Itoa(port)
	cfg.Worker.OpsMetrics = ls.ops
	var env []string
	if ls.memLimit != "" {
		env = append(env, "GOMEMLIMIT="+ls.memLimit)
	}
	w, err := startWorker(ctx, cfg, env...)
	if err != nil {
		return err
	}
	w.metricsAddr = cfg.Worker.MetricsAddr
	defer w.stop()
	if err := linkScaleSteps(w.ctx, s, ls, b, w, rep); err != nil {
		if cause := context.Cause(w.ctx); cause != nil {
			return fmt.Errorf("%w (%w)", err, cause)
		}
		return err
	}
	return nil
}

// linkScaleSteps runs linkScale's steps against a stack whose worker is w.
func linkScaleSteps(ctx context.Context, s settings, ls linkScaleSettings, b *benchStack, w *workerProcess, rep *report) error {
	rep.printf("9. links per pairing: organisations seeded into webCRM and backfilled into the ERP in steps, then %d webCRM edits → ERP with hooks; the worker in a process of its own\n",
		ls.edits)
	fmt.Fprintf(os.Stderr, "bench: worker pid %d, log %s\n", w.cmd.Process.Pid, w.log)
	c := b.svc.Client()
	const pairing = "organisations"
	pairingID := workflows.PairingWorkflowID(pairing)
	var hooks []int64
	var firstP99 time.Duration
	seeded := 0
	for i, n := range ls.steps {
		if i > 0 {
			if err := c.SignalWorkflow(ctx, pairingID, "", workflows.SignalPause, "bench: seeding and backfill"); err != nil {
				return fmt.Errorf("pause the %s pairing: %w", pairing, err)
			}
			if err := removeHooks(ctx, b.cfg, hooks); err != nil {
				return err
			}
		}
		start := time.Now()
		ids, err := seedOrganisations(b.st, seeded, n-seeded)
		if err != nil {
			return err
		}
		seedTime := time.Since(start)
		if err := moveMarkPastSeed(ctx, b.st, ids[len(ids)-1]); err != nil {
			return err
		}
		start = time.Now()
		p, err := backfill(ctx, c, pairing, workflows.BackfillWebCRM, s.concurrency)
		if err != nil {
			return err
		}
		fillTime := time.Since(start)
		added := n - seeded
		seeded = n
		before, _ := pairingStatus(ctx, c, pairing) // none yet at the first step: zero
		b.st.WebCRM.ResetStats()
		if i == 0 {
			err = service.StartPairings(ctx, c, []string{pairing}, service.StartOptions{PollInterval: s.poll, ERPPollInterval: b.cfg.Sync.ERPPollInterval, ReconcileEvery: -1})
		} else {
			err = c.SignalWorkflow(ctx, pairingID, "", workflows.SignalResume, nil)
		}
		if err != nil {
			return fmt.Errorf("start or resume the %s pairing: %w", pairing, err)
		}
		// The backfill handed the pairing the position it started from; the
		// records its first poll reads are printed (see the line's end).
		start = time.Now()
		after, err := waitCaughtUp(ctx, c, pairing, time.Hour)
		if err != nil {
			return err
		}
		catchUp := time.Since(start)
		pollRequests := b.st.WebCRM.Stats().TotalRequests
		if hooks, err = registerHooks(ctx, b.cfg); err != nil {
			return err
		}
		links, err := c.CountWorkflow(ctx, countLinks(pairing))
		if err != nil {
			return fmt.Errorf("count links: %w", err)
		}
		lat, err := editLatency(ctx, b.st, "webCRM → ERP", min(ls.edits, n))
		if err != nil {
			return fmt.Errorf("step %d: %w", n, err)
		}
		time.Sleep(5 * time.Second) // let the edits' last activities and GC settle
		pid := strconv.Itoa(w.cmd.Process.Pid)
		rss, hwm := procStatus(pid, "VmRSS"), procStatus(pid, "VmHWM")
		live := "unknown"
		if n, err := w.liveHeap(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		} else {
			live = fmt.Sprintf("%.1f MB", float64(n)/1e6)
		}
		p99 := percentile(lat, 99)
		if i == 0 {
			firstP99 = p99
		}
		rep.printf("   %8d links: apply p50 %6s p99 %6s (%.2f× the first step's); worker VmRSS %s, VmHWM %s, live heap after a collection %s; seeded %d in %s (%.0f/s), backfill visited %d in %s (%.0f new records/s); the pairing's polls until it caught up (%s) saw %d changes (the ERP feed's echoes of the backfill's creates among them) with %d webCRM requests\n",
			links.GetCount(), pct(lat, 50), pct(lat, 99), p99.Seconds()/firstP99.Seconds(), rss, hwm, live,
			added, seedTime.Round(time.Millisecond), float64(added)/seedTime.Seconds(), p.Done, fillTime.Round(time.Millisecond), float64(added)/fillTime.Seconds(), catchUp.Round(time.Second), after.Totals.Seen-before.Totals.Seen, pollRequests)
	}
	rep.printf("\n")
	return nil
}

// waitCaughtUp waits until a whole poll of the pairing saw less than one
// batch of changes: the changes a step's backfill left in the feeds (in the
// ERP feed, an echo of every record it created) are read, and the apply
// latency is measured on a pairing at rest. It returns the pairing's status.
func waitCaughtUp(ctx context.Context, c client.Client, pairing string, timeout time.Duration) (workflows.PairingStatus, error) {
	deadline := time.Now().Add(timeout)
	for {
		before, err := pairingStatus(ctx, c, pairing)
		if err != nil {
			return before, fmt.Errorf("status of the %s pairing: %w", pairing, err)
		}
		// Two polls: the one under way when the status was read, then a whole one.
		if err := waitPolls(ctx, c, pairing, 2, time.Until(deadline)); err != nil {
			return before, err
		}
		after, err := pairingStatus(ctx, c, pairing)
		if err != nil {
			return after, fmt.Errorf("status of the %s pairing: %w", pairing, err)
		}
		if after.Totals.Seen-before.Totals.Seen < domain.DefaultBatchSize {
			return after, nil
		}
	}
}

// moveMarkPastSeed edits the organisation id once the pairing's overlap
// window has passed since the seeding ended. The bench writes a step's
// records within seconds, so the backfill's mark (the newest change) would
// otherwise have all of them inside the window that the pairing's first poll
// after the hand-over reads again; in a real account the newest change is
// rarely that close to most of the others.
func moveMarkPastSeed(ctx context.Context, st *devstack.Stack, id int) error {
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(workflows.DefaultOverlap + time.Second):
	}
	if err := st.WebCRM.Patch("Organisations", id, map[string]any{"OrganisationCity": "Aarhus N"}); err != nil {
		return fmt.Errorf("edit organisation %d after the seeding: %w", id, err)
	}
	return nil
}

// workerProcess is a tandem worker run as a child process.
type workerProcess struct {
	cmd         *exec.Cmd
	metricsAddr string          // where it serves /metrics and /debug/pprof/
	dir         string          // holds the binary and the log
	log         string          // the worker's stdout and stderr
	ctx         context.Context // cancelled, with the reason, when the worker exits
	cancel      context.CancelCauseFunc
	exited      chan struct{}
}

// startWorker builds ./worker into a new temporary directory and starts it
// with cfg in its environment (every variable config.Load reads is set, so
// none is inherited from this process) and then extra ("NAME=value"), its
// output in worker.log there. The worker's ctx ends when ctx does or the
// worker exits.
func startWorker(ctx context.Context, cfg config.Config, extra ...string) (*workerProcess, error) {
	dir, err := os.MkdirTemp("", "tandem-bench-worker-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "worker")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./worker").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("build the worker: %w\n%s", err, out)
	}
	w := &workerProcess{dir: dir, log: filepath.Join(dir, "worker.log"), exited: make(chan struct{})}
	logFile, err := os.Create(w.log)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	w.cmd = exec.Command(bin)
	w.cmd.Env, w.cmd.Stdout, w.cmd.Stderr = append(append(os.Environ(), workerEnv(cfg)...), extra...), logFile, logFile
	configureChild(w.cmd)
	if err := w.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start the worker: %w", err)
	}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	go func() {
		err := w.cmd.Wait()
		w.cancel(fmt.Errorf("the worker exited (%v); its log is %s", err, w.log))
		close(w.exited)
	}()
	return w, nil
}

// stop kills the worker and waits for it. The directory is removed unless
// the worker exited on its own, whose log is kept and named.
func (w *workerProcess) stop() {
	select {
	case <-w.exited:
		fmt.Fprintln(os.Stderr, "bench: the worker exited before the end; its log is", w.log)
		return
	default:
	}
	_ = w.cmd.Process.Kill()
	<-w.exited
	_ = os.RemoveAll(w.dir)
}

// workerEnv is cfg as the environment config.Load reads: the variables a
// worker needs have cfg's values, every other is set empty (unset to Load).
func workerEnv(cfg config.Config) []string {
	set := map[string]string{
		"TEMPORAL_ADDRESS":            cfg.Temporal.Address,
		"TEMPORAL_NAMESPACE":          cfg.Temporal.Namespace,
		"WEBCRM_BASE_URL":             cfg.WebCRM.BaseURL,
		"WEBCRM_API_TOKEN":            cfg.WebCRM.APIToken,
		"WEBCRM_REQUESTS_PER_MINUTE":  strconv.Itoa(cfg.WebCRM.RequestsPerMinute),
		"CUSTOMERP_BASE_URL":          cfg.ERP.BaseURL,
		"CUSTOMERP_API_KEY":           cfg.ERP.APIKey,
		"TANDEM_POLL_INTERVAL":        cfg.Sync.PollInterval.String(),
		"TANDEM_ERP_POLL_INTERVAL":    cfg.Sync.ERPPollInterval.String(),
		"TANDEM_DISPATCH_CONCURRENCY": strconv.Itoa(cfg.Sync.Concurrency),
		"TANDEM_METRICS_ADDR":         cfg.Worker.MetricsAddr,
		"TANDEM_HOOKS_ADDR":           cfg.Worker.HooksAddr,
		"TANDEM_HOOKS_SECRET":         cfg.Worker.HooksSecret,
		"TANDEM_OPS_METRICS":          cfg.Worker.OpsMetrics,
		"TANDEM_CODEC_ADDR":           "off",
	}
	env := []string{"TANDEM_CONFIG="}
	for _, name := range config.Env() {
		env = append(env, name+"="+set[name])
	}
	return env
}
