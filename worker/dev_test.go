package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/webcrm"
)

// TestDevStackAsAUserRunsIt drives `worker --dev` the way the README tells a
// newcomer to: start it, wait for the pairings, run a backfill and status
// through the starter CLI, stop it with Ctrl-C, start it again and find the
// data and links kept.
func TestDevStackAsAUserRunsIt(t *testing.T) {
	if _, err := devserver.EnsureCLI(context.Background(), devserver.EnsureOptions{Progress: os.Stderr}); err != nil {
		t.Fatalf("the Temporal dev server is needed: %v", err)
	}
	bin := t.TempDir()
	worker := build(t, bin, "worker", ".")
	starter := build(t, bin, "starter", "../starter")
	data := filepath.Join(t.TempDir(), "data")
	ports := freePorts(t, 7)
	args := []string{"--dev", "--data-dir", data, "--seed-size", "4", "--poll-interval", "2s",
		"--temporal-port", ports[0], "--ui-port", ports[1], "--webcrm-port", ports[2], "--erp-port", ports[3],
		"--metrics-addr", "127.0.0.1:" + ports[4], "--hooks-addr", "127.0.0.1:" + ports[5], "--codec-addr", "127.0.0.1:" + ports[6]}
	temporal := "127.0.0.1:" + ports[0]
	webcrmURL := "http://127.0.0.1:" + ports[2]

	// worker --dev keeps its payload encryption key in the data directory;
	// the starter reads histories with it, as the banner tells a user to.
	starterEnv := append(os.Environ(), "TANDEM_CODEC_KEYS_FILE="+filepath.Join(data, "codec.key"))
	first := startWorker(t, worker, args)
	current := first
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(starter, append(args, "--address", temporal)...)
		cmd.Env = starterEnv
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "starter %v:\n%s\nworker output:\n%s", args, out, current.log())
		return string(out)
	}
	require.Eventually(t, func() bool {
		cmd := exec.Command(starter, "status", "--json", "--address", temporal)
		cmd.Env = starterEnv
		out, err := cmd.Output()
		if err != nil {
			return false
		}
		var rows []map[string]any
		if json.Unmarshal(out, &rows) != nil || len(rows) != 6 {
			return false
		}
		for _, r := range rows {
			if fmt.Sprint(r["polls"]) == "0" {
				return false
			}
		}
		return true
	}, 2*time.Minute, time.Second, "the six pairings run and have polled")

	hooksFirst := devHooks(t, webcrmURL, "127.0.0.1:"+ports[5])

	out := run("backfill", "--pairing", "organisations", "--side", "webcrm")
	require.Contains(t, out, "organisations", "the backfill prints its summary")
	status := run("status")
	for _, p := range []string{"organisations", "persons", "users", "products", "opportunities", "quotationlines"} {
		require.Contains(t, status, p)
	}
	var orgs int
	require.Eventually(t, func() bool {
		orgs = countRecords(t, webcrmURL+"/_sim/records/Organisations")
		return orgs > 4
	}, time.Minute, 200*time.Millisecond, "the seeded ERP customers are created in webCRM too")
	links := run("links", "--pairing", "organisations")
	require.Contains(t, links, "link/organisations/")

	first.interrupt(t)

	second := startWorker(t, worker, args)
	current = second
	require.Equal(t, orgs, countRecords(t, webcrmURL+"/_sim/records/Organisations"), "the webCRM simulator kept its data")
	require.Contains(t, run("links", "--pairing", "organisations"), "link/organisations/", "the links survived the restart")
	require.Equal(t, hooksFirst, devHooks(t, webcrmURL, "127.0.0.1:"+ports[5]), "a second start keeps the hooks it registered, and adds none")
	second.interrupt(t)
}

// devHooks lists, per webCRM entity of the six pairings, the ids and events
// of the hooks in the simulator that target the worker's hooks endpoint at
// addr with the entity and the event in the URL, and requires a Delete, a
// Create and an Update hook for each, once each.
func devHooks(t *testing.T, webcrmURL, addr string) map[webcrm.Entity]map[string]int64 {
	t.Helper()
	wc, err := webcrm.New(webcrm.Config{BaseURL: webcrmURL, APIToken: devstack.DefaultWebCRMToken})
	require.NoError(t, err)
	out := map[webcrm.Entity]map[string]int64{}
	for _, e := range []webcrm.Entity{webcrm.Organisations, webcrm.Persons, webcrm.Users, webcrm.Products, webcrm.Opportunities, webcrm.QuotationLines} {
		list, err := wc.ListHooks(context.Background(), e)
		require.NoError(t, err, "list %s hooks", e)
		out[e] = map[string]int64{}
		for _, h := range list {
			u, err := url.Parse(h.TargetURL)
			require.NoError(t, err, "%s hook %d target", e, h.ID)
			if u.Host != addr || u.Path != "/hooks/webcrm" {
				continue
			}
			q := u.Query()
			require.Equal(t, string(e), q.Get("entity"), "%s hook %d names its entity", e, h.ID)
			require.Equal(t, h.EventType, q.Get("event"), "%s hook %d names its event", e, h.ID)
			require.NotEmpty(t, q.Get("secret"), "%s hook %d carries the secret", e, h.ID)
			require.True(t, h.IsEnabled, "%s hook %d is enabled", e, h.ID)
			_, dup := out[e][h.EventType]
			require.False(t, dup, "one %s %s hook, not two", e, h.EventType)
			out[e][h.EventType] = h.ID
		}
		for _, ev := range []string{"Create", "Update", "Delete"} {
			require.Contains(t, out[e], ev, "worker --dev registered a %s %s hook", e, ev)
		}
	}
	return out
}

// build compiles a main package into dir.
func build(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s:\n%s", pkg, b)
	return out
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		p, err := devserver.FreePort()
		require.NoError(t, err)
		s := strconv.Itoa(p)
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

type process struct {
	cmd    *exec.Cmd
	done   chan error
	mu     sync.Mutex
	output strings.Builder
}

// startWorker runs the worker and waits for its banner.
func startWorker(t *testing.T, bin string, args []string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	p.cmd.Stderr = &lockedWriter{p: p}
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.output.WriteString(line + "\n")
			p.mu.Unlock()
			if strings.Contains(line, "tandem is running") {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.done <- p.cmd.Wait() }()
	select {
	case <-ready:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("worker --dev exited before it was ready: %v\n%s", err, p.log())
	case <-time.After(3 * time.Minute):
		t.Fatalf("worker --dev not ready after 3 minutes:\n%s", p.log())
	}
	return p
}

// interrupt sends Ctrl-C and expects a clean exit.
func (p *process) interrupt(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-p.done:
		p.done <- err
		require.NoError(t, err, "worker --dev exits cleanly on Ctrl-C:\n%s", p.log())
	case <-time.After(time.Minute):
		t.Fatalf("worker --dev did not stop within a minute of Ctrl-C:\n%s", p.log())
	}
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.output.String()
	if len(s) > 8000 {
		s = s[len(s)-8000:]
	}
	return s
}

type lockedWriter struct{ p *process }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.output.Write(b)
}

func countRecords(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var recs []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&recs))
	return len(recs)
}

// TestBusyPortNamesTheFlag checks that a taken port is one clear line that
// names the flag to change, not a panic.
func TestBusyPortNamesTheFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ports := freePorts(t, 4)
	cmd := newCommand()
	var stderr strings.Builder
	cmd.SetErr(&stderr)
	cmd.SetOut(io.Discard)
	cmd.SetArgs([]string{"--dev", "--data-dir", t.TempDir(), "--webcrm-port", busy,
		"--temporal-port", ports[0], "--ui-port", ports[1], "--erp-port", ports[2], "--metrics-addr", "127.0.0.1:" + ports[3]})
	err = cmd.Execute()
	require.Error(t, err)
	require.Contains(t, err.Error(), "--webcrm-port")
	require.Contains(t, err.Error(), "already in use")
}
