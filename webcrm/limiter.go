package webcrm

import (
	"context"
	"sync"
	"time"
)

// limiterWindow is the window the client keeps its budget in: webCRM's one
// minute plus a margin, because webCRM counts a request when it arrives and
// the client when it leaves, and two requests need not take equally long.
const limiterWindow = time.Minute + time.Second

// windowLimiter admits at most n requests in any sliding window, the way
// webCRM counts them (a sliding one-minute window per token, bursts of the
// whole quota allowed). A request may go when the one sent n places before it
// is older than the window, so a quiet client can send a burst of n at once
// and a busy one still never exceeds n per window.
//
// A token bucket cannot do this: one whose burst b and refill r keep every
// minute within n (b + 60r ≤ n) either sends bursts of only b or sustains
// only n-b a minute.
type windowLimiter struct {
	n      int
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	// sent holds the admission times of the last n requests, oldest at next
	// once the ring is full. Times never decrease.
	sent []time.Time
	next int
}

// newWindowLimiter returns a limiter of rpm requests per limiterWindow, or
// nil (no limit) when rpm is negative.
func newWindowLimiter(rpm int, now func() time.Time) *windowLimiter {
	if rpm < 0 {
		return nil
	}
	return &windowLimiter{n: max(rpm, 1), window: limiterWindow, now: now}
}

// reserve books the earliest admission time at or after now and returns it.
// Admission times are handed out in call order.
func (l *windowLimiter) reserve(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := now
	if len(l.sent) > 0 {
		// Keep the ring ordered even if the clock steps back.
		at = later(at, l.sent[(l.next+len(l.sent)-1)%len(l.sent)])
	}
	if len(l.sent) < l.n {
		l.sent = append(l.sent, at)
		return at
	}
	at = later(at, l.sent[l.next].Add(l.window))
	l.sent[l.next] = at
	l.next = (l.next + 1) % l.n
	return at
}

// Wait blocks until the caller may send a request, or ctx ends. A wait that
// ends with ctx keeps its booked slot: the budget is counted high, never low.
func (l *windowLimiter) Wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	now := l.now()
	delay := l.reserve(now).Sub(now)
	if delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
