package webcrm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/internal/testkit"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// simEnv is a webCRM simulator on a real 127.0.0.1 listener plus a client for it.
type simEnv struct {
	sim  *webcrmsim.Server
	srv  *httptest.Server
	c    *Client
	sent *atomic.Int64 // HTTP attempts the client made since the last resetStats
}

// countingTransport counts the attempts that reach the wire.
type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (ct countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct.n.Add(1)
	return ct.base.RoundTrip(r)
}

// stats returns the simulator's counters once they include every request the client
// sent: the simulator counts a request after its answer is written, so a count can trail
// the client by a moment.
func (env *simEnv) stats(t testing.TB) webcrmsim.Stats {
	t.Helper()
	var st webcrmsim.Stats
	require.Eventually(t, func() bool {
		st = env.sim.Stats()
		return st.TotalRequests >= env.sent.Load()
	}, 5*time.Second, time.Millisecond, "simulator counted fewer requests than the client sent")
	return st
}

func (env *simEnv) resetStats(t testing.TB) {
	env.stats(t) // let counts of earlier requests land first
	env.sim.ResetStats()
	env.sent.Store(0)
}

// newSimEnv starts a simulator (empty unless opts.SeedSize is set; rate limit off
// unless set) and a fast client for it; mod may adjust the client config.
func newSimEnv(t testing.TB, opts webcrmsim.Options, mod func(*Config)) *simEnv {
	t.Helper()
	opts.APIToken = testAppToken
	if opts.RateLimitPerMinute == 0 {
		opts.RateLimitPerMinute = -1
	}
	sim, err := webcrmsim.New(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		_ = sim.Close()
	})
	cfg := testConfig(srv.URL, nil)
	if mod != nil {
		mod(&cfg)
	}
	sent := &atomic.Int64{}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cfg.Transport = countingTransport{base: base, n: sent}
	return &simEnv{sim: sim, srv: srv, c: newTestClient(t, cfg), sent: sent}
}

func count(s webcrmsim.Stats, pattern string, status int) int64 {
	return s.Requests[pattern][status]
}

func TestSimTokenExpiryAndRelogin(t *testing.T) {
	t.Parallel()
	simClock := newFakeClock()
	logs := &testkit.Buffer{}
	tokens := &tokenRecorder{base: http.DefaultTransport}
	env := newSimEnv(t, webcrmsim.Options{Now: simClock.Now, TokenTTL: 10 * time.Minute}, func(c *Config) {
		c.Logger = testConfig("", logs).Logger
		c.Transport = tokens
	})
	clientClock := newFakeClock()
	env.c.auth.now = clientClock.Now
	ctx := context.Background()
	id, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Acme"})
	require.NoError(t, err)

	_, err = env.c.Get(ctx, Organisations, id)
	require.NoError(t, err)
	assert.Equal(t, int64(1), env.stats(t).RequestCount("POST /Auth/ApiLogin"))

	// The server expires the token while the client still thinks it is fresh (e.g. the
	// server was restarted): the request meets a 401, the client logs in once more and
	// repeats it.
	simClock.Advance(11 * time.Minute)
	_, err = env.c.Get(ctx, Organisations, id)
	require.NoError(t, err)
	st := env.stats(t)
	assert.Equal(t, int64(2), st.RequestCount("POST /Auth/ApiLogin"))
	assert.Equal(t, int64(1), count(st, "GET /Organisations/{id}", http.StatusUnauthorized))
	assert.Equal(t, int64(2), count(st, "GET /Organisations/{id}", http.StatusOK))

	// Before expiry the client renews on its own (with the refresh token the simulator
	// hands out): no 401 at all.
	simClock.Advance(9*time.Minute + 30*time.Second)
	clientClock.Advance(9*time.Minute + 30*time.Second)
	_, err = env.c.Get(ctx, Organisations, id)
	require.NoError(t, err)
	st = env.stats(t)
	assert.Equal(t, int64(1), count(st, "GET /Organisations/{id}", http.StatusUnauthorized), "no new 401")
	assert.Equal(t, int64(1), st.RequestCount("POST /Auth/ApiRefresh"))
	assert.Equal(t, int64(2), st.RequestCount("POST /Auth/ApiLogin"))

	// None of the three access tokens, the refresh token used, nor the application
	// token was logged.
	seen := tokens.Seen()
	require.Len(t, seen, 4)
	out := logs.String()
	require.Contains(t, out, "performing request", "retryablehttp logs at debug level")
	for _, secret := range append(seen, testAppToken) {
		assert.NotContains(t, out, secret)
	}
}

// tokenRecorder remembers the distinct bearer and refresh tokens the client sent.
type tokenRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (tr *tokenRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	secrets := []string{tok}
	for k, v := range r.Header { // the client sends the key as webCRM spells it: refreshToken
		if strings.EqualFold(k, "refreshToken") {
			secrets = append(secrets, v...)
		}
	}
	for _, secret := range secrets {
		tr.mu.Lock()
		if secret != "" && !slices.Contains(tr.seen, secret) {
			tr.seen = append(tr.seen, secret)
		}
		tr.mu.Unlock()
	}
	return tr.base.RoundTrip(r)
}

func (tr *tokenRecorder) Seen() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.seen)
}

func TestSimShortTokenTTLManyGoroutines(t *testing.T) {
	t.Parallel()
	simClock := newFakeClock()
	env := newSimEnv(t, webcrmsim.Options{Now: simClock.Now, TokenTTL: time.Minute}, nil)
	id, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Acme"})
	require.NoError(t, err)
	ctx := context.Background()
	const rounds, goroutines, perG = 5, 8, 5
	for range rounds {
		simClock.Advance(2 * time.Minute) // every token issued so far dies server-side
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range perG {
					_, err := env.c.Get(ctx, Organisations, id)
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
	}
	st := env.stats(t)
	// one login per round: the goroutines that met the 401 share it
	assert.Equal(t, int64(rounds), st.RequestCount("POST /Auth/ApiLogin"))
	assert.Equal(t, int64(rounds*goroutines*perG), count(st, "GET /Organisations/{id}", http.StatusOK))
}

func TestSimRateLimit(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{RateLimitPerMinute: 5}, nil)
	ctx := context.Background()
	var rl *RateLimitError
	n := 0
	for ; n < 20; n++ {
		_, err := env.c.List(ctx, Organisations, 1, 10)
		if err != nil {
			require.True(t, errors.As(err, &rl), "%v", err)
			break
		}
	}
	require.NotNil(t, rl, "the simulator's limit of 5/min was never hit")
	assert.LessOrEqual(t, n, 5)
	assert.Greater(t, rl.RetryAfter, time.Duration(0))
	assert.LessOrEqual(t, rl.RetryAfter, time.Minute)
	assert.Equal(t, int64(1), env.stats(t).RateLimited, "the 429 was not retried")

	// forced 429 burst with a chosen Retry-After
	env2 := newSimEnv(t, webcrmsim.Options{}, nil)
	require.NoError(t, env2.sim.Faults().Force429(1, 0, 17))
	_, err := env2.c.List(ctx, Persons, 1, 10)
	require.True(t, errors.As(err, &rl), "%v", err)
	assert.Equal(t, 17*time.Second, rl.RetryAfter)
	_, err = env2.c.List(ctx, Persons, 1, 10)
	require.NoError(t, err)
}

// TestSimLimiterIsSharedAcrossGoroutines: many goroutines on one Client together send
// the whole quota at once and then wait; the simulator, set to the same budget, never
// answers 429.
func TestSimLimiterIsSharedAcrossGoroutines(t *testing.T) {
	t.Parallel()
	const rpm = 50
	env := newSimEnv(t, webcrmsim.Options{RateLimitPerMinute: rpm}, func(c *Config) { c.RequestsPerMinute = rpm })
	_, err := env.c.List(context.Background(), Users, 1, 1) // log in: two requests
	require.NoError(t, err)
	// The window is a minute long: within these seconds, the rest of the quota goes
	// and every request beyond it is still waiting when the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var ok, waited atomic.Int64
	for range 10 {
		wg.Go(func() {
			for range 10 {
				_, err := env.c.List(ctx, Users, 1, 1)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
					waited.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(rpm-2), ok.Load(), "the rest of the quota goes at once")
	assert.Equal(t, int64(100-rpm+2), waited.Load(), "everything beyond the quota waits for the window")
	st := env.stats(t)
	assert.Equal(t, int64(0), st.RateLimited)
	assert.Equal(t, int64(rpm), st.TotalRequests)
}

func TestSimServerErrorsAndDropsAreRetried(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 7, SeedSize: 300}, func(c *Config) { c.RetryMax = 12 })
	want := len(env.sim.Records("Organisations"))
	require.Greater(t, want, 0)
	require.NoError(t, env.sim.Faults().SetServerErrorRate(0.3))
	require.NoError(t, env.sim.Faults().SetDropRate(0.2))
	got := 0
	err := env.c.ListAll(context.Background(), Organisations, 50, func(page []Record) error {
		got += len(page)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, want, got)
	st := env.stats(t)
	assert.Greater(t, st.Faults["5xx"], int64(0))
	assert.Greater(t, st.Faults["drop"], int64(0))
}

func TestSimPagingToTheEnd(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 3, SeedSize: 1100}, nil)
	ctx := context.Background()
	for _, e := range []Entity{Organisations, Persons} {
		want := map[int]bool{}
		for _, r := range env.sim.Records(string(e)) {
			id, err := Record(r).ID(e)
			require.NoError(t, err)
			want[id] = true
		}
		require.Greater(t, len(want), 1000, "seed must span pages")
		env.resetStats(t)
		got := map[int]bool{}
		pages := 0
		err := env.c.ListAll(ctx, e, 0, func(page []Record) error {
			pages++
			for _, r := range page {
				id, err := r.ID(e)
				require.NoError(t, err)
				require.False(t, got[id], "id %d twice", id)
				got[id] = true
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, want, got, e)
		assert.Equal(t, (len(want)+999)/1000, pages)
		wantReqs := int64(pages)
		if len(want)%1000 == 0 {
			wantReqs++ // a final empty page
		}
		assert.Equal(t, wantReqs, env.stats(t).RequestCount("GET /Queries"), "ListAll reads /Queries by id")
	}
	recs, err := env.c.List(ctx, Organisations, 1000, 1000)
	require.NoError(t, err)
	assert.Empty(t, recs)
	assert.NotNil(t, recs)
}

// TestSimChangedSinceEqualTimestamps stamps many records with one timestamp (the
// simulator's clock stands still) so that runs of equal UpdatedAt cross page
// boundaries, then checks that the watermark walk sees every record, in order, and
// always makes progress.
func TestSimChangedSinceEqualTimestamps(t *testing.T) {
	t.Parallel()
	checkEqualTimestamps(t, webcrmsim.FaultConfig{})
}

// TestSimChangedSinceEqualTimestampsInAnyOrder: a server may return rows whose ORDER BY
// keys tie in any order, a new one each request; paging a run of equal timestamps by
// page number then skips records. The walk orders by UpdatedAt and id, which never tie.
func TestSimChangedSinceEqualTimestampsInAnyOrder(t *testing.T) {
	t.Parallel()
	checkEqualTimestamps(t, webcrmsim.FaultConfig{UnorderedPages: true})
}

func checkEqualTimestamps(t *testing.T, faults webcrmsim.FaultConfig) {
	clock := newFakeClock()
	env := newSimEnv(t, webcrmsim.Options{Now: clock.Now, Faults: faults, Seed: 7}, nil)
	ctx := context.Background()
	put := func(n int, tag string) {
		for i := range n {
			_, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": fmt.Sprintf("%s-%03d", tag, i)})
			require.NoError(t, err)
		}
	}
	t0 := clock.Now()
	put(25, "a") // 25 records at t0
	clock.Advance(time.Second)
	put(1, "b")
	clock.Advance(time.Second)
	put(30, "c") // 30 records at t0+2s
	clock.Advance(time.Millisecond)
	put(7, "d")
	total := 63

	// unlimited: everything in one call, ordered by UpdatedAt then id
	all, next, err := env.c.ChangedSince(ctx, Organisations, time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, all, total)
	assert.Equal(t, clock.Now(), next)
	assertOrdered(t, all)

	// limit 10: runs of 25 and 30 equal stamps are longer than a page
	for _, limit := range []int{1, 7, 10, 26, 1000} {
		seen := map[int]time.Time{}
		since := time.Time{}
		for calls := 0; ; calls++ {
			require.Less(t, calls, 200, "limit %d: no progress", limit)
			recs, nxt, err := env.c.ChangedSince(ctx, Organisations, since, limit)
			require.NoError(t, err)
			assertOrdered(t, recs)
			require.False(t, nxt.Before(since), "watermark went back")
			fresh := 0
			for _, r := range recs {
				id, _ := r.ID(Organisations)
				at, _ := r.UpdatedAt(Organisations)
				require.False(t, at.Before(since))
				if _, ok := seen[id]; !ok {
					fresh++
				}
				seen[id] = at
			}
			if len(seen) == total && nxt.Equal(since) {
				break
			}
			if nxt.Equal(since) {
				require.Positive(t, fresh, "limit %d: stuck at %s", limit, since)
			}
			since = nxt
		}
		assert.Len(t, seen, total, "limit %d", limit)
	}

	// A record changed between calls moves behind the watermark and is seen again.
	// From t0 with limit 10: the run at t0 (25 records, all stamped with the watermark
	// itself) is returned whole, and so is the next run, so the watermark moves on.
	recs, next, err := env.c.ChangedSince(ctx, Organisations, t0, 10)
	require.NoError(t, err)
	assert.Len(t, recs, 26)
	assert.Equal(t, t0.Add(time.Second), next)
	// From t0+2s with limit 10: the run of 30 at the watermark plus the run after it.
	recs2, next2, err := env.c.ChangedSince(ctx, Organisations, t0.Add(2*time.Second), 10)
	require.NoError(t, err)
	assert.Len(t, recs2, 37)
	assert.Equal(t, clock.Now(), next2)
	// From just before t0+2s: the run of 30 is returned whole although it exceeds the limit.
	recs3, next3, err := env.c.ChangedSince(ctx, Organisations, t0.Add(1500*time.Millisecond), 10)
	require.NoError(t, err)
	assert.Len(t, recs3, 30)
	assert.Equal(t, t0.Add(2*time.Second), next3)
	first, _ := recs[0].ID(Organisations)
	clock.Advance(time.Second)
	require.NoError(t, env.sim.Patch("Organisations", first, map[string]any{"OrganisationCity": "Vejle"}))
	tail, _, err := env.c.ChangedSince(ctx, Organisations, clock.Now(), 10)
	require.NoError(t, err)
	require.Len(t, tail, 1)
	id, _ := tail[0].ID(Organisations)
	assert.Equal(t, first, id)
	assert.Equal(t, "Vejle", tail[0]["OrganisationCity"])
}

func assertOrdered(t *testing.T, recs []Record) {
	t.Helper()
	ok := sort.SliceIsSorted(recs, func(i, j int) bool {
		ai, _ := recs[i].UpdatedAt(Organisations)
		aj, _ := recs[j].UpdatedAt(Organisations)
		if !ai.Equal(aj) {
			return ai.Before(aj)
		}
		ii, _ := recs[i].ID(Organisations)
		ij, _ := recs[j].ID(Organisations)
		return ii < ij
	})
	assert.True(t, ok, "records not ordered by UpdatedAt, id")
}

func TestSimCreateWithCorrelation(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{}, nil)
	ctx := context.Background()

	id, err := env.c.Create(ctx, Organisations, Record{"OrganisationName": "Acme A/S", "OrganisationCity": "Aarhus"}, "erp:customers:c-1")
	require.NoError(t, err)
	rec, ok := env.sim.Record("Organisations", id)
	require.True(t, ok)
	assert.Equal(t, "Acme A/S", rec["OrganisationName"])
	assert.Equal(t, "erp:customers:c-1", rec["OrganisationCustom15"])

	// The same create again (a retried activity): the existing id, no second POST.
	again, err := env.c.Create(ctx, Organisations, Record{"OrganisationName": "Acme A/S"}, "erp:customers:c-1")
	require.NoError(t, err)
	assert.Equal(t, id, again)
	assert.Len(t, env.sim.Records("Organisations"), 1)
	assert.Equal(t, int64(1), env.stats(t).RequestCount("POST /Organisations"))

	// A create whose POST landed but whose answer was lost: the record is there already.
	landed, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Lost answer", "OrganisationCustom15": "erp:customers:c-2"})
	require.NoError(t, err)
	got, err := env.c.Create(ctx, Organisations, Record{"OrganisationName": "Lost answer"}, "erp:customers:c-2")
	require.NoError(t, err)
	assert.Equal(t, landed, got)

	// Two records carrying one token: a clear, non-retryable error.
	for range 2 {
		_, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Twin", "OrganisationCustom15": "erp:customers:twin"})
		require.NoError(t, err)
	}
	_, err = env.c.Create(ctx, Organisations, Record{"OrganisationName": "Twin"}, "erp:customers:twin")
	var ce *CorrelationError
	require.True(t, errors.As(err, &ce), "%v", err)
	assert.Len(t, ce.IDs, 2)
	assert.False(t, Retryable(err))
	assert.Contains(t, err.Error(), "OrganisationCustom15")

	// Quotes in the token are escaped, not an injection.
	odd := "o'brien' OR 1=1 --"
	oid, err := env.c.Create(ctx, Organisations, Record{"OrganisationName": "O'Brien"}, odd)
	require.NoError(t, err)
	found, err := env.c.FindBy(ctx, Organisations, "OrganisationCustom15", odd)
	require.NoError(t, err)
	require.Len(t, found, 1)
	fid, _ := found[0].ID(Organisations)
	assert.Equal(t, oid, fid)
	upper, err := env.c.FindBy(ctx, Organisations, "OrganisationName", "ACME A/S")
	require.NoError(t, err)
	assert.Len(t, upper, 1, "FindBy is case-insensitive")

	// Users: POST returns no id either.
	uid, err := env.c.Create(ctx, Users, Record{"UserName": "Ada Lovelace", "UserEmail": "ada@example.com"}, "erp:contacts:e-1")
	require.NoError(t, err)
	u, ok := env.sim.Record("Users", uid)
	require.True(t, ok)
	assert.Equal(t, "erp:contacts:e-1", u["UserCustom15"])

	// Persons: POST returns the id; no correlation field configured by default.
	pid, err := env.c.Create(ctx, Persons, Record{"PersonLastName": "Berg", "PersonOrganisationId": id}, "erp:contacts:p-1")
	require.NoError(t, err)
	p, ok := env.sim.Record("Persons", pid)
	require.True(t, ok)
	assert.Equal(t, "Berg", p["PersonLastName"])
	assert.Nil(t, p["PersonCustom15"])

	// Rejected input is a validation error naming the operation.
	_, err = env.c.Create(ctx, Persons, Record{"PersonFirstName": "NoLastName"}, "")
	assert.True(t, IsValidation(err), "%v", err)
	assert.Contains(t, err.Error(), "Create Persons")
	assert.Contains(t, err.Error(), "PersonLastName")
}

func TestSimCreateWithCorrelationOnOtherEntity(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{}, func(c *Config) {
		c.CorrelationFields = map[Entity]string{Persons: "PersonCustom14", Users: ""}
	})
	ctx := context.Background()
	org, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Acme"})
	require.NoError(t, err)
	a, err := env.c.Create(ctx, Persons, Record{"PersonLastName": "Berg", "PersonOrganisationId": org}, "p-1")
	require.NoError(t, err)
	b, err := env.c.Create(ctx, Persons, Record{"PersonLastName": "Berg", "PersonOrganisationId": org}, "p-1")
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Len(t, env.sim.Records("Persons"), 1)
	assert.Equal(t, "OrganisationCustom15", env.c.CorrelationField(Organisations))
	assert.Equal(t, "", env.c.CorrelationField(Users))
	_, err = env.c.Create(ctx, Users, Record{"UserName": "x"}, "u-1")
	assert.ErrorIs(t, err, ErrInvalidArgument, "no correlation field: the id of a new user could not be learned")
}

func TestSimUpdateKeepsUnmappedFields(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{}, nil)
	ctx := context.Background()
	orig := map[string]any{
		"OrganisationName": "Acme", "OrganisationCity": "Aarhus", "OrganisationCustom3": "Yes",
		"OrganisationPlus5": "gold", "OrganisationXText1": "x1", "OrganisationXInt2": 42,
		"OrganisationMemo": "long memo\nsecond line", "OrganisationNoAds": true, "OrganisationVatNumber": "DK12345678",
	}
	id, err := env.sim.Put("Organisations", orig)
	require.NoError(t, err)
	before, _ := env.sim.Record("Organisations", id)

	written, err := env.c.Update(ctx, Organisations, id, Record{"OrganisationCity": "Odense", "OrganisationXDate1": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)})
	require.NoError(t, err)
	after, _ := env.sim.Record("Organisations", id)
	for k, v := range before {
		switch k {
		case "OrganisationCity":
			assert.Equal(t, "Odense", after[k])
		case "OrganisationUpdatedAt", "OrganisationUpdatedBy":
		default:
			assert.Equal(t, fmt.Sprint(v), fmt.Sprint(after[k]), "%s changed", k)
		}
	}
	assert.Equal(t, "2025-01-02T03:04:05.0000000Z", after["OrganisationXDate1"])
	assert.Equal(t, "Odense", written["OrganisationCity"])
	assert.Equal(t, "gold", written["OrganisationPlus5"])
	st := env.stats(t)
	assert.Equal(t, int64(1), st.RequestCount("GET /Organisations/{id}"))
	assert.Equal(t, int64(1), st.RequestCount("PUT /Organisations/{id}"))

	_, err = env.c.Update(ctx, Organisations, id+100, Record{"OrganisationCity": "x"})
	assert.True(t, IsNotFound(err), "%v", err)
	assert.Contains(t, err.Error(), "Update Organisations "+strconv.Itoa(id+100))
}

// TestSimReplaceWritesWithoutReading: Replace PUTs the caller's fresh read plus the
// changes, keeping every unmapped property, with no GET of its own.
func TestSimReplaceWritesWithoutReading(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{}, nil)
	ctx := context.Background()
	org, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Acme"})
	require.NoError(t, err)
	pid, err := env.sim.Put("Persons", map[string]any{"PersonLastName": "Berg", "PersonOrganisationId": org, "PersonCustom2": "keep", "PersonPlus1": "also"})
	require.NoError(t, err)
	cur, err := env.c.Get(ctx, Persons, pid)
	require.NoError(t, err)
	env.resetStats(t)

	written, err := env.c.Replace(ctx, Persons, pid, cur, Record{"PersonEmail": "berg@example.com"})
	require.NoError(t, err)
	after, _ := env.sim.Record("Persons", pid)
	assert.Equal(t, "berg@example.com", after["PersonEmail"])
	assert.Equal(t, "keep", after["PersonCustom2"])
	assert.Equal(t, "also", after["PersonPlus1"])
	assert.Equal(t, "berg@example.com", written["PersonEmail"])
	st := env.stats(t)
	assert.Equal(t, int64(0), st.RequestCount("GET /Persons/{id}"))
	assert.Equal(t, int64(1), st.RequestCount("PUT /Persons/{id}"))

	other := cur.Clone()
	other["PersonId"] = json.Number(strconv.Itoa(pid + 1))
	_, err = env.c.Replace(ctx, Persons, pid, other, Record{"PersonEmail": "x"})
	assert.ErrorIs(t, err, ErrInvalidArgument, "a read of another record is refused")
	assert.Equal(t, int64(1), env.stats(t).RequestCount("PUT /Persons/{id}"))

	// A ChangedSince row carries extra /Queries columns; they are not sent back.
	rows, _, err := env.c.ChangedSince(ctx, Persons, time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Contains(t, rows[0], "RowNumber")
	_, err = env.c.Replace(ctx, Persons, pid, rows[0], Record{"PersonTitle": "Dr"})
	require.NoError(t, err)
	after, _ = env.sim.Record("Persons", pid)
	assert.Equal(t, "Dr", after["PersonTitle"])
	assert.Equal(t, "keep", after["PersonCustom2"])
}

func TestSimMalformedResponses(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 1, SeedSize: 20}, nil)
	ctx := context.Background()
	_, err := env.c.List(ctx, Organisations, 1, 5) // log in before the faults start
	require.NoError(t, err)
	id, err := Record(env.sim.Records("Organisations")[0]).ID(Organisations)
	require.NoError(t, err)
	for _, kind := range []string{webcrmsim.MalformedHTML, webcrmsim.MalformedTruncated} {
		require.NoError(t, env.sim.Faults().SetMalformed(1, kind))
		_, err := env.c.Get(ctx, Organisations, id)
		assert.True(t, IsMalformed(err), "%s Get: %v", kind, err)
		assert.Contains(t, err.Error(), "Get Organisations "+strconv.Itoa(id))
		recs, err := env.c.List(ctx, Organisations, 1, 10)
		assert.True(t, IsMalformed(err), "%s List returned %d records: %v", kind, len(recs), err)
		_, _, err = env.c.ChangedSince(ctx, Organisations, time.Time{}, 100)
		assert.True(t, IsMalformed(err), "%s ChangedSince: %v", kind, err)
		_, err = env.c.Update(ctx, Organisations, id, Record{"OrganisationCity": "x"})
		assert.True(t, IsMalformed(err), "%s Update: %v", kind, err)
		assert.True(t, Retryable(err))
	}
	env.sim.Faults().Clear()
	_, err = env.c.Get(ctx, Organisations, id)
	require.NoError(t, err)
}

func TestSimDeleteBulkAndHooks(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{}, nil)
	ctx := context.Background()
	org, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Acme"})
	require.NoError(t, err)
	pid, err := env.c.Create(ctx, Products, Record{"ProductOrganisationId": org, "ProductPrice": 10.5, "ProductQuantity": 2}, "")
	require.NoError(t, err)
	require.NoError(t, env.c.Delete(ctx, Products, pid))
	_, err = env.c.Get(ctx, Products, pid)
	assert.True(t, IsNotFound(err), "%v", err)
	assert.True(t, IsNotFound(env.c.Delete(ctx, Products, pid)))
	assert.ErrorIs(t, env.c.Delete(ctx, Persons, 1), ErrMethodNotAllowed)

	res, err := env.c.BulkUpsert(ctx, Persons, []Record{
		{"PersonId": 0, "PersonLastName": "One", "PersonOrganisationId": org},
		{"PersonId": 0, "PersonLastName": "Two", "PersonOrganisationId": org},
	})
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Len(t, env.sim.Records("Persons"), 2)

	for _, e := range Entities() {
		hid, err := env.c.CreateHook(ctx, e, Hook{EventType: "Update", TargetURL: "http://127.0.0.1:1/hook", IsEnabled: true})
		require.NoError(t, err, e)
		h, err := env.c.GetHook(ctx, e, hid)
		require.NoError(t, err, e)
		assert.Equal(t, Hook{ID: hid, EventType: "Update", TargetURL: "http://127.0.0.1:1/hook", IsEnabled: true, Filter: []string{"All"}}, h)
		h.IsEnabled = false
		require.NoError(t, env.c.UpdateHook(ctx, e, h))
		hooks, err := env.c.ListHooks(ctx, e)
		require.NoError(t, err)
		require.Len(t, hooks, 1)
		assert.False(t, hooks[0].IsEnabled)
		require.NoError(t, env.c.DeleteHook(ctx, e, hid))
		hooks, err = env.c.ListHooks(ctx, e)
		require.NoError(t, err)
		assert.Empty(t, hooks)
		assert.True(t, IsNotFound(env.c.DeleteHook(ctx, e, hid)))
	}
}
