package reliability

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/internal/lagclient"
	"github.com/tandemsync/tandem/internal/pgtemporal"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/internal/testenv"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// flagVisibilityLag is how far the worker's visibility answers trail the
// links: a production store's do, and no decision about data may wait on them.
var flagVisibilityLag = flag.Duration("visibility-lag", 3*time.Second, "every test: how long a link's change takes to reach the worker's list and count answers (0: as the dev server answers)")

// Credentials of the simulators in these tests.
const (
	webcrmToken = "reliability-webcrm-token"
	erpKey      = "reliability-erp-key"
	hookSecret  = "reliability-hook-secret"
)

// pollInterval is the pairings' poll interval (the shortest the pairing
// workflow takes: whole seconds).
const pollInterval = time.Second

// The six pairings, in dependency order.
var allPairings = []string{"organisations", "persons", "users", "products", "opportunities", "quotationlines"}

// envOptions configure newEnv.
type envOptions struct {
	// Hooks registers webCRM hooks for every entity that call the worker's
	// hooks endpoint (pokes and deletes), as `starter hooks register` does.
	Hooks bool
	// SuggestContinueAsNew is the history length at which the Temporal
	// server suggests continue-as-new (0: server default).
	SuggestContinueAsNew int
	// WebCRM replaces how the webCRM simulator behaves when no classic
	// fault is on (nil: as a real webCRM may, webcrmsim.HostileProfile).
	WebCRM *webcrmsim.FaultConfig
}

// realWebCRM is how the webCRM simulator behaves in these tests unless an
// environment says otherwise: as a real, SQL-backed webCRM may
// (webcrmsim.HostileProfile: pages in no fixed order, answers lost after a
// committed write, a URL limit, PATCH answers shuffled, short or with item
// errors, masked credentials, values cut or reformatted on write, hook
// bodies of other shapes, time stamps with an offset).
func realWebCRM(opts envOptions) webcrmsim.FaultConfig {
	if opts.WebCRM != nil {
		return *opts.WebCRM
	}
	return webcrmsim.HostileProfile()
}

// env is one test's real parts: a Temporal dev server on a SQLite file in
// the test's directory (restartable on the same file and port), the webCRM
// simulator, the CustomERP server on a SQLite file (restartable on the same
// file and port) and tandem's worker in this process (restartable).
type env struct {
	t    testing.TB
	dir  string
	logs *logSink
	set  *mappings.Set
	opts envOptions
	cfg  config.Config

	tmu   sync.Mutex
	srv   *devserver.Server
	tport int
	// pg is the PostgreSQL-backed server of the test, with
	// TANDEM_TEST_TEMPORAL=postgres (a dedicated one: a restart stops it).
	pg *pgtemporal.Dedicated
	c  client.Client // the test's own client; survives server restarts

	crm     *webcrmsim.Server
	crmHTTP *httptest.Server
	// crmBase is how webCRM behaves with no classic fault on (realWebCRM);
	// a scenario's faults are added to it, and clearing them comes back to it.
	crmBase webcrmsim.FaultConfig

	emu     sync.Mutex
	erp     *erpsim.Server
	erpHTTP *http.Server
	erpAddr string
	erpDB   string
	erpPast erpCounts // counters of ERP server instances already closed

	wmu    sync.Mutex
	worker *workerRun

	// restarts counts the disruptive faults by kind.
	rmu      sync.Mutex
	restarts map[string]int
}

// erpCounts are the API counters of CustomERP server instances.
type erpCounts struct {
	writes map[string]int64
	faults int64
	limits int64
}

// workerRun is one running worker (service.Run in a goroutine).
type workerRun struct {
	svc    *service.Service
	cancel context.CancelFunc
	done   chan error
}

// newEnv brings everything up, starts the six pairings and stops it all in
// t.Cleanup.
func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	began := time.Now()
	e := &env{t: t, dir: t.TempDir(), logs: newLogSink(), opts: opts, restarts: map[string]int{},
		erpPast: erpCounts{writes: map[string]int64{}}}
	t.Cleanup(func() { e.logs.report(t) })
	set, err := service.LoadMappings("")
	if err != nil {
		t.Fatalf("load the default mappings: %v", err)
	}
	e.set = set

	if err := e.startTemporal(); err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		e.tmu.Lock()
		defer e.tmu.Unlock()
		if e.srv != nil {
			if err := e.srv.Stop(); err != nil {
				t.Logf("stop Temporal: %v", err)
			}
		}
		if e.pg != nil {
			if err := e.pg.Stop(); err != nil {
				t.Logf("stop the Temporal server on PostgreSQL: %v", err)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.c, err = client.DialContext(ctx, client.Options{
		HostPort: e.srv.Address(), Namespace: e.srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(slog.New(e.logs.handler("test-client", slog.LevelError))),
	})
	if err != nil {
		t.Fatalf("dial Temporal at %s: %v", e.srv.Address(), err)
	}
	t.Cleanup(e.c.Close)

	quiet := slog.New(slog.DiscardHandler)
	hooksAddr := "off"
	if opts.Hooks {
		port, err := devserver.FreePort()
		if err != nil {
			t.Fatalf("%v", err)
		}
		hooksAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	e.crmBase = realWebCRM(opts)
	e.crm, err = webcrmsim.New(webcrmsim.Options{APIToken: webcrmToken, RateLimitPerMinute: -1, Seed: 1,
		Logger: quiet, HookSecret: hookSecret, HookAttempts: 3, HookTimeout: 2 * time.Second, Faults: e.crmBase})
	if err != nil {
		t.Fatalf("webCRM simulator: %v", err)
	}
	e.crmHTTP = httptest.NewServer(e.crm)
	t.Cleanup(func() { e.crmHTTP.Close(); _ = e.crm.Close() })

	e.erpDB = filepath.Join(e.dir, "customerp.db")
	if err := e.startERP(); err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { _ = e.stopERP() })

	cfg := config.Default()
	cfg.Temporal.Address = e.srv.Address()
	cfg.Temporal.Namespace = e.srv.Namespace()
	cfg.WebCRM.BaseURL, cfg.WebCRM.APIToken = e.crmHTTP.URL, webcrmToken
	cfg.WebCRM.RequestsPerMinute = 6000
	cfg.ERP.BaseURL, cfg.ERP.APIKey = "http://"+e.erpAddr, erpKey
	cfg.Sync.PollInterval = pollInterval
	cfg.Worker.MetricsAddr = "off"
	cfg.Worker.CodecAddr = "off"
	cfg.Worker.HooksAddr = hooksAddr
	cfg.Worker.HooksSecret = hookSecret
	e.cfg = cfg

	if err := e.startWorker(); err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(e.stopWorker)
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := service.StartPairings(sctx, e.c, allPairings, service.StartOptions{PollInterval: pollInterval, ReconcileEvery: -1}); err != nil {
		t.Fatalf("start pairings: %v", err)
	}
	if opts.Hooks {
		e.registerHooks(sctx, hooksAddr)
	}
	t.Logf("environment up in %s (Temporal %s on %s, webCRM %s, ERP %s on %s)", time.Since(began).Round(time.Millisecond),
		e.srv.Address(), filepath.Base(filepath.Join(e.dir, "temporal.db")), e.crmHTTP.URL, e.erpAddr, filepath.Base(e.erpDB))
	return e
}

// registerHooks subscribes the worker's hooks endpoint to every event of
// every entity of the pairings, naming the entity and the event in the
// target as `starter hooks register` does: a real webCRM's hook body need
// not say what changed (the simulator's HookBody "mixed" sends none, a form,
// foreign JSON or its own JSON), so the worker reads them from the target.
// Like an operator who runs the registration again after an error, it
// looks at the hooks there are before each try: webCRM may commit a hook
// and lose the answer (LostAnswerRate).
func (e *env) registerHooks(ctx context.Context, addr string) {
	e.t.Helper()
	wc, err := webcrm.New(webcrm.Config{BaseURL: e.crmHTTP.URL, APIToken: webcrmToken, RequestsPerMinute: 6000,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatalf("webCRM client: %v", err)
	}
	for _, name := range allPairings {
		p, _ := e.set.Pairing(name)
		ent := webcrm.Entity(p.WebCRMEntity)
		for _, ev := range []string{"Create", "Update", "Delete"} {
			q := url.Values{"entity": {p.WebCRMEntity}, "event": {ev}, "secret": {hookSecret}}
			target := "http://" + addr + "/hooks/webcrm?" + q.Encode()
			var last error
			for try := 0; try < 5; try++ {
				if last = registerHook(ctx, wc, ent, ev, target); last == nil {
					break
				}
			}
			if last != nil {
				e.t.Fatalf("register %s %s hook: %v", ent, ev, last)
			}
		}
	}
}

// registerHook makes sure one enabled hook of entity ent for event ev
// targets target: it creates one unless it is there already.
func registerHook(ctx context.Context, wc *webcrm.Client, ent webcrm.Entity, ev, target string) error {
	hooks, err := wc.ListHooks(ctx, ent)
	if err != nil {
		return fmt.Errorf("list hooks: %w", err)
	}
	for _, h := range hooks {
		if h.EventType == ev && h.TargetURL == target && h.IsEnabled {
			return nil
		}
	}
	_, err = wc.CreateHook(ctx, ent, webcrm.Hook{EventType: ev, TargetURL: target, IsEnabled: true})
	return err
}

// clearCRMFaults turns webCRM's classic faults off; it behaves as crmBase.
func (e *env) clearCRMFaults() {
	if err := e.crm.Faults().Set(e.crmBase); err != nil {
		e.t.Fatalf("webCRM faults: %v", err)
	}
}

// ---- Temporal ----

func (e *env) startTemporal() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // a first run builds the CLI
	defer cancel()
	dc := map[string]any{}
	if e.opts.SuggestContinueAsNew > 0 {
		dc[testenv.SuggestContinueAsNewKey] = e.opts.SuggestContinueAsNew
	}
	pg, err := testenv.UsePostgres()
	if err != nil {
		return err
	}
	if pg {
		return e.startPostgres(ctx, dc)
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		Ensure:           devserver.EnsureOptions{Progress: os.Stderr},
		Headless:         true,
		Port:             e.tport,
		DBFile:           filepath.Join(e.dir, "temporal.db"),
		DataDir:          e.dir,
		SearchAttributes: testenv.SearchAttributes(),
		DynamicConfig:    dc,
		StopGrace:        5 * time.Second,
		Logger:           slog.New(e.logs.handler("devserver", slog.LevelWarn)),
	})
	if err != nil {
		return fmt.Errorf("start the Temporal dev server on %s: %w", filepath.Join(e.dir, "temporal.db"), err)
	}
	e.tmu.Lock()
	e.srv, e.tport = srv, srv.Port()
	e.tmu.Unlock()
	return nil
}

// startPostgres starts the test's own Temporal server on the running
// PostgreSQL cluster (scripts/temporal-postgres), or starts it again on its
// databases and ports after stopTemporal.
func (e *env) startPostgres(ctx context.Context, dc map[string]any) error {
	if e.pg == nil {
		st, err := pgtemporal.ReadState(pgtemporal.DefaultDir())
		if err != nil {
			return fmt.Errorf("%s=postgres: %w", testenv.EnvTemporal, err)
		}
		if e.pg, err = st.StartDedicated(ctx, dc, testenv.SearchAttributes()); err != nil {
			return fmt.Errorf("a Temporal server on PostgreSQL: %w", err)
		}
	} else if err := e.pg.Resume(ctx); err != nil {
		return err
	}
	srv, err := devserver.External(devserver.ExternalOptions{Address: e.pg.Address, Namespace: pgtemporal.DefaultNamespace, PID: e.pg.PID(), Stop: e.pg.Halt})
	if err != nil {
		return err
	}
	e.tmu.Lock()
	e.srv, e.tport = srv, srv.Port()
	e.tmu.Unlock()
	return nil
}

// stopTemporal stops the Temporal server; its SQLite file (or PostgreSQL
// databases) stay.
func (e *env) stopTemporal() {
	e.t.Helper()
	e.tmu.Lock()
	srv := e.srv
	e.srv = nil
	e.tmu.Unlock()
	if err := srv.Stop(); err != nil {
		e.t.Logf("stop Temporal: %v", err)
	}
}

// restartTemporal starts the Temporal dev server again on the same file
// and port.
func (e *env) restartTemporal() {
	e.t.Helper()
	if err := e.startTemporal(); err != nil {
		e.t.Fatalf("restart Temporal: %v", err)
	}
	e.count("temporal-restart")
}

// ---- CustomERP ----

func (e *env) startERP() error {
	srv, err := erpsim.New(erpsim.Options{APIKey: erpKey, DBPath: e.erpDB, Seed: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("CustomERP server on %s: %w", e.erpDB, err)
	}
	addr := e.erpAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	// The port of the previous instance may take a moment to be free.
	for deadline := time.Now().Add(10 * time.Second); ; {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("CustomERP server: listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	e.emu.Lock()
	e.erp, e.erpHTTP, e.erpAddr = srv, hs, ln.Addr().String()
	e.emu.Unlock()
	return nil
}

// stopERP closes the CustomERP server's listener and connections and its
// database, keeping its counters.
func (e *env) stopERP() error {
	e.emu.Lock()
	defer e.emu.Unlock()
	if e.erp == nil {
		return nil
	}
	_ = e.erpHTTP.Close()
	st := e.erp.Stats()
	for r, n := range st.Writes {
		e.erpPast.writes[r] += n
	}
	e.erpPast.faults += st.FaultsInjected
	e.erpPast.limits += st.RateLimited
	err := e.erp.Close()
	e.erp, e.erpHTTP = nil, nil
	return err
}

// restartERP starts the CustomERP server again on the same file and port.
func (e *env) restartERP() {
	e.t.Helper()
	if err := e.startERP(); err != nil {
		e.t.Fatalf("restart CustomERP: %v", err)
	}
	e.count("erp-restart")
}

// erpServer returns the running CustomERP server, or nil while it is down.
func (e *env) erpServer() *erpsim.Server {
	e.emu.Lock()
	defer e.emu.Unlock()
	return e.erp
}

// ---- worker ----

func (e *env) startWorker() error {
	svc, err := service.New(e.cfg, service.Options{
		Logger:                    slog.New(e.logs.handler("worker", slog.LevelInfo)),
		Mappings:                  e.set,
		WebCRMActivitiesPerSecond: 200,
		WrapClient: func(c client.Client) client.Client {
			if *flagVisibilityLag <= 0 {
				return c
			}
			return lagclient.Wrap(c, lagclient.Options{Lag: *flagVisibilityLag})
		},
	})
	if err != nil {
		return fmt.Errorf("start the worker: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &workerRun{svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- svc.Run(ctx) }()
	e.wmu.Lock()
	e.worker = w
	e.wmu.Unlock()
	return nil
}

// stopWorker kills the worker (cancels its context) and waits for it.
func (e *env) stopWorker() {
	e.wmu.Lock()
	w := e.worker
	e.worker = nil
	e.wmu.Unlock()
	if w == nil {
		return
	}
	w.cancel()
	select {
	case err := <-w.done:
		if err != nil {
			e.t.Errorf("worker ended with an error: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.t.Errorf("worker did not stop within 30s")
	}
	w.svc.Close()
}

// restartWorker starts a new worker after stopWorker.
func (e *env) restartWorker() {
	e.t.Helper()
	// The Temporal client dials at once; a server just restarted may need
	// a moment more.
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err = e.startWorker(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatalf("restart the worker: %v", err)
	}
	e.count("worker-restart")
}

func (e *env) count(kind string) {
	e.rmu.Lock()
	e.restarts[kind]++
	e.rmu.Unlock()
}

// restartCounts returns a copy of the restart counters.
func (e *env) restartCounts() map[string]int {
	e.rmu.Lock()
	defer e.rmu.Unlock()
	out := make(map[string]int, len(e.restarts))
	for k, v := range e.restarts {
		out[k] = v
	}
	return out
}

// ---- counters ----

// counters are the API writes and injected faults both simulators counted,
// across CustomERP restarts.
type counters struct {
	writes map[string]int64 // "webcrm:Organisations", "erp:customers"
	faults map[string]int64 // "webcrm:5xx", "erp:injected", ...
	// behaviours counts what webCRM did as a real one may (the switches
	// of realWebCRM): "lost answers", "values rewritten", ...
	behaviours map[string]int64
}

func (c counters) total() int64 {
	var n int64
	for _, v := range c.writes {
		n += v
	}
	return n
}

func (c counters) faultTotal() int64 {
	var n int64
	for _, v := range c.faults {
		n += v
	}
	return n
}

// equalWrites reports whether two snapshots hold the same write counts.
func (c counters) equalWrites(o counters) bool {
	if len(c.writes) != len(o.writes) {
		return false
	}
	for k, v := range c.writes {
		if o.writes[k] != v {
			return false
		}
	}
	return true
}

// diff lists the write counters that differ from before.
func (c counters) diff(before counters) string {
	var out []string
	for k, v := range c.writes {
		if before.writes[k] != v {
			out = append(out, fmt.Sprintf("%s %d→%d", k, before.writes[k], v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// counters reads both simulators' counters.
func (e *env) counters() counters {
	out := counters{writes: map[string]int64{}, faults: map[string]int64{}, behaviours: map[string]int64{}}
	st := e.crm.Stats()
	for ent, w := range st.Writes {
		out.writes["webcrm:"+ent] = w.Total()
	}
	for kind, n := range st.Faults {
		out.faults["webcrm:"+kind] = n
	}
	for k, n := range map[string]int64{
		"lost answers": st.LostAnswers, "URLs too long": st.URLTooLong, "PATCH answers shuffled": st.PatchShuffled,
		"PATCH answers short": st.PatchShortened, "PATCH items refused": st.PatchItemErrors,
		"values rewritten": st.ValuesRewritten, "secrets overwritten": st.SecretsOverwritten,
	} {
		if n > 0 {
			out.behaviours[k] = n
		}
	}
	e.emu.Lock()
	defer e.emu.Unlock()
	for r, n := range e.erpPast.writes {
		out.writes["erp:"+r] += n
	}
	out.faults["erp:injected"] = e.erpPast.faults
	if e.erp != nil {
		es := e.erp.Stats()
		for r, n := range es.Writes {
			out.writes["erp:"+r] += n
		}
		out.faults["erp:injected"] += es.FaultsInjected
	}
	for k, v := range out.writes {
		if v == 0 {
			delete(out.writes, k)
		}
	}
	return out
}

// ---- Temporal look-ups ----

// callCtx returns a context for one call to Temporal.
func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// pairingStatus queries a pairing workflow's status.
func (e *env) pairingStatus(name string) (workflows.PairingStatus, error) {
	ctx, cancel := callCtx()
	defer cancel()
	var st workflows.PairingStatus
	v, err := e.c.QueryWorkflow(ctx, workflows.PairingWorkflowID(name), "", workflows.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("query status of pairing %s: %w", name, err)
	}
	return st, v.Get(&st)
}

// queryLink reads a link workflow's state by workflow ID (waking a link at rest).
func (e *env) queryLink(id string) (domain.LinkState, error) {
	ctx, cancel := callCtx()
	defer cancel()
	return links.New(e.c, "").State(ctx, id)
}

// listWorkflows lists running workflows matching a visibility query.
func (e *env) listWorkflows(query string) ([]*workflowExecution, error) {
	var out []*workflowExecution
	var token []byte
	for {
		ctx, cancel := callCtx()
		resp, err := e.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 1000, NextPageToken: token})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list workflows %q: %w", query, err)
		}
		for _, ex := range resp.GetExecutions() {
			w := &workflowExecution{id: ex.GetExecution().GetWorkflowId(), typ: ex.GetType().GetName(), attrs: map[string]string{}}
			for name, pl := range ex.GetSearchAttributes().GetIndexedFields() {
				var s string
				if err := converter.GetDefaultDataConverter().FromPayload(pl, &s); err == nil {
					w.attrs[name] = s
				}
			}
			out = append(out, w)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return out, nil
		}
	}
}

// workflowExecution is what visibility tells about one workflow.
type workflowExecution struct {
	id    string
	typ   string
	attrs map[string]string
}

// linksQuery is the visibility query of running home links, optionally of
// one pairing and in some states.
func linksQuery(pairing string, states ...string) string {
	q := "WorkflowType = 'LinkWorkflow' AND ExecutionStatus = 'Running'"
	if pairing != "" {
		q += fmt.Sprintf(" AND %s = '%s'", workflows.PairingKey.GetName(), pairing)
	}
	if len(states) > 0 {
		quoted := make([]string, len(states))
		for i, s := range states {
			quoted[i] = "'" + s + "'"
		}
		q += fmt.Sprintf(" AND %s IN (%s)", workflows.StateKey.GetName(), strings.Join(quoted, ", "))
	}
	return q
}

// reconcile runs a pairing's ReconcileWorkflow as its schedule would, with
// a mass-delete guard of share (0: the schedule's default), and waits.
func (e *env) reconcile(pairing string, share float64, n int) (domain.ReconcileResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       fmt.Sprintf("reliability-reconcile/%s/%d", pairing, n),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.ReconcileWorkflow, domain.ReconcileInput{Pairing: pairing, MaxDeleteShare: share})
	var res domain.ReconcileResult
	if err != nil {
		return res, fmt.Errorf("start reconcile of %s: %w", pairing, err)
	}
	if err := run.Get(ctx, &res); err != nil {
		return res, fmt.Errorf("reconcile of %s: %w", pairing, err)
	}
	return res, nil
}

// waitFor polls cond until it returns nil or timeout passes; it returns
// cond's last error then.
func waitFor(timeout time.Duration, every time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(every)
	}
}

// errDown marks an operation skipped because its server is down.
var errDown = errors.New("server is down")

// ---- logs ----

// logEntry is one log record of the worker, the SDK or the harness.
type logEntry struct {
	at     time.Time
	source string
	level  slog.Level
	msg    string
	attrs  string
}

func (l logEntry) String() string {
	return fmt.Sprintf("%s %s %-5s %s %s", l.at.Format("15:04:05.000"), l.source, l.level, l.msg, l.attrs)
}

// logSink keeps the last log records (for a failure report) and counts
// warnings and errors by message.
type logSink struct {
	mu     sync.Mutex
	recent []logEntry
	counts map[string]int
}

const logKeep = 300

func newLogSink() *logSink { return &logSink{counts: map[string]int{}} }

func (l *logSink) handler(source string, min slog.Level) slog.Handler {
	return &sinkHandler{sink: l, source: source, min: min}
}

func (l *logSink) add(e logEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent = append(l.recent, e)
	if len(l.recent) > 2*logKeep {
		l.recent = append([]logEntry(nil), l.recent[len(l.recent)-logKeep:]...)
	}
	if e.level >= slog.LevelWarn {
		l.counts[e.level.String()+" "+e.source+": "+e.msg]++
	}
}

// since returns the warnings and errors logged since t, at most n.
func (l *logSink) since(t time.Time, n int) []logEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logEntry
	for _, e := range l.recent {
		if e.level >= slog.LevelWarn && !e.at.Before(t) {
			out = append(out, e)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// report logs the warning counts, and the last records when t failed.
func (l *logSink) report(t testing.TB) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.counts) > 0 {
		keys := make([]string, 0, len(l.counts))
		for k := range l.counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %5d× %s", l.counts[k], k)
		}
		t.Logf("warnings and errors logged:%s", b.String())
	}
	if t.Failed() {
		recent := l.recent
		if len(recent) > logKeep {
			recent = recent[len(recent)-logKeep:]
		}
		var b strings.Builder
		for _, e := range recent {
			b.WriteString("\n  ")
			b.WriteString(e.String())
		}
		t.Logf("last %d log records:%s", len(recent), b.String())
	}
}

// sinkHandler is the slog.Handler feeding a logSink.
type sinkHandler struct {
	sink   *logSink
	source string
	min    slog.Level
	attrs  []slog.Attr
	group  string
}

func (h *sinkHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	write := func(a slog.Attr) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		fmt.Fprintf(&b, "%s=%v", key, a.Value.Resolve())
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(func(a slog.Attr) bool { write(a); return true })
	h.sink.add(logEntry{at: r.Time, source: h.source, level: r.Level, msg: r.Message, attrs: b.String()})
	return nil
}

func (h *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *sinkHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}

// pollCounts returns the number of polls each pairing has finished.
func (e *env) pollCounts() (map[string]int, error) {
	out := map[string]int{}
	for _, name := range allPairings {
		st, err := e.pairingStatus(name)
		if err != nil {
			return nil, err
		}
		out[name] = st.Totals.Polls
	}
	return out, nil
}

// waitQuiet waits until the engine is quiet: both simulators' API write
// counters did not move while every pairing finished two more polls (two
// poll intervals at least), no link is pending, blocked or in error, and no
// pairing's last poll failed. Links named in allowed may stay in error.
func (e *env) waitQuiet(timeout time.Duration, allowed map[string]bool) error {
	deadline := time.Now().Add(timeout)
	// A wait that would outlast the test binary's -timeout ends a little
	// before it, so that the test reports what it was waiting for.
	if dt, ok := e.t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dt.Deadline(); ok && d.Add(-time.Minute).Before(deadline) {
			deadline = d.Add(-time.Minute)
		}
	}
	last := "not checked yet"
	for time.Now().Before(deadline) {
		c0 := e.counters()
		base, err := e.pollCounts()
		if err != nil {
			last = err.Error()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		var statuses map[string]workflows.PairingStatus
		prev := last
		err = waitFor(time.Until(deadline), 200*time.Millisecond, func() error {
			statuses = map[string]workflows.PairingStatus{}
			for _, name := range allPairings {
				st, err := e.pairingStatus(name)
				if err != nil {
					return err
				}
				if st.Paused {
					return fmt.Errorf("pairing %s is paused: %s", name, st.PauseReason)
				}
				if st.Totals.Polls < base[name]+2 {
					return fmt.Errorf("pairing %s finished %d of 2 more polls (last at %s)", name, st.Totals.Polls-base[name], st.LastPollAt.Format("15:04:05"))
				}
				statuses[name] = st
			}
			return nil
		})
		if err != nil {
			last = err.Error() + "; before that: " + prev
			break
		}
		if c1 := e.counters(); !c1.equalWrites(c0) {
			last = "API writes still going on: " + c1.diff(c0)
			continue
		}
		busy, err := e.listWorkflows(linksQuery("", domain.StatePending, domain.StateBlocked, domain.StateError))
		if err != nil {
			last = err.Error()
			continue
		}
		var names []string
		for _, w := range busy {
			if !allowed[w.id] {
				names = append(names, w.id+" ("+w.attrs[workflows.StateKey.GetName()]+")")
			}
		}
		if len(names) > 0 {
			sort.Strings(names)
			last = fmt.Sprintf("%d links pending, blocked or in error: %s", len(names), strings.Join(names, ", "))
			continue
		}
		failed := ""
		for _, name := range allPairings {
			if st := statuses[name]; st.LastError != "" {
				failed = fmt.Sprintf("pairing %s: %s", name, st.LastError)
			}
		}
		if failed != "" {
			last = failed
			continue
		}
		return nil
	}
	return errors.New(last)
}

// lookupLink returns the home link and state of the link that owns a record.
func (e *env) lookupLink(pairing string, side domain.Side, id string) (string, domain.LinkState, bool, error) {
	ctx, cancel := callCtx()
	defer cancel()
	return links.New(e.c, "").Lookup(ctx, pairing, side, id)
}
