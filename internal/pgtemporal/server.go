package pgtemporal

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// ServerOptions configures StartServer.
type ServerOptions struct {
	// Binary is temporal-server (see EnsureBinaries).
	Binary string
	// PostgresPort is the cluster's port on 127.0.0.1.
	PostgresPort int
	// DBName and VisibilityDBName default to DBName and VisibilityDBName.
	DBName, VisibilityDBName string
	// DynamicConfigPath is the dynamic config file (absolute).
	DynamicConfigPath string
	// Port of the frontend's gRPC service; 0 picks a free one.
	Port int
	// LogPath receives the server's output (appended).
	LogPath string
	// LogLevel of the server; default warn.
	LogLevel string
	// StartTimeout bounds the wait for the frontend; default 2 minutes.
	StartTimeout time.Duration
	// Ports of the other services (the config template's port variables);
	// those not given get free ones. A server started again with the
	// Options of one that stopped comes back on the same ports.
	Ports map[string]int
}

// Server is a running temporal-server process.
type Server struct {
	Address string // frontend host:port
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // exit status, read after done
	logPath string
	opts    ServerOptions
}

// Options returns the options the server runs with, its ports included.
func (s *Server) Options() ServerOptions { return s.opts }

// Env returns the server's environment: the variables of its embedded
// config template, as Temporal's server image reads them, and nothing else
// from this process's environment but PATH, HOME and TMPDIR.
func (o ServerOptions) Env(ports map[string]int) []string {
	env := SharedEnv()
	env["DBNAME"] = o.DBName
	env["VISIBILITY_DBNAME"] = o.VisibilityDBName
	env["POSTGRES_SEEDS"] = "127.0.0.1"
	env["DB_PORT"] = strconv.Itoa(o.PostgresPort)
	env["POSTGRES_USER"] = User
	env["POSTGRES_PWD"] = ""
	env["DYNAMIC_CONFIG_FILE_PATH"] = o.DynamicConfigPath
	env["BIND_ON_IP"] = "127.0.0.1"
	env["LOG_LEVEL"] = o.LogLevel
	env["TEMPORAL_ALLOW_NO_AUTH"] = "true"
	for name, port := range ports {
		env[name] = strconv.Itoa(port)
	}
	out := make([]string, 0, len(env)+3)
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// portVars are the template's port variables, each given a free port.
var portVars = []string{
	"FRONTEND_HTTP_PORT", "FRONTEND_MEMBERSHIP_PORT",
	"MATCHING_GRPC_PORT", "MATCHING_MEMBERSHIP_PORT",
	"HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT",
	"WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT",
}

// StartServer starts temporal-server on the cluster's databases and returns
// once its frontend answers health checks. The caller must call Stop.
func StartServer(ctx context.Context, opts ServerOptions) (*Server, error) {
	if opts.DBName == "" {
		opts.DBName = DBName
	}
	if opts.VisibilityDBName == "" {
		opts.VisibilityDBName = VisibilityDBName
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	ports := map[string]int{}
	var err error
	if opts.Port == 0 {
		if opts.Port, err = lowFreePort(); err != nil {
			return nil, err
		}
	}
	ports["FRONTEND_GRPC_PORT"] = opts.Port
	for _, name := range portVars {
		if p := opts.Ports[name]; p != 0 {
			ports[name] = p
			continue
		}
		if ports[name], err = lowFreePort(); err != nil {
			return nil, err
		}
	}
	opts.Ports = map[string]int{}
	for _, name := range portVars {
		opts.Ports[name] = ports[name]
	}
	logFile, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the Temporal server log: %w", err)
	}
	cmd := exec.Command(opts.Binary, "start")
	cmd.Env = opts.Env(ports)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.WaitDelay = 5 * time.Second
	detachGroup(cmd, syscall.SIGTERM)
	s := &Server{Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)), cmd: cmd, done: make(chan struct{}), logPath: opts.LogPath, opts: opts}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", opts.Binary, err)
	}
	go func() {
		s.err = cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	if err := s.waitReady(ctx, opts.StartTimeout); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("the Temporal server on %s did not become ready: %w\n--- %s (tail) ---\n%s", s.Address, err, opts.LogPath, logTail(opts.LogPath))
	}
	return s, nil
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the process's exit status once Done is closed.
func (s *Server) Err() error { return s.err }

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var c client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	var last error
	for {
		select {
		case <-s.done:
			return fmt.Errorf("the server process exited: %v", s.err)
		default:
		}
		last = func() error {
			if c == nil {
				conn, err := net.DialTimeout("tcp", s.Address, time.Second)
				if err != nil {
					return err
				}
				_ = conn.Close()
				if c, err = Dial(ctx, s.Address, "temporal-system"); err != nil {
					return err
				}
			}
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			defer ccancel()
			_, err := c.CheckHealth(cctx, &client.CheckHealthRequest{})
			return err
		}()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w (last error: %v)", timeout, ctx.Err(), last)
		case <-s.done:
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM, SIGKILL to the process group after 30 s, and waits.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = signalGroup(s.cmd, syscall.SIGKILL)
	<-s.done
	return fmt.Errorf("the Temporal server (pid %d) did not stop within 30 s of SIGTERM: killed", s.cmd.Process.Pid)
}

// Dial connects an SDK client with the SDK's own logging below warnings muted.
func Dial(ctx context.Context, address, namespace string) (client.Client, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: sdklog.NewStructuredLogger(logger)})
	if err != nil {
		return nil, fmt.Errorf("dial Temporal at %s: %w", address, err)
	}
	return c, nil
}

// logTail returns the last lines of a log file for error messages.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return tail(strings.TrimSpace(string(data)), 6<<10)
}
