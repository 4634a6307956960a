package badinput

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/internal/testkit"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// Credentials of the simulators.
const (
	crmToken = "badinput-webcrm-token"
	erpKey   = "badinput-erp-key"
)

// The pairings the catalogue uses (the default mappings).
const (
	pOrgs     = "organisations"
	pPersons  = "persons"
	pProducts = "products"
	pOpps     = "opportunities"
	pLines    = "quotationlines"
)

// syncTimeout bounds one sync of one record. A transient failure is retried
// by the client (5 attempts) and then by the link's apply (6 attempts over
// about 31 s) before the link shows it, so this is generous.
const syncTimeout = 3 * time.Minute

// env is one set of real parts: a Temporal dev server, the two simulators
// behind their fault proxies on 127.0.0.1, and tandem's worker
// (internal/service) running in this process.
type env struct {
	c      client.Client
	crm    *webcrmsim.Server
	erp    *erpsim.Server
	crmPx  *faultProxy
	erpPx  *faultProxy
	away   *elsewhere
	logs   *testkit.LogSink
	d      *links.Client
	seq    atomic.Int64
	worker chan error // receives Run's result when the worker stops
}

// newEnv brings everything up on srv and starts the named pairings with a
// one-second poll (none: records sync only when a test dispatches them).
func newEnv(t *testing.T, srv *devserver.Server, pairings ...string) *env {
	t.Helper()
	began := time.Now()
	e := &env{logs: &testkit.LogSink{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.Address(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(slog.New(e.logs.Handler("sdk", 0))),
	})
	if err != nil {
		t.Fatalf("dial Temporal at %s: %v", srv.Address(), err)
	}
	t.Cleanup(c.Close)
	e.c = c
	e.d = links.New(c, "")

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if e.crm, err = webcrmsim.New(webcrmsim.Options{APIToken: crmToken, RateLimitPerMinute: -1, Seed: 7, Logger: quiet}); err != nil {
		t.Fatalf("webCRM simulator: %v", err)
	}
	t.Cleanup(func() { _ = e.crm.Close() })
	if e.erp, err = erpsim.New(erpsim.Options{APIKey: erpKey, Seed: 7, Logger: quiet}); err != nil {
		t.Fatalf("CustomERP simulator: %v", err)
	}
	t.Cleanup(func() { _ = e.erp.Close() })
	e.crmPx = newFaultProxy(t, "webcrm", e.crm)
	e.erpPx = newFaultProxy(t, "erp", e.erp)
	e.away = newElsewhere(t)

	cfg := config.Default()
	cfg.Temporal.Address, cfg.Temporal.Namespace = srv.Address(), srv.Namespace()
	cfg.WebCRM.BaseURL, cfg.WebCRM.APIToken = e.crmPx.URL(), crmToken
	cfg.WebCRM.RequestsPerMinute = 60000
	cfg.ERP.BaseURL, cfg.ERP.APIKey = e.erpPx.URL(), erpKey
	cfg.Sync.PollInterval = time.Second
	cfg.Worker.MetricsAddr, cfg.Worker.HooksAddr, cfg.Worker.CodecAddr = "off", "off", "off"
	svc, err := service.New(cfg, service.Options{Client: c, Logger: slog.New(e.logs.Handler("worker", 0)), WebCRMActivitiesPerSecond: 1000})
	if err != nil {
		t.Fatalf("service.New: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	e.worker = make(chan error, 1)
	go func() { e.worker <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-e.worker:
			if err != nil {
				t.Errorf("worker ended with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("worker did not stop within 30 s")
		}
	})
	t.Cleanup(func() { reportLogs(t, e.logs) })
	if len(pairings) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := service.StartPairings(ctx, c, pairings, service.StartOptions{PollInterval: time.Second, ReconcileEvery: -1}); err != nil {
			t.Fatalf("start pairings %v: %v", pairings, err)
		}
	}
	t.Logf("env up in %s: Temporal %s, webCRM %s, ERP %s", time.Since(began).Round(time.Millisecond), srv.Address(), e.crmPx.URL(), e.erpPx.URL())
	return e
}

// workerAlive fails the test when the worker process has stopped.
func (e *env) workerAlive(t reporter) {
	t.Helper()
	select {
	case err := <-e.worker:
		e.worker <- err
		t.Fatalf("the worker stopped: %v", err)
	default:
	}
}

// next returns a number no other record of this env uses.
func (e *env) next() int { return int(e.seq.Add(1)) }

// ---- syncing and link state ----

// dispatch delivers a resync of one record to its link and waits for the
// outcome, as `starter resync` does.
func (e *env) dispatch(pairing string, side domain.Side, id string) (domain.Outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
	defer cancel()
	return e.d.Apply(ctx, pairing, domain.Change{Side: side, ID: id, Source: domain.SourceResync})
}

// dispatchAsync is dispatch in the background.
func (e *env) dispatchAsync(pairing string, side domain.Side, id string) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		out, err := e.dispatch(pairing, side, id)
		ch <- outcome{out, err}
	}()
	return ch
}

type outcome struct {
	out domain.Outcome
	err error
}

// linkState returns the state of the link holding a record.
func (e *env) linkState(pairing string, side domain.Side, id string) (domain.LinkState, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, st, found, err := links.New(e.c, "").Lookup(ctx, pairing, side, id)
	return st, found, err
}

// linked accepts a link in state ok with both ids.
func linked(st domain.LinkState) bool {
	return st.State == domain.StateOK && st.CrmID != "" && st.ErpID != ""
}

// syncLinked resyncs a record and requires its link to end ok with both
// ids; it returns the link's state.
func (e *env) syncLinked(t reporter, pairing string, side domain.Side, id string) domain.LinkState {
	t.Helper()
	out, err := e.dispatch(pairing, side, id)
	if err != nil {
		t.Fatalf("sync %s %s %s: %v", pairing, side, id, err)
	}
	if out.State != domain.StateOK || out.CrmID == "" || out.ErpID == "" {
		t.Fatalf("sync %s %s %s: link is %s (%s), webCRM %q ERP %q", pairing, side, id, out.State, out.Reason, out.CrmID, out.ErpID)
	}
	st, found, err := e.linkState(pairing, side, id)
	if err != nil || !found {
		t.Fatalf("look up %s %s %s after sync: found %v, %v", pairing, side, id, found, err)
	}
	return st
}

// ---- worker logs ----

// reportLogs logs how many records the run produced and checks that no
// warning or error is a panic.
func reportLogs(t reporter, l *testkit.LogSink) {
	for _, e := range l.Warnings() {
		if strings.Contains(strings.ToLower(e.Text()), "panic") {
			t.Errorf("the worker logged a panic: %s %s: %.2000s", e.Source, e.Level, e.Text())
		}
	}
	t.Logf("worker and SDK logged %d records, %d of them warnings or errors", l.Lines(), len(l.Warnings()))
}
