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

	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// turnsBudget is a Budget that runs a hook before it grants the n-th turn
// (counted from 1 after arm), as a shared budget that is spent makes a request
// wait while the rest of the world goes on.
type turnsBudget struct {
	mu     sync.Mutex
	n      int
	before map[int]func()
}

func (b *turnsBudget) arm(before map[int]func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n, b.before = 0, before
}

func (b *turnsBudget) Acquire(ctx context.Context) error {
	b.mu.Lock()
	b.n++
	f := b.before[b.n]
	b.mu.Unlock()
	if f != nil {
		f()
	}
	return ctx.Err()
}

// newPutEnv is a simulator and a client whose turns come from b, with one
// organisation and the client logged in.
func newPutEnv(t *testing.T, b *turnsBudget, mod func(*Config)) (*simEnv, int) {
	t.Helper()
	env := newSimEnv(t, webcrmsim.Options{}, func(c *Config) {
		c.Budget = b
		if mod != nil {
			mod(c)
		}
	})
	id, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Acme", "OrganisationCity": "Aarhus"})
	require.NoError(t, err)
	_, err = env.c.Get(context.Background(), Organisations, id) // logs in
	require.NoError(t, err)
	return env, id
}

// TestAnEditWhileAnUpdateWaitsForItsTurnIsKept: a person edits the record
// while Update waits for a turn of the budget. Whichever turn that is, the
// record is read after it: the PUT carries the person's edit, not the value
// read before it.
func TestAnEditWhileAnUpdateWaitsForItsTurnIsKept(t *testing.T) {
	t.Parallel()
	for _, turn := range []int{1, 2} {
		b := &turnsBudget{}
		env, id := newPutEnv(t, b, nil)
		b.arm(map[int]func(){turn: func() {
			require.NoError(t, env.sim.Patch("Organisations", id, map[string]any{"OrganisationCity": "Odense"}))
		}})
		_, err := env.c.Update(context.Background(), Organisations, id, Record{"OrganisationName": "Acme A/S"})
		require.NoError(t, err)
		rec, _ := env.sim.Record("Organisations", id)
		assert.Equal(t, "Acme A/S", rec["OrganisationName"], "turn %d: the update was written", turn)
		assert.Equal(t, "Odense", rec["OrganisationCity"], "turn %d: the edit made while the update waited is kept", turn)
	}
}

// TestAReplaceThatWaitsLongForItsTurnReadsAgain: Replace is based on the
// caller's read. When its PUT has to wait for its turn longer than FreshFor,
// and a person edits the record meanwhile, it reads the record again rather
// than put the old values back.
func TestAReplaceThatWaitsLongForItsTurnReadsAgain(t *testing.T) {
	t.Parallel()
	b := &turnsBudget{}
	env, id := newPutEnv(t, b, nil)
	ctx := context.Background()
	cur, err := env.c.Get(ctx, Organisations, id)
	require.NoError(t, err)
	b.arm(map[int]func(){1: func() {
		require.NoError(t, env.sim.Patch("Organisations", id, map[string]any{"OrganisationCity": "Odense"}))
		time.Sleep(FreshFor + 20*time.Millisecond) // the budget is spent for a while
	}})
	_, err = env.c.Replace(ctx, Organisations, id, cur, Record{"OrganisationName": "Acme A/S"})
	require.NoError(t, err)
	rec, _ := env.sim.Record("Organisations", id)
	assert.Equal(t, "Acme A/S", rec["OrganisationName"])
	assert.Equal(t, "Odense", rec["OrganisationCity"], "the edit made while the PUT waited is kept")
}

// failFirstPut carries out the first PUT, lets a person edit the record, and
// answers 502: the write was done, its answer lost.
type failFirstPut struct {
	base http.RoundTripper
	done atomic.Bool
	edit func()
}

func (f *failFirstPut) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.base.RoundTrip(r)
	if err != nil || r.Method != http.MethodPut || !f.done.CompareAndSwap(false, true) {
		return resp, err
	}
	_ = resp.Body.Close()
	f.edit()
	return &http.Response{StatusCode: http.StatusBadGateway, Status: "502 Bad Gateway", Header: http.Header{},
		Body: http.NoBody, Request: r}, nil
}

// TestAPutWhoseAnswerWasLostIsSentAgainOnANewRead: a PUT is carried out,
// a person edits the record, and the PUT's answer is lost (502). The PUT sent
// again is built on a new read: the person's edit stays.
func TestAPutWhoseAnswerWasLostIsSentAgainOnANewRead(t *testing.T) {
	t.Parallel()
	var env *simEnv
	var id int
	flaky := &failFirstPut{base: http.DefaultTransport}
	flaky.edit = func() {
		require.NoError(t, env.sim.Patch("Organisations", id, map[string]any{"OrganisationCity": "Odense"}))
	}
	env, id = newPutEnv(t, &turnsBudget{}, func(c *Config) { c.Transport = flaky })
	_, err := env.c.Update(context.Background(), Organisations, id, Record{"OrganisationName": "Acme A/S"})
	require.NoError(t, err)
	require.True(t, flaky.done.Load(), "the first PUT's answer was lost")
	rec, _ := env.sim.Record("Organisations", id)
	assert.Equal(t, "Acme A/S", rec["OrganisationName"])
	assert.Equal(t, "Odense", rec["OrganisationCity"], "the edit made after the first PUT is kept")
}
