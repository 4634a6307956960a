// Package devstack brings up tandem's local stack: the Temporal dev server
// (a child process, with its UI and a SQLite file), the webCRM simulator
// and the CustomERP reference server (in this process, persisted in the
// same data directory and seeded with demo data on first start). The
// worker's --dev mode, the end-to-end tests and the benchmarks use it.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/workflows"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// Default credentials of the simulators when none are given.
const (
	DefaultWebCRMToken = "dev-webcrm-token"
	DefaultERPKey      = "dev-erp-key"
)

// Options configure a Stack. Zero ports mean "any free port"; the worker's
// flags give the documented defaults.
type Options struct {
	DataDir      string // required for persistence; "" keeps everything in memory
	IP           string // default 127.0.0.1
	TemporalPort int
	UIPort       int // negative: no UI
	WebCRMPort   int
	ERPPort      int
	WebCRMToken  string
	ERPKey       string
	Seed         int64
	SeedSize     int // organisations / customers generated on first start
	// WebCRMRateLimit is the simulator's requests per minute (default 250; negative: none).
	WebCRMRateLimit int
	// HookSecret is sent by the webCRM simulator with every hook call.
	HookSecret string
	// WebCRMFaults is the webCRM simulator's initial fault setting, e.g.
	// webcrmsim.HostileProfile().
	WebCRMFaults webcrmsim.FaultConfig
	// DynamicConfig is passed to the Temporal dev server.
	DynamicConfig   map[string]any
	UICodecEndpoint string
	Progress        io.Writer
	Logger          *slog.Logger

	// TemporalAddress, when set, names a running Temporal server (such as
	// scripts/temporal-postgres's) to use instead of starting the dev
	// server: TemporalNamespace (default "default") is registered there if
	// missing, with tandem's search attributes. TemporalPID is its process
	// id, when known. The UI, DynamicConfig and TemporalPort do not apply.
	TemporalAddress   string
	TemporalNamespace string
	TemporalPID       int
}

// Stack is a running local stack.
type Stack struct {
	Temporal  *devserver.Server
	WebCRM    *webcrmsim.Server
	ERP       *erpsim.Server
	WebCRMURL string
	ERPURL    string
	opts      Options
	servers   []*http.Server
}

// PortError says which flag names a port that is already taken.
type PortError struct {
	Flag string
	Addr string
	Err  error
}

func (e *PortError) Error() string {
	return fmt.Sprintf("%s: %s is already in use (%v); pick another with %s", e.Flag, e.Addr, e.Err, e.Flag)
}

func (e *PortError) Unwrap() error { return e.Err }

// Start brings the stack up. On error everything started so far is stopped.
func Start(ctx context.Context, opts Options) (st *Stack, err error) {
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.WebCRMToken == "" {
		opts.WebCRMToken = DefaultWebCRMToken
	}
	if opts.ERPKey == "" {
		opts.ERPKey = DefaultERPKey
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	st = &Stack{opts: opts}
	defer func() {
		if err != nil {
			st.Stop()
		}
	}()
	// Claim the simulator ports first: they fail fast and cheaply.
	webLn, err := listen(opts.IP, opts.WebCRMPort, "--webcrm-port")
	if err != nil {
		return st, err
	}
	erpLn, err := listen(opts.IP, opts.ERPPort, "--erp-port")
	if err != nil {
		_ = webLn.Close()
		return st, err
	}
	st.WebCRMURL = "http://" + webLn.Addr().String()
	st.ERPURL = "http://" + erpLn.Addr().String()

	firstStart := opts.DataDir == ""
	webPersist, erpDB := "", ""
	if opts.DataDir != "" {
		webPersist = filepath.Join(opts.DataDir, "webcrm.json")
		erpDB = filepath.Join(opts.DataDir, "customerp.db")
		_, statErr := os.Stat(webPersist)
		firstStart = errors.Is(statErr, os.ErrNotExist)
	}
	seedSize := 0
	if firstStart {
		seedSize = opts.SeedSize
	}
	st.WebCRM, err = webcrmsim.New(webcrmsim.Options{
		APIToken: opts.WebCRMToken, RateLimitPerMinute: opts.WebCRMRateLimit, PersistPath: webPersist,
		Seed: opts.Seed, SeedSize: seedSize, Logger: opts.Logger, BaseURL: st.WebCRMURL, HookSecret: opts.HookSecret,
		Faults: opts.WebCRMFaults,
	})
	if err != nil {
		_, _ = webLn.Close(), erpLn.Close()
		return st, fmt.Errorf("webCRM simulator: %w", err)
	}
	st.ERP, err = erpsim.New(erpsim.Options{APIKey: opts.ERPKey, DBPath: erpDB, Seed: opts.Seed, SeedSize: seedSize, Logger: opts.Logger})
	if err != nil {
		_, _ = webLn.Close(), erpLn.Close()
		return st, fmt.Errorf("CustomERP server: %w", err)
	}
	st.servers = append(st.servers, serveOn(webLn, st.WebCRM), serveOn(erpLn, st.ERP))

	attrs := map[string]enumspb.IndexedValueType{}
	for _, name := range workflows.SearchAttributeNames() {
		attrs[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	if opts.TemporalAddress != "" {
		st.Temporal, err = attachTemporal(ctx, opts, attrs)
		return st, err
	}
	dsOpts := devserver.Options{
		Ensure:           devserver.EnsureOptions{Progress: opts.Progress},
		IP:               opts.IP,
		Port:             opts.TemporalPort,
		UIPort:           max(opts.UIPort, 0),
		Headless:         opts.UIPort < 0,
		UICodecEndpoint:  opts.UICodecEndpoint,
		SearchAttributes: attrs,
		DynamicConfig:    opts.DynamicConfig,
		DataDir:          opts.DataDir,
		Logger:           opts.Logger,
	}
	if opts.DataDir != "" {
		dsOpts.DBFile = filepath.Join(opts.DataDir, "temporal.db")
	}
	st.Temporal, err = devserver.Start(ctx, dsOpts)
	var pe *devserver.PortInUseError
	if errors.As(err, &pe) {
		flag := "--temporal-port"
		if pe.Purpose == "Web UI" {
			flag = "--ui-port"
		}
		return st, &PortError{Flag: flag, Addr: net.JoinHostPort(pe.IP, strconv.Itoa(pe.Port)), Err: err}
	}
	if err != nil {
		return st, fmt.Errorf("start the Temporal dev server: %w", err)
	}
	return st, nil
}

// Config returns a tandem configuration pointing at the stack.
func (st *Stack) Config() config.Config {
	cfg := config.Default()
	cfg.Temporal.Address = st.Temporal.Address()
	cfg.Temporal.Namespace = st.Temporal.Namespace()
	cfg.WebCRM.BaseURL = st.WebCRMURL
	cfg.WebCRM.APIToken = st.opts.WebCRMToken
	cfg.ERP.BaseURL = st.ERPURL
	cfg.ERP.APIKey = st.opts.ERPKey
	cfg.Worker.HooksSecret = st.opts.HookSecret
	return cfg
}

// Stop stops the simulators and the dev server, saving the simulators' data.
func (st *Stack) Stop() {
	for _, srv := range st.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	if st.WebCRM != nil {
		_ = st.WebCRM.Close()
	}
	if st.ERP != nil {
		_ = st.ERP.Close()
	}
	if st.Temporal != nil {
		_ = st.Temporal.Stop()
	}
}

func listen(ip string, port int, flag string) (net.Listener, error) {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &PortError{Flag: flag, Addr: addr, Err: err}
	}
	return ln, nil
}

func serveOn(ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv
}

// attachTemporal prepares the namespace on an external Temporal server.
func attachTemporal(ctx context.Context, opts Options, attrs map[string]enumspb.IndexedValueType) (*devserver.Server, error) {
	srv, err := devserver.External(devserver.ExternalOptions{Address: opts.TemporalAddress, Namespace: opts.TemporalNamespace, PID: opts.TemporalPID})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: sdklog.NewStructuredLogger(opts.Logger),
	})
	if err != nil {
		return nil, fmt.Errorf("dial the Temporal server at %s: %w", srv.Address(), err)
	}
	defer c.Close()
	if err := devserver.EnsureNamespace(ctx, c, srv.Namespace(), 7*24*time.Hour); err != nil {
		return nil, fmt.Errorf("the Temporal server at %s: %w", srv.Address(), err)
	}
	if err := devserver.RegisterSearchAttributes(ctx, c, srv.Namespace(), attrs); err != nil {
		return nil, fmt.Errorf("the Temporal server at %s: %w", srv.Address(), err)
	}
	// A production server's history hosts see new attributes when their
	// namespace cache refreshes (every 2 s by default), a little after the
	// frontend lists them.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(2500 * time.Millisecond):
	}
	return srv, nil
}
