package pgtemporal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Binaries are the executables built from ToolsModule.
type Binaries struct {
	Server  string // temporal-server
	SQLTool string // temporal-sql-tool
	Version string // of ServerModule
}

const progressInterval = 10 * time.Second

// EnsureBinaries returns temporal-server and temporal-sql-tool built from the
// tools module under root, building them into the user cache directory on
// first use (about five minutes on two cores; a line goes to progress every
// ten seconds). The cache entry is named after the pinned version and the
// module's go.mod and go.sum, so changing either builds anew. A lock file
// makes concurrent callers wait for one build.
func EnsureBinaries(ctx context.Context, root string, progress io.Writer) (Binaries, error) {
	if progress == nil {
		progress = io.Discard
	}
	version, err := ServerVersion(root)
	if err != nil {
		return Binaries{}, err
	}
	modDir := filepath.Join(root, ToolsModule)
	key, err := moduleKey(modDir)
	if err != nil {
		return Binaries{}, err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return Binaries{}, fmt.Errorf("locate the user cache directory for the Temporal server: %w", err)
	}
	dir := filepath.Join(base, "tandem", "temporal-server-"+version+"-"+key)
	bins := Binaries{Server: filepath.Join(dir, "temporal-server"), SQLTool: filepath.Join(dir, "temporal-sql-tool"), Version: version}
	if bins.built() {
		return bins, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("create %s: %w", dir, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, ".build.lock"), func(waited time.Duration) {
		fmt.Fprintf(progress, "waiting for another process building the Temporal server %s… %s\n", version, waited.Round(time.Second))
	})
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()
	if bins.built() { // built while we waited
		return bins, nil
	}
	if err := build(ctx, modDir, dir, version, progress); err != nil {
		return Binaries{}, err
	}
	return bins, nil
}

func (b Binaries) built() bool {
	for _, p := range []string{b.Server, b.SQLTool} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// moduleKey is a short hash of the tools module's go.mod and go.sum.
func moduleKey(modDir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(modDir, name))
		if err != nil {
			return "", fmt.Errorf("read the Temporal server module: %w", err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// build compiles both main packages into a temporary directory beside the
// target and renames them into place, so no half-written binary is seen.
func build(ctx context.Context, modDir, dir, version string, progress io.Writer) error {
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return fmt.Errorf("create a build directory in %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	pkgs := []string{ServerModule + "/cmd/server", ServerModule + "/cmd/tools/sql"}
	args := append([]string{"build", "-mod=readonly", "-ldflags=-s -w", "-o", tmp + string(os.PathSeparator)}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	fmt.Fprintf(progress, "building the Temporal server %s and its schema tool (first run only, about 5 minutes)…\n", version)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start `go build` of the Temporal server: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("build the Temporal server %s in %s (after %s): %w\n%s", version, modDir, time.Since(start).Round(time.Second), err, tail(out.String(), 8<<10))
			}
			for src, dst := range map[string]string{"server": "temporal-server", "sql": "temporal-sql-tool"} {
				if err := os.Rename(filepath.Join(tmp, src), filepath.Join(dir, dst)); err != nil {
					return fmt.Errorf("install the built %s: %w", dst, err)
				}
			}
			fmt.Fprintf(progress, "built the Temporal server %s in %s: %s\n", version, time.Since(start).Round(time.Second), dir)
			return nil
		case <-tick.C:
			fmt.Fprintf(progress, "building the Temporal server %s… %s\n", version, time.Since(start).Round(time.Second))
		}
	}
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
