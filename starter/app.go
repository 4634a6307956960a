package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/tandemsync/tandem/internal/codec"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/mappings"
)

// Exit codes of the starter.
const (
	exitOK       = 0 // the command did what was asked
	exitFailure  = 1 // operational error: Temporal unreachable, unknown pairing, no such record, an API failed
	exitUsage    = 2 // usage error: unknown command or flag, missing or conflicting flags, bad value
	exitProblems = 3 // `mappings check` found problems
)

// defaultDialTimeout bounds the connection check to Temporal, so an
// unreachable server fails fast.
const defaultDialTimeout = 5 * time.Second

// exitError carries the exit code an error should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns an error that ends the process with exitUsage.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// app holds what every command shares: the settings, the lazily dialed
// Temporal client, the mapping set and the output writers. Commands are
// methods of app so that tests can run the whole command tree in-process.
type app struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	logger *slog.Logger

	// Global flags.
	configPath string
	address    string
	namespace  string

	dialTimeout time.Duration
	// pollEvery is how often backfill progress is queried.
	pollEvery time.Duration
	now       func() time.Time

	cfg    *config.Config
	set    *mappings.Set
	client client.Client
	// ran is set when a command's own code starts; an error before that
	// comes from parsing the command line and is a usage error.
	ran bool
}

func newApp(stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{
		stdout:      stdout,
		stderr:      stderr,
		getenv:      getenv,
		logger:      slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		dialTimeout: defaultDialTimeout,
		pollEvery:   time.Second,
		now:         time.Now,
	}
}

// run executes the starter with args and returns the process exit code.
// Errors are written to stderr as one line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := newApp(stdout, stderr, getenv)
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	return a.report(cmd, err)
}

// report prints err as one line and returns the exit code for it.
func (a *app) report(cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case !a.ran:
		code = exitUsage
	}
	msg := oneLine(explain(err).Error())
	if code == exitUsage && cmd != nil {
		msg += fmt.Sprintf(" (see %q)", cmd.CommandPath()+" --help")
	}
	fmt.Fprintln(a.stderr, "starter: "+msg)
	return code
}

// oneLine folds a multi-line message (joined errors) into one line.
func oneLine(s string) string {
	var b strings.Builder
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

func (a *app) close() {
	if a.client != nil {
		a.client.Close()
		a.client = nil
	}
}

// action wraps a command's code: it marks the command as started (so its
// errors are operational, not usage errors).
func (a *app) action(fn func(ctx context.Context, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.ran = true
		return fn(cmd.Context(), cmd, args)
	}
}

// config loads the settings once: the --config file, then the environment,
// then --address and --namespace.
func (a *app) config() (config.Config, error) {
	if a.cfg != nil {
		return *a.cfg, nil
	}
	cfg, err := config.Load(a.configPath, a.getenv)
	if err != nil {
		return cfg, fmt.Errorf("load settings: %w", err)
	}
	if a.address != "" {
		cfg.Temporal.Address = a.address
	}
	if a.namespace != "" {
		cfg.Temporal.Namespace = a.namespace
	}
	if cfg.Temporal.Codec.Keys == "" && cfg.Temporal.Codec.KeysFile == "" {
		// `worker --dev` keeps its development key in .tandem/codec.key:
		// run from the same directory, the starter reads histories with it.
		if _, err := os.Stat(devKeyFile); err == nil {
			cfg.Temporal.Codec.KeysFile = devKeyFile
		}
	}
	a.cfg = &cfg
	return cfg, nil
}

// devKeyFile is where `worker --dev` keeps its payload key by default.
const devKeyFile = ".tandem/codec.key"

// mappingSet returns the pairings the worker runs: the mapping files of
// sync.mappingsDir (TANDEM_MAPPINGS_DIR), or the built-in defaults.
func (a *app) mappingSet() (*mappings.Set, error) {
	if a.set != nil {
		return a.set, nil
	}
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	set, err := service.LoadMappings(cfg.Sync.MappingsDir)
	if err != nil {
		return nil, fmt.Errorf("load the mapping files (run `starter mappings check %s`): %w", cfg.Sync.MappingsDir, err)
	}
	a.set = set
	return set, nil
}

// pairingNames checks the pairing names given on the command line and
// returns them, or every pairing when none is given.
func (a *app) pairingNames(args []string) ([]string, error) {
	set, err := a.mappingSet()
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return set.Names(), nil
	}
	seen := map[string]bool{}
	var out []string
	for _, name := range args {
		if _, ok := set.Pairing(name); !ok {
			return nil, unknownPairing(name, set)
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out, nil
}

// pairingsClient checks the pairing names (all pairings when none) and
// dials Temporal.
func (a *app) pairingsClient(ctx context.Context, args []string) ([]string, client.Client, error) {
	names, err := a.pairingNames(args)
	if err != nil {
		return nil, nil, err
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return nil, nil, err
	}
	return names, c, nil
}

// pairing returns the named pairing.
func (a *app) pairing(name string) (*mappings.Pairing, error) {
	set, err := a.mappingSet()
	if err != nil {
		return nil, err
	}
	p, ok := set.Pairing(name)
	if !ok {
		return nil, unknownPairing(name, set)
	}
	return p, nil
}

func unknownPairing(name string, set *mappings.Set) error {
	return fmt.Errorf("unknown pairing %q; known pairings: %s", name, strings.Join(set.Names(), ", "))
}

// temporal returns the Temporal client, dialing it on first use. An
// unreachable server fails within the dial timeout with an error that
// names the address and how to change it.
func (a *app) temporal(ctx context.Context) (client.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	addr, ns := cfg.Temporal.Address, cfg.Temporal.Namespace
	hint := "set the address with --address or TEMPORAL_ADDRESS (temporal.address in --config)"
	d := net.Dialer{Timeout: a.dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s: %w; %s", addr, err, hint)
	}
	_ = conn.Close()
	if _, err := service.CodecKeys(cfg.Temporal.Codec); err != nil {
		return nil, fmt.Errorf("payload encryption keys: %w", err)
	}
	c, err := service.Dial(cfg.Temporal, a.logger, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal: %w; %s", err, hint)
	}
	dctx, cancel := context.WithTimeout(ctx, a.dialTimeout)
	defer cancel()
	_, err = c.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	var nf *serviceerror.NamespaceNotFound
	var denied *serviceerror.PermissionDenied
	switch {
	case errors.As(err, &denied):
		// A key scoped to its namespace may not describe it; the calls
		// that follow say what is wrong if anything is.
		err = nil
	case errors.As(err, &nf) || isNotFound(err):
		c.Close()
		return nil, fmt.Errorf("namespace %q does not exist on the Temporal server at %s; set it with --namespace or TEMPORAL_NAMESPACE", ns, addr)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("no answer from Temporal at %s (namespace %s): %w; %s", addr, ns, err, hint)
	}
	a.client = c
	return c, nil
}

// hintedError is an error with what to do about it.
type hintedError struct {
	err  error
	hint string
}

func (h *hintedError) Error() string { return h.err.Error() + "; " + h.hint }
func (h *hintedError) Unwrap() error { return h.err }

// explain adds what to do to an error the operator can fix by configuration:
// payloads the worker encrypted, read without its keys. It returns err
// itself when there is nothing to add (or it was added already).
func explain(err error) error {
	var hinted *hintedError
	var unknownKey *codec.UnknownKeyError
	switch {
	case err == nil || errors.As(err, &hinted):
		return err
	case errors.Is(err, converter.ErrEncodingIsNotSupported):
		return &hintedError{err, fmt.Sprintf("the worker encrypts payloads: give the starter the same keys (%s or %s)", codec.EnvKeys, codec.EnvKeysFile)}
	case errors.As(err, &unknownKey):
		return &hintedError{err, fmt.Sprintf("the starter needs the worker's keys (%s or %s)", codec.EnvKeys, codec.EnvKeysFile)}
	}
	return err
}

// isNotFound reports whether err is Temporal's "not found".
func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// quote makes s a string literal of a visibility query.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}
