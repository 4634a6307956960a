package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/internal/testenv"
	"github.com/tandemsync/tandem/internal/testkit"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Credentials of the simulators in these tests.
const (
	testWebCRMToken = "starter-test-webcrm-token"
	testERPKey      = "starter-test-erp-key"
)

// result is what one run of the starter produced.
type result struct {
	code   int
	stdout string
	stderr string
}

// runCLI runs the starter in-process with args and the environment env.
func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCtx(t, ctx, env, args...)
}

func runCtx(t *testing.T, ctx context.Context, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb testkit.Buffer
	code := run(ctx, args, &out, &errb, func(k string) string { return env[k] })
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	t.Logf("starter %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// stderrLines returns the non-empty lines of stderr.
func stderrLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// webcrmSim serves a webCRM simulator on 127.0.0.1 for the test.
func webcrmSim(t *testing.T) (*webcrmsim.Server, string) {
	t.Helper()
	sim, err := webcrmsim.New(webcrmsim.Options{APIToken: testWebCRMToken, RateLimitPerMinute: -1, Seed: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("webCRM simulator: %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	return sim, srv.URL
}

// testbed is one test's real parts: a namespace of its own on the shared
// Temporal dev server, both simulators on 127.0.0.1 and, when asked, a
// tandem worker running in this process.
type testbed struct {
	t   *testing.T
	srv *devserver.Server
	ns  string
	c   client.Client
	crm *webcrmsim.Server
	erp *erpsim.Server
	cfg config.Config
	env map[string]string
}

// newEngine brings the parts up; everything stops in t.Cleanup.
func newEngine(t *testing.T, worker bool) *testbed {
	t.Helper()
	return newEngineWithKeys(t, worker, "")
}

// newEngineWithKeys is newEngine with payloads encrypted with codecKeys
// (TANDEM_CODEC_KEYS format) when it is not empty; the keys are in env.
func newEngineWithKeys(t *testing.T, worker bool, codecKeys string) *testbed {
	t.Helper()
	e := &testbed{t: t, srv: testenv.Temporal(t)}
	e.ns = newNamespace(t, e.srv)
	var err error
	var crmURL string
	e.crm, crmURL = webcrmSim(t)
	e.erp, err = erpsim.New(erpsim.Options{APIKey: testERPKey, Seed: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("CustomERP simulator: %v", err)
	}
	erpHTTP := httptest.NewServer(e.erp)
	t.Cleanup(func() { erpHTTP.Close(); _ = e.erp.Close() })

	e.env = map[string]string{
		"TEMPORAL_ADDRESS":     e.srv.Address(),
		"TEMPORAL_NAMESPACE":   e.ns,
		"WEBCRM_BASE_URL":      crmURL,
		"WEBCRM_API_TOKEN":     testWebCRMToken,
		"CUSTOMERP_BASE_URL":   erpHTTP.URL,
		"CUSTOMERP_API_KEY":    testERPKey,
		"TANDEM_POLL_INTERVAL": "1s",
		"TANDEM_CODEC_KEYS":    codecKeys,
	}
	cfg, err := config.Load("", func(k string) string { return e.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	// The worker's client: with the codec when there are keys.
	e.c, err = service.Dial(cfg.Temporal, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatalf("dial Temporal: %v", err)
	}
	t.Cleanup(e.c.Close)
	cfg.WebCRM.RequestsPerMinute = 6000
	cfg.Worker.MetricsAddr, cfg.Worker.HooksAddr, cfg.Worker.CodecAddr = "off", "off", "off"
	e.cfg = cfg
	if worker {
		e.startWorker()
	}
	return e
}

func (e *testbed) startWorker() {
	e.t.Helper()
	svc, err := service.New(e.cfg, service.Options{Client: e.c, Logger: slog.New(slog.DiscardHandler), WebCRMActivitiesPerSecond: 200})
	if err != nil {
		e.t.Fatalf("service.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := svc.Run(ctx)
		if ctx.Err() == nil {
			e.t.Errorf("the worker stopped before the test ended: %v", err)
		}
		done <- err
	}()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("worker: %v", err)
			}
		case <-time.After(30 * time.Second):
			e.t.Errorf("worker did not stop within 30s")
		}
	})
}

// run runs the starter against the testbed.
func (e *testbed) run(args ...string) result {
	e.t.Helper()
	return runCLI(e.t, e.env, args...)
}

// count counts workflow executions matching a visibility query.
func (e *testbed) count(query string) int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: e.ns, Query: query})
	if err != nil {
		e.t.Fatalf("count %q: %v", query, err)
	}
	return resp.GetCount()
}

// newNamespace registers a namespace of the test's own, with tandem's search
// attributes, on srv: tests then share one server without sharing the fixed
// workflow IDs of pairings and backfills, or the worker's task queues.
func newNamespace(t *testing.T, srv *devserver.Server) string {
	t.Helper()
	c := testenv.ClientFor(t, srv)
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "starter-" + strings.ToLower(testenvSafe(t.Name())) + "-" + hex.EncodeToString(suffix[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: name, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatalf("register namespace %s: %v", name, err)
	}
	if err := devserver.RegisterSearchAttributes(ctx, c, name, testenv.SearchAttributes()); err != nil {
		t.Fatalf("search attributes of %s: %v", name, err)
	}
	return name
}

func testenvSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
