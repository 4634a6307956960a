package devserver

import (
	"archive/zip"
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/internal/testkit"
)

func TestEnsureCLIHonoursEnvVariable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	missing := filepath.Join(dir, "no-such-temporal")
	t.Setenv(EnvCLI, missing)
	_, err := EnsureCLI(ctx, EnsureOptions{CacheDir: filepath.Join(dir, "cache")})
	require.Error(t, err)
	require.Contains(t, err.Error(), EnvCLI)
	require.Contains(t, err.Error(), missing)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoDirExists(t, filepath.Join(dir, "cache"), "must not fall back to building")

	notExec := filepath.Join(dir, "plain-file")
	require.NoError(t, os.WriteFile(notExec, []byte("x"), 0o644))
	t.Setenv(EnvCLI, notExec)
	_, err = EnsureCLI(ctx, EnsureOptions{})
	require.ErrorContains(t, err, "not executable")

	exe := filepath.Join(dir, "temporal")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	t.Setenv(EnvCLI, exe)
	got, err := EnsureCLI(ctx, EnsureOptions{})
	require.NoError(t, err)
	require.Equal(t, exe, got)
}

func TestEnsureCLIUsesCachedBinary(t *testing.T) {
	t.Setenv(EnvCLI, "")
	cache := t.TempDir()
	exe := filepath.Join(cache, "temporal")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	var progress bytes.Buffer
	got, err := EnsureCLI(context.Background(), EnsureOptions{CacheDir: cache, Progress: &progress, GoCommand: "/nonexistent/go"})
	require.NoError(t, err)
	require.Equal(t, exe, got)
	require.Empty(t, progress.String(), "a cached binary needs no build")
}

// offlineProxy writes a one-module GOPROXY directory serving
// example.com/tandemhello v1.0.0, a main package printing "hello", and
// points the go command at it without network or checksum database.
func offlineProxy(t *testing.T) {
	t.Helper()
	const mod, ver = "example.com/tandemhello", "v1.0.0"
	proxy := t.TempDir()
	vdir := filepath.Join(proxy, filepath.FromSlash(mod), "@v")
	require.NoError(t, os.MkdirAll(vdir, 0o755))
	gomod := "module " + mod + "\n\ngo 1.21\n"
	main := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"
	require.NoError(t, os.WriteFile(filepath.Join(vdir, "list"), []byte(ver+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(vdir, ver+".info"), []byte(`{"Version":"`+ver+`","Time":"2024-01-01T00:00:00Z"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(vdir, ver+".mod"), []byte(gomod), 0o644))
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for name, body := range map[string]string{"go.mod": gomod, "main.go": main} {
		f, err := zw.Create(mod + "@" + ver + "/" + name)
		require.NoError(t, err)
		_, err = f.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(vdir, ver+".zip"), zbuf.Bytes(), 0o644))

	modcache := t.TempDir()
	t.Cleanup(func() { // the module cache is read-only; make it removable
		_ = filepath.WalkDir(modcache, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(proxy))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOMODCACHE", modcache)
	t.Setenv("GOTOOLCHAIN", "local")
}

var helloSpec = buildSpec{pkg: "example.com/tandemhello", version: "v1.0.0", binary: "tandemhello", what: "the test tool"}

func TestEnsureBuildsOnceUnderLock(t *testing.T) {
	offlineProxy(t)
	cache := filepath.Join(t.TempDir(), "cache")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Two concurrent callers share one build: each opens its own lock file
	// descriptor, just as two test binaries would.
	var progress testkit.Buffer
	opts := EnsureOptions{CacheDir: cache, Progress: &progress, ProgressInterval: 20 * time.Millisecond}
	paths := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Go(func() { paths[i], errs[i] = ensureBuilt(ctx, opts, helloSpec) })
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, filepath.Join(cache, "tandemhello"), paths[0])
	require.Equal(t, paths[0], paths[1])
	require.Equal(t, 1, strings.Count(progress.String(), "built the test tool"), "progress:\n%s", progress.String())

	out, err := exec.Command(paths[0]).Output()
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(out))

	entries, err := os.ReadDir(cache)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasPrefix(e.Name(), "build-"), "temporary build directory %s left behind", e.Name())
	}
}

func TestEnsureBuildFailureQuotesGoOutput(t *testing.T) {
	offlineProxy(t)
	spec := helloSpec
	spec.version = "v9.9.9"
	_, err := ensureBuilt(context.Background(), EnsureOptions{CacheDir: t.TempDir()}, spec)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "install example.com/tandemhello@v9.9.9")
	require.Contains(t, msg, "--- go output (tail) ---")
	// The go command's own explanation is quoted after the marker.
	tail := msg[strings.Index(msg, "--- go output (tail) ---"):]
	require.Contains(t, tail, "v9.9.9")
}
