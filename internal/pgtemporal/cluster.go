package pgtemporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/tandemsync/tandem/internal/devserver"
)

// EnvDir names the environment variable that overrides DefaultDir.
const EnvDir = "TANDEM_TEMPORAL_POSTGRES_DIR"

// Template databases: copies of the fresh schemas that dedicated servers
// (StartDedicated) clone their databases from.
const (
	templateDB           = DBName + "_template"
	templateVisibilityDB = VisibilityDBName + "_template"
)

// namespaceRetention is the retention of the namespaces registered here.
const namespaceRetention = 24 * time.Hour

// DefaultDir is where the cluster lives unless $TANDEM_TEMPORAL_POSTGRES_DIR
// says otherwise: a directory under the system's temporary directory, which
// the postgres user can reach when this runs as root.
func DefaultDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "tandem-temporal-postgres")
}

// ClusterOptions configures StartCluster.
type ClusterOptions struct {
	// Dir holds the cluster's data, logs and state file. Default DefaultDir().
	Dir string
	// RepoRoot is the tandem repository (for the tools module and the
	// dynamic config file). Default: found from the working directory.
	RepoRoot string
	// Port of the frontend; 0 picks a free one. PostgresPort likewise.
	Port, PostgresPort int
	// Install installs PostgreSQL from Debian's packages when missing (root only).
	Install bool
	// SearchAttributes are registered on the default namespace.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Progress receives one line per step. Nil: silent.
	Progress io.Writer
}

// State describes a running cluster; StartCluster writes it to
// Dir/state.json, where testenv, devstack users and `stop` find it.
type State struct {
	PID              int    `json:"pid"` // the process that owns the cluster
	Address          string `json:"address"`
	Namespace        string `json:"namespace"`
	ServerPID        int    `json:"serverPid"`
	ServerVersion    string `json:"serverVersion"`
	ServerBinary     string `json:"serverBinary"`
	NumHistoryShards int    `json:"numHistoryShards"`
	DynamicConfig    string `json:"dynamicConfig"`
	PostgresPort     int    `json:"postgresPort"`
	PostgresBin      string `json:"postgresBin"`
	Dir              string `json:"dir"`
}

// Cluster is a running PostgreSQL cluster with a Temporal server on it.
type Cluster struct {
	State State
	pg    *Postgres
	srv   *Server
}

func stateFile(dir string) string { return filepath.Join(dir, "state.json") }

// StartCluster builds (once) and starts everything: a fresh PostgreSQL
// cluster in opts.Dir, the temporal and temporal_visibility databases made
// by temporal-sql-tool, the server with NumHistoryShards shards and the
// repository's dynamic config, and the default namespace with
// opts.SearchAttributes. On error, what was started is stopped.
func StartCluster(ctx context.Context, opts ClusterOptions) (_ *Cluster, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	step := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }
	if opts.Dir == "" {
		opts.Dir = DefaultDir()
	}
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, fmt.Errorf("cluster directory: %w", err)
	}
	if opts.RepoRoot == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		if opts.RepoRoot, err = RepoRoot(wd); err != nil {
			return nil, err
		}
	}
	if st, err := ReadState(opts.Dir); err == nil {
		return nil, fmt.Errorf("a cluster already runs in %s (pid %d, Temporal at %s); stop it first", opts.Dir, st.PID, st.Address)
	}
	dynamicConfig := filepath.Join(opts.RepoRoot, DynamicConfigFile)
	if _, err := os.Stat(dynamicConfig); err != nil {
		return nil, fmt.Errorf("dynamic config: %w", err)
	}
	bins, err := EnsureBinaries(ctx, opts.RepoRoot, progress)
	if err != nil {
		return nil, err
	}
	if err := validateDynamicConfig(ctx, bins.Server, dynamicConfig, progress); err != nil {
		return nil, err
	}
	pgBin, err := FindPostgres(ctx, opts.Install, progress)
	if err != nil {
		return nil, err
	}
	// Throw-away: every start begins with an empty cluster and fresh logs.
	for _, name := range []string{"pgdata", "dedicated", "postgres.log", "temporal.log"} {
		if err := os.RemoveAll(filepath.Join(opts.Dir, name)); err != nil {
			return nil, fmt.Errorf("remove the previous cluster: %w", err)
		}
	}
	began := time.Now()
	step("starting PostgreSQL (%s) in %s…", pgBin, opts.Dir)
	pg, err := StartPostgres(ctx, pgBin, opts.Dir, opts.PostgresPort)
	if err != nil {
		return nil, err
	}
	c := &Cluster{pg: pg}
	defer func() {
		if err != nil {
			_ = c.stopProcesses()
		}
	}()
	step("PostgreSQL on 127.0.0.1:%d; creating %s and %s with temporal-sql-tool…", pg.Port, DBName, VisibilityDBName)
	for _, db := range []struct{ name, schema string }{{DBName, SchemaName}, {VisibilityDBName, VisibilitySchemaName}} {
		if err := setupSchema(ctx, bins.SQLTool, pg.Port, db.name, db.schema); err != nil {
			return nil, err
		}
	}
	for src, dst := range map[string]string{DBName: templateDB, VisibilityDBName: templateVisibilityDB} {
		if err := pg.Exec(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", dst, src)); err != nil {
			return nil, fmt.Errorf("create template database %s: %w", dst, err)
		}
	}
	step("starting the Temporal server %s (%d history shards, SQL visibility)…", bins.Version, NumHistoryShards)
	c.srv, err = StartServer(ctx, ServerOptions{
		Binary: bins.Server, PostgresPort: pg.Port, DynamicConfigPath: dynamicConfig,
		Port: opts.Port, LogPath: filepath.Join(opts.Dir, "temporal.log"),
	})
	if err != nil {
		return nil, err
	}
	c.State = State{
		PID: os.Getpid(), Address: c.srv.Address, Namespace: DefaultNamespace, ServerPID: c.srv.PID(),
		ServerVersion: bins.Version, ServerBinary: bins.Server, NumHistoryShards: NumHistoryShards,
		DynamicConfig: dynamicConfig, PostgresPort: pg.Port, PostgresBin: pgBin, Dir: opts.Dir,
	}
	if err := c.State.NewNamespace(ctx, DefaultNamespace, opts.SearchAttributes); err != nil {
		return nil, err
	}
	if err := writeState(c.State); err != nil {
		return nil, err
	}
	step("ready in %s", time.Since(began).Round(100*time.Millisecond))
	return c, nil
}

// Done is closed when the server or PostgreSQL exits on its own.
func (c *Cluster) Done() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		select {
		case <-c.srv.Done():
		case <-c.pg.done:
		}
		close(done)
	}()
	return done
}

// Stop stops the server and PostgreSQL, deletes the cluster's data and the
// state file; the logs stay in Dir.
func (c *Cluster) Stop() error {
	err := c.stopProcesses()
	_ = os.Remove(stateFile(c.State.Dir))
	if rmErr := os.RemoveAll(c.pg.DataDir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove the cluster's data: %w", rmErr))
	}
	return err
}

func (c *Cluster) stopProcesses() error {
	var err error
	if c.srv != nil {
		err = c.srv.Stop()
	}
	return errors.Join(err, c.pg.Stop())
}

// sqlTool runs temporal-sql-tool against the cluster.
func sqlTool(ctx context.Context, tool string, pgPort int, args ...string) error {
	full := append([]string{"--plugin", Plugin, "--ep", "127.0.0.1", "-p", strconv.Itoa(pgPort), "-u", User}, args...)
	out, err := exec.CommandContext(ctx, tool, full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("temporal-sql-tool %s: %w\n%s", strings.Join(full, " "), err, tail(string(out), 4<<10))
	}
	return nil
}

func setupSchema(ctx context.Context, tool string, pgPort int, db, schema string) error {
	for _, args := range SchemaSteps(db, schema) {
		if err := sqlTool(ctx, tool, pgPort, args...); err != nil {
			return err
		}
	}
	return nil
}

// validateDynamicConfig fails on errors the server finds in the file and
// passes its warnings on.
func validateDynamicConfig(ctx context.Context, server, path string, progress io.Writer) error {
	out, err := exec.CommandContext(ctx, server, "validate-dynamic-config", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("dynamic config %s is invalid: %w\n%s", path, err, strings.TrimSpace(string(out)))
	}
	if strings.Contains(string(out), "warning:") {
		fmt.Fprintf(progress, "%s", out)
	}
	return nil
}

func writeState(st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	tmp := stateFile(st.Dir) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := os.Rename(tmp, stateFile(st.Dir)); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return nil
}

// ErrNotRunning reports that no cluster runs in the directory.
var ErrNotRunning = errors.New("no PostgreSQL-backed Temporal runs there")

// ReadState returns the state of the cluster running in dir, or an error
// wrapping ErrNotRunning.
func ReadState(dir string) (State, error) {
	data, err := os.ReadFile(stateFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, fmt.Errorf("%s: %w (start it with scripts/temporal-postgres start)", dir, ErrNotRunning)
	}
	if err != nil {
		return State{}, fmt.Errorf("read cluster state: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("decode %s: %w", stateFile(dir), err)
	}
	if !alive(st.PID) || !alive(st.ServerPID) {
		return State{}, fmt.Errorf("%s: %w (stale state of pid %d)", dir, ErrNotRunning, st.PID)
	}
	return st, nil
}

// NewNamespace registers namespace on the cluster's server (unless it
// exists) with the search attributes attrs, and returns once both can be
// used.
func (st State) NewNamespace(ctx context.Context, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	c, err := Dial(ctx, st.Address, namespace)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := devserver.EnsureNamespace(ctx, c, namespace, namespaceRetention); err != nil {
		return err
	}
	if len(attrs) == 0 {
		return nil
	}
	if err := devserver.RegisterSearchAttributes(ctx, c, namespace, attrs); err != nil {
		return err
	}
	// The frontend lists the attributes once its namespace cache has them;
	// history hosts refresh theirs on the same period (2 s by default).
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2500 * time.Millisecond):
	}
	return nil
}
