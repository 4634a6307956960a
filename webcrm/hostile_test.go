package webcrm

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// The tests in this file hold the client to what a real, SQL-backed webCRM may do and
// the simulator can be told to do (webcrmsim.FaultConfig): each fails on a client that
// trusts what webCRM does not promise.

func withCorrelation(c *Config) {
	c.CorrelationFields = map[Entity]string{Organisations: "OrganisationCustom15", Persons: "PersonCustom15"}
}

// TestHostileScanIsWholeWhateverTheOrder: a script without ORDER BY comes back in a
// new order every request, so paging it by page number skips and repeats rows. Scan,
// ListAll and FindBy order by id and page by keyset: every record exactly once.
func TestHostileScanIsWholeWhateverTheOrder(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 11, SeedSize: 1200, Faults: webcrmsim.FaultConfig{UnorderedPages: true}}, nil)
	ctx := context.Background()
	want := map[int]bool{}
	for _, r := range env.sim.Records(string(Organisations)) {
		id, err := Record(r).ID(Organisations)
		require.NoError(t, err)
		want[id] = true
	}
	require.Greater(t, len(want), 1000)

	// What a client that pages by number gets: not the whole set.
	naive := map[int]int{}
	for page := 1; ; page++ {
		rows, err := env.c.Query(ctx, "SELECT OrganisationId FROM Organisation", page, 500)
		require.NoError(t, err)
		for _, r := range rows {
			id, _ := r.ID(Organisations)
			naive[id]++
		}
		if len(rows) < 500 {
			break
		}
	}
	require.NotEqual(t, len(want), len(naive), "the simulator must skip rows for page-number paging")

	got := map[int]int{}
	require.NoError(t, env.c.ListAll(ctx, Organisations, 500, func(page []Record) error {
		for _, r := range page {
			id, _ := r.ID(Organisations)
			got[id]++
		}
		return nil
	}))
	require.Len(t, got, len(want))
	for id, n := range got {
		require.True(t, want[id], id)
		require.Equal(t, 1, n, "id %d read %d times", id, n)
	}

	name, _ := env.sim.Records(string(Organisations))[700]["OrganisationName"].(string)
	found, err := env.c.FindBy(ctx, Organisations, "OrganisationName", name)
	require.NoError(t, err)
	assert.NotEmpty(t, found)
}

// TestHostileCreateAfterALostAnswerIsNotMadeTwice: webCRM creates the record, then the
// answer is lost (5xx or a dropped connection). The POST is not sent again; the record
// is found by its correlation token.
func TestHostileCreateAfterALostAnswerIsNotMadeTwice(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 5, Faults: webcrmsim.FaultConfig{LostAnswerRate: 1}}, withCorrelation)
	ctx := context.Background()
	for i := range 6 {
		token := fmt.Sprintf("link/organisations/erp/CU-%d", i)
		rec, err := env.c.CreateRecord(ctx, Organisations, Record{"OrganisationName": "Lost " + strconv.Itoa(i)}, token)
		require.NoError(t, err, "the record was created; its token finds it")
		assert.Equal(t, token, rec["OrganisationCustom15"])
		assert.Len(t, carriers(env.sim, Organisations, "OrganisationCustom15", token), 1, "one record for %s", token)
		// A retry of the whole create finds it too.
		again, err := env.c.Create(ctx, Organisations, Record{"OrganisationName": "Lost " + strconv.Itoa(i)}, token)
		require.NoError(t, err)
		id, _ := rec.ID(Organisations)
		assert.Equal(t, id, again)
	}
	assert.Equal(t, int64(6), env.stats(t).LostAnswers)
	assert.Equal(t, int64(6), env.stats(t).Requests["POST /Organisations"][0]+sum5xx(env.stats(t).Requests["POST /Organisations"]),
		"every POST was sent once")
}

func sum5xx(byStatus map[int]int64) int64 {
	var n int64
	for s, c := range byStatus {
		if s >= 500 {
			n += c
		}
	}
	return n
}

// carriers returns the ids of the simulator's records of e whose field holds value.
func carriers(sim *webcrmsim.Server, e Entity, field, value string) []int {
	var out []int
	for _, r := range sim.Records(string(e)) {
		if r[field] == value {
			id, _ := Record(r).ID(e)
			out = append(out, id)
		}
	}
	return out
}

// TestHostileBatchCreateIsMatchedByToken: webCRM's PATCH answer is not promised to
// list the results in the records' order, nor all of them, nor only ids. A record
// counts as created only when it is found by its token; none is created twice.
func TestHostileBatchCreateIsMatchedByToken(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 9, Faults: webcrmsim.FaultConfig{
		PatchShuffle: true, PatchShortRate: 1, PatchItemErrorRate: 0.3,
	}}, withCorrelation)
	ctx := context.Background()
	recs := map[string]Record{}
	for i := range 40 {
		recs[fmt.Sprintf("link/organisations/erp/B-%02d", i)] = Record{"OrganisationName": fmt.Sprintf("Batch %02d", i)}
	}
	res, err := env.c.CreateBatch(ctx, Organisations, recs, BatchOptions{})
	require.NoError(t, err)
	stats := env.stats(t)
	require.Positive(t, stats.PatchItemErrors, "some items were refused")
	require.Positive(t, stats.PatchShortened)
	assert.Len(t, res.Created, 40-int(stats.PatchItemErrors))
	for tok, rec := range res.Created {
		assert.Equal(t, tok, rec["OrganisationCustom15"], "the record found for %s carries it", tok)
		assert.Equal(t, recs[tok]["OrganisationName"], rec["OrganisationName"])
	}
	// The refused ones are created by a second call; the others are not made again.
	env.sim.Faults().Set(webcrmsim.FaultConfig{})
	again, err := env.c.CreateBatch(ctx, Organisations, recs, BatchOptions{})
	require.NoError(t, err)
	assert.Len(t, again.Created, 40)
	for tok := range recs {
		assert.Len(t, carriers(env.sim, Organisations, "OrganisationCustom15", tok), 1, tok)
	}
}

// TestHostileBatchCreateAfterALostAnswer: the PATCH is carried out and its answer is
// lost. CreateBatch says so (nothing is known of what it did) and does not send it
// again; a second call finds every record by its token and creates none.
func TestHostileBatchCreateAfterALostAnswer(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 3, Faults: webcrmsim.FaultConfig{LostAnswerRate: 1}}, withCorrelation)
	ctx := context.Background()
	recs := map[string]Record{}
	for i := range 30 {
		recs[fmt.Sprintf("link/organisations/erp/L-%02d", i)] = Record{"OrganisationName": fmt.Sprintf("Lost batch %02d", i)}
	}
	_, err := env.c.CreateBatch(ctx, Organisations, recs, BatchOptions{})
	require.Error(t, err)
	require.True(t, Retryable(err), "%v", err)
	env.sim.Faults().Set(webcrmsim.FaultConfig{})
	res, err := env.c.CreateBatch(ctx, Organisations, recs, BatchOptions{})
	require.NoError(t, err)
	assert.Len(t, res.Created, 30)
	assert.Len(t, env.sim.Records(string(Organisations)), 30, "30 records, not 60 or 90")
	assert.Equal(t, int64(1), patches(env.stats(t)), "one PATCH in all")
}

// TestABatchCreateOfUnseenTokensCostsTwoRequests: a caller that vouches that
// no record carries the tokens saves the look-up before the PATCH, and the
// read-back reads the ids the answer named as one range: a PATCH and one
// query for a whole batch, where a read-back by 100 tokens needs several
// queries to fit the URL limit. What was created is still decided by the
// tokens the records carry, whatever order the answer gave.
func TestABatchCreateOfUnseenTokensCostsTwoRequests(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 5, Faults: webcrmsim.FaultConfig{PatchShuffle: true}}, withCorrelation)
	ctx := context.Background()
	_, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": "Typed in webCRM"})
	require.NoError(t, err)
	recs := map[string]Record{}
	for i := range MaxBatch {
		recs[fmt.Sprintf("link/organisations/erp/UNSEEN-CUSTOMER-%03d", i)] = Record{"OrganisationName": fmt.Sprintf("Unseen %02d", i)}
	}
	res, err := env.c.CreateBatch(ctx, Organisations, recs, BatchOptions{Unseen: true})
	require.NoError(t, err)
	assert.Len(t, res.Created, MaxBatch)
	for tok, rec := range res.Created {
		assert.Equal(t, tok, rec["OrganisationCustom15"])
		assert.Equal(t, recs[tok]["OrganisationName"], rec["OrganisationName"])
	}
	stats := env.stats(t)
	assert.Equal(t, int64(1), patches(stats))
	assert.Equal(t, int64(1), queries(stats), "the read-back, in one query")
	assert.Len(t, env.sim.Records(string(Organisations)), MaxBatch+1)
}

func queries(s webcrmsim.Stats) int64 {
	var n int64
	for _, c := range s.Requests["GET /Queries"] {
		n += c
	}
	return n
}

func patches(s webcrmsim.Stats) int64 {
	var n int64
	for _, c := range s.Requests["PATCH /Organisations"] {
		n += c
	}
	return n
}

// TestHostileLookUpsFitTheURLLimit: a look-up by 150 tokens as one OR would need a URL
// of several thousand characters; IIS refuses query strings over 2,048 with a 404
// page. The look-up is split by the length of the encoded URL.
func TestHostileLookUpsFitTheURLLimit(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 4, Faults: webcrmsim.FaultConfig{MaxURLLength: 2048}}, withCorrelation)
	ctx := context.Background()
	var tokens []string
	for i := range 150 {
		tok := fmt.Sprintf("link/organisations/erp/CUSTOMER-%04d", i)
		tokens = append(tokens, tok)
		_, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": tok, "OrganisationCustom15": tok})
		require.NoError(t, err)
	}
	found, err := env.c.RecordsByToken(ctx, Organisations, tokens)
	require.NoError(t, err)
	assert.Len(t, found, 150)
	assert.Zero(t, env.stats(t).URLTooLong)
	assert.Greater(t, env.stats(t).Requests["GET /Queries"][200], int64(2), "split into several requests")
}

// TestHostileA404PageIsNotARecordNotFound: a 404 that is an HTML page comes from in
// front of webCRM (IIS refusing a long URL, a proxy); it must not read as "this record
// does not exist", which would make it look deleted.
func TestHostileA404PageIsNotARecordNotFound(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 4, SeedSize: 3, Faults: webcrmsim.FaultConfig{MaxURLLength: 10}}, nil)
	_, err := env.c.Get(context.Background(), Organisations, 1)
	require.Error(t, err)
	assert.False(t, IsNotFound(err), "%v", err)
	assert.True(t, Retryable(err))
	assert.Contains(t, err.Error(), "HTML page")
}

// TestHostileMaskedSecretsAreNotWrittenBack: a GET returns a user's password,
// authentication code and ticket as ********; an update must not PUT them back.
func TestHostileMaskedSecretsAreNotWrittenBack(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 2, SeedSize: 5, Faults: webcrmsim.FaultConfig{MaskSecrets: true}}, nil)
	ctx := context.Background()
	users := env.sim.Records(string(Users))
	require.NotEmpty(t, users)
	id, _ := Record(users[0]).ID(Users)
	before, _ := env.sim.Record(string(Users), id)
	require.NotEmpty(t, before["UserPassword"])
	got, err := env.c.Get(ctx, Users, id)
	require.NoError(t, err)
	require.Equal(t, webcrmsim.SecretMask, got["UserPassword"], "the simulator masks it")
	_, err = env.c.Update(ctx, Users, id, Record{"UserTitle": "Head of sales"})
	require.NoError(t, err)
	_, err = env.c.Replace(ctx, Users, id, got, Record{"UserTitle": "Sales"})
	require.NoError(t, err)
	after, _ := env.sim.Record(string(Users), id)
	assert.Zero(t, env.stats(t).SecretsOverwritten)
	for _, p := range []string{"UserPassword", "UserAuthenticationCode", "UserTicket"} {
		assert.Equal(t, before[p], after[p], p)
	}
	assert.Equal(t, "Sales", after["UserTitle"])
}

// TestHostileTimeStampsWithAnOffsetOrInLocalTime: webCRM does not document the zone of
// its time stamps. Stamps with an offset are read as the instants they are; stamps in
// the account's local time without an offset need the zone (Config.TimeZone), and
// without it a walk refuses stamps that lie ahead of the clock rather than take a
// watermark an hour in the future.
func TestHostileTimeStampsWithAnOffsetOrInLocalTime(t *testing.T) {
	t.Parallel()
	cph, err := time.LoadLocation("Europe/Copenhagen")
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		faults webcrmsim.FaultConfig
		loc    *time.Location
		fails  bool
	}{
		{"offset", webcrmsim.FaultConfig{TimeStamps: webcrmsim.TimeStampsOffset, TimeZone: "Europe/Copenhagen"}, nil, false},
		{"local, zone set", webcrmsim.FaultConfig{TimeStamps: webcrmsim.TimeStampsLocal, TimeZone: "Europe/Copenhagen"}, cph, false},
		{"local, zone not set", webcrmsim.FaultConfig{TimeStamps: webcrmsim.TimeStampsLocal, TimeZone: "Europe/Copenhagen"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newSimEnv(t, webcrmsim.Options{Seed: 8, Faults: tc.faults}, func(c *Config) { c.TimeZone = tc.loc })
			ctx := context.Background()
			start := time.Now().Add(-time.Second)
			for i := range 5 {
				_, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": fmt.Sprintf("Zone %d", i)})
				require.NoError(t, err)
			}
			recs, next, err := env.c.ChangedSince(ctx, Organisations, start, 100)
			if tc.fails {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "WEBCRM_TIME_ZONE")
				return
			}
			require.NoError(t, err)
			require.Len(t, recs, 5)
			assert.WithinDuration(t, time.Now(), next, time.Minute, "the watermark is an instant near now")
			at, err := recs[0].UpdatedAt(Organisations)
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now(), at, time.Minute)
			// Nothing was written after the watermark: the next walk returns only the
			// records stamped at it.
			again, _, err := env.c.ChangedSince(ctx, Organisations, next.Add(wireResolution), 100)
			require.NoError(t, err)
			assert.Empty(t, again)
		})
	}
}

// TestHostileTheSameRowTwiceIsReadOnce: a page may carry the same row twice (a
// join, a server's glitch). Both walks take it once, and the rows after it.
func TestHostileTheSameRowTwiceIsReadOnce(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	row := func(id int) map[string]any {
		return map[string]any{"OrganisationId": id, "OrganisationUpdatedAt": "2026-01-01T10:00:00.0000000Z", "OrganisationName": fmt.Sprint("Org ", id)}
	}
	f.handle("GET /Queries", func(w http.ResponseWriter, r *http.Request) {
		// The first page carries row 2 twice; the keyset request after it
		// (ids after 3) finds nothing more.
		if strings.Contains(r.URL.Query().Get("script"), "OrganisationId > 3") {
			writeJSON(w, []any{})
			return
		}
		writeJSON(w, []any{row(1), row(2), row(2), row(3)})
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	ctx := context.Background()
	recs, _, err := c.ChangedSince(ctx, Organisations, time.Time{}, 0)
	require.NoError(t, err)
	assert.Len(t, recs, 3)
	var ids []int
	require.NoError(t, c.Scan(ctx, Select(Organisations), 4, func(page []Record) error {
		for _, r := range page {
			id, _ := r.ID(Organisations)
			ids = append(ids, id)
		}
		return nil
	}))
	assert.Equal(t, []int{1, 2, 3}, ids)
}

// TestAReadBackTrustsTokensNotTheAnswer: a bulk answer may name ids far
// apart, ids of records the batch did not make, or no id at all. The read-back
// counts a record for a token only when it carries that token, and looks up by
// token only what the ids the answer named did not lead to.
func TestAReadBackTrustsTokensNotTheAnswer(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 11}, withCorrelation)
	ctx := context.Background()
	put := func(name, token string) string {
		id, err := env.sim.Put("Organisations", map[string]any{"OrganisationName": name, "OrganisationCustom15": token})
		require.NoError(t, err)
		return strconv.Itoa(id)
	}
	first := put("First", "link/organisations/erp/FAR-1")
	for i := range 300 {
		put(fmt.Sprintf("Typed in webCRM %03d", i), "")
	}
	other := put("Another link's", "link/organisations/erp/OTHER")
	last := put("Last", "link/organisations/erp/FAR-2")
	unnamed := put("Left out of the answer", "link/organisations/erp/FAR-3")
	tokens := []string{"link/organisations/erp/FAR-1", "link/organisations/erp/FAR-2", "link/organisations/erp/FAR-3"}
	answer := []string{last, "Error: OrganisationName is required", other, first}

	got, err := env.c.readBack(ctx, Organisations, tokens, nil, answer)

	require.NoError(t, err)
	for tok, want := range map[string]string{tokens[0]: first, tokens[1]: last, tokens[2]: unnamed} {
		if assert.Len(t, got[tok], 1, tok) {
			id, _ := got[tok][0].ID(Organisations)
			assert.Equal(t, want, strconv.Itoa(id), tok)
		}
	}
	assert.Len(t, got, 3, "the other link's record counts for none of the batch's tokens")
	assert.Equal(t, int64(2), queries(env.stats(t)), "the named ids by id, then the left-out token")
}
