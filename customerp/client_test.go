package customerp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

func customer(name, orgNo string) customerp.Record {
	return customerp.Record{
		"name": name, "organisationNumber": orgNo, "email": strings.ToLower(strings.ReplaceAll(name, " ", "")) + "@example.dk",
		"phone": "+45 12 34 56 78", "postalAddress": map[string]any{"line1": "Vestergade 1", "postalCode": "8000", "city": "Aarhus C", "countryCode": "DK"},
	}
}

// TestContractEveryResource drives every operation of every resource through the real client
// against the reference server, with the transport validating each request and response.
func TestContractEveryResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	cu, err := e.c.Create(ctx, customerp.Customers, customer("Fjord Data AS", "NO 912 345 678 MVA"), "k-cu")
	require.NoError(t, err)
	cuID, _ := cu.ID()
	emp, err := e.c.Create(ctx, customerp.Contacts, customerp.Record{"contactType": "employee", "firstName": "Kari", "lastName": "Berg", "email": "kari@erp.no"}, "k-emp")
	require.NoError(t, err)
	empID, _ := emp.ID()
	per, err := e.c.Create(ctx, customerp.Contacts, customerp.Record{"contactType": "person", "customerId": cuID, "firstName": "Ola", "lastName": "Olsen",
		"email": "Ola.Olsen@FjordData.no", "birthDate": "1980-02-29", "externalRef": "webcrm:Persons:7"}, "k-per")
	require.NoError(t, err)
	perID, _ := per.ID()
	pr, err := e.c.Create(ctx, customerp.Products, customerp.Record{"productNumber": "P-1", "name": "Ventil", "unit": "stk",
		"salesPrice": json.Number("312.75"), "costPrice": json.Number("187.65"), "vatCode": "25", "stockQuantity": json.Number("12.5")}, "k-pr")
	require.NoError(t, err)
	prID, _ := pr.ID()
	or, err := e.c.Create(ctx, customerp.Orders, customerp.Record{"customerId": cuID, "contactId": perID, "salesRepContactId": empID,
		"orderNumber": "SO-1", "orderDate": "2025-03-01", "currency": "NOK", "discount": json.Number("10"), "status": "open"}, "k-or")
	require.NoError(t, err)
	orID, _ := or.ID()
	ln, err := e.c.Create(ctx, customerp.OrderLines, customerp.Record{"orderId": orID, "productNumber": "P-1",
		"quantity": json.Number("2"), "unitPrice": json.Number("312.75"), "discountPercent": json.Number("5"), "vatPercent": json.Number("25"), "sortOrder": json.Number("10")}, "k-ln")
	require.NoError(t, err)
	lnID, _ := ln.ID()
	assert.Equal(t, prID, ln["productId"], "the server fills productId from productNumber")
	assert.Equal(t, lnID, ln["lineId"])

	for _, r := range customerp.Resources() {
		recs, next, err := e.c.List(ctx, r, "", 10)
		require.NoError(t, err, r)
		assert.Len(t, recs, map[customerp.Resource]int{customerp.Contacts: 2}[r]+boolInt(r != customerp.Contacts), r)
		assert.Empty(t, next)
		chs, token, err := e.c.Changes(ctx, r, "", 100)
		require.NoError(t, err, r)
		assert.NotEmpty(t, chs)
		assert.NotEmpty(t, token)
	}

	got, err := e.c.Get(ctx, customerp.Orders, orID)
	require.NoError(t, err)
	v, _ := got.Version()
	assert.Equal(t, int64(2), v, "adding a line made a new order version")
	lines := got["lines"].([]any)
	require.Len(t, lines, 1)
	assert.Equal(t, lnID, lines[0].(map[string]any)["id"])
	// 2 × 312.75 × 0.95 × 0.90 = 534.8025 -> 534.80
	assert.Equal(t, json.Number("534.8"), got["totalAmount"])

	got["description"] = "updated"
	upd, err := e.c.Update(ctx, customerp.Orders, orID, got, v)
	require.NoError(t, err, "a record read with Get can be sent back as it is: read-only fields are dropped")
	uv, _ := upd.Version()
	assert.Equal(t, v+1, uv)

	found, err := e.c.Find(ctx, customerp.Customers, "organisationNumber", "no912345678mva")
	require.NoError(t, err)
	require.Len(t, found, 1, "organisation numbers match ignoring case, spaces and punctuation")
	found, err = e.c.Find(ctx, customerp.Contacts, "email", "ola.olsen@fjorddata.NO")
	require.NoError(t, err)
	require.Len(t, found, 1, "e-mail matches ignoring case")
	found, err = e.c.FindWhere(ctx, customerp.Contacts, map[string]string{"contactType": "employee"})
	require.NoError(t, err)
	require.Len(t, found, 1)
	found, err = e.c.Find(ctx, customerp.Contacts, "externalRef", "webcrm:Persons:7")
	require.NoError(t, err)
	require.Len(t, found, 1)
	found, err = e.c.Find(ctx, customerp.Products, "productNumber", "P-1")
	require.NoError(t, err)
	require.Len(t, found, 1)
	found, err = e.c.Find(ctx, customerp.OrderLines, "orderId", orID)
	require.NoError(t, err)
	require.Len(t, found, 1)
	_, err = e.c.Find(ctx, customerp.Products, "email", "x")
	require.Error(t, err, "email is not a look-up of products")

	require.NoError(t, e.c.Delete(ctx, customerp.OrderLines, lnID))
	require.NoError(t, e.c.Delete(ctx, customerp.Orders, orID))
	_, err = e.c.Get(ctx, customerp.Orders, orID)
	require.True(t, customerp.IsNotFound(err), "%v", err)
	err = e.c.Delete(ctx, customerp.Orders, orID)
	require.True(t, customerp.IsNotFound(err), "%v", err)

	reqs, resps := e.ct.Counts()
	assert.Greater(t, reqs, 25)
	assert.Equal(t, reqs, resps)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDecimalsKeepEveryDigit checks money survives the round trip exactly (no float64).
func TestDecimalsKeepEveryDigit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	p, err := e.c.Create(ctx, customerp.Products, customerp.Record{"name": "Precise", "salesPrice": json.Number("123456789012345.0123456789"),
		"costPrice": json.Number("100.50"), "stockQuantity": json.Number("1E3")}, "")
	require.NoError(t, err)
	id, _ := p.ID()
	got, err := e.c.Get(ctx, customerp.Products, id)
	require.NoError(t, err)
	assert.Equal(t, json.Number("123456789012345.0123456789"), got["salesPrice"])
	assert.Equal(t, json.Number("100.5"), got["costPrice"], "stored as canonical decimal text")
	assert.Equal(t, json.Number("1000"), got["stockQuantity"])
}

// TestVersionsETagAndStale checks conditional writes: 412 as *StaleError with the current
// version, and a no-op replace that keeps the version.
func TestVersionsETagAndStale(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rec, err := e.c.Create(ctx, customerp.Customers, customer("Skov Byg ApS", "DK12345678"), "")
	require.NoError(t, err)
	id, _ := rec.ID()

	same, err := e.c.Update(ctx, customerp.Customers, id, rec, 1)
	require.NoError(t, err)
	v, _ := same.Version()
	assert.Equal(t, int64(1), v, "a replace with what is stored changes nothing")

	rec["name"] = "Skov Byg A/S"
	upd, err := e.c.Update(ctx, customerp.Customers, id, rec, 1)
	require.NoError(t, err)
	v, _ = upd.Version()
	assert.Equal(t, int64(2), v)

	rec["name"] = "Stale write"
	_, err = e.c.Update(ctx, customerp.Customers, id, rec, 1)
	require.True(t, customerp.IsStale(err), "%v", err)
	var se *customerp.StaleError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, int64(1), se.IfMatch)
	assert.Equal(t, int64(2), se.Current)
	assert.False(t, customerp.IsValidation(err))
	assert.False(t, customerp.Retryable(err))
	var ae *customerp.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusPreconditionFailed, ae.Status)
	assert.Contains(t, err.Error(), "update customers/"+id)
}

// TestIdempotentCreateUnderConcurrency: 50 goroutines retrying one create with the same key
// create exactly one record; the same key with another body is refused with 422.
func TestIdempotentCreateUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	body := customer("Polar Energi AS", "NO 987654321 MVA")
	ids := make([]string, 50)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := e.c.Create(ctx, customerp.Customers, body, "create-polar-energi")
			if err != nil {
				errs <- err
				return
			}
			ids[i], _ = rec.ID()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	all, err := e.c.Find(ctx, customerp.Customers, "organisationNumber", "NO987654321MVA")
	require.NoError(t, err)
	require.Len(t, all, 1)
	st := e.srv.Stats()
	assert.Equal(t, int64(1), st.Writes["customers"])
	assert.Equal(t, int64(1), st.Count("POST /customers", 201))
	assert.Equal(t, int64(49), st.Count("POST /customers", 200))

	other := customer("Polar Energi AS", "NO 111111111 MVA")
	_, err = e.c.Create(ctx, customerp.Customers, other, "create-polar-energi")
	require.True(t, customerp.IsValidation(err), "%v", err)
	var ae *customerp.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusUnprocessableEntity, ae.Status)
	assert.Equal(t, "Idempotency-Key", ae.Problem.Errors[0].Field)
}

// TestRetriesServerErrorsAndDrops: 5xx and dropped connections are retried with backoff.
func TestRetriesServerErrorsAndDrops(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(_ *erpsim.Options, c *customerp.Config) { c.RetryMax = 20 })
	ctx := context.Background()
	require.NoError(t, e.srv.Faults().Set(erpsim.FaultConfig{ErrorRate: 0.3, DropRate: 0.2}))
	for i := 0; i < 20; i++ {
		rec, err := e.c.Create(ctx, customerp.Customers, customer(fmt.Sprintf("Kunde %d", i), fmt.Sprintf("DK%08d", i)), fmt.Sprintf("key-%d", i))
		require.NoError(t, err)
		id, _ := rec.ID()
		_, err = e.c.Get(ctx, customerp.Customers, id)
		require.NoError(t, err)
	}
	e.srv.Faults().Clear()
	st := e.srv.Stats()
	assert.Greater(t, st.FaultsInjected, int64(0))
	all, err := e.c.Find(ctx, customerp.Customers, "email", "kunde0@example.dk")
	require.NoError(t, err)
	assert.Len(t, all, 1)
	recs, _, err := e.c.List(ctx, customerp.Customers, "", 100)
	require.NoError(t, err)
	assert.Len(t, recs, 20, "retried creates with keys made no duplicates")
	assert.Contains(t, e.logs.String(), "customerp: retrying")
}

// TestServerErrorAfterRetries: a server that keeps failing gives IsServer after RetryMax
// retries.
func TestServerErrorAfterRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(_ *erpsim.Options, c *customerp.Config) { c.RetryMax = 2 })
	require.NoError(t, e.srv.Faults().Set(erpsim.FaultConfig{ErrorRate: 1, ErrorStatus: 500}))
	_, err := e.c.Get(context.Background(), customerp.Customers, "CU-1")
	require.True(t, customerp.IsServer(err), "%v", err)
	require.True(t, customerp.Retryable(err))
	assert.Equal(t, int64(3), e.srv.Stats().Count("GET /customers/{id}", 500), "one try and two retries")
}

// TestRateLimitSurfacesAtOnce: a 429 is not retried; it comes back with Retry-After.
func TestRateLimitSurfacesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.srv.Faults().RateLimit(1, 7*time.Second)
	start := time.Now()
	_, _, err := e.c.List(ctx, customerp.Customers, "", 10)
	var rl *customerp.RateLimitError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, 7*time.Second, rl.RetryAfter)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.True(t, customerp.Retryable(err))
	assert.False(t, customerp.IsValidation(err))
	assert.Equal(t, int64(1), e.srv.Stats().RateLimited)
	_, _, err = e.c.List(ctx, customerp.Customers, "", 10)
	require.NoError(t, err, "the burst is over")
}

// TestClientErrorsNotRetried: 4xx answers are returned after one request, with the fields.
func TestClientErrorsNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.lax = true // the request is deliberately invalid
	_, err := e.c.Create(context.Background(), customerp.Customers, customerp.Record{"name": "", "bogus": 1}, "k")
	require.True(t, customerp.IsValidation(err), "%v", err)
	var ae *customerp.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusBadRequest, ae.Status)
	fields := map[string]bool{}
	for _, f := range ae.Problem.Errors {
		fields[f.Field] = true
	}
	assert.True(t, fields["bogus"] && fields["name"], "%v", ae.Problem.Errors)
	assert.Equal(t, int64(1), e.srv.Stats().Count("POST /customers", 400))
	assert.NotEmpty(t, e.ct.RequestViolations(), "the validating transport noticed the bad request")
	assert.Empty(t, e.ct.ResponseViolations())
}

// TestLostAnswersAreRecovered: a write whose answer is lost is retried without doubling it.
func TestLostAnswersAreRecovered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	e.srv.Faults().DropNextWrites(1)
	rec, err := e.c.Create(ctx, customerp.Customers, customer("Havblik Print AS", "NO 922222222 MVA"), "lost-create")
	require.NoError(t, err)
	id, _ := rec.ID()
	recs, _, err := e.c.List(ctx, customerp.Customers, "", 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)

	e.srv.Faults().DropNextWrites(1)
	rec["phone"] = "+47 99 99 99 99"
	upd, err := e.c.Update(ctx, customerp.Customers, id, rec, 1)
	require.NoError(t, err, "the retry's 412 is recognised as our own write")
	v, _ := upd.Version()
	assert.Equal(t, int64(2), v)

	e.srv.Faults().DropNextWrites(1)
	require.NoError(t, e.c.Delete(ctx, customerp.Customers, id), "the retry's 404 is our own delete")
	st := e.srv.Stats()
	assert.Equal(t, int64(3), st.Writes["customers"], "one create, one update, one delete")
	assert.Equal(t, int64(3), st.Requests["POST /customers"]["dropped"]+st.Requests["PUT /customers/{id}"]["dropped"]+st.Requests["DELETE /customers/{id}"]["dropped"])
}

// TestMalformedAnswers: HTML or truncated JSON with 200 is IsMalformed, naming op and id.
func TestMalformedAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(_ *erpsim.Options, c *customerp.Config) { c.RetryMax = -1 })
	e.lax = true
	ctx := context.Background()
	rec, err := e.c.Create(ctx, customerp.Customers, customer("Granit Maskin ApS", "DK87654321"), "")
	require.NoError(t, err)
	id, _ := rec.ID()
	require.NoError(t, e.srv.Faults().Set(erpsim.FaultConfig{MalformedRate: 1}))
	sawHTML, sawTruncated := false, false
	for i := 0; i < 40 && !(sawHTML && sawTruncated); i++ {
		_, err := e.c.Get(ctx, customerp.Customers, id)
		require.True(t, customerp.IsMalformed(err), "%v", err)
		require.True(t, customerp.Retryable(err))
		assert.Contains(t, err.Error(), "get customers/"+id)
		sawHTML = sawHTML || strings.Contains(err.Error(), "not JSON")
		sawTruncated = sawTruncated || strings.Contains(err.Error(), "decode JSON")
	}
	assert.True(t, sawHTML && sawTruncated, "both kinds of malformed answers were seen")
	_, _, err = e.c.Changes(ctx, customerp.Customers, "", 10)
	require.True(t, customerp.IsMalformed(err), "%v", err)
	_, _, err = e.c.List(ctx, customerp.Customers, "", 10)
	require.True(t, customerp.IsMalformed(err), "%v", err)
}

// TestMalformedShapes: answers that are JSON but not the promised shape are malformed too.
func TestMalformedShapes(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"/customers/CU-1":     `{"id":"CU-1"}`,
		"/customers":          `{"items":[{"id":"CU-1","version":1}]}`,
		"/customers/changes":  `{"items":[],"next":""}`,
		"/contacts/CT-1":      `{"id":"CT-1","version":"one","updatedAt":"2025-01-01T00:00:00Z"}`,
		"/products/PR-1":      `{"id":"PR-1","version":1,"updatedAt":"2025-01-01T00:00:00Z"} {}`,
		"/orders/OR-1":        `null`,
		"/order-lines/OL-big": strings.Repeat(" ", 2048) + `{}`,
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(bodies[r.URL.Path]))
	}))
	defer hs.Close()
	c, err := customerp.New(customerp.Config{BaseURL: hs.URL, APIKey: testKey, RetryMax: -1, MaxResponseBytes: 1024})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.Get(ctx, customerp.Customers, "CU-1")
	assert.True(t, customerp.IsMalformed(err), "%v", err)
	_, _, err = c.List(ctx, customerp.Customers, "", 0)
	assert.True(t, customerp.IsMalformed(err), "%v", err)
	_, _, err = c.Changes(ctx, customerp.Customers, "", 0)
	assert.True(t, customerp.IsMalformed(err), "%v", err)
	_, err = c.Get(ctx, customerp.Contacts, "CT-1")
	assert.True(t, customerp.IsMalformed(err), "%v", err)
	_, err = c.Get(ctx, customerp.Products, "PR-1")
	assert.True(t, customerp.IsMalformed(err), "%v", err)
	_, err = c.Get(ctx, customerp.Orders, "OR-1")
	assert.True(t, customerp.IsMalformed(err), "%v", err)
	_, err = c.Get(ctx, customerp.OrderLines, "OL-big")
	assert.True(t, customerp.IsMalformed(err), "%v", err)
	assert.Contains(t, err.Error(), "larger than 1024 bytes")
}

// TestNetworkErrors: nothing listening is IsNetwork and retryable, and the message carries no
// secret and no query values.
func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	c, err := customerp.New(customerp.Config{BaseURL: "http://" + addr, APIKey: testKey, RetryMax: 1, RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	require.NoError(t, err)
	_, err = c.Find(context.Background(), customerp.Contacts, "email", "private.person@example.dk")
	require.True(t, customerp.IsNetwork(err), "%v", err)
	require.True(t, customerp.Retryable(err))
	assert.NotContains(t, err.Error(), testKey)
	assert.NotContains(t, err.Error(), "private.person")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Get(ctx, customerp.Customers, "CU-1")
	require.ErrorIs(t, err, context.Canceled)
}

// TestUnauthorizedAndSecrets: a wrong key is 401, and the key is in no error and no log line.
func TestUnauthorizedAndSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad, err := customerp.New(customerp.Config{BaseURL: e.hs.URL, APIKey: "wrong-key-do-not-log", Transport: e.ct,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	_, err = bad.Get(context.Background(), customerp.Customers, "CU-1")
	require.True(t, customerp.IsUnauthorized(err), "%v", err)
	assert.False(t, customerp.Retryable(err))
	assert.NotContains(t, err.Error(), "wrong-key-do-not-log")
	_, err = e.c.Create(context.Background(), customerp.Customers, customer("Lyng Handel AS", "NO 933333333 MVA"), "k1")
	require.NoError(t, err)
	assert.NotContains(t, e.logs.String(), testKey)
	assert.NotContains(t, e.logs.String(), "wrong-key-do-not-log")
	assert.Contains(t, e.logs.String(), "customerp: call", "the client does log its calls")
}

// TestChangesPaging pages a feed in steps and sees every change once, then an empty page
// with the same token.
func TestChangesPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		_, err := e.c.Create(ctx, customerp.Products, customerp.Record{"name": fmt.Sprintf("Vare %d", i), "productNumber": fmt.Sprintf("P-%d", i)}, "")
		require.NoError(t, err)
	}
	var all []customerp.Change
	since := ""
	for {
		chs, next, err := e.c.Changes(ctx, customerp.Products, since, 10)
		require.NoError(t, err)
		if len(chs) == 0 {
			assert.Equal(t, since, next, "an empty page keeps the token")
			break
		}
		all = append(all, chs...)
		since = next
	}
	require.Len(t, all, 25)
	seen := map[string]bool{}
	for i, c := range all {
		assert.False(t, seen[c.ID])
		seen[c.ID] = true
		assert.Equal(t, int64(1), c.Version)
		assert.False(t, c.Deleted)
		assert.Equal(t, fmt.Sprintf("Vare %d", i), c.Record["name"])
		assert.False(t, c.UpdatedAt.IsZero())
	}
	recs, next, err := e.c.List(ctx, customerp.Products, "", 10)
	require.NoError(t, err)
	require.Len(t, recs, 10)
	require.NotEmpty(t, next)
	total := len(recs)
	for next != "" {
		recs, next, err = e.c.List(ctx, customerp.Products, next, 10)
		require.NoError(t, err)
		total += len(recs)
	}
	assert.Equal(t, 25, total)
}

// TestPropertiesFromContract checks Properties and friends come from openapi.yaml.
func TestPropertiesFromContract(t *testing.T) {
	t.Parallel()
	props := customerp.Properties(customerp.Customers)
	for _, p := range []string{"id", "version", "updatedAt", "externalRef", "name", "organisationNumber", "postalAddress", "postalAddress.line1",
		"postalAddress.countryCode", "deliveryAddress.city", "active"} {
		assert.Contains(t, props, p)
	}
	assert.True(t, customerp.HasProperty(customerp.OrderLines, "discountPercent"))
	assert.True(t, customerp.HasProperty(customerp.Orders, "lines"))
	assert.False(t, customerp.HasProperty(customerp.Orders, "lines.quantity"), "arrays are not expanded")
	assert.False(t, customerp.HasProperty(customerp.Customers, "OrganisationName"))
	w := customerp.WritableProperties(customerp.Orders)
	assert.NotContains(t, w, "totalAmount")
	assert.NotContains(t, w, "version")
	assert.Contains(t, w, "customerId")
	assert.Nil(t, customerp.Properties(customerp.Resource("nope")))
	assert.Equal(t, []string{"contactType", "customerId", "email", "externalRef"}, customerp.Contacts.Filters())
	assert.True(t, strings.HasPrefix(string(customerp.OpenAPI()), "openapi: 3.0.3"))
	_, err := customerp.ParseResource("order-lines")
	require.NoError(t, err)
	_, err = customerp.ParseResource("lines")
	require.Error(t, err)
}

// TestConfigValidation: New refuses what cannot work.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, cfg := range []customerp.Config{{APIKey: "k"}, {BaseURL: "ftp://x", APIKey: "k"}, {BaseURL: "http://127.0.0.1:1"}} {
		_, err := customerp.New(cfg)
		require.Error(t, err)
	}
	c, err := customerp.New(customerp.Config{BaseURL: "http://127.0.0.1:1", APIKey: "k"})
	require.NoError(t, err)
	_, err = c.Get(context.Background(), customerp.Resource("bogus"), "1")
	require.Error(t, err)
	_, err = c.Get(context.Background(), customerp.Customers, "")
	require.Error(t, err)
	require.False(t, errors.Is(err, context.Canceled))
}
