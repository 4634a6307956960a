package devserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

const (
	// CLIVersion is the Temporal CLI release whose dev server tandem runs.
	CLIVersion = "v1.5.1"
	// CLIPackage is the main package built by EnsureCLI.
	CLIPackage = "github.com/temporalio/cli/cmd/temporal"
	// EnvCLI names the environment variable that points EnsureCLI at an
	// existing `temporal` binary, skipping the cache and the build.
	EnvCLI = "TANDEM_TEMPORAL_CLI"

	defaultProgressInterval = 10 * time.Second
	lockPollInterval        = 250 * time.Millisecond
	buildTailBytes          = 8 << 10
)

// EnsureOptions tunes EnsureCLI. The zero value is ready to use.
type EnsureOptions struct {
	// Progress receives a line about every ProgressInterval while the CLI
	// is being built (or while another process builds it). Nil means silent.
	Progress io.Writer
	// ProgressInterval defaults to 10 s.
	ProgressInterval time.Duration
	// CacheDir is the directory holding the binary. Default:
	// <os.UserCacheDir()>/tandem/temporal-cli-v1.5.1.
	CacheDir string
	// GoCommand is the go tool used to build. Default: "go" from PATH.
	GoCommand string
}

// buildSpec names what EnsureCLI builds; tests swap it for a tiny module.
type buildSpec struct {
	pkg     string // main package path
	version string // module version
	binary  string // name of the produced executable
	what    string // human description for progress lines
}

var cliSpec = buildSpec{
	pkg:     CLIPackage,
	version: CLIVersion,
	binary:  "temporal",
	what:    "the Temporal dev server (first run only, about 5 minutes)",
}

// DefaultCacheDir returns the directory where EnsureCLI keeps the CLI.
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate user cache directory for the Temporal CLI: %w", err)
	}
	return filepath.Join(base, "tandem", "temporal-cli-"+CLIVersion), nil
}

// EnsureCLI returns the path of a `temporal` binary of CLI v1.5.1. It uses,
// in order: the file named by $TANDEM_TEMPORAL_CLI; the cached binary in
// opts.CacheDir; a fresh `go install` of the CLI into that directory. A lock
// file makes concurrent callers (parallel test binaries) wait for a single
// build instead of starting their own.
func EnsureCLI(ctx context.Context, opts EnsureOptions) (string, error) {
	if p := os.Getenv(EnvCLI); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("%s=%q does not name a usable Temporal CLI: %w", EnvCLI, p, err)
		}
		return p, nil
	}
	if opts.CacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return "", err
		}
		opts.CacheDir = dir
	}
	return ensureBuilt(ctx, opts, cliSpec)
}

// checkExecutable reports why path is not an executable regular file.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", path)
	}
	return nil
}

func binaryName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

// ensureBuilt returns opts.CacheDir/<binary>, building it under the lock if
// it is missing.
func ensureBuilt(ctx context.Context, opts EnsureOptions, spec buildSpec) (string, error) {
	target := filepath.Join(opts.CacheDir, binaryName(spec.binary))
	if checkExecutable(target) == nil {
		return target, nil
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache directory %s for %s: %w", opts.CacheDir, spec.pkg, err)
	}
	interval := opts.ProgressInterval
	if interval <= 0 {
		interval = defaultProgressInterval
	}
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}

	lockPath := filepath.Join(opts.CacheDir, ".build.lock")
	lf, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("open build lock %s: %w", lockPath, err)
	}
	defer lf.Close()
	if err := waitLock(ctx, lf, progress, interval, spec); err != nil {
		return "", fmt.Errorf("take build lock %s: %w", lockPath, err)
	}
	defer func() { _ = unlock(lf) }()

	// Another process may have finished the build while we waited.
	if checkExecutable(target) == nil {
		return target, nil
	}
	if err := build(ctx, opts, spec, target, progress, interval); err != nil {
		return "", err
	}
	return target, nil
}

// waitLock polls for the lock so that ctx cancellation is honoured and the
// user sees that another process is building.
func waitLock(ctx context.Context, f *os.File, progress io.Writer, interval time.Duration, spec buildSpec) error {
	start := time.Now()
	lastReport := start
	for {
		ok, err := tryLock(f)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Since(lastReport) >= interval {
			lastReport = time.Now()
			fmt.Fprintf(progress, "waiting for another process building %s… %s\n", spec.what, time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(lockPollInterval):
		}
	}
}

// build runs `go install pkg@version` with GOBIN in a temporary directory
// inside the cache directory and renames the result into place, so a
// half-written binary is never visible at target.
func build(ctx context.Context, opts EnsureOptions, spec buildSpec, target string, progress io.Writer, interval time.Duration) error {
	tmp, err := os.MkdirTemp(opts.CacheDir, "build-")
	if err != nil {
		return fmt.Errorf("create build directory in %s: %w", opts.CacheDir, err)
	}
	defer os.RemoveAll(tmp)

	goCmd := opts.GoCommand
	if goCmd == "" {
		goCmd = "go"
	}
	ref := spec.pkg + "@" + spec.version
	cmd := exec.CommandContext(ctx, goCmd, "install", ref)
	cmd.Dir = tmp // outside any module, so our go.mod is never involved
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "GOWORK=off")
	out := newTailBuffer(buildTailBytes)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 5 * time.Second

	start := time.Now()
	fmt.Fprintf(progress, "building %s…\n", spec.what)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start `%s install %s`: %w", goCmd, ref, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var runErr error
loop:
	for {
		select {
		case runErr = <-done:
			break loop
		case <-ticker.C:
			fmt.Fprintf(progress, "building %s… %s\n", spec.what, time.Since(start).Round(time.Second))
		}
	}
	if runErr != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			runErr = fmt.Errorf("%w (%w)", runErr, ctxErr)
		}
		return fmt.Errorf("`%s install %s` failed after %s: %w\n--- go output (tail) ---\n%s",
			goCmd, ref, time.Since(start).Round(time.Second), runErr, strings.TrimSpace(out.String()))
	}
	built := filepath.Join(tmp, binaryName(spec.binary))
	if err := checkExecutable(built); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("`%s install %s` succeeded but produced no %s: %w", goCmd, ref, binaryName(spec.binary), err)
		}
		return fmt.Errorf("built %s is unusable: %w", ref, err)
	}
	if err := os.Rename(built, target); err != nil {
		return fmt.Errorf("move built %s to %s: %w", ref, target, err)
	}
	fmt.Fprintf(progress, "built %s in %s: %s\n", spec.what, time.Since(start).Round(time.Second), target)
	return nil
}
