package webcrm

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemsync/tandem/internal/testkit"
)

// testAppToken is the application token all tests use; tests assert it never leaks.
const testAppToken = "app-token-3f1c9a7e-5d2b-4c1e-9a0f-7b6d5e4c3b2a"

// fakeAuth is a small real HTTP server implementing webCRM's login endpoints plus
// whatever data handlers a test registers. It hands out access tokens "access-<n>".
type fakeAuth struct {
	t        *testing.T
	srv      *httptest.Server
	mux      *http.ServeMux
	logins   atomic.Int32
	refreshs atomic.Int32
	// expiresIn is the ExpiresIn the login answers with (seconds).
	expiresIn  atomic.Int64
	giveRefr   atomic.Bool
	loginDelay time.Duration
	mu         sync.Mutex
	valid      map[string]bool
}

func newFakeAuth(t *testing.T) *fakeAuth {
	f := &fakeAuth{t: t, mux: http.NewServeMux(), valid: map[string]bool{}}
	f.expiresIn.Store(3600)
	f.mux.HandleFunc("POST /Auth/ApiLogin", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("authCode") != testAppToken {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"IsError":true,"Error":"invalid_grant","ErrorDescription":"unknown application token"}`))
			return
		}
		time.Sleep(f.loginDelay)
		n := f.logins.Add(1)
		f.issue(w, fmt.Sprintf("access-%d-%s", n, strings.Repeat("x", 16)), fmt.Sprintf("refresh-%d-yyyyyyyy", n))
	})
	f.mux.HandleFunc("POST /Auth/ApiRefresh", func(w http.ResponseWriter, r *http.Request) {
		rt := r.Header.Get("refreshToken")
		if !strings.HasPrefix(rt, "refresh-") {
			http.Error(w, "bad refresh token", http.StatusUnauthorized)
			return
		}
		n := f.refreshs.Add(1)
		f.issue(w, fmt.Sprintf("access-r%d-%s", n, strings.Repeat("z", 16)), fmt.Sprintf("refresh-r%d-yyyyyyyy", n))
	})
	f.srv = httptest.NewServer(f.mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAuth) issue(w http.ResponseWriter, access, refresh string) {
	f.mu.Lock()
	f.valid[access] = true
	f.mu.Unlock()
	tr := map[string]any{"AccessToken": access, "ExpiresIn": f.expiresIn.Load(), "TokenType": "Bearer", "IsError": false}
	if f.giveRefr.Load() {
		tr["RefreshToken"] = refresh
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(tr)
}

// revoke makes every token issued so far invalid.
func (f *fakeAuth) revoke() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

// authorized checks the bearer token and answers 401 if it is not valid.
func (f *fakeAuth) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	good := ok && f.valid[tok]
	f.mu.Unlock()
	if !good {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"Message":"Authorization has been denied for this request."}`))
	}
	return good
}

// handle registers an authorized data handler.
func (f *fakeAuth) handle(pattern string, h http.HandlerFunc) {
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if f.authorized(w, r) {
			h(w, r)
		}
	})
}

// testConfig is a fast configuration: tiny backoff, no limiter, short timeout.
func testConfig(baseURL string, logs *testkit.Buffer) Config {
	cfg := Config{
		BaseURL:           baseURL,
		APIToken:          testAppToken,
		RequestsPerMinute: -1,
		Timeout:           5 * time.Second,
		RetryMax:          3,
		RetryWaitMin:      time.Millisecond,
		RetryWaitMax:      5 * time.Millisecond,
	}
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// assertNoSecrets fails if s contains the application token or an access/refresh token.
func assertNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{testAppToken, "access-", "refresh-"} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contains a secret (%q): %s", what, secret, s)
		}
	}
}
