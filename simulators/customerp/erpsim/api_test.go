package erpsim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

// TestConditionalWritesAndETag: GET's ETag is the version; PUT needs If-Match (428), refuses a
// malformed one (400) and a stale one (412 with the current version).
func TestConditionalWritesAndETag(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	a := h.do(http.MethodPost, "/customers", map[string]any{"name": "Elv Energi AS"})
	require.Equal(t, http.StatusCreated, a.Status)
	id := a.json(t)["id"].(string)
	assert.Equal(t, `"1"`, a.Header.Get("ETag"))
	assert.Equal(t, "/customers/"+id, a.Header.Get("Location"))

	a = h.do(http.MethodGet, "/customers/"+id, nil)
	require.Equal(t, http.StatusOK, a.Status)
	assert.Equal(t, `"1"`, a.Header.Get("ETag"))

	a = h.do(http.MethodPut, "/customers/"+id, map[string]any{"name": "Elv Energi ASA"})
	require.Equal(t, http.StatusPreconditionRequired, a.Status)
	assertField(t, a.problem(t), "If-Match", "required")

	a = h.do(http.MethodPut, "/customers/"+id, map[string]any{"name": "Elv Energi ASA"}, "If-Match", `"one"`)
	require.Equal(t, http.StatusBadRequest, a.Status)
	assertField(t, a.problem(t), "If-Match", "version")

	a = h.do(http.MethodPut, "/customers/"+id, map[string]any{"name": "Elv Energi ASA"}, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
	assert.Equal(t, `"2"`, a.Header.Get("ETag"))
	assert.Equal(t, json.Number("2"), a.json(t)["version"])

	a = h.do(http.MethodPut, "/customers/"+id, map[string]any{"name": "Elv Energi"}, "If-Match", `"1"`)
	require.Equal(t, http.StatusPreconditionFailed, a.Status)
	assert.Equal(t, `"2"`, a.Header.Get("ETag"))
	p := a.problem(t)
	assert.Equal(t, int64(2), p.CurrentVersion)

	// A replace with what is stored is not a change.
	a = h.do(http.MethodPut, "/customers/"+id, map[string]any{"name": "Elv Energi ASA"}, "If-Match", "2")
	require.Equal(t, http.StatusOK, a.Status)
	assert.Equal(t, `"2"`, a.Header.Get("ETag"))
	chs, _, err := h.c.Changes(context.Background(), customerp.Customers, "", 100)
	require.NoError(t, err)
	assert.Len(t, chs, 2)

	// Full replace: fields left out become null (or their default).
	a = h.do(http.MethodPut, "/customers/"+id, map[string]any{"name": "X", "email": "x@y.dk", "active": false}, "If-Match", "2")
	require.Equal(t, http.StatusOK, a.Status)
	a = h.do(http.MethodPut, "/customers/"+id, map[string]any{"name": "X"}, "If-Match", "3")
	require.Equal(t, http.StatusOK, a.Status)
	rec := a.json(t)
	assert.Nil(t, rec["email"])
	assert.Equal(t, true, rec["active"], "active defaults to true")
}

// TestAuth: every API route needs the bearer key; admin routes and the page do not.
func TestAuth(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	for _, hdr := range []string{"", "Bearer wrong", "Basic " + key, "Bearer"} {
		a := h.do(http.MethodGet, "/customers", nil, "Authorization", hdr)
		require.Equal(t, http.StatusUnauthorized, a.Status, "Authorization %q", hdr)
		a.problem(t)
		assert.Contains(t, a.Header.Get("WWW-Authenticate"), "Bearer")
		assert.NotContains(t, string(a.Body), key)
	}
	a := h.do(http.MethodGet, "/customers/changes", nil, "Authorization", "bearer "+key)
	assert.Equal(t, http.StatusOK, a.Status, "the scheme is case-insensitive")
	a = h.do(http.MethodGet, "/_sim/stats", nil, "Authorization", "")
	assert.Equal(t, http.StatusOK, a.Status)
	a = h.do(http.MethodGet, "/", nil, "Authorization", "")
	assert.Equal(t, http.StatusOK, a.Status)
}

// TestNotFoundAndMethods: unknown ids and resources are 404, wrong methods 405.
func TestNotFoundAndMethods(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	a := h.do(http.MethodGet, "/customers/CU-424242", nil)
	require.Equal(t, http.StatusNotFound, a.Status)
	assert.Contains(t, a.problem(t).Detail, "CU-424242")
	a = h.do(http.MethodPut, "/products/PR-1", map[string]any{"name": "x"}, "If-Match", "1")
	require.Equal(t, http.StatusNotFound, a.Status)
	srvReq := func(method, path string) int {
		req, err := http.NewRequest(method, h.hs.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusNotFound, srvReq(http.MethodGet, "/invoices"))
	assert.Equal(t, http.StatusNotFound, srvReq(http.MethodGet, "/customers/CU-1/lines"))
	assert.Equal(t, http.StatusMethodNotAllowed, srvReq(http.MethodPatch, "/customers/CU-1"))
	assert.Equal(t, http.StatusMethodNotAllowed, srvReq(http.MethodDelete, "/customers"))
	assert.Equal(t, http.StatusMethodNotAllowed, srvReq(http.MethodPost, "/customers/changes"))
}

// TestDeletesLeaveTombstones: a delete is 204, then 404, and the feed carries a tombstone
// with the next version and the last state; a stale If-Match on delete is 412.
func TestDeletesLeaveTombstones(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	ctx := context.Background()
	id := h.put("products", map[string]any{"name": "Kabel", "productNumber": "K-1", "externalRef": "webcrm:Products:9"})
	_, err := h.srv.Patch("products", id, map[string]any{"unit": "m"})
	require.NoError(t, err)

	a := h.do(http.MethodDelete, "/products/"+id, nil, "If-Match", `"1"`)
	require.Equal(t, http.StatusPreconditionFailed, a.Status)
	a = h.do(http.MethodDelete, "/products/"+id, nil, "If-Match", `"2"`)
	require.Equal(t, http.StatusNoContent, a.Status)
	a = h.do(http.MethodGet, "/products/"+id, nil)
	require.Equal(t, http.StatusNotFound, a.Status)
	a = h.do(http.MethodDelete, "/products/"+id, nil)
	require.Equal(t, http.StatusNotFound, a.Status)
	found, err := h.c.Find(ctx, customerp.Products, "productNumber", "K-1")
	require.NoError(t, err)
	assert.Empty(t, found, "look-ups forget deleted records")

	chs, _, err := h.c.Changes(ctx, customerp.Products, "", 10)
	require.NoError(t, err)
	require.Len(t, chs, 3)
	tomb := chs[2]
	assert.True(t, tomb.Deleted)
	assert.Equal(t, id, tomb.ID)
	assert.Equal(t, int64(3), tomb.Version)
	assert.Equal(t, "webcrm:Products:9", tomb.Record.ExternalRef(), "a tombstone carries the last state")
}

// TestReferencesBlockDeletes: records others point at cannot be deleted (409); deleting an
// order deletes its lines, each with a tombstone.
func TestReferencesBlockDeletes(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	f := newFixture(h)
	for _, p := range []string{"/customers/" + f.customer, "/contacts/" + f.person, "/products/" + f.product} {
		a := h.do(http.MethodDelete, p, nil)
		require.Equal(t, http.StatusConflict, a.Status, p)
		assert.Contains(t, a.problem(t).Detail, "still referred to")
	}
	a := h.do(http.MethodDelete, "/orders/"+f.order, nil)
	require.Equal(t, http.StatusNoContent, a.Status)
	_, ok := h.srv.Record("order-lines", f.line)
	assert.False(t, ok)
	chs, _, err := h.c.Changes(context.Background(), customerp.OrderLines, "", 10)
	require.NoError(t, err)
	require.Len(t, chs, 2)
	assert.True(t, chs[1].Deleted)
	for _, p := range []string{"/products/" + f.product, "/contacts/" + f.person, "/customers/" + f.customer} {
		a := h.do(http.MethodDelete, p, nil)
		require.Equal(t, http.StatusNoContent, a.Status, "%s: %s", p, a.Body)
	}
}

// TestOrderLineChangesBumpTheOrder: every line create, update and delete makes a new order
// version that shows in the orders feed with the lines embedded and the total recomputed.
func TestOrderLineChangesBumpTheOrder(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	ctx := context.Background()
	cu := h.put("customers", map[string]any{"name": "Tinde Bygg AS"})
	pr := h.put("products", map[string]any{"name": "Konsulenttime", "productNumber": "HOUR"})
	order, err := h.c.Create(ctx, customerp.Orders, customerp.Record{"customerId": cu, "currency": "NOK", "discount": n("10")}, "o1")
	require.NoError(t, err)
	oid, _ := order.ID()
	_, since, err := h.c.Changes(ctx, customerp.Orders, "", 100)
	require.NoError(t, err)

	line, err := h.c.Create(ctx, customerp.OrderLines, customerp.Record{"orderId": oid, "productNumber": "HOUR", "quantity": n("7.5"),
		"unitPrice": n("1150"), "sortOrder": n("2")}, "l1")
	require.NoError(t, err)
	lid, _ := line.ID()
	assert.Equal(t, pr, line["productId"])
	line2, err := h.c.Create(ctx, customerp.OrderLines, customerp.Record{"orderId": oid, "productId": pr, "quantity": n("1"),
		"unitPrice": n("100"), "discountPercent": n("50"), "sortOrder": n("1")}, "l2")
	require.NoError(t, err)
	assert.Equal(t, "HOUR", line2["productNumber"], "productNumber filled from productId")
	l2id, _ := line2.ID()

	got, err := h.c.Get(ctx, customerp.Orders, oid)
	require.NoError(t, err)
	v, _ := got.Version()
	assert.Equal(t, int64(3), v)
	lines := got["lines"].([]any)
	require.Len(t, lines, 2)
	assert.Equal(t, l2id, lines[0].(map[string]any)["lineId"], "lines in sortOrder")
	// (7.5 × 1150 + 100 × 0.5) × 0.9 = (8625 + 50) × 0.9 = 7807.5
	assert.Equal(t, json.Number("7807.5"), got["totalAmount"])

	line["quantity"] = n("8")
	_, err = h.c.Update(ctx, customerp.OrderLines, lid, line, 1)
	require.NoError(t, err)
	require.NoError(t, h.c.Delete(ctx, customerp.OrderLines, l2id))

	chs, _, err := h.c.Changes(ctx, customerp.Orders, since, 100)
	require.NoError(t, err)
	require.Len(t, chs, 4, "two line creates, one line update, one line delete")
	for i, c := range chs {
		assert.Equal(t, oid, c.ID)
		assert.Equal(t, int64(i+2), c.Version)
	}
	last := chs[3].Record
	assert.Len(t, last["lines"], 1)
	assert.Equal(t, json.Number("8280"), last["totalAmount"], "8 × 1150 × 0.9")
	ol, _, err := h.c.Changes(ctx, customerp.OrderLines, "", 100)
	require.NoError(t, err)
	require.Len(t, ol, 4)
	assert.True(t, ol[3].Deleted)
	assert.Equal(t, l2id, ol[3].ID)
}

// TestIdempotencyEdgeCases: a key is bound to one resource and body; a replay after the
// record was deleted is 409; keys are bounded.
func TestIdempotencyEdgeCases(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	body := map[string]any{"name": "Isbre Data AS"}
	a := h.do(http.MethodPost, "/customers", body, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusCreated, a.Status)
	id := a.json(t)["id"].(string)
	a = h.do(http.MethodPost, "/customers", map[string]any{"active": true, "name": "Isbre Data AS"}, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusOK, a.Status, "the same body after normalisation (active defaults to true)")
	assert.Equal(t, "true", a.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, id, a.json(t)["id"])
	a = h.do(http.MethodPost, "/products", map[string]any{"name": "Isbre Data AS"}, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusUnprocessableEntity, a.Status)
	a = h.do(http.MethodPost, "/customers", body, "Idempotency-Key", strings.Repeat("k", 201))
	require.Equal(t, http.StatusBadRequest, a.Status)
	require.NoError(t, h.srv.Remove("customers", id))
	a = h.do(http.MethodPost, "/customers", body, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusConflict, a.Status)
	assert.Contains(t, a.problem(t).Detail, "deleted")
}

// TestRateLimitAnswer: an injected 429 carries Retry-After and problem details.
func TestRateLimitAnswer(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{Faults: erpsim.FaultConfig{RateLimitBurst: 2, RetryAfterSeconds: 3}})
	for i := 0; i < 2; i++ {
		a := h.do(http.MethodGet, "/contacts", nil)
		require.Equal(t, http.StatusTooManyRequests, a.Status)
		assert.Equal(t, "3", a.Header.Get("Retry-After"))
		a.problem(t)
	}
	a := h.do(http.MethodGet, "/contacts", nil)
	require.Equal(t, http.StatusOK, a.Status)
	st := h.srv.Stats()
	assert.Equal(t, int64(2), st.RateLimited)
	assert.Equal(t, int64(2), st.Count("GET /contacts", 429))
	assert.Equal(t, int64(1), st.Count("GET /contacts", 200))
}

// TestUpdatedAtNeverGoesBack: a clock that jumps back does not make updatedAt go back.
func TestUpdatedAtNeverGoesBack(t *testing.T) {
	t.Parallel()
	times := []time.Time{time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC), time.Date(2025, 5, 1, 11, 0, 0, 0, time.UTC)}
	i := 0
	clock := func() time.Time {
		t := times[min(i, len(times)-1)]
		i++
		return t
	}
	h := start(t, erpsim.Options{Now: clock})
	a := h.put("customers", map[string]any{"name": "A"})
	b := h.put("customers", map[string]any{"name": "B"})
	ra, _ := h.srv.Record("customers", a)
	rb, _ := h.srv.Record("customers", b)
	assert.Equal(t, "2025-05-01T12:00:00.000000Z", ra["updatedAt"])
	assert.Equal(t, "2025-05-01T12:00:00.000001Z", rb["updatedAt"])
}

// TestPersistsAcrossRestart: a file database keeps records, feed, keys and id counters.
func TestPersistsAcrossRestart(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "erp.db")
	srv, err := erpsim.New(erpsim.Options{APIKey: key, DBPath: db})
	require.NoError(t, err)
	rec, err := srv.Put("customers", map[string]any{"name": "Kyst Service AS"})
	require.NoError(t, err)
	require.NoError(t, srv.Close())

	h := start(t, erpsim.Options{DBPath: db})
	got, ok := h.srv.Record("customers", rec["id"].(string))
	require.True(t, ok)
	assert.Equal(t, "Kyst Service AS", got["name"])
	next := h.put("customers", map[string]any{"name": "Dal Print AS"})
	assert.NotEqual(t, rec["id"], next)
	chs, _, err := h.c.Changes(context.Background(), customerp.Customers, "", 10)
	require.NoError(t, err)
	assert.Len(t, chs, 2)
}

// TestGoAPI: Put, Patch, Remove, Record and Records behave like edits in the ERP's screens.
func TestGoAPI(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	rec, err := h.srv.Put("customers", map[string]any{"name": "Ask Consult ApS", "email": "a@ask.dk", "postalAddress": map[string]any{"city": "Vejle", "line1": "Havnegade 2"}})
	require.NoError(t, err)
	id := rec["id"].(string)
	rec, err = h.srv.Patch("customers", id, map[string]any{"email": nil, "postalAddress": map[string]any{"city": "Kolding"}, "version": 99})
	require.NoError(t, err)
	assert.Nil(t, rec["email"], "null clears a field")
	addr := rec["postalAddress"].(map[string]any)
	assert.Equal(t, "Kolding", addr["city"])
	assert.Equal(t, "Havnegade 2", addr["line1"], "merge patch keeps the other nested fields")
	assert.Equal(t, int64(2), rec["version"])
	rec["name"] = "Ask Consult A/S"
	rec, err = h.srv.Put("customers", rec)
	require.NoError(t, err)
	assert.Equal(t, int64(3), rec["version"])
	_, err = h.srv.Put("customers", map[string]any{"name": 12})
	require.ErrorContains(t, err, "name: must be a string")
	_, err = h.srv.Put("invoices", map[string]any{})
	require.Error(t, err)
	_, err = h.srv.Patch("customers", "CU-999", map[string]any{"name": "x"})
	require.Error(t, err)
	assert.Len(t, h.srv.Records("customers"), 1)
	require.NoError(t, h.srv.Remove("customers", id))
	assert.Empty(t, h.srv.Records("customers"))
	assert.Nil(t, h.srv.Records("invoices"))
	assert.Equal(t, int64(0), h.srv.Stats().Total, "direct edits are not API requests")
	chs, _, err := h.c.Changes(context.Background(), customerp.Customers, "", 10)
	require.NoError(t, err)
	assert.Len(t, chs, 4, "the feed sees direct edits")
}

// TestSeedIsDeterministic: the same seed gives the same data; another seed other data.
func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	strip := func(s *erpsim.Server) string {
		var b strings.Builder
		for _, r := range customerp.Resources() {
			for _, rec := range s.Records(string(r)) {
				delete(rec, "updatedAt")
				if ls, ok := rec["lines"].([]any); ok {
					for _, l := range ls {
						delete(l.(map[string]any), "updatedAt")
					}
				}
				raw, _ := json.Marshal(rec)
				b.Write(raw)
			}
		}
		return b.String()
	}
	mk := func(seed int64) *erpsim.Server {
		s, err := erpsim.New(erpsim.Options{APIKey: key, Seed: seed, SeedSize: 12})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b, c := mk(7), mk(7), mk(8)
	assert.Equal(t, strip(a), strip(b))
	assert.NotEqual(t, strip(a), strip(c))
	assert.Len(t, a.Records("customers"), 12)
	assert.GreaterOrEqual(t, len(a.Records("contacts")), 12+4)
	assert.NotEmpty(t, a.Records("orders"))
	assert.NotEmpty(t, a.Records("order-lines"))
	for _, o := range a.Records("orders") {
		assert.NotEmpty(t, o["lines"])
	}
	var dk, no bool
	for _, cu := range a.Records("customers") {
		addr := cu["postalAddress"].(map[string]any)
		dk = dk || addr["countryCode"] == "DK"
		no = no || addr["countryCode"] == "NO"
	}
	assert.True(t, dk && no, "Danish and Norwegian customers")
}
