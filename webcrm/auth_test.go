package webcrm

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/internal/testkit"
)

// fakeClock is a manually advanced clock for token expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
}

// newClockedClient is a fake login server serving one organisation and a client whose
// token clock is a fakeClock.
func newClockedClient(t *testing.T, withRefresh bool) (*fakeAuth, *Client, *fakeClock) {
	f := newFakeAuth(t)
	f.giveRefr.Store(withRefresh)
	f.handle("GET /Organisations/{id}", orgHandler)
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	clock := newFakeClock()
	c.auth.now = clock.Now
	return f, c, clock
}

func orgHandler(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"OrganisationId": 1, "OrganisationName": "Acme"})
}

func TestConcurrentCallersShareOneLogin(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	f.loginDelay = 50 * time.Millisecond
	f.handle("GET /Organisations/{id}", orgHandler)
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			_, err := c.Get(context.Background(), Organisations, 1)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), f.logins.Load())
}

func TestReloginOnceOn401(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	var hits atomic.Int32
	f.handle("GET /Organisations/{id}", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		orgHandler(w, r)
	})
	logs := &testkit.Buffer{}
	c := newTestClient(t, testConfig(f.srv.URL, logs))
	ctx := context.Background()
	_, err := c.Get(ctx, Organisations, 1)
	require.NoError(t, err)
	require.Equal(t, int32(1), f.logins.Load())

	f.revoke() // the server forgets the token (e.g. restarted)
	_, err = c.Get(ctx, Organisations, 1)
	require.NoError(t, err)
	assert.Equal(t, int32(2), f.logins.Load(), "one new login")
	assert.Equal(t, int32(2), hits.Load(), "the rejected request was repeated once")
	assertNoSecrets(t, "logs", logs.String())
}

func TestPersistent401IsUnauthorized(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	var hits atomic.Int32
	f.mux.HandleFunc("GET /Organisations/{id}", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, `{"Message":"Authorization has been denied for this request."}`, http.StatusUnauthorized)
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	_, err := c.Get(context.Background(), Organisations, 1)
	require.Error(t, err)
	assert.True(t, IsUnauthorized(err), "%v", err)
	assert.False(t, Retryable(err))
	assert.Equal(t, int32(2), hits.Load(), "request sent once, repeated once after re-login")
	assert.Equal(t, int32(2), f.logins.Load())
	assertNoSecrets(t, "error", err.Error())
}

func TestRejectedLoginIsUnauthorized(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	f.handle("GET /Organisations/{id}", orgHandler)
	cfg := testConfig(f.srv.URL, nil)
	cfg.APIToken = "wrong-app-token-0000"
	c := newTestClient(t, cfg)
	_, err := c.Get(context.Background(), Organisations, 1)
	require.Error(t, err)
	assert.True(t, IsUnauthorized(err), "%v", err)
	assert.Contains(t, err.Error(), "Login")
	assert.Contains(t, err.Error(), "unknown application token")
	assert.NotContains(t, err.Error(), "wrong-app-token")
}

func TestTokenRenewedBeforeExpiry(t *testing.T) {
	t.Parallel()
	for _, withRefresh := range []bool{true, false} {
		f, c, clock := newClockedClient(t, withRefresh)
		ctx := context.Background()

		_, err := c.Get(ctx, Organisations, 1)
		require.NoError(t, err)
		clock.Advance(58 * time.Minute) // 2 minutes left of 60: still fine
		_, err = c.Get(ctx, Organisations, 1)
		require.NoError(t, err)
		assert.Equal(t, int32(1), f.logins.Load())
		assert.Equal(t, int32(0), f.refreshs.Load())

		clock.Advance(90 * time.Second) // 30s left: renew before using it
		_, err = c.Get(ctx, Organisations, 1)
		require.NoError(t, err)
		if withRefresh {
			assert.Equal(t, int32(1), f.logins.Load())
			assert.Equal(t, int32(1), f.refreshs.Load(), "renewed with the refresh token")
		} else {
			assert.Equal(t, int32(2), f.logins.Load(), "renewed by logging in again")
		}

		clock.Advance(3 * time.Hour) // token and refresh token long expired: log in
		_, err = c.Get(ctx, Organisations, 1)
		require.NoError(t, err)
		if withRefresh {
			assert.Equal(t, int32(2), f.logins.Load())
		} else {
			assert.Equal(t, int32(3), f.logins.Load())
		}
	}
}

func TestFailedRefreshFallsBackToLogin(t *testing.T) {
	t.Parallel()
	f, c, clock := newClockedClient(t, true)
	ctx := context.Background()
	_, err := c.Get(ctx, Organisations, 1)
	require.NoError(t, err)
	c.auth.mu.Lock()
	c.auth.cur.refresh = "garbage-token-value"
	c.auth.mu.Unlock()
	clock.Advance(59*time.Minute + 30*time.Second)
	_, err = c.Get(ctx, Organisations, 1)
	require.NoError(t, err)
	assert.Equal(t, int32(2), f.logins.Load())
	assert.Equal(t, int32(0), f.refreshs.Load())
}

func TestWaitingForLoginRespectsContext(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	f.loginDelay = 1500 * time.Millisecond
	f.handle("GET /Organisations/{id}", orgHandler)
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, Organisations, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second, "the caller does not wait for the slow login")
	// the login carried on in the background and serves the next caller
	_, err = c.Get(context.Background(), Organisations, 1)
	require.NoError(t, err)
	assert.Equal(t, int32(1), f.logins.Load())
}
