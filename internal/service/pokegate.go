package service

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// pokeGap is the least time between two pokes of one pairing. A pairing
// poked by every hook of a busy minute would poll as fast as it can and
// spend webCRM's budget on polls; one poll a second still reads every
// change within about a second.
const pokeGap = time.Second

// pokeGate sends a pairing at most one poke per gap. A poke asked for
// within the gap is not dropped: one poke is sent when the gap ends, so the
// last change of a burst is read then rather than at the next regular poll.
type pokeGate struct {
	gap    time.Duration
	send   func(ctx context.Context, pairing string) error
	logger *slog.Logger
	// now and afterFunc are time.Now and time.AfterFunc outside tests.
	now       func() time.Time
	afterFunc func(d time.Duration, f func())

	mu       sync.Mutex
	last     map[string]time.Time
	trailing map[string]bool
}

func newPokeGate(gap time.Duration, send func(ctx context.Context, pairing string) error, logger *slog.Logger) *pokeGate {
	return &pokeGate{
		gap: gap, send: send, logger: logger,
		now:       time.Now,
		afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		last:      map[string]time.Time{},
		trailing:  map[string]bool{},
	}
}

// poke pokes pairing now, or once when its gap ends. Only a poke sent now
// reports an error; a deferred one that fails is logged, and the pairing's
// regular poll reads the change instead.
func (g *pokeGate) poke(ctx context.Context, pairing string) error {
	g.mu.Lock()
	now := g.now()
	wait := g.last[pairing].Add(g.gap).Sub(now)
	if wait <= 0 {
		g.last[pairing] = now
		g.mu.Unlock()
		return g.send(ctx, pairing)
	}
	if g.trailing[pairing] {
		g.mu.Unlock()
		return nil
	}
	g.trailing[pairing] = true
	g.mu.Unlock()
	g.afterFunc(wait, func() {
		g.mu.Lock()
		g.trailing[pairing] = false
		g.last[pairing] = g.now()
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.send(ctx, pairing); err != nil {
			g.logger.Warn("deferred poke not sent; the next regular poll reads the change", "pairing", pairing, "error", err)
		}
	})
	return nil
}
