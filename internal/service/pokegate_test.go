package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gateHarness drives a pokeGate with a clock and timers the test moves.
type gateHarness struct {
	g       *pokeGate
	clock   time.Time
	sent    []string
	pending []func()
	delays  []time.Duration
	failing bool
}

func newGateHarness() *gateHarness {
	h := &gateHarness{clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.g = newPokeGate(time.Second, func(_ context.Context, name string) error {
		if h.failing {
			return errors.New("temporal unreachable")
		}
		h.sent = append(h.sent, name)
		return nil
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.g.now = func() time.Time { return h.clock }
	h.g.afterFunc = func(d time.Duration, f func()) {
		h.delays = append(h.delays, d)
		h.pending = append(h.pending, f)
	}
	return h
}

func (h *gateHarness) poke(t *testing.T, name string) {
	t.Helper()
	require.NoError(t, h.g.poke(context.Background(), name))
}

// fire runs the deferred pokes, as their timers would.
func (h *gateHarness) fire() {
	p := h.pending
	h.pending = nil
	for _, f := range p {
		f()
	}
}

func TestPokeGateSendsOnePokeAGapAndOneAfterABurst(t *testing.T) {
	h := newGateHarness()
	h.poke(t, "organisations")
	assert.Equal(t, []string{"organisations"}, h.sent, "the first poke goes at once")

	// A burst within the gap: nothing more now, one poke when the gap ends.
	for range 10 {
		h.clock = h.clock.Add(50 * time.Millisecond)
		h.poke(t, "organisations")
	}
	assert.Len(t, h.sent, 1)
	require.Len(t, h.pending, 1, "one deferred poke for the whole burst")
	assert.Equal(t, 950*time.Millisecond, h.delays[0], "sent when the gap after the first poke ends")

	// Another pairing has its own gap.
	h.poke(t, "persons")
	assert.Equal(t, []string{"organisations", "persons"}, h.sent)

	h.clock = h.clock.Add(950 * time.Millisecond)
	h.fire()
	assert.Equal(t, []string{"organisations", "persons", "organisations"}, h.sent)

	// The deferred poke starts a new gap; after it, a poke goes at once again.
	h.clock = h.clock.Add(500 * time.Millisecond)
	h.poke(t, "organisations")
	assert.Len(t, h.sent, 3)
	h.clock = h.clock.Add(500 * time.Millisecond)
	h.fire()
	assert.Len(t, h.sent, 4)
	h.clock = h.clock.Add(time.Second)
	h.poke(t, "organisations")
	assert.Equal(t, []string{"organisations", "persons", "organisations", "organisations", "organisations"}, h.sent)
}

func TestPokeGateReportsAFailedPokeAndLogsADeferredOne(t *testing.T) {
	h := newGateHarness()
	h.failing = true
	assert.ErrorContains(t, h.g.poke(context.Background(), "products"), "temporal unreachable")
	h.poke(t, "products") // within the gap: deferred, so no error now
	h.fire()
	assert.Empty(t, h.sent)
	assert.False(t, h.g.trailing["products"], "a failed deferred poke does not block later ones")
}
