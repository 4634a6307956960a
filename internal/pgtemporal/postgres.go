package pgtemporal

import (
	"context"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Postgres is a throw-away PostgreSQL cluster this process runs: trust
// authentication on 127.0.0.1 only, the role User as its superuser.
type Postgres struct {
	BinDir  string
	DataDir string
	Port    int

	user dbUser
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit status, read after done
}

// FindPostgres returns the directory of PostgreSQL's server programs
// (initdb, postgres, psql): that of initdb on PATH, else the newest
// /usr/lib/postgresql/<major>/bin. With install set and no PostgreSQL
// found, it installs Debian's package first (apt-get, as root only).
func FindPostgres(ctx context.Context, install bool, progress io.Writer) (string, error) {
	dir, err := findPostgres()
	if err == nil || !install {
		return dir, err
	}
	if !isRoot() {
		return "", fmt.Errorf("%w; install it (Debian: sudo apt-get install -y postgresql)", err)
	}
	fmt.Fprintln(progress, "PostgreSQL not found: installing Debian's postgresql package…")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, tail(string(out), 4<<10))
		}
	}
	return findPostgres()
}

func findPostgres() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(matches, func(a, b string) int { return majorOf(b) - majorOf(a) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	return "", errors.New("PostgreSQL server programs not found (no initdb on PATH or in /usr/lib/postgresql/*/bin)")
}

// majorOf reads the major version out of /usr/lib/postgresql/<major>/bin/initdb.
func majorOf(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// StartPostgres initialises a cluster in dir/pgdata (dir is created; an
// existing cluster there is reused) and starts it on port (0: a free one).
// The server's output goes to dir/postgres.log. Stop stops it.
func StartPostgres(ctx context.Context, binDir, dir string, port int) (*Postgres, error) {
	u, err := lookupDBUser()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	// The postgres user must reach dir/pgdata when dir lies in a private tree.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open %s to the database user: %w", dir, err)
	}
	p := &Postgres{BinDir: binDir, DataDir: filepath.Join(dir, "pgdata"), user: u, done: make(chan struct{})}
	if _, err := os.Stat(filepath.Join(p.DataDir, "PG_VERSION")); err != nil {
		if err := p.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	p.Port = port
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", logPath, err)
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"),
		"-D", p.DataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+p.DataDir,
		// Each Temporal server keeps pools per service and store; tests
		// run several servers on one cluster.
		"-c", "max_connections=500",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.WaitDelay = 5 * time.Second
	u.configure(cmd)
	detachGroup(cmd, syscall.SIGINT) // SIGINT: PostgreSQL's fast shutdown
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	if err := p.waitReady(ctx, 60*time.Second); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("PostgreSQL on port %d did not start (see %s): %w", port, logPath, err)
	}
	return p, nil
}

func (p *Postgres) initdb(ctx context.Context) error {
	if err := os.MkdirAll(p.DataDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", p.DataDir, err)
	}
	if err := p.user.own(p.DataDir); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.BinDir, "initdb"),
		"-D", p.DataDir, "-U", User, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	p.user.configure(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", p.DataDir, err, tail(string(out), 4<<10))
	}
	return nil
}

// waitReady polls until the cluster accepts queries.
func (p *Postgres) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited: %v", p.err)
		default:
		}
		if last = p.Exec(ctx, "postgres", "SELECT 1"); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-p.done:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Exec runs one SQL statement in database db with psql.
func (p *Postgres) Exec(ctx context.Context, db, sql string) error {
	return psql(ctx, p.BinDir, p.Port, db, sql)
}

func psql(ctx context.Context, binDir string, port int, db, sql string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "psql"),
		"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", User, "-d", db, "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql %q: %w: %s", sql, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop shuts the cluster down (fast shutdown, then SIGKILL after 30 s). Its
// data directory stays.
func (p *Postgres) Stop() error {
	if p.cmd == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = signalGroup(p.cmd, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("PostgreSQL (pid %d) did not stop within 30 s of SIGINT: killed", p.cmd.Process.Pid)
}

// lowFreePort returns a free TCP port on 127.0.0.1 below 32768: the server
// stores its membership ports in a SMALLINT column, and the kernel's own
// picks lie above that.
func lowFreePort() (int, error) {
	var last error
	for range 100 {
		port := 20000 + mathrand.IntN(32767-20000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			_ = l.Close()
			return port, nil
		}
		last = err
	}
	return 0, fmt.Errorf("find a free port on 127.0.0.1 below 32768: %w", last)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
