package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

const (
	// DefaultNamespace is the namespace the dev server always creates.
	DefaultNamespace = "default"
	// LogFileName is the file in Options.DataDir that receives the child's
	// output when Options.LogWriter is nil.
	LogFileName = "temporal-dev-server.log"

	defaultIP           = "127.0.0.1"
	defaultStartTimeout = 60 * time.Second
	defaultStopGrace    = 10 * time.Second
	outputTailBytes     = 16 << 10
	readyPollInterval   = 100 * time.Millisecond
)

// Options configures Start. The zero value starts an in-memory, headless
// server on a free port of 127.0.0.1.
type Options struct {
	// CLIPath is the `temporal` binary. Empty means EnsureCLI(ctx, Ensure).
	CLIPath string
	// Ensure is used to find or build the CLI when CLIPath is empty.
	Ensure EnsureOptions

	// IP the frontend (and the UI) bind to. Default 127.0.0.1.
	IP string
	// Port of the frontend gRPC service. 0 picks a free port (and Start
	// retries with other ports if the pick is taken before the child binds).
	Port int
	// UIPort of the Web UI. 0 picks a free port. Ignored when Headless.
	UIPort int
	// Headless disables the Web UI.
	Headless bool
	// UICodecEndpoint is the remote codec HTTP endpoint the UI calls to
	// decode payloads (--ui-codec-endpoint). Empty means none.
	UICodecEndpoint string
	// MetricsPort serves Prometheus /metrics on IP. 0 lets the CLI pick.
	MetricsPort int

	// DBFile is the SQLite file that persists server state across runs; its
	// directory must exist. Empty means an in-memory database. A file
	// database runs with WAL journaling and synchronous=normal.
	DBFile string
	// Namespace to create at start (besides "default") and to wait for.
	// Default "default".
	Namespace string
	// SearchAttributes to register (name -> type). They are passed to the
	// CLI and, for a file database (where the namespace may already exist
	// and the CLI skips them), registered again with RegisterSearchAttributes.
	SearchAttributes map[string]enumspb.IndexedValueType
	// DynamicConfig values (key -> value), sent as JSON with
	// --dynamic-config-value, e.g. "limit.historyCount.suggestContinueAsNew": 200.
	DynamicConfig map[string]any
	// LogLevel of the server: debug, info, warn, error or never. Default warn.
	LogLevel string

	// LogWriter receives the child's stdout and stderr. Nil means a file
	// named LogFileName in DataDir, or io.Discard when DataDir is empty.
	// The last 16 KiB are kept regardless and quoted in start-up errors.
	LogWriter io.Writer
	// DataDir holds the log file (see LogWriter). Optional.
	DataDir string

	// StartTimeout bounds the wait for the frontend. Default 60 s.
	StartTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL. Default 10 s.
	StopGrace time.Duration
	// Logger receives harness messages (not the server's own output). Nil
	// means slog.Default().
	Logger *slog.Logger
}

// Server is a running `temporal server start-dev` child process.
type Server struct {
	cmd       *exec.Cmd
	ip        string
	port      int
	uiPort    int // 0 when headless
	namespace string
	tail      *tailBuffer
	logFile   *os.File
	grace     time.Duration
	startTook time.Duration
	logger    *slog.Logger

	exited  chan struct{} // closed when the child has exited
	waitErr error         // the child's exit status; read after exited is closed

	// Set by External for a server this package did not start.
	externalPID  int
	externalStop func() error

	stopOnce sync.Once
	stopErr  error
}

// PortInUseError reports that a port Start was asked to use is taken.
type PortInUseError struct {
	IP      string
	Port    int
	Purpose string // "frontend gRPC", "Web UI" or "metrics"
	Err     error
}

// Error names the port and what it was meant for.
func (e *PortInUseError) Error() string {
	return fmt.Sprintf("temporal dev server: %s port %d on %s is already in use (is another Temporal server running?): %v",
		e.Purpose, e.Port, e.IP, e.Err)
}

// Unwrap returns the listen error.
func (e *PortInUseError) Unwrap() error { return e.Err }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(defaultIP, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free TCP port on %s: %w", defaultIP, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// checkPortFree fails with *PortInUseError when ip:port cannot be bound.
func checkPortFree(ip string, port int, purpose string) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return &PortInUseError{IP: ip, Port: port, Purpose: purpose, Err: err}
	}
	return l.Close()
}

// Start runs the dev server and returns once its frontend answers health
// checks, the namespace is visible and the UI (unless headless) accepts
// connections. The caller must call Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.CLIPath == "" {
		p, err := EnsureCLI(ctx, opts.Ensure)
		if err != nil {
			return nil, fmt.Errorf("start Temporal dev server: %w", err)
		}
		opts.CLIPath = p
	}
	if opts.IP == "" {
		opts.IP = defaultIP
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = defaultStopGrace
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Free ports picked here can be taken by someone else before the child
	// binds them; then try again with new ones.
	autoPorts := opts.Port == 0 || (!opts.Headless && opts.UIPort == 0)
	attempts := 1
	if autoPorts {
		attempts = 3
	}
	var err error
	for i := 0; i < attempts; i++ {
		var s *Server
		s, err = startOnce(ctx, opts)
		if err == nil {
			return s, nil
		}
		// Retry only what a port race explains: a picked port found busy, or
		// a child that quit at once (it could not bind). Timeouts are final.
		var busy *PortInUseError
		retry := errors.As(err, &busy) && isAutoPort(opts, busy) || errors.Is(err, errChildExited)
		if !autoPorts || !retry || ctx.Err() != nil {
			return nil, err
		}
		opts.Logger.Warn("Temporal dev server did not start, retrying with other ports", "attempt", i+1, "error", err)
	}
	return nil, err
}

// isAutoPort reports whether the busy port was one Start picked itself.
func isAutoPort(opts Options, busy *PortInUseError) bool {
	switch busy.Purpose {
	case purposeFrontend:
		return opts.Port == 0
	case purposeUI:
		return opts.UIPort == 0
	}
	return false
}

// errChildExited marks a start-up failure where the child quit by itself.
var errChildExited = errors.New("the server process exited during start-up")

const (
	purposeFrontend = "frontend gRPC"
	purposeUI       = "Web UI"
	purposeMetrics  = "metrics"
)

func startOnce(ctx context.Context, opts Options) (*Server, error) {
	var err error
	if opts.Port == 0 {
		if opts.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if !opts.Headless && opts.UIPort == 0 {
		if opts.UIPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := checkPortFree(opts.IP, opts.Port, purposeFrontend); err != nil {
		return nil, err
	}
	if !opts.Headless {
		if err := checkPortFree(opts.IP, opts.UIPort, purposeUI); err != nil {
			return nil, err
		}
	}
	if opts.MetricsPort != 0 {
		if err := checkPortFree(opts.IP, opts.MetricsPort, purposeMetrics); err != nil {
			return nil, err
		}
	}
	args, err := buildArgs(opts)
	if err != nil {
		return nil, err
	}

	s := &Server{
		ip:        opts.IP,
		port:      opts.Port,
		namespace: opts.Namespace,
		tail:      newTailBuffer(outputTailBytes),
		grace:     opts.StopGrace,
		logger:    opts.Logger,
		exited:    make(chan struct{}),
	}
	if !opts.Headless {
		s.uiPort = opts.UIPort
	}
	out := opts.LogWriter
	if out == nil {
		out = io.Discard
		if opts.DataDir != "" {
			path := filepath.Join(opts.DataDir, LogFileName)
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, fmt.Errorf("open Temporal dev server log %s: %w", path, err)
			}
			s.logFile = f
			out = f
		}
	}
	w := io.MultiWriter(out, s.tail)

	// The child must outlive ctx (which only bounds start-up), so it is not
	// started with exec.CommandContext.
	cmd := exec.Command(opts.CLIPath, args...)
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.WaitDelay = 2 * time.Second
	configureChild(cmd)
	s.cmd = cmd

	start := time.Now()
	if err := cmd.Start(); err != nil {
		s.closeLog()
		return nil, fmt.Errorf("run %s %s: %w", opts.CLIPath, strings.Join(args, " "), err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		s.closeLog()
		close(s.exited)
	}()

	if err := s.waitReady(ctx, opts); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("temporal dev server on %s did not become ready: %w\n--- server output (tail) ---\n%s",
			s.Address(), err, strings.TrimSpace(s.tail.String()))
	}
	s.startTook = time.Since(start)

	if opts.DBFile != "" && len(opts.SearchAttributes) > 0 {
		// With an existing database file the CLI leaves the namespace as it
		// was, so register anything new explicitly.
		if err := s.registerAttrs(ctx, opts); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	opts.Logger.Debug("Temporal dev server started", "address", s.Address(), "ui", s.UIURL(), "pid", cmd.Process.Pid, "took", s.startTook)
	return s, nil
}

func (s *Server) registerAttrs(ctx context.Context, opts Options) error {
	c, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("register search attributes on %s: %w", s.Address(), err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	return RegisterSearchAttributes(ctx, c, opts.Namespace, opts.SearchAttributes)
}

// buildArgs turns opts into `temporal server start-dev` arguments.
func buildArgs(opts Options) ([]string, error) {
	args := []string{
		"server", "start-dev",
		"--ip", opts.IP,
		"--port", strconv.Itoa(opts.Port),
		"--log-level", opts.LogLevel,
		// Keep the user's CLI environment files and TEMPORAL_* variables
		// out of the server's configuration.
		"--disable-config-file", "--disable-config-env",
	}
	if opts.Headless {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-port", strconv.Itoa(opts.UIPort))
		if opts.UICodecEndpoint != "" {
			args = append(args, "--ui-codec-endpoint", opts.UICodecEndpoint)
		}
	}
	if opts.MetricsPort != 0 {
		args = append(args, "--metrics-port", strconv.Itoa(opts.MetricsPort))
	}
	if opts.DBFile != "" {
		args = append(args, "--db-filename", opts.DBFile,
			"--sqlite-pragma", "journal_mode=wal",
			"--sqlite-pragma", "synchronous=normal")
	}
	if opts.Namespace != DefaultNamespace {
		args = append(args, "--namespace", opts.Namespace)
	}
	for _, name := range slices.Sorted(maps.Keys(opts.SearchAttributes)) {
		typ, err := cliAttrType(opts.SearchAttributes[name])
		if err != nil {
			return nil, fmt.Errorf("search attribute %q: %w", name, err)
		}
		args = append(args, "--search-attribute", name+"="+typ)
	}
	for _, key := range slices.Sorted(maps.Keys(opts.DynamicConfig)) {
		v, err := json.Marshal(opts.DynamicConfig[key])
		if err != nil {
			return nil, fmt.Errorf("dynamic config %q: encode value as JSON: %w", key, err)
		}
		args = append(args, "--dynamic-config-value", key+"="+string(v))
	}
	return args, nil
}

// cliAttrType returns the CLI's name for a search attribute type.
func cliAttrType(t enumspb.IndexedValueType) (string, error) {
	switch t {
	case enumspb.INDEXED_VALUE_TYPE_TEXT:
		return "Text", nil
	case enumspb.INDEXED_VALUE_TYPE_KEYWORD:
		return "Keyword", nil
	case enumspb.INDEXED_VALUE_TYPE_INT:
		return "Int", nil
	case enumspb.INDEXED_VALUE_TYPE_DOUBLE:
		return "Double", nil
	case enumspb.INDEXED_VALUE_TYPE_BOOL:
		return "Bool", nil
	case enumspb.INDEXED_VALUE_TYPE_DATETIME:
		return "Datetime", nil
	case enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST:
		return "KeywordList", nil
	}
	return "", fmt.Errorf("unsupported type %v", t)
}

// waitReady polls until the frontend is healthy, the namespace is
// registered and the UI (if any) accepts connections; or the child exits,
// or the start timeout passes.
func (s *Server) waitReady(ctx context.Context, opts Options) error {
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	var last error
	var c client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("%w (%v)", errChildExited, s.waitErr)
		default:
		}
		last = func() error {
			if c == nil {
				conn, err := net.DialTimeout("tcp", s.Address(), time.Second)
				if err != nil {
					return err
				}
				_ = conn.Close()
				if c, err = s.dial(ctx); err != nil {
					return err
				}
			}
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			defer ccancel()
			if _, err := c.CheckHealth(cctx, &client.CheckHealthRequest{}); err != nil {
				return err
			}
			if _, err := c.WorkflowService().DescribeNamespace(cctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.namespace}); err != nil {
				return err
			}
			if s.uiPort != 0 { // the UI starts on its own; wait for it too
				conn, err := net.DialTimeout("tcp", net.JoinHostPort(s.ip, strconv.Itoa(s.uiPort)), time.Second)
				if err != nil {
					return fmt.Errorf("web UI: %w", err)
				}
				_ = conn.Close()
			}
			return nil
		}()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w (last error: %v)", opts.StartTimeout, ctx.Err(), last)
		case <-s.exited:
		case <-time.After(readyPollInterval):
		}
	}
}

// dial connects an SDK client to the server with the SDK's logging muted
// below warnings.
func (s *Server) dial(ctx context.Context) (client.Client, error) {
	return client.DialContext(ctx, client.Options{
		HostPort:  s.Address(),
		Namespace: s.namespace,
		Logger:    sdklog.NewStructuredLogger(s.logger),
	})
}

// Address is the frontend's host:port, for client.Options.HostPort.
func (s *Server) Address() string {
	return net.JoinHostPort(s.ip, strconv.Itoa(s.port))
}

// Port is the frontend gRPC port.
func (s *Server) Port() int { return s.port }

// Namespace is the namespace Start waited for.
func (s *Server) Namespace() string { return s.namespace }

// UIURL is the Web UI's base URL, or "" when the server is headless.
func (s *Server) UIURL() string {
	if s.uiPort == 0 {
		return ""
	}
	return "http://" + net.JoinHostPort(s.ip, strconv.Itoa(s.uiPort))
}

// PID is the child's process id (for External, the one it was given).
func (s *Server) PID() int {
	if s.cmd == nil {
		return s.externalPID
	}
	return s.cmd.Process.Pid
}

// StartupDuration is the time from spawning the child until it was ready.
func (s *Server) StartupDuration() time.Duration { return s.startTook }

// Exited is closed when the child process has exited, for whatever reason.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// OutputTail returns the last 16 KiB of the server's output.
func (s *Server) OutputTail() string { return s.tail.String() }

// Stop sends SIGTERM to the server's process group, SIGKILL after the grace
// period, and waits for the child to exit. It is safe to call more than once.
// It returns an error only when the server had to be killed or could not be
// signalled; the exit status after SIGTERM is not an error.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd == nil { // External
			s.stopErr = s.externalStop()
			close(s.exited)
			return
		}
		select {
		case <-s.exited:
			return
		default:
		}
		if err := signalGroup(s.cmd, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.stopErr = fmt.Errorf("stop Temporal dev server (pid %d): SIGTERM: %w", s.cmd.Process.Pid, err)
		}
		select {
		case <-s.exited:
			return
		case <-time.After(s.grace):
		}
		_ = signalGroup(s.cmd, syscall.SIGKILL)
		<-s.exited
		s.stopErr = errors.Join(s.stopErr, fmt.Errorf("stop Temporal dev server (pid %d): still running %s after SIGTERM, killed", s.cmd.Process.Pid, s.grace))
	})
	return s.stopErr
}

func (s *Server) closeLog() {
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
}
