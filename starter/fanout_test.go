package main

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestFanOutCallsEachOnceWithinTheLimit: every index is called once, and
// never more than limit calls run at a time.
func TestFanOutCallsEachOnceWithinTheLimit(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int32
	calls := make([]atomic.Int32, 50)
	release := make(chan struct{})
	go func() {
		for peak.Load() < 3 {
		}
		close(release)
	}()
	fanOut(len(calls), 3, func(i int) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		calls[i].Add(1)
		running.Add(-1)
	})
	for i := range calls {
		assert.Equal(t, int32(1), calls[i].Load(), "index %d", i)
	}
	assert.Equal(t, int32(3), peak.Load(), "at most limit at a time, and limit reached")
}
