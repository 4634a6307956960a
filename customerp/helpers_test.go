package customerp_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/customerp/contracttest"
	"github.com/tandemsync/tandem/internal/testkit"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

const testKey = "test-key-0123456789-secret"

// env is a real reference server on 127.0.0.1 and a real client talking to it through the
// contract-validating transport.
type env struct {
	srv  *erpsim.Server
	hs   *httptest.Server
	ct   *contracttest.Transport
	c    *customerp.Client
	logs *testkit.Buffer
	// lax skips the end-of-test contract check (for tests that inject malformed answers).
	lax bool
}

type envOption func(*erpsim.Options, *customerp.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	so := erpsim.Options{APIKey: testKey}
	logs := &testkit.Buffer{}
	cfg := customerp.Config{APIKey: testKey, Timeout: 10 * time.Second, RetryMax: 3,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(&so, &cfg)
	}
	srv, err := erpsim.New(so)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	ct, err := contracttest.New(http.DefaultTransport)
	require.NoError(t, err)
	cfg.BaseURL = hs.URL
	if cfg.Transport == nil {
		cfg.Transport = ct
	}
	c, err := customerp.New(cfg)
	require.NoError(t, err)
	e := &env{srv: srv, hs: hs, ct: ct, c: c, logs: logs}
	t.Cleanup(func() {
		hs.Close()
		require.NoError(t, srv.Close())
		if !e.lax {
			require.Empty(t, ct.RequestViolations(), "requests that break openapi.yaml")
			require.Empty(t, ct.ResponseViolations(), "responses that break openapi.yaml")
		}
	})
	return e
}
