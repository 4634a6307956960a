// Package service assembles a tandem worker process: the Temporal client,
// the webCRM and CustomERP clients, the mappings, the two Temporal workers
// (the main queue and the rate-limited webCRM queue), the metrics endpoint
// and the webCRM hooks endpoint. The worker command, the integration tests
// and the benchmarks all run it the same way.
package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tandemsync/tandem/activities"
	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/budget"
	"github.com/tandemsync/tandem/internal/codec"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/hooks"
	"github.com/tandemsync/tandem/internal/opsmetrics"
	"github.com/tandemsync/tandem/internal/sdkmetrics"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// Options tune a Service beyond its Config.
type Options struct {
	Logger *slog.Logger
	// Mappings overrides the mapping set (default: Config.Sync.MappingsDir,
	// or the built-in defaults when that is empty).
	Mappings *mappings.Set
	// Client is an existing Temporal client to use instead of dialing one.
	Client client.Client
	// WrapClient, when set, wraps the client the activities and the hooks
	// endpoint use (tests use it to make visibility answers trail, as a
	// production store's do); the workers keep the client itself.
	WrapClient func(client.Client) client.Client
	// WebCRMActivitiesPerSecond caps the webCRM task queue for the whole
	// cluster (default: the token's requests per minute / 60).
	WebCRMActivitiesPerSecond float64
	// StopGrace is how long a stopping worker waits for its running
	// activities before it cancels them (0: 5 s). Negative: no wait, as when
	// the process is killed; tests use it to stop a worker mid-activity.
	StopGrace time.Duration
	// OpsMetricsInterval is how often the worker refreshes the link and
	// budget gauges of its metrics endpoint (0: the configuration's
	// worker.opsMetrics, which may turn them off).
	OpsMetricsInterval time.Duration
}

// defaultStopGrace is how long a stopping worker waits for its running
// activities before it cancels them, unless Options.StopGrace says otherwise.
const defaultStopGrace = 5 * time.Second

// Service is one tandem worker process.
type Service struct {
	cfg      config.Config
	logger   *slog.Logger
	client   client.Client
	calls    client.Client // what the activities and hooks call: client, or as Options.WrapClient wraps it
	ownsConn bool
	set      *mappings.Set
	acts     *activities.Activities
	wc       *webcrm.Client
	registry *prometheus.Registry
	opts     Options
	keys     *codec.Keys // payload keys; nil = payloads unencrypted
	ops      *opsmetrics.Metrics
}

// Dial connects to Temporal with the settings in cfg. SDK metrics go to
// reg when it is not nil. When cfg.Codec names keys, payloads and failure
// texts are encrypted (malformed keys are an error).
func Dial(cfg config.Temporal, logger *slog.Logger, reg prometheus.Registerer) (client.Client, error) {
	opts := client.Options{
		HostPort:  cfg.Address,
		Namespace: cfg.Namespace,
		Logger:    tlog.NewStructuredLogger(logger),
	}
	keys, err := CodecKeys(cfg.Codec)
	if err != nil {
		return nil, err
	}
	if keys != nil {
		dc, err := codec.NewDataConverter(keys)
		if err != nil {
			return nil, err
		}
		opts.DataConverter = dc
		opts.FailureConverter = codec.NewFailureConverter(dc)
	}
	if reg != nil {
		opts.MetricsHandler = sdkmetrics.New(reg)
	}
	if cfg.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey)
	}
	if cfg.TLS || cfg.TLSCert != "" || cfg.TLSCA != "" || cfg.APIKey != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("load Temporal client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		if cfg.TLSCA != "" {
			pem, err := os.ReadFile(cfg.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("read Temporal CA bundle: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("the Temporal CA bundle %s holds no certificate", cfg.TLSCA)
			}
			tc.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = tc
	}
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.Address, cfg.Namespace, err)
	}
	return c, nil
}

// CodecKeys loads the payload keys c names; nil when it names none.
func CodecKeys(c config.Codec) (*codec.Keys, error) {
	return codec.Load(codec.Source{List: c.Keys, File: c.KeysFile, Current: c.KeyID})
}

// LoadMappings loads the mapping set named by dir (the built-in defaults
// when dir is empty), checked against the webCRM and CustomERP schemas.
func LoadMappings(dir string) (*mappings.Set, error) {
	if dir == "" {
		return mappings.DefaultWith(Schemas())
	}
	return mappings.LoadDir(dir, Schemas())
}

// Schemas returns the schema checks of the real webCRM DTOs and the
// CustomERP contract.
func Schemas() mappings.Schemas {
	return mappings.Schemas{
		WebCRM: func(entity, property string) bool {
			for _, p := range webcrm.Properties(webcrm.Entity(entity)) {
				if p == property {
					return true
				}
			}
			return false
		},
		ERP: func(resource, path string) bool {
			for _, p := range customerp.Properties(customerp.Resource(resource)) {
				if p == path {
					return true
				}
			}
			return false
		},
		WebCRMWriteExcluded: func(entity, property string) bool {
			return slices.Contains(webcrm.Entity(entity).WriteExcluded(), property)
		},
	}
}

// New builds a Service from cfg: it validates the configuration, loads the
// mappings and connects to Temporal.
func New(cfg config.Config, opts Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	set := opts.Mappings
	if set == nil {
		var err error
		if set, err = LoadMappings(cfg.Sync.MappingsDir); err != nil {
			return nil, fmt.Errorf("mappings: %w", err)
		}
	}
	// Per-request timeouts and the one quick retry of a read, PUT or DELETE
	// stay well inside the Apply activity's two minutes, so a hanging
	// endpoint ends in an error that names the record and the call rather
	// than in an activity timeout. Longer outages are the activities' to
	// retry (docs/ARCHITECTURE.md, "Who retries what").
	loc, err := cfg.WebCRM.Location()
	if err != nil {
		return nil, err
	}
	ec, err := customerp.New(customerp.Config{BaseURL: cfg.ERP.BaseURL, APIKey: cfg.ERP.APIKey, Logger: logger, Timeout: 20 * time.Second, RetryMax: 1})
	if err != nil {
		return nil, fmt.Errorf("CustomERP client: %w", err)
	}
	s := &Service{cfg: cfg, logger: logger, set: set, opts: opts, registry: prometheus.NewRegistry()}
	if s.keys, err = CodecKeys(cfg.Temporal.Codec); err != nil {
		return nil, fmt.Errorf("payload encryption: %w", err)
	}
	if s.keys != nil {
		logger.Info("payload encryption on", "codec_keys", s.keys)
	} else {
		// Info, not Warn: tests and the dev stack without keys are normal.
		logger.Info("payload encryption off: TANDEM_CODEC_KEYS is not set, so histories hold record contents in clear")
	}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.client = opts.Client
	if s.client == nil {
		if s.client, err = Dial(cfg.Temporal, logger, s.registry); err != nil {
			return nil, err
		}
		s.ownsConn = true
	}
	s.calls = s.client
	if opts.WrapClient != nil {
		s.calls = opts.WrapClient(s.client)
	}
	// Every worker and starter on the token leases its webCRM requests from
	// one budget, so that together they stay inside it.
	pool := budget.New(s.client, budget.Options{
		PerMinute: cfg.WebCRM.RequestsPerMinute, Reserve: cfg.WebCRM.ReservedShare,
		Holder: Holder("worker"), Logger: logger,
	})
	wc, err := webcrm.New(webcrm.Config{
		Timeout: 20 * time.Second, RetryMax: 1,
		BaseURL: cfg.WebCRM.BaseURL, APIToken: cfg.WebCRM.APIToken,
		RequestsPerMinute: cfg.WebCRM.RequestsPerMinute, Logger: logger, Budget: pool,
		CorrelationFields: correlationFields(set), TimeZone: loc,
	})
	if err != nil {
		return nil, fmt.Errorf("webCRM client: %w", err)
	}
	m, err := activities.NewMetrics(s.registry)
	if err != nil {
		return nil, err
	}
	if s.ops, err = opsmetrics.New(s.registry); err != nil {
		return nil, err
	}
	s.acts = activities.New(s.calls, wc, ec, set, logger, m, cfg.Sync.Concurrency)
	s.wc = wc
	return s, nil
}

// Holder names this process in the webCRM budget's history: what it is, its
// host and its process id.
func Holder(what string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s %s/%d", what, host, os.Getpid())
}

func correlationFields(set *mappings.Set) map[webcrm.Entity]string {
	out := map[webcrm.Entity]string{}
	for _, name := range set.Names() {
		p, _ := set.Pairing(name)
		if p.CorrelationField != "" {
			out[webcrm.Entity(p.WebCRMEntity)] = p.CorrelationField
		}
	}
	return out
}

// Client returns the service's Temporal client.
func (s *Service) Client() client.Client { return s.client }

// WebCRM returns the worker's webCRM client (it leases from the token's budget).
func (s *Service) WebCRM() *webcrm.Client { return s.wc }

// Metrics returns the registry behind the service's /metrics endpoint
// (tandem's own metrics and the Temporal SDK's).
func (s *Service) Metrics() prometheus.Gatherer { return s.registry }

// Mappings returns the service's mapping set.
func (s *Service) Mappings() *mappings.Set { return s.set }

// Close releases the Temporal connection when the service dialed it.
func (s *Service) Close() {
	if s.ownsConn {
		s.client.Close()
	}
}

// Run starts the workers and the HTTP endpoints and blocks until ctx ends,
// then stops them gracefully.
func (s *Service) Run(ctx context.Context) error {
	stop, err := s.Start()
	if err != nil {
		return err
	}
	<-ctx.Done()
	s.logger.Info("worker stopping")
	stop()
	return nil
}

// Start binds the HTTP endpoints and starts the workers; it returns once
// they run, or with the first error (a busy address names its setting).
// stop shuts them down gracefully.
func (s *Service) Start() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	// A stopping worker gives running activities a few seconds to finish,
	// so a restart does not leave a poll for Temporal to time out.
	grace := s.opts.StopGrace
	switch {
	case grace == 0:
		grace = defaultStopGrace
	case grace < 0:
		grace = 0
	}
	mainWorker := worker.New(s.client, workflows.TaskQueue, worker.Options{WorkerStopTimeout: grace})
	mainWorker.RegisterWorkflowWithOptions(workflows.PairingWorkflow, workflow.RegisterOptions{Name: workflows.PairingWorkflowName})
	mainWorker.RegisterWorkflowWithOptions(workflows.LinkWorkflow, workflow.RegisterOptions{Name: workflows.LinkWorkflowName})
	mainWorker.RegisterWorkflowWithOptions(workflows.LinkAliasWorkflow, workflow.RegisterOptions{Name: workflows.LinkAliasWorkflowName})
	mainWorker.RegisterWorkflowWithOptions(workflows.BackfillWorkflow, workflow.RegisterOptions{Name: workflows.BackfillWorkflowName})
	mainWorker.RegisterWorkflowWithOptions(workflows.ReconcileWorkflow, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowName})
	mainWorker.RegisterWorkflowWithOptions(workflows.BudgetWorkflow, workflow.RegisterOptions{Name: workflows.BudgetWorkflowName})
	s.acts.RegisterMain(mainWorker)

	perSecond := s.opts.WebCRMActivitiesPerSecond
	if perSecond <= 0 {
		perSecond = float64(s.cfg.WebCRM.RequestsPerMinute) / 60
	}
	webcrmWorker := worker.New(s.client, workflows.WebCRMTaskQueue, worker.Options{TaskQueueActivitiesPerSecond: perSecond, WorkerStopTimeout: grace})
	s.acts.RegisterWebCRM(webcrmWorker)

	var servers []*http.Server
	stops = append(stops, func() {
		for _, srv := range servers {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
		}
	})
	if addr := s.cfg.Worker.MetricsAddr; addr != "" && addr != "off" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
		// Profiles of the worker, on the same (by default loopback) address.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv, err := serve(addr, "metrics (--metrics-addr)", mux, s.logger)
		if err != nil {
			return stop, err
		}
		servers = append(servers, srv)
		// The link and budget gauges, refreshed while the endpoint serves.
		interval := s.opts.OpsMetricsInterval
		if interval <= 0 {
			if interval, err = s.cfg.Worker.OpsMetricsInterval(); err != nil {
				return stop, err
			}
		}
		if interval > 0 {
			rctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				opsmetrics.NewRefresher(s.client, s.cfg.Temporal.Namespace, s.set.Names(), s.ops, s.logger).Run(rctx, interval)
			}()
			stops = append(stops, func() { cancel(); <-done })
		}
	}
	if addr := s.cfg.Worker.HooksAddr; addr != "" && addr != "off" {
		if s.cfg.Worker.HooksSecret == "" {
			s.logger.Warn("hooks endpoint off: TANDEM_HOOKS_SECRET is not set; polling alone keeps the pairings in sync")
		} else {
			h, err := hooks.NewHandler(s.cfg.Worker.HooksSecret, newHookSink(s.calls, s.set, s.wc, s.logger), 50, s.logger)
			if err != nil {
				return stop, err
			}
			mux := http.NewServeMux()
			mux.Handle("/hooks/webcrm", h)
			srv, err := serve(addr, "hooks (--hooks-addr)", mux, s.logger)
			if err != nil {
				return stop, err
			}
			servers = append(servers, srv)
		}
	}
	if addr := s.cfg.Worker.CodecAddr; s.keys != nil && addr != "" && addr != "off" {
		srv, err := s.serveCodec(addr)
		if err != nil {
			return stop, err
		}
		servers = append(servers, srv)
	}
	// The workers start last, so a busy address stops the process before it
	// takes any task.
	if err := mainWorker.Start(); err != nil {
		return stop, fmt.Errorf("start worker on %s: %w", workflows.TaskQueue, err)
	}
	stops = append(stops, mainWorker.Stop)
	if err := webcrmWorker.Start(); err != nil {
		return stop, fmt.Errorf("start worker on %s: %w", workflows.WebCRMTaskQueue, err)
	}
	stops = append(stops, webcrmWorker.Stop)
	s.logger.Info("worker running", "task_queue", workflows.TaskQueue, "webcrm_task_queue", workflows.WebCRMTaskQueue,
		"webcrm_activities_per_second", perSecond, "pairings", s.set.Names())
	return stop, nil
}

// serveCodec serves the codec endpoint the Temporal UI decodes payloads with.
func (s *Service) serveCodec(addr string) (*http.Server, error) {
	c, err := codec.NewCodec(s.keys)
	if err != nil {
		return nil, err
	}
	o := codec.Options{AllowedOrigin: s.cfg.Worker.CodecOrigin, Token: s.cfg.Worker.CodecToken}
	if err := codec.CheckListen(addr, o); err != nil {
		return nil, err
	}
	h, err := codec.NewHTTPHandler(c, o)
	if err != nil {
		return nil, err
	}
	return serve(addr, "codec (TANDEM_CODEC_ADDR)", h, s.logger)
}

// serve listens on addr and serves h in the background. A busy address is
// an error that names the setting.
func serve(addr, what string, h http.Handler, logger *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s endpoint cannot listen on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("endpoint stopped", "endpoint", what, "error", err)
		}
	}()
	logger.Info("endpoint listening", "endpoint", what, "addr", ln.Addr().String())
	return srv, nil
}

// hookSink turns hook calls into pokes and deletes.
type hookSink struct {
	c     client.Client
	set   *mappings.Set
	links *links.Client
	gate  *pokeGate
	// reconcile starts a pairing's reconciliation now, or once when its gap
	// ends: for deletes a hook did not name.
	reconcile *pokeGate
	// wc tells which records this process wrote moments ago: hooks about
	// them are echoes and poke nothing.
	wc *webcrm.Client
}

func newHookSink(c client.Client, set *mappings.Set, wc *webcrm.Client, logger *slog.Logger) *hookSink {
	h := &hookSink{c: c, set: set, links: links.New(c, ""), wc: wc}
	h.gate = newPokeGate(pokeGap, func(ctx context.Context, name string) error {
		if err := c.SignalWorkflow(ctx, workflows.PairingWorkflowID(name), "", workflows.SignalPoke, nil); err != nil {
			return fmt.Errorf("poke pairing %s: %w", name, err)
		}
		return nil
	}, logger)
	h.reconcile = newPokeGate(unnamedDeleteGap, func(ctx context.Context, name string) error {
		err := c.ScheduleClient().GetHandle(ctx, workflows.ReconcileWorkflowID(name)).Trigger(ctx, client.ScheduleTriggerOptions{
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		})
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			// The pairing was started without a reconcile schedule
			// (starter start --reconcile-every 0): a deliberate choice.
			logger.Info("delete hook without a record id, and the pairing has no reconcile schedule: the delete is found when the record's parent changes or by a reconcile run by hand", "pairing", name)
			return nil
		}
		if err != nil {
			return fmt.Errorf("start the reconciliation of %s for a delete hook that named no record: %w", name, err)
		}
		logger.Info("reconciliation started for a delete hook that named no record", "pairing", name)
		return nil
	}, logger)
	return h
}

func (h *hookSink) pairings(entity string) []string {
	var out []string
	for _, name := range h.set.Names() {
		p, _ := h.set.Pairing(name)
		if strings.EqualFold(p.WebCRMEntity, entity) {
			out = append(out, name)
		}
	}
	return out
}

func (h *hookSink) Poke(ctx context.Context, ev hooks.Event) (int, error) {
	names := h.pairings(ev.Entity)
	if len(names) > 0 && ev.ID > 0 && h.wc != nil {
		p, _ := h.set.Pairing(names[0])
		if h.wc.WroteRecently(webcrm.Entity(p.WebCRMEntity), int(ev.ID)) {
			return len(names), nil
		}
	}
	for _, name := range names {
		if err := h.gate.poke(ctx, name); err != nil {
			return 0, err
		}
	}
	return len(names), nil
}

// unnamedDeleteGap is the least time between two reconciliations a Delete
// hook that names no record starts for one pairing: a reconciliation lists
// the pairing's records (bulk budget), so a burst of such hooks costs one
// listing per gap, and every delete of the burst is found by the end of it.
const unnamedDeleteGap = 5 * time.Minute

// Unnamed implements hooks.Sink: it triggers the reconcile schedule of each
// pairing of the entity (its overlap policy skips a trigger while one runs).
func (h *hookSink) Unnamed(ctx context.Context, entity string) error {
	var errs []error
	for _, name := range h.pairings(entity) {
		errs = append(errs, h.reconcile.poke(ctx, name))
	}
	return errors.Join(errs...)
}

func (h *hookSink) Deleted(ctx context.Context, entity string, id int64) error {
	for _, name := range h.pairings(entity) {
		home, err := h.links.FindHome(ctx, name, domain.WebCRM, fmt.Sprint(id))
		if err != nil {
			return err
		}
		if home == "" {
			continue
		}
		if _, err := h.links.ApplyTo(ctx, name, home, domain.Change{Side: domain.WebCRM, ID: fmt.Sprint(id), Deleted: true, Source: domain.SourceHook}); err != nil {
			return err
		}
	}
	return nil
}
