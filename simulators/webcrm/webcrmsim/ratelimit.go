package webcrmsim

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// rateLimiter is a sliding-window log per key: a request is allowed when
// fewer than limit requests were allowed in the preceding window. Rejected
// requests do not count.
type rateLimiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	hits   map[string][]time.Time // allowed request times, oldest first
	// peak is the most requests of one key allowed in any window.
	peak int
}

// resetPeak starts the peak count again from the requests in the window now.
func (l *rateLimiter) resetPeak(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.peak = 0
	for _, h := range l.hits {
		n := 0
		for _, at := range h {
			if at.After(now.Add(-l.window)) {
				n++
			}
		}
		l.peak = max(l.peak, n)
	}
}

// peakPerWindow returns the most requests of one key allowed in any window
// so far.
func (l *rateLimiter) peakPerWindow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

func newRateLimiter(limit int, window time.Duration) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, hits: map[string][]time.Time{}}
}

// allow records a request for key at now. When the quota is used up it
// returns false and the whole seconds until a slot frees up (at least 1).
func (l *rateLimiter) allow(key string, now time.Time) (bool, int) {
	if l.limit <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hits[key]
	cut := 0
	for cut < len(h) && !h[cut].After(now.Add(-l.window)) {
		cut++
	}
	if cut > 0 {
		h = append(h[:0], h[cut:]...)
	}
	if len(h) >= l.limit {
		l.hits[key] = h
		wait := h[0].Add(l.window).Sub(now)
		return false, max(1, int(math.Ceil(wait.Seconds())))
	}
	l.hits[key] = append(h, now)
	l.peak = max(l.peak, len(h)+1)
	return true, 0
}

func (s *Server) throttleMessage() string {
	return fmt.Sprintf("The request was throttled. The limit of %d requests per minute is reached", s.opts.RateLimitPerMinute)
}
