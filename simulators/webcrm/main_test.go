package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/internal/testkit"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

var urlRe = regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)

// start runs the command until the test ends and returns its base URL.
func start(t *testing.T, args ...string) (string, *testkit.Buffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testkit.Buffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), stderr) }()
	var base string
	require.Eventually(t, func() bool {
		m := urlRe.FindStringSubmatch(stderr.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	}, 10*time.Second, 5*time.Millisecond, "no listening line in %q", stderr.String())
	stop := func() error {
		cancel()
		return <-errc
	}
	return base, stderr, stop
}

func login(t *testing.T, base, token string) int {
	t.Helper()
	resp, err := http.PostForm(base+"/Auth/ApiLogin", url.Values{"authCode": {token}})
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestDefaultTokenIsAnnounced(t *testing.T) {
	t.Setenv("WEBCRM_API_TOKEN", "")
	base, stderr, stop := start(t, "--seed-size", "3")
	require.Contains(t, stderr.String(), `using the default API token "dev-webcrm-token"`)
	require.Equal(t, 200, login(t, base, defaultToken))
	require.NoError(t, stop())
}

func TestTokenFromEnvAndPersistOnShutdown(t *testing.T) {
	t.Setenv("WEBCRM_API_TOKEN", "from-env")
	path := filepath.Join(t.TempDir(), "sim.json")
	base, stderr, stop := start(t, "--seed-size", "4", "--persist", path, "--persist-debounce", "1h", "--fault-429-requests", "1")
	require.NotContains(t, stderr.String(), "default API token")
	require.Equal(t, 429, login(t, base, "from-env"), "forced 429 from the flag")
	require.Equal(t, 200, login(t, base, "from-env"))
	require.Equal(t, 401, login(t, base, defaultToken))
	require.NoError(t, stop())
	raw, err := os.ReadFile(path)
	require.NoError(t, err, "Close flushed the store")
	var f struct {
		Entities map[string]struct{ Records []json.RawMessage }
	}
	require.NoError(t, json.Unmarshal(raw, &f))
	require.Len(t, f.Entities["Organisations"].Records, 4)
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	var stderr testkit.Buffer
	require.Error(t, run(context.Background(), []string{"--fault-5xx-rate", "2"}, &stderr))
	require.Error(t, run(context.Background(), []string{"--nope"}, &stderr))
	require.Error(t, run(context.Background(), []string{"--log-level", "loud"}, &stderr))
}

func TestHostileFlag(t *testing.T) {
	t.Setenv("WEBCRM_API_TOKEN", "")
	base, _, stop := start(t, "--seed-size", "2", "--hostile", "--fault-5xx-rate", "0.1")
	resp, err := http.Get(base + "/_sim/faults")
	require.NoError(t, err)
	var cfg webcrmsim.FaultConfig
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&cfg))
	resp.Body.Close()
	want := webcrmsim.HostileProfile()
	want.ServerErrorRate = 0.1
	want.MalformedKind = webcrmsim.MalformedHTML
	want.RetryAfterSeconds = 1
	require.Equal(t, want, cfg, "the profile plus the classic fault flags")
	require.NoError(t, stop())
}
