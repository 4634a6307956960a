package customerp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/customerp/contracttest"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

// TestWaitChangesLongPollsTheReferenceServer: against the reference server WaitChanges is
// held until a change commits, returns it and reports the long poll.
func TestWaitChangesLongPollsTheReferenceServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	type result struct {
		chs  []customerp.Change
		next string
		long bool
		err  error
	}
	done := make(chan result, 1)
	go func() {
		chs, next, long, err := e.c.WaitChanges(ctx, customerp.Customers, "", 100, customerp.MaxFeedWait, 2*time.Second)
		done <- result{chs, next, long, err}
	}()
	// The read is held: no change has committed.
	select {
	case r := <-done:
		t.Fatalf("answered before any change: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	_, err := e.c.Create(ctx, customerp.Customers, customerp.Record{"name": "Waited For A/S"}, "lp-1")
	require.NoError(t, err)
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not answer within 20 s of the commit")
	}
	require.NoError(t, r.err)
	assert.True(t, r.long)
	require.Len(t, r.chs, 1)
	assert.Equal(t, "Waited For A/S", r.chs[0].Record["name"])
	assert.Equal(t, r.chs[0].Seq, r.next)
}

// TestWaitChangesEmptyAfterTheWait: no change within the wait is an empty answer with the
// token unchanged, after the wait and not before.
func TestWaitChangesEmptyAfterTheWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	began := time.Now()
	chs, next, long, err := e.c.WaitChanges(context.Background(), customerp.Products, "0", 10, time.Second, 2*time.Second)
	require.NoError(t, err)
	assert.True(t, long)
	assert.Empty(t, chs)
	assert.Equal(t, "0", next)
	assert.GreaterOrEqual(t, time.Since(began), time.Second)
}

// TestWaitChangesFallsBackToTheInterval: an adapter that ignores wait answers at once without
// the Tandem-Long-Poll header; read back to back, the client still asks it once per
// interval (it does not spin), and hands on changes at once when there are some.
func TestWaitChangesFallsBackToTheInterval(t *testing.T) {
	t.Parallel()
	var requests, sawWait atomic.Int32
	var hasChange atomic.Bool
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Query().Get("wait") != "" {
			sawWait.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		if hasChange.Load() {
			_, _ = w.Write([]byte(`{"items":[{"seq":"1","id":"CU-1","version":1,"updatedAt":"2026-01-01T00:00:00Z","deleted":false,` +
				`"record":{"id":"CU-1","version":1,"updatedAt":"2026-01-01T00:00:00Z","name":"Now A/S"}}],"next":"1"}`))
			return
		}
		_, _ = w.Write([]byte(`{"items":[],"next":"0"}`))
	}))
	defer hs.Close()
	ct, err := contracttest.New(http.DefaultTransport)
	require.NoError(t, err)
	c, err := customerp.New(customerp.Config{BaseURL: hs.URL, APIKey: testKey, Transport: ct})
	require.NoError(t, err)
	ctx := context.Background()

	const interval, reads = 300 * time.Millisecond, 4
	began := time.Now()
	for range reads {
		chs, next, long, err := c.WaitChanges(ctx, customerp.Customers, "0", 100, customerp.MaxFeedWait, interval)
		require.NoError(t, err)
		assert.False(t, long, "the adapter did not long-poll")
		assert.Empty(t, chs)
		assert.Equal(t, "0", next)
	}
	assert.GreaterOrEqual(t, time.Since(began), reads*interval, "back-to-back reads of an adapter without long poll spun")
	assert.Equal(t, int32(reads), requests.Load(), "one request per read")
	assert.Equal(t, int32(reads), sawWait.Load(), "the client asked for a long poll")

	// Changes come back at once, without waiting out the interval.
	hasChange.Store(true)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	chs, next, _, err := c.WaitChanges(cctx, customerp.Customers, "0", 100, customerp.MaxFeedWait, time.Hour)
	require.NoError(t, err)
	require.NoError(t, cctx.Err(), "the client sat out the interval although changes came back")
	require.Len(t, chs, 1)
	assert.Equal(t, "1", next)

	// A cancelled read ends its fallback wait at once.
	hasChange.Store(false)
	cctx2, cancel2 := context.WithCancel(ctx)
	go func() { time.Sleep(100 * time.Millisecond); cancel2() }()
	_, _, _, err = c.WaitChanges(cctx2, customerp.Customers, "0", 100, customerp.MaxFeedWait, time.Hour)
	require.NoError(t, err)
	require.Empty(t, ct.RequestViolations())
	require.Empty(t, ct.ResponseViolations())
}

// TestWaitChangesOutlastsTheClientTimeout: a long poll may last longer than the client's
// per-attempt timeout (Config.Timeout); it is not cut off by it.
func TestWaitChangesOutlastsTheClientTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(_ *erpsim.Options, cfg *customerp.Config) { cfg.Timeout = 500 * time.Millisecond })
	chs, _, long, err := e.c.WaitChanges(context.Background(), customerp.Orders, "0", 10, 2*time.Second, 2*time.Second)
	require.NoError(t, err, "a 2 s long poll with a 500 ms client timeout")
	assert.True(t, long)
	assert.Empty(t, chs)
}
