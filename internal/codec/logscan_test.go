package codec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/internal/testkit"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/webcrm"
)

// tokenRecorder is the client's transport: it passes every request to the
// real network and notes every access and refresh token that crosses it.
type tokenRecorder struct {
	next   http.RoundTripper
	mu     sync.Mutex
	tokens map[string]bool
	logins int
}

func (r *tokenRecorder) add(tokens ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range tokens {
		if t != "" {
			r.tokens[t] = true
		}
	}
}

func (r *tokenRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		r.add(tok)
	}
	r.add(req.Header.Get("refreshToken"))
	resp, err := r.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/Auth/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var tr struct{ AccessToken, RefreshToken string }
	if json.Unmarshal(body, &tr) == nil && tr.AccessToken != "" {
		r.add(tr.AccessToken, tr.RefreshToken)
		r.mu.Lock()
		r.logins++
		r.mu.Unlock()
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (r *tokenRecorder) seen() (tokens []string, logins int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t := range r.tokens {
		tokens = append(tokens, t)
	}
	return tokens, r.logins
}

// simClock is the simulator's clock, moved by the test.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestWebCRMClientLogsNoSecrets(t *testing.T) {
	t.Parallel()
	apiToken := "api-token-" + randomHex(t)
	wrongToken := "wrong-api-token-" + randomHex(t)
	clock := &simClock{now: time.Now()}
	var simLog, clientLog testkit.Buffer
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	sim, err := webcrmsim.New(webcrmsim.Options{
		APIToken: apiToken, TokenTTL: time.Hour, RateLimitPerMinute: -1,
		Seed: 7, SeedSize: 3, Now: clock.Now,
		Logger: slog.New(slog.NewJSONHandler(&simLog, debug)),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})

	rec := &tokenRecorder{next: http.DefaultTransport, tokens: map[string]bool{}}
	newClient := func(token string) *webcrm.Client {
		c, err := webcrm.New(webcrm.Config{
			BaseURL: srv.URL, APIToken: token, RequestsPerMinute: -1,
			RetryMax: 1, RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond,
			Logger:    slog.New(slog.NewJSONHandler(&clientLog, debug)),
			Transport: rec,
		})
		require.NoError(t, err)
		return c
	}
	c := newClient(apiToken)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error

	// Login.
	orgs, err := c.List(ctx, webcrm.Organisations, 1, 10)
	require.NoError(t, err)
	require.NotEmpty(t, orgs)
	id, err := orgs[0].ID(webcrm.Organisations)
	require.NoError(t, err)

	// The simulator's clock jumps past the token's lifetime: the next call
	// meets a 401 and the client logs in again.
	clock.Advance(2 * time.Hour)
	_, err = c.Get(ctx, webcrm.Organisations, id)
	require.NoError(t, err)
	_, logins := rec.seen()
	require.GreaterOrEqual(t, logins, 2, "a second login after the 401")

	// A 429.
	require.NoError(t, sim.Faults().Force429(1, 0, 1))
	_, err = c.Get(ctx, webcrm.Organisations, id)
	var rl *webcrm.RateLimitError
	require.ErrorAs(t, err, &rl)
	errs = append(errs, err)

	// Failing requests: a missing record, server errors after retries, an HTML page.
	_, err = c.Get(ctx, webcrm.Organisations, 987654321)
	require.True(t, webcrm.IsNotFound(err), "%v", err)
	errs = append(errs, err)
	require.NoError(t, sim.Faults().SetServerErrorRate(1))
	_, err = c.List(ctx, webcrm.Persons, 1, 5)
	require.True(t, webcrm.IsServer(err), "%v", err)
	errs = append(errs, err)
	require.NoError(t, sim.Faults().SetServerErrorRate(0))
	require.NoError(t, sim.Faults().SetMalformed(1, webcrmsim.MalformedHTML))
	_, err = c.Get(ctx, webcrm.Organisations, id)
	require.True(t, webcrm.IsMalformed(err), "%v", err)
	errs = append(errs, err)
	sim.Faults().Clear()

	// A login with the wrong API token.
	_, err = newClient(wrongToken).List(ctx, webcrm.Organisations, 1, 1)
	require.True(t, webcrm.IsUnauthorized(err), "%v", err)
	errs = append(errs, err)

	tokens, _ := rec.seen()
	require.GreaterOrEqual(t, len(tokens), 3, "access and refresh tokens of two logins")
	secrets := append([]string{apiToken, wrongToken}, tokens...)

	logs := clientLog.String()
	// The scan means something only if debug logging covered the calls.
	for _, want := range []string{`"msg":"webcrm request"`, "access token rejected", "rate limited", `"level":"DEBUG"`} {
		require.Contains(t, logs, want)
	}
	for _, s := range secrets {
		require.NotContains(t, logs, s, "client log")
		require.NotContains(t, simLog.String(), s, "simulator log")
		for _, e := range errs {
			require.NotContains(t, e.Error(), s)
			require.NotContains(t, fmt.Sprintf("%+v", e), s)
		}
	}
}
