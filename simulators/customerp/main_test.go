package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/internal/testkit"
)

// childEnv marks a re-executed test binary that runs the server instead of the tests.
const childEnv = "CUSTOMERP_SIM_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		// The arguments after the binary name are the server's flags.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// child is the server running as a separate process.
type child struct {
	cmd *exec.Cmd
	url string
	out *bytes.Buffer
}

// startChild runs this test binary as the server with args and waits for its address.
func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &testkit.Buffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, out: &bytes.Buffer{}}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for c.url == "" {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "the server exited: %s", stderr.String())
			c.out.WriteString(line + "\n")
			if rest, found := strings.CutPrefix(line, "customerp: listening on "); found {
				c.url = strings.Fields(rest)[0]
			}
		case <-deadline:
			t.Fatalf("the server did not start: %s", stderr.String())
		}
	}
	go func() {
		for line := range lines {
			_ = line // keep draining so the child never blocks on stdout
		}
	}()
	return c
}

// TestAcknowledgedWritesSurviveKill9: writes the server acknowledged are all there after the
// process is killed with SIGKILL in the middle of more writes and started again on the same
// database.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "sub", "customerp.db")
	env := []string{"CUSTOMERP_API_KEY=crash-key"}
	ch := startChild(t, env, "--addr", "127.0.0.1:0", "--db", db, "--seed-size", "0")
	assert.Contains(t, ch.out.String(), "API key from CUSTOMERP_API_KEY")
	assert.NotContains(t, ch.out.String(), "crash-key", "the key is not printed")
	c, err := customerp.New(customerp.Config{BaseURL: ch.url, APIKey: "crash-key", RetryMax: -1, Timeout: 5 * time.Second})
	require.NoError(t, err)
	ctx := context.Background()

	var mu sync.Mutex
	acked := map[string]int64{} // id -> last acknowledged version
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rec, err := c.Create(ctx, customerp.Customers, customerp.Record{"name": fmt.Sprintf("W%d-%d", w, i)}, fmt.Sprintf("w%d-%d", w, i))
				if err != nil {
					return // the server is gone
				}
				id, _ := rec.ID()
				mu.Lock()
				acked[id] = 1
				mu.Unlock()
				rec["phone"] = "+45 11 22 33 44"
				upd, err := c.Update(ctx, customerp.Customers, id, rec, 1)
				if err != nil {
					return
				}
				v, _ := upd.Version()
				mu.Lock()
				acked[id] = v
				mu.Unlock()
			}
		}()
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200
	}, 60*time.Second, 5*time.Millisecond)
	require.NoError(t, ch.cmd.Process.Kill()) // SIGKILL, writes still in flight
	_ = ch.cmd.Wait()
	close(stop)
	wg.Wait()

	ch2 := startChild(t, env, "--addr", "127.0.0.1:0", "--db", db, "--seed-size", "0")
	c2, err := customerp.New(customerp.Config{BaseURL: ch2.url, APIKey: "crash-key", RetryMax: -1})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	for id, v := range acked {
		rec, err := c2.Get(ctx, customerp.Customers, id)
		require.NoError(t, err, "acknowledged %s lost", id)
		got, _ := rec.Version()
		require.GreaterOrEqual(t, got, v, "acknowledged version of %s lost", id)
		require.LessOrEqual(t, got, v+1, "at most the one unacknowledged write in flight")
	}
	chs, _, err := c2.Changes(ctx, customerp.Customers, "", 1000)
	require.NoError(t, err)
	inFeed := map[string]int64{}
	for _, ch := range chs {
		inFeed[ch.ID] = ch.Version
	}
	for id, v := range acked {
		require.GreaterOrEqual(t, inFeed[id], v, "the feed has every acknowledged change of %s", id)
	}
	require.NoError(t, ch2.cmd.Process.Signal(os.Interrupt))
	require.NoError(t, ch2.cmd.Wait(), "a graceful stop exits 0")
}

// TestRunFlagsAndDefaults: the default key is printed, bad flags exit 2, and cancelling the
// context stops the server.
func TestRunFlagsAndDefaults(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	assert.Equal(t, 2, run(context.Background(), []string{"--no-such-flag"}, io.Discard, &stderr, func(string) string { return "" }))
	assert.Equal(t, 2, run(context.Background(), []string{"--log-level", "loud"}, io.Discard, &stderr, func(string) string { return "" }))
	assert.Equal(t, 1, run(context.Background(), []string{"--db", "", "--fault-error-rate", "2"}, io.Discard, &stderr, func(string) string { return "" }))

	ctx, cancel := context.WithCancel(context.Background())
	out := &testkit.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--db", "", "--seed-size", "3"}, out, io.Discard, func(string) string { return "" })
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "listening on") }, 30*time.Second, 5*time.Millisecond)
	assert.Contains(t, out.String(), `API key "`+DevAPIKey+`"`)
	url := strings.Fields(strings.SplitN(out.String(), "listening on ", 2)[1])[0]
	c, err := customerp.New(customerp.Config{BaseURL: url, APIKey: DevAPIKey, RetryMax: -1})
	require.NoError(t, err)
	recs, _, err := c.List(context.Background(), customerp.Customers, "", 10)
	require.NoError(t, err)
	assert.Len(t, recs, 3, "--seed-size customers")
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop")
	}
}
