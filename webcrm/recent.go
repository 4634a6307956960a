package webcrm

import (
	"sync"
	"time"
)

// EchoWindow is how long the client remembers a record it wrote, for
// WroteRecently. webCRM calls its hooks for tandem's own writes too; they
// arrive within moments.
const EchoWindow = 10 * time.Second

// recentWrites remembers which records this client wrote in the last
// window. Memory is bounded by the writes of one window: entries older than
// that are dropped whenever the map has doubled since the last sweep.
type recentWrites struct {
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	at    map[recentKey]time.Time
	sweep int // sweep when len(at) reaches this
}

type recentKey struct {
	entity Entity
	id     int
}

func newRecentWrites(window time.Duration, now func() time.Time) *recentWrites {
	return &recentWrites{window: window, now: now, at: map[recentKey]time.Time{}, sweep: 1024}
}

func (r *recentWrites) note(e Entity, ids ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, id := range ids {
		if id > 0 {
			r.at[recentKey{e, id}] = now
		}
	}
	if len(r.at) < r.sweep {
		return
	}
	for k, t := range r.at {
		if now.Sub(t) > r.window {
			delete(r.at, k)
		}
	}
	r.sweep = max(1024, 2*len(r.at))
}

func (r *recentWrites) has(e Entity, id int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.at[recentKey{e, id}]
	return ok && r.now().Sub(t) <= r.window
}

// WroteRecently reports whether this client created, updated or deleted the
// record within EchoWindow. A hook about such a record is most likely the
// echo of that write; the hooks endpoint does not spend webCRM's budget on a
// poll for it (the pairing's regular poll still reads every change).
func (c *Client) WroteRecently(e Entity, id int) bool {
	return c.recent.has(e, id)
}
