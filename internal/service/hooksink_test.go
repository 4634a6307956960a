package service

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/internal/hooks"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/webcrm"
)

// TestHookSinkDoesNotPokeForEchoes: a hook about a record this process has just
// written is the echo of that write and pokes nothing; any other hook pokes the
// pairings of its entity.
func TestHookSinkDoesNotPokeForEchoes(t *testing.T) {
	sim, err := webcrmsim.New(webcrmsim.Options{APIToken: "hook-test-token", Seed: 4, SeedSize: 10, RateLimitPerMinute: -1})
	require.NoError(t, err)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	wc, err := webcrm.New(webcrm.Config{BaseURL: srv.URL, APIToken: "hook-test-token", RequestsPerMinute: -1})
	require.NoError(t, err)
	set, err := mappings.Default()
	require.NoError(t, err)

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	sink := newHookSink(nil, set, wc, logger)
	var mu sync.Mutex
	var poked []string
	sink.gate = newPokeGate(0, func(_ context.Context, name string) error {
		mu.Lock()
		defer mu.Unlock()
		poked = append(poked, name)
		return nil
	}, logger)

	ctx := context.Background()
	orgs, err := wc.List(ctx, webcrm.Organisations, 1, 2)
	require.NoError(t, err)
	require.Len(t, orgs, 2)
	written, err := orgs[0].ID(webcrm.Organisations)
	require.NoError(t, err)
	other, err := orgs[1].ID(webcrm.Organisations)
	require.NoError(t, err)
	_, err = wc.Update(ctx, webcrm.Organisations, written, webcrm.Record{"OrganisationCity": "Odense"})
	require.NoError(t, err)

	n, err := sink.Poke(ctx, hooks.Event{EventType: "Update", Entity: "Organisations", ID: int64(written)})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the organisations pairing syncs the entity")
	assert.Empty(t, poked, "the echo of tandem's own write pokes nothing")

	_, err = sink.Poke(ctx, hooks.Event{EventType: "Update", Entity: "Organisations", ID: int64(other)})
	require.NoError(t, err)
	_, err = sink.Poke(ctx, hooks.Event{EventType: "Create", Entity: "persons", ID: int64(written)})
	require.NoError(t, err)
	assert.Equal(t, []string{"organisations", "persons"}, poked, "a change made by someone else pokes its pairing")
}
