package opsmetrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestARefreshThatTakesLongIsMadeLessOften(t *testing.T) {
	for _, tc := range []struct {
		took, want time.Duration
	}{
		{took: 200 * time.Millisecond, want: 30 * time.Second}, // a few thousand links: as asked
		{took: 3 * time.Second, want: 30 * time.Second},        // exactly a tenth of the time
		{took: 6 * time.Second, want: time.Minute},             // 100,000 links on SQLite visibility
		{took: time.Minute, want: 10 * time.Minute},            // a refresh longer than the interval
	} {
		assert.Equal(t, tc.want, nextRefresh(30*time.Second, tc.took), "a refresh of %s", tc.took)
	}
}

// fakeClock is a clock that a call moves on, and a sleep that records what
// it was asked to wait.
type fakeClock struct {
	t      time.Time
	slept  []time.Duration
	failAt int // the sleep that ends with the context, 1-based; 0 for none
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	if len(c.slept) == c.failAt {
		return context.Canceled
	}
	c.t = c.t.Add(d)
	return nil
}

func TestASpacedRefreshWaitsNineTimesEachCallsDurationAfterIt(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	r := &Refresher{now: clock.now, sleep: clock.sleep, spaced: true}
	for _, took := range []time.Duration{800 * time.Millisecond, 50 * time.Millisecond} {
		require.NoError(t, r.visit(context.Background(), func() error {
			clock.t = clock.t.Add(took)
			return nil
		}))
	}
	assert.Equal(t, []time.Duration{7200 * time.Millisecond, 450 * time.Millisecond}, clock.slept)
	assert.Equal(t, 850*time.Millisecond, r.busy, "the calls' own time, not the waits")
}

func TestAnUnspacedRefreshDoesNotWait(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	r := &Refresher{now: clock.now, sleep: clock.sleep}
	require.NoError(t, r.visit(context.Background(), func() error {
		clock.t = clock.t.Add(time.Second)
		return nil
	}))
	assert.Empty(t, clock.slept)
	assert.Equal(t, time.Second, r.busy)
}

func TestAVisitKeepsTheCallsErrorOverTheWaits(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0), failAt: 1}
	r := &Refresher{now: clock.now, sleep: clock.sleep, spaced: true}
	callErr := errors.New("visibility unavailable")
	err := r.visit(context.Background(), func() error {
		clock.t = clock.t.Add(time.Second)
		return callErr
	})
	require.ErrorIs(t, err, callErr)
	err = r.visit(context.Background(), func() error {
		clock.t = clock.t.Add(time.Second)
		return nil
	})
	require.NoError(t, err, "a second call, whose wait ends normally")
	clock.failAt = 3
	err = r.visit(context.Background(), func() error {
		clock.t = clock.t.Add(time.Second)
		return nil
	})
	require.ErrorIs(t, err, context.Canceled, "a wait cut short ends the refresh")
}
