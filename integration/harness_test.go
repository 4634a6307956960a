package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
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
	"github.com/tandemsync/tandem/internal/hookreg"
	"github.com/tandemsync/tandem/internal/lagclient"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/internal/testenv"
	"github.com/tandemsync/tandem/internal/testkit"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Credentials of the simulators in these tests.
const (
	webcrmToken = "integration-webcrm-token"
	erpKey      = "integration-erp-key"
)

// pollInterval is the pairings' poll interval in these tests.
const pollInterval = time.Second

// waitTimeout bounds an ordinary wait for the engine to carry a change
// across; generous because two tests with their own servers share two cores.
const waitTimeout = 45 * time.Second

// The six pairings.
const (
	pOrgs     = "organisations"
	pPersons  = "persons"
	pUsers    = "users"
	pProducts = "products"
	pOpps     = "opportunities"
	pLines    = "quotationlines"
)

var allPairings = []string{pOrgs, pPersons, pUsers, pProducts, pOpps, pLines}

// webCRM entity and ERP resource of each pairing, as the default mappings
// name them, and the webCRM custom field holding tandem's correlation token
// ("" for quotation lines, which have none).
var (
	crmEntity = map[string]string{pOrgs: "Organisations", pPersons: "Persons", pUsers: "Users",
		pProducts: "Products", pOpps: "Opportunities", pLines: "QuotationLines"}
	erpResource = map[string]string{pOrgs: "customers", pPersons: "contacts", pUsers: "contacts",
		pProducts: "products", pOpps: "orders", pLines: "order-lines"}
	crmToken = map[string]string{pOrgs: "OrganisationCustom15", pPersons: "PersonCustom15", pUsers: "UserCustom15",
		pProducts: "ProductCustom15", pOpps: "OpportunityCustom15"}
	crmIDField = map[string]string{pOrgs: "OrganisationId", pPersons: "PersonId", pUsers: "UserId",
		pProducts: "ProductId", pOpps: "OpportunityId", pLines: "QuotationLineId"}
)

// stackOptions configure newStack.
type stackOptions struct {
	// SuggestContinueAsNew is the history length at which the dedicated
	// Temporal server suggests continue-as-new (0: server default).
	SuggestContinueAsNew int
	// Pairings are started right away (none when empty).
	Pairings []string
	// ExpectWarnings lets the worker log warnings and errors (faults,
	// restarts, deliberate failures); otherwise any fails the test.
	ExpectWarnings bool
	// Timeout bounds the helpers' waits (default waitTimeout).
	Timeout time.Duration
	// Concurrency is the number of changes one poll dispatches at once
	// (default: the configuration's default).
	Concurrency int
	// WebCRMRateLimit is the webCRM simulator's requests per minute (per
	// token, as webCRM counts them); 0 is no limit.
	WebCRMRateLimit int
	// Configure changes the worker's configuration before it starts.
	Configure func(*config.Config)
	// Hooks serves the worker's hooks endpoint (see registerHooks).
	Hooks bool
	// PollEvery is the pairings' poll interval (default pollInterval).
	PollEvery time.Duration
	// ERPPollEvery is the time between reads of the ERP feed between polls
	// (default: read with each poll).
	ERPPollEvery time.Duration
	// VisibilityLag makes the worker's list and count answers trail the
	// links by this long (lagclient); 0: as the server answers.
	VisibilityLag time.Duration
	// WebCRMFaults replaces the webCRM simulator's fault configuration. By
	// default it behaves as a real webCRM may (webcrmsim.HostileProfile),
	// but for answers lost after a write, which make the worker log the
	// retry, unless ExpectWarnings is set.
	WebCRMFaults *webcrmsim.FaultConfig
}

// realWebCRM is how the webCRM simulator behaves in these tests unless a test
// says otherwise: as a real, SQL-backed webCRM may (pages in no fixed order, a
// URL limit, PATCH answers in any order, masked secrets, values cut or
// reformatted on write, time stamps with an offset), and with answers lost
// after the write is done when the test lets the worker log the retries.
func realWebCRM(opts stackOptions) webcrmsim.FaultConfig {
	if opts.WebCRMFaults != nil {
		return *opts.WebCRMFaults
	}
	f := webcrmsim.HostileProfile()
	if !opts.ExpectWarnings {
		f.LostAnswerRate = 0
	}
	return f
}

// stack is one test's real parts: a dedicated Temporal dev server, the two
// simulators on 127.0.0.1 and tandem's worker running in this process.
type stack struct {
	t       *testing.T
	srv     *devserver.Server
	c       client.Client
	crm     *webcrmsim.Server
	erp     *erpsim.Server
	crmURL  string
	erpURL  string
	cfg     config.Config
	logs    *testkit.LogSink
	started []string      // pairings started
	timeout time.Duration // bound of the helpers' waits
	lag     time.Duration // of the worker's visibility answers
	poll    time.Duration // the pairings' poll interval
	erpPoll time.Duration // the pairings' ERP feed interval (0: with each poll)

	mu       sync.Mutex
	workers  []*workerRun
	dumpOnce sync.Once
	inFlight map[string]int // API requests being served, by "side METHOD /Resource"
}

// workerRun is one running worker (service.Run in a goroutine).
type workerRun struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// newStack brings up a dedicated Temporal server, both simulators and the
// worker, and starts opts.Pairings. Everything stops in t.Cleanup.
func newStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	began := time.Now()
	s := &stack{t: t, logs: &testkit.LogSink{}, timeout: opts.Timeout, poll: opts.PollEvery, erpPoll: opts.ERPPollEvery, lag: opts.VisibilityLag}
	if s.timeout <= 0 {
		s.timeout = waitTimeout
	}
	if s.poll <= 0 {
		s.poll = pollInterval
	}
	s.srv = testenv.StartTemporal(t, testenv.Options{SuggestContinueAsNew: opts.SuggestContinueAsNew})
	t.Cleanup(func() { s.logs.Report(t, os.Getenv("TANDEM_IT_LOGS") != "") })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.srv.Address(),
		Namespace: s.srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(s.logs.Handler("sdk", 0))),
	})
	if err != nil {
		t.Fatalf("dial Temporal at %s: %v", s.srv.Address(), err)
	}
	s.c = c
	t.Cleanup(c.Close)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	limit := opts.WebCRMRateLimit
	if limit <= 0 {
		limit = -1
	}
	s.crm, err = webcrmsim.New(webcrmsim.Options{APIToken: webcrmToken, RateLimitPerMinute: limit, Seed: 1, Logger: quiet, Faults: realWebCRM(opts),
		HookAttempts: 3, HookTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("webCRM simulator: %v", err)
	}
	crmHTTP := httptest.NewServer(s.track("webcrm", s.crm))
	t.Cleanup(func() { crmHTTP.Close(); _ = s.crm.Close() })
	s.crmURL = crmHTTP.URL

	s.erp, err = erpsim.New(erpsim.Options{APIKey: erpKey, Seed: 1, Logger: quiet})
	if err != nil {
		t.Fatalf("CustomERP simulator: %v", err)
	}
	erpHTTP := httptest.NewServer(s.track("erp", s.erp))
	t.Cleanup(func() { erpHTTP.Close(); _ = s.erp.Close() })
	s.erpURL = erpHTTP.URL

	cfg := config.Default()
	cfg.Temporal.Address = s.srv.Address()
	cfg.Temporal.Namespace = s.srv.Namespace()
	cfg.WebCRM.BaseURL, cfg.WebCRM.APIToken = s.crmURL, webcrmToken
	cfg.WebCRM.RequestsPerMinute = 6000
	cfg.ERP.BaseURL, cfg.ERP.APIKey = s.erpURL, erpKey
	cfg.Sync.PollInterval = pollInterval
	cfg.Worker.MetricsAddr = "off"
	cfg.Worker.HooksAddr = "off"
	if opts.Concurrency > 0 {
		cfg.Sync.Concurrency = opts.Concurrency
	}
	if opts.Hooks {
		port, err := devserver.FreePort()
		if err != nil {
			t.Fatalf("%v", err)
		}
		cfg.Worker.HooksAddr, cfg.Worker.HooksSecret = fmt.Sprintf("127.0.0.1:%d", port), hookSecret
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	s.cfg = cfg

	s.startWorker()
	if !opts.ExpectWarnings {
		// Runs before the worker stops (cleanups run last first).
		t.Cleanup(func() {
			if w := s.logs.Unexpected(); len(w) > 0 {
				t.Errorf("the worker logged %d warnings or errors; the first: %s", len(w), w[0])
			}
		})
	}
	if len(opts.Pairings) > 0 {
		s.startPairings(opts.Pairings...)
	}
	t.Logf("stack up in %s (Temporal %s, webCRM %s, ERP %s)", time.Since(began).Round(time.Millisecond), s.srv.Address(), s.crmURL, s.erpURL)
	return s
}

// track wraps a simulator so the test can see which API requests are being
// served at a moment (inFlight).
func (s *stack) track(side string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seg := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
		key := side + " " + r.Method + " /" + seg
		s.mu.Lock()
		if s.inFlight == nil {
			s.inFlight = map[string]int{}
		}
		s.inFlight[key]++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight[key]--
			s.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// inFlightNow returns how many requests of key ("webcrm POST
// /QuotationLines") the simulator is serving right now.
func (s *stack) inFlightNow(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight[key]
}

// startWorker runs a new tandem worker in this process until stopWorker or
// the end of the test.
func (s *stack) startWorker() {
	s.t.Helper()
	svc, err := service.New(s.cfg, service.Options{
		Client:                    s.c,
		Logger:                    slog.New(s.logs.Handler("worker", 0)),
		WebCRMActivitiesPerSecond: 200,
		// stopWorker stands for a crash: running activities are cut off.
		StopGrace: -1,
		WrapClient: func(c client.Client) client.Client {
			if s.lag <= 0 {
				return c
			}
			return lagclient.Wrap(c, lagclient.Options{Lag: s.lag})
		},
	})
	if err != nil {
		s.t.Fatalf("service.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &workerRun{cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- svc.Run(ctx) }()
	s.mu.Lock()
	s.workers = append(s.workers, w)
	s.mu.Unlock()
	s.t.Cleanup(func() {
		if s.t.Failed() || os.Getenv("TANDEM_IT_LOGS") != "" {
			s.dumpOnce.Do(s.dumpLinks)
		}
		s.stop(w)
	})
}

// stopWorker stops the most recently started worker and waits for it.
func (s *stack) stopWorker() {
	s.t.Helper()
	s.mu.Lock()
	w := s.workers[len(s.workers)-1]
	s.mu.Unlock()
	s.stop(w)
}

func (s *stack) stop(w *workerRun) {
	w.once.Do(func() {
		w.cancel()
		select {
		case err := <-w.done:
			if err != nil {
				s.t.Errorf("worker ended with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			s.t.Errorf("worker did not stop within 30s")
		}
	})
}

// startPairings starts pairing workflows with the test poll interval and no
// reconcile schedule.
func (s *stack) startPairings(names ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := service.StartPairings(ctx, s.c, names, service.StartOptions{PollInterval: s.poll, ERPPollInterval: s.erpPoll, ReconcileEvery: -1}); err != nil {
		s.t.Fatalf("start pairings %v: %v", names, err)
	}
	s.started = append(s.started, names...)
}

// hookSecret is the shared secret of the worker's hooks endpoint (Hooks).
const hookSecret = "integration-hook-secret"

// registerHooks registers, for each entity, a Create, an Update and a Delete
// hook at the worker's hooks endpoint, as `starter hooks register` and
// `worker --dev` do (hookreg).
func (s *stack) registerHooks(entities ...webcrm.Entity) {
	s.t.Helper()
	if s.cfg.Worker.HooksSecret == "" {
		s.t.Fatal("registerHooks needs stackOptions.Hooks")
	}
	wc, err := webcrm.New(webcrm.Config{BaseURL: s.crmURL, APIToken: webcrmToken, RequestsPerMinute: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		s.t.Fatalf("webCRM client: %v", err)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := hookreg.Register(ctx, wc, "http://"+s.cfg.Worker.HooksAddr, hookSecret, entities, hookreg.Events); err != nil {
		s.t.Fatalf("register hooks: %v", err)
	}
}

// ctx returns a context for one call to Temporal.
func (s *stack) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// waitFor polls cond until it returns nil, failing the test with cond's
// last answer when timeout passes.
func (s *stack) waitFor(what string, timeout time.Duration, cond func() error) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %s for %s: %v", timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---- links ----

// linkID is the home link ID of a record that tandem saw first on side.
func linkID(pairing string, side domain.Side, id string) string {
	return domain.LinkWorkflowID(pairing, side, id)
}

// lookup returns the state of the link that owns a record.
func (s *stack) lookup(pairing string, side domain.Side, id string) (string, domain.LinkState, bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return links.New(s.c, "").Lookup(ctx, pairing, side, id)
}

// waitLinked waits until the record's link is in state ok with both ids.
func (s *stack) waitLinked(pairing string, side domain.Side, id string) domain.LinkState {
	s.t.Helper()
	var st domain.LinkState
	s.waitFor(fmt.Sprintf("%s %s record %s to be linked", pairing, side, id), s.timeout, func() error {
		_, got, found, err := s.lookup(pairing, side, id)
		switch {
		case err != nil:
			return err
		case !found:
			return fmt.Errorf("no link yet")
		case got.State != domain.StateOK || got.CrmID == "" || got.ErpID == "":
			return fmt.Errorf("link is %s (%s), webCRM %q ERP %q", got.State, got.Reason, got.CrmID, got.ErpID)
		}
		st = got
		return nil
	})
	return st
}

// waitLinkState waits until the record's link reaches state and returns it.
func (s *stack) waitLinkState(pairing string, side domain.Side, id, state string) domain.LinkState {
	s.t.Helper()
	var st domain.LinkState
	s.waitFor(fmt.Sprintf("%s %s record %s link to be %s", pairing, side, id, state), s.timeout, func() error {
		_, got, found, err := s.lookup(pairing, side, id)
		switch {
		case err != nil:
			return err
		case !found:
			return fmt.Errorf("no link yet")
		case got.State != state:
			return fmt.Errorf("link is %s (%s)", got.State, got.Reason)
		}
		st = got
		return nil
	})
	return st
}

// linkState returns the current state of a record's link (found=false when
// there is none).
func (s *stack) linkState(pairing string, side domain.Side, id string) (domain.LinkState, bool) {
	s.t.Helper()
	_, st, found, err := s.lookup(pairing, side, id)
	if err != nil {
		s.t.Fatalf("look up link of %s %s %s: %v", pairing, side, id, err)
	}
	return st, found
}

// linksWhere lists the running home links of pairing whose TandemState is
// one of states, as workflow IDs.
func (s *stack) linksWhere(pairing string, states ...string) []string {
	s.t.Helper()
	quoted := make([]string, len(states))
	for i, st := range states {
		quoted[i] = "'" + st + "'"
	}
	q := fmt.Sprintf("WorkflowType = 'LinkWorkflow' AND ExecutionStatus = 'Running' AND %s = '%s' AND %s IN (%s)",
		workflows.PairingKey.GetName(), pairing, workflows.StateKey.GetName(), strings.Join(quoted, ", "))
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 1000})
	if err != nil {
		s.t.Fatalf("list links: %v", err)
	}
	var out []string
	for _, e := range resp.GetExecutions() {
		out = append(out, e.GetExecution().GetWorkflowId())
	}
	sort.Strings(out)
	return out
}

// ---- counterparts ----

// erpByRef returns the ERP records of resource whose externalRef is ref.
func (s *stack) erpByRef(resource, ref string) []map[string]any {
	var out []map[string]any
	for _, r := range s.erp.Records(resource) {
		if r["externalRef"] == ref {
			out = append(out, r)
		}
	}
	return out
}

// crmByField returns the webCRM records of entity whose field equals value.
func (s *stack) crmByField(entity, field, value string) []map[string]any {
	var out []map[string]any
	for _, r := range s.crm.Records(entity) {
		if str(r, field) == value {
			out = append(out, r)
		}
	}
	return out
}

// waitERPCounterpart waits for the ERP counterpart of a webCRM-born record:
// exactly one ERP record whose externalRef is the record's link ID, and the
// link pointing at it. It returns the ERP record.
func (s *stack) waitERPCounterpart(pairing string, crmID int) map[string]any {
	s.t.Helper()
	ref := linkID(pairing, domain.WebCRM, fmt.Sprint(crmID))
	var rec map[string]any
	s.waitFor(fmt.Sprintf("the ERP counterpart of %s webCRM %d", pairing, crmID), s.timeout, func() error {
		recs := s.erpByRef(erpResource[pairing], ref)
		if len(recs) != 1 {
			return fmt.Errorf("%d ERP %s carry externalRef %s", len(recs), erpResource[pairing], ref)
		}
		rec = recs[0]
		return nil
	})
	st := s.waitLinked(pairing, domain.WebCRM, fmt.Sprint(crmID))
	if st.ErpID != str(rec, "id") {
		s.t.Fatalf("%s: link %s names ERP %s, but ERP %s carries its externalRef", pairing, ref, st.ErpID, str(rec, "id"))
	}
	return rec
}

// waitCRMCounterpart waits for the webCRM counterpart of an ERP-born record
// (found by its correlation field where the pairing has one, else through
// the link) and returns it.
func (s *stack) waitCRMCounterpart(pairing, erpID string) map[string]any {
	s.t.Helper()
	ref := linkID(pairing, domain.ERP, erpID)
	var rec map[string]any
	if field := crmToken[pairing]; field != "" {
		s.waitFor(fmt.Sprintf("the webCRM counterpart of %s ERP %s", pairing, erpID), s.timeout, func() error {
			recs := s.crmByField(crmEntity[pairing], field, ref)
			if len(recs) != 1 {
				return fmt.Errorf("%d webCRM %s carry %s = %s", len(recs), crmEntity[pairing], field, ref)
			}
			rec = recs[0]
			return nil
		})
	}
	st := s.waitLinked(pairing, domain.ERP, erpID)
	if rec == nil {
		var ok bool
		if rec, ok = s.crmRecord(pairing, st.CrmID); !ok {
			s.t.Fatalf("%s: link of ERP %s names webCRM %s, which does not exist", pairing, erpID, st.CrmID)
		}
	} else if st.CrmID != str(rec, crmIDField[pairing]) {
		s.t.Fatalf("%s: link of ERP %s names webCRM %s, but webCRM %s carries its token", pairing, erpID, st.CrmID, str(rec, crmIDField[pairing]))
	}
	return rec
}

// crmRecord reads a webCRM record by the id as a link holds it.
func (s *stack) crmRecord(pairing, id string) (map[string]any, bool) {
	var n int
	if _, err := fmt.Sscan(id, &n); err != nil {
		return nil, false
	}
	return s.crm.Record(crmEntity[pairing], n)
}

// checkCounts requires the number of records on each side: webCRM entity
// -> count and ERP resource -> count. A wrong count lists the records, with
// the link token they carry, to show what was duplicated.
func (s *stack) checkCounts(crm, erp map[string]int) {
	s.t.Helper()
	for entity, want := range crm {
		recs := s.crm.Records(entity)
		if len(recs) == want {
			continue
		}
		e := webcrm.Entity(entity)
		var lines []string
		for _, r := range recs {
			lines = append(lines, fmt.Sprintf("%s token=%q created=%s by %s", str(r, e.IDField()), str(r, e.Table()+"Custom15"),
				str(r, e.Table()+"CreatedAt"), str(r, e.Table()+"CreatedBy")))
		}
		s.t.Errorf("webCRM holds %d %s, want %d:\n  %s", len(recs), entity, want, strings.Join(lines, "\n  "))
	}
	for res, want := range erp {
		recs := s.erp.Records(res)
		if len(recs) == want {
			continue
		}
		var lines []string
		for _, r := range recs {
			lines = append(lines, fmt.Sprintf("%s externalRef=%q updated=%s", str(r, "id"), str(r, "externalRef"), str(r, "updatedAt")))
		}
		s.t.Errorf("ERP holds %d %s, want %d:\n  %s", len(recs), res, want, strings.Join(lines, "\n  "))
	}
}

// ---- direct edits, as a person in each system's UI ----

// crmPut creates a webCRM record and returns its id.
func (s *stack) crmPut(entity string, rec map[string]any) int {
	s.t.Helper()
	id, err := s.crm.Put(entity, rec)
	if err != nil {
		s.t.Fatalf("webCRM: put %s: %v", entity, err)
	}
	return id
}

// crmPatch edits some fields of a webCRM record.
func (s *stack) crmPatch(entity string, id int, fields map[string]any) {
	s.t.Helper()
	if err := s.crm.Patch(entity, id, fields); err != nil {
		s.t.Fatalf("webCRM: patch %s %d: %v", entity, id, err)
	}
}

// erpPut creates an ERP record and returns its id.
func (s *stack) erpPut(resource string, rec map[string]any) string {
	s.t.Helper()
	out, err := s.erp.Put(resource, rec)
	if err != nil {
		s.t.Fatalf("ERP: put %s: %v", resource, err)
	}
	return str(out, "id")
}

// erpPatch edits some fields of an ERP record.
func (s *stack) erpPatch(resource, id string, fields map[string]any) {
	s.t.Helper()
	if _, err := s.erp.Patch(resource, id, fields); err != nil {
		s.t.Fatalf("ERP: patch %s %s: %v", resource, id, err)
	}
}

// erpGet reads an ERP record that must exist.
func (s *stack) erpGet(resource, id string) map[string]any {
	s.t.Helper()
	rec, ok := s.erp.Record(resource, id)
	if !ok {
		s.t.Fatalf("ERP %s %s does not exist", resource, id)
	}
	return rec
}

// crmGet reads a webCRM record that must exist.
func (s *stack) crmGet(entity string, id int) map[string]any {
	s.t.Helper()
	rec, ok := s.crm.Record(entity, id)
	if !ok {
		s.t.Fatalf("webCRM %s %d does not exist", entity, id)
	}
	return rec
}

// waitERPField waits until an ERP record's field (dotted path) has want.
func (s *stack) waitERPField(resource, id, path, want string) {
	s.t.Helper()
	s.waitFor(fmt.Sprintf("ERP %s %s %s = %q", resource, id, path, want), s.timeout, func() error {
		rec, ok := s.erp.Record(resource, id)
		if !ok {
			return fmt.Errorf("ERP %s %s is gone", resource, id)
		}
		if got := str(rec, path); !same(got, want) {
			return fmt.Errorf("it is %q", got)
		}
		return nil
	})
}

// waitCRMField waits until a webCRM record's field has want, as webCRM stores
// it when tandem writes it (a real webCRM may cut or reformat values).
func (s *stack) waitCRMField(entity string, id int, field, want string) {
	s.t.Helper()
	want = s.crm.Stored(entity, field, want)
	s.waitFor(fmt.Sprintf("webCRM %s %d %s = %q", entity, id, field, want), s.timeout, func() error {
		rec, ok := s.crm.Record(entity, id)
		if !ok {
			return fmt.Errorf("webCRM %s %d is gone", entity, id)
		}
		if got := str(rec, field); !same(got, want) {
			return fmt.Errorf("it is %q", got)
		}
		return nil
	})
}

// ---- pairing workflows ----

// pairingStatus queries a pairing workflow's status.
func (s *stack) pairingStatus(name string) (workflows.PairingStatus, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var st workflows.PairingStatus
	v, err := s.c.QueryWorkflow(ctx, workflows.PairingWorkflowID(name), "", workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// signalPairing sends a signal to a pairing workflow.
func (s *stack) signalPairing(name, signal string, arg any) {
	s.t.Helper()
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.c.SignalWorkflow(ctx, workflows.PairingWorkflowID(name), "", signal, arg); err != nil {
		s.t.Fatalf("signal %s to pairing %s: %v", signal, name, err)
	}
}

// pause pauses pairings and waits until each has taken the signal, which
// happens only between polls: no dispatch of theirs runs afterwards.
func (s *stack) pause(names ...string) {
	s.t.Helper()
	for _, n := range names {
		s.signalPairing(n, workflows.SignalPause, "integration test")
	}
	for _, n := range names {
		s.waitFor("pairing "+n+" to pause", s.timeout, func() error {
			st, err := s.pairingStatus(n)
			if err != nil {
				return err
			}
			if !st.Paused {
				return fmt.Errorf("still running")
			}
			return nil
		})
	}
}

// resume resumes pairings.
func (s *stack) resume(names ...string) {
	s.t.Helper()
	for _, n := range names {
		s.signalPairing(n, workflows.SignalResume, nil)
	}
}

// waitPolls waits until every started pairing has finished at least n more
// polls than it had when waitPolls was called.
func (s *stack) waitPolls(n int) {
	s.t.Helper()
	base := map[string]int{}
	for _, p := range s.started {
		st, err := s.pairingStatus(p)
		if err != nil {
			s.t.Fatalf("status of pairing %s: %v", p, err)
		}
		base[p] = st.Totals.Polls
	}
	for _, p := range s.started {
		s.waitFor(fmt.Sprintf("pairing %s to poll %d more times", p, n), s.timeout, func() error {
			st, err := s.pairingStatus(p)
			if err != nil {
				return err
			}
			if st.Paused {
				return fmt.Errorf("paused: %s", st.PauseReason)
			}
			if st.Totals.Polls < base[p]+n {
				return fmt.Errorf("%d polls, want %d", st.Totals.Polls, base[p]+n)
			}
			return nil
		})
	}
}

// continuedAsNew counts the runs of a workflow that ended by continuing as new.
func (s *stack) continuedAsNew(workflowID string) int {
	s.t.Helper()
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus = 'ContinuedAsNew'", workflowID),
	})
	if err != nil {
		s.t.Fatalf("list runs of %s: %v", workflowID, err)
	}
	n := 0
	for _, e := range resp.GetExecutions() {
		if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
			n++
		}
	}
	return n
}

// ---- write counters (/_sim/stats) ----

// writeCounts is the API writes each simulator has counted, per entity or
// resource ("webcrm:Organisations", "erp:customers").
type writeCounts map[string]int64

// total sums the counts of one side ("webcrm" or "erp"; "" for both).
func (w writeCounts) total(side string) int64 {
	var n int64
	for k, v := range w {
		if side == "" || strings.HasPrefix(k, side+":") {
			n += v
		}
	}
	return n
}

// diff lists the counters that changed from before to w.
func (w writeCounts) diff(before writeCounts) []string {
	var out []string
	for k, v := range w {
		if v != before[k] {
			out = append(out, fmt.Sprintf("%s %d -> %d", k, before[k], v))
		}
	}
	sort.Strings(out)
	return out
}

// writes reads both simulators' API write counters over /_sim/stats.
func (s *stack) writes() writeCounts {
	s.t.Helper()
	out := writeCounts{}
	var crm webcrmsim.Stats
	s.getJSON(s.crmURL+"/_sim/stats", &crm)
	for e, w := range crm.Writes {
		out["webcrm:"+e] = w.Total()
	}
	var erp erpsim.Stats
	s.getJSON(s.erpURL+"/_sim/stats", &erp)
	for r, n := range erp.Writes {
		out["erp:"+r] = n
	}
	return out
}

func (s *stack) getJSON(url string, v any) {
	s.t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		s.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		s.t.Fatalf("GET %s: decode: %v", url, err)
	}
}

// assertQuiet checks promise 4 (no echoes) after convergence: it takes both
// simulators' write counters, waits until every running pairing has polled
// three more times (two full poll intervals after the counters were taken),
// and requires the counters unchanged and no link in error or blocked.
func (s *stack) assertQuiet() {
	s.t.Helper()
	before := s.writes()
	s.waitPolls(3)
	after := s.writes()
	s.t.Logf("quiet check: %d webCRM and %d ERP API writes in total, none after convergence", after.total("webcrm"), after.total("erp"))
	if d := after.diff(before); len(d) > 0 {
		s.t.Errorf("writes after convergence (echo or ping-pong): %s", strings.Join(d, "; "))
	}
	for _, p := range s.started {
		if bad := s.linksWhere(p, domain.StateError, domain.StateBlocked); len(bad) > 0 {
			for _, id := range bad {
				var st domain.LinkState
				if v, err := s.queryLink(id); err == nil {
					st = v
				}
				s.t.Errorf("link %s is %s: %s", id, st.State, st.Reason)
			}
		}
	}
}

// dumpLinks logs every link and index entry with its state, for a failure
// report.
func (s *stack) dumpLinks() {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: "WorkflowType = 'LinkWorkflow' OR WorkflowType = 'LinkAliasWorkflow'", PageSize: 1000})
	if err != nil {
		s.t.Logf("list links: %v", err)
		return
	}
	var lines []string
	for _, e := range resp.GetExecutions() {
		id := e.GetExecution().GetWorkflowId()
		line := fmt.Sprintf("%-45s %-17s %s", id, e.GetType().GetName(), e.GetStatus())
		if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			if e.GetType().GetName() == "LinkWorkflow" {
				if st, err := s.queryLink(id); err == nil {
					line += fmt.Sprintf(" %s crm=%s erp=%s applied=%d writes=%d conflicts=%d %s", st.State, st.CrmID, st.ErpID, st.Applied, st.Writes, st.Conflicts, st.Reason)
				}
			} else if home := e.GetMemo().GetFields()[links.MemoHome]; home != nil {
				var h string
				_ = converter.GetDefaultDataConverter().FromPayload(home, &h)
				line += " -> " + h
			} else if v, err := s.c.QueryWorkflow(ctx, id, "", workflows.QueryHome); err == nil {
				var h string
				_ = v.Get(&h)
				line += " -> " + h
			}
		}
		if os.Getenv("TANDEM_IT_HISTORY") != "" {
			line += s.updates(id, e.GetExecution().GetRunId())
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	s.t.Logf("links and index entries:\n  %s", strings.Join(lines, "\n  "))
}

// signals returns the payloads of a workflow's signals of one name, as JSON,
// one line each, from the history of its current run.
func (s *stack) signals(id, name string) string {
	s.t.Helper()
	ctx, cancel := s.ctx()
	defer cancel()
	var b strings.Builder
	it := s.c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			s.t.Fatalf("history of %s: %v", id, err)
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == name {
			for _, p := range a.GetInput().GetPayloads() {
				b.Write(p.GetData())
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

// updates lists the updates a workflow run accepted, with their time and
// argument, for a failure report.
func (s *stack) updates(id, runID string) string {
	ctx, cancel := s.ctx()
	defer cancel()
	var b strings.Builder
	it := s.c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			fmt.Fprintf(&b, "\n      history: %v", err)
			break
		}
		if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil {
			in := a.GetAcceptedRequest().GetInput()
			var args []string
			for _, p := range in.GetArgs().GetPayloads() {
				args = append(args, string(p.GetData()))
			}
			fmt.Fprintf(&b, "\n      %s update %s %s", ev.GetEventTime().AsTime().Format("15:04:05.000"), in.GetName(), strings.Join(args, " "))
		}
		if a := ev.GetMarkerRecordedEventAttributes(); a != nil {
			fmt.Fprintf(&b, "\n      %s marker %s", ev.GetEventTime().AsTime().Format("15:04:05.000"), a.GetMarkerName())
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			var in []string
			for _, p := range a.GetInput().GetPayloads() {
				in = append(in, string(p.GetData()))
			}
			fmt.Fprintf(&b, "\n      %s started %s", ev.GetEventTime().AsTime().Format("15:04:05.000"), strings.Join(in, " "))
		}
	}
	return b.String()
}

// queryLink reads a link workflow's state by workflow ID (waking a link at rest).
func (s *stack) queryLink(id string) (domain.LinkState, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	return links.New(s.c, "").State(ctx, id)
}

// ---- values ----

// str reads a (dotted) field of a record as a string; "" when absent.
func str(rec map[string]any, path string) string {
	var cur any = rec
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	switch v := cur.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return big.NewFloat(v).Text('f', -1)
	default:
		return fmt.Sprint(v)
	}
}

// same compares two field values as strings, and as numbers when both are
// numbers ("12.50" equals "12.5").
func same(a, b string) bool {
	if a == b {
		return true
	}
	x, okx := new(big.Rat).SetString(a)
	y, oky := new(big.Rat).SetString(b)
	return okx && oky && x.Cmp(y) == 0
}

// ---- worker logs ----

// itoa formats a webCRM id.
func itoa(n int) string { return fmt.Sprint(n) }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
