package webcrm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/internal/testkit"
)

// TestMalformedResponses: a 2xx whose body is not the JSON the operation expects is a
// malformed-response error naming the operation and record, never an empty result.
func TestMalformedResponses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		contentType string
		body        string
	}{
		{"html page", "text/html; charset=utf-8", "<!DOCTYPE html><html><head><title>Service Unavailable - maintenance</title></head><body>We'll be back</body></html>"},
		{"html labelled json", "application/json", "<html><body>Proxy error</body></html>"},
		{"truncated json", "application/json", `{"OrganisationId": 1, "OrganisationName": "Acme`},
		{"truncated array", "application/json", `[{"OrganisationId": 1}, {"OrganisationId": 2, "Organ`},
		{"empty body", "application/json", ""},
		{"trailing garbage", "application/json", `{"OrganisationId": 1} {"OrganisationId": 2}`},
		{"null", "application/json", `null`},
		{"wrong shape", "application/json", `"hello"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAuth(t)
			var hits atomic.Int32
			serve := func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", tc.contentType)
				_, _ = w.Write([]byte(tc.body))
			}
			f.handle("GET /Organisations/{id}", serve)
			f.handle("GET /Organisations", serve)
			f.handle("GET /Queries", serve)
			logs := &testkit.Buffer{}
			c := newTestClient(t, testConfig(f.srv.URL, logs))
			ctx := context.Background()

			_, err := c.Get(ctx, Organisations, 1)
			require.Error(t, err)
			assert.True(t, IsMalformed(err), "Get: %v", err)
			assert.True(t, Retryable(err))
			assert.False(t, IsNetwork(err) || IsServer(err) || IsNotFound(err))
			assert.Contains(t, err.Error(), "Get Organisations 1")
			assertNoSecrets(t, "error", err.Error())

			recs, err := c.List(ctx, Organisations, 3, 50)
			if tc.name == "truncated json" || tc.name == "trailing garbage" || tc.name == "wrong shape" || tc.name == "null" ||
				strings.HasPrefix(tc.name, "html") || tc.name == "empty body" || tc.name == "truncated array" {
				require.Error(t, err, "List must not turn %s into %d records", tc.name, len(recs))
				assert.True(t, IsMalformed(err), "List: %v", err)
				assert.Contains(t, err.Error(), "List Organisations page 3")
			}

			_, _, err = c.ChangedSince(ctx, Organisations, time.Time{}, 100)
			require.Error(t, err)
			assert.True(t, IsMalformed(err), "ChangedSince: %v", err)
			assert.Contains(t, err.Error(), "ChangedSince Organisations")

			var ae *APIError
			require.True(t, errors.As(err, &ae))
			assert.Equal(t, http.StatusOK, ae.Status)
			assert.LessOrEqual(t, len(ae.Message), 2*maxExcerpt)
			// a malformed 200 is not retried by the transport: one request per call
			assert.Equal(t, int32(3), hits.Load())
			assertNoSecrets(t, "logs", logs.String())
		})
	}
}

func TestOversizedBodyIsMalformed(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	f.handle("GET /Organisations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[" + strings.Repeat(`{"OrganisationId":1},`, 200) + `{"OrganisationId":1}]`))
	})
	cfg := testConfig(f.srv.URL, nil)
	cfg.MaxBodyBytes = 1024
	c := newTestClient(t, cfg)
	_, err := c.List(context.Background(), Organisations, 1, 1000)
	require.Error(t, err)
	assert.True(t, IsMalformed(err), "%v", err)
	assert.Contains(t, err.Error(), "exceeds 1024 bytes")
}

func TestServerErrorsAreRetriedThenSucceed(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	var hits atomic.Int32
	f.handle("GET /Persons/{id}", func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			http.Error(w, "temporarily broken", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, map[string]any{"PersonId": 7, "PersonLastName": "Berg"})
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	rec, err := c.Get(context.Background(), Persons, 7)
	require.NoError(t, err)
	assert.Equal(t, "Berg", rec["PersonLastName"])
	assert.Equal(t, int32(3), hits.Load())
}

func TestServerErrorAfterRetriesIsTyped(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	var hits atomic.Int32
	long := "database exploded: " + strings.Repeat("stack frame; ", 500)
	f.handle("PUT /Persons/{id}", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = fmt.Fprintf(w, `{"Message":%q,"Type":"Exception"}`, long)
	})
	f.handle("GET /Persons/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"PersonId": 7, "PersonLastName": "Berg"})
	})
	cfg := testConfig(f.srv.URL, nil)
	cfg.RetryMax = 2
	c := newTestClient(t, cfg)
	_, err := c.Update(context.Background(), Persons, 7, Record{"PersonFirstName": "Ada"})
	require.Error(t, err)
	assert.True(t, IsServer(err), "%v", err)
	assert.True(t, Retryable(err))
	var ae *APIError
	require.True(t, errors.As(err, &ae))
	assert.Equal(t, "Update", ae.Op)
	assert.Equal(t, Persons, ae.Entity)
	assert.Equal(t, "7", ae.ID)
	assert.Equal(t, 500, ae.Status)
	assert.True(t, strings.HasPrefix(ae.Message, "database exploded"), ae.Message)
	assert.LessOrEqual(t, len(ae.Message), maxExcerpt+len("…"))
	assert.Equal(t, int32(3), hits.Load(), "1 attempt + RetryMax retries")
}

func TestRateLimitIsSurfacedAtOnce(t *testing.T) {
	t.Parallel()
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name   string
		header string
		body   string
		min    time.Duration
		max    time.Duration
	}{
		{"header seconds", "7", `{"RetryAfterSeconds": 99, "Message": "throttled"}`, 7 * time.Second, 7 * time.Second},
		{"header http date", date, `{}`, 80 * time.Second, 91 * time.Second},
		{"body only", "", `{"RetryAfterSeconds": 14, "Message": "The request was throttled.", "Type": "TooManyRequestsException"}`, 14 * time.Second, 14 * time.Second},
		{"nothing", "", `too many`, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAuth(t)
			var hits atomic.Int32
			f.handle("GET /Products", func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(tc.body))
			})
			c := newTestClient(t, testConfig(f.srv.URL, nil))
			_, err := c.List(context.Background(), Products, 1, 10)
			var rl *RateLimitError
			require.True(t, errors.As(err, &rl), "%v", err)
			assert.GreaterOrEqual(t, rl.RetryAfter, tc.min)
			assert.LessOrEqual(t, rl.RetryAfter, tc.max)
			assert.True(t, Retryable(err))
			assert.True(t, IsRateLimited(err))
			assert.False(t, IsValidation(err))
			assert.Contains(t, err.Error(), "List Products")
			assert.Equal(t, int32(1), hits.Load(), "429 must not be retried by the transport")
		})
	}
}

func TestValidationAndNotFoundAreNotRetried(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	var hits atomic.Int32
	f.handle("GET /Products/{id}", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.PathValue("id") == "404" {
			http.Error(w, `{"Message":"Product not found"}`, http.StatusNotFound)
			return
		}
		http.Error(w, `{"Message":"bad id"}`, http.StatusBadRequest)
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	_, err := c.Get(context.Background(), Products, 404)
	assert.True(t, IsNotFound(err), "%v", err)
	assert.False(t, Retryable(err))
	_, err = c.Get(context.Background(), Products, 1)
	assert.True(t, IsValidation(err), "%v", err)
	assert.False(t, Retryable(err))
	assert.Contains(t, err.Error(), "bad id")
	assert.Equal(t, int32(2), hits.Load())
}

// dropConn closes the connection without answering.
func dropConn(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	require.True(t, ok)
	conn, _, err := hj.Hijack()
	require.NoError(t, err)
	_ = conn.Close()
}

func TestDroppedConnection(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	var hits atomic.Int32
	f.handle("GET /QuotationLines/{id}", func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if r.PathValue("id") == "1" || n == 1 {
			dropConn(t, w)
			return
		}
		writeJSON(w, map[string]any{"QuotationLineId": 2, "QuotationLineQuantity": 2.5})
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))

	// first attempt dropped, retry succeeds
	rec, err := c.Get(context.Background(), QuotationLines, 2)
	require.NoError(t, err)
	assert.Equal(t, "2.5", fmt.Sprint(rec["QuotationLineQuantity"]))
	assert.Equal(t, int32(2), hits.Load())

	// always dropped: a network error after 1 + RetryMax attempts
	_, err = c.Get(context.Background(), QuotationLines, 1)
	require.Error(t, err)
	assert.True(t, IsNetwork(err), "%v", err)
	assert.True(t, Retryable(err))
	assert.Contains(t, err.Error(), "Get QuotationLines 1")
	// 1 + RetryMax attempts (net/http may add one transparent retry on a reused connection)
	assert.GreaterOrEqual(t, hits.Load(), int32(2+4))
}

func TestBodyCutOffMidTransferIsNetworkError(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	f.handle("GET /Organisations/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		_, _ = w.Write([]byte(`{"OrganisationId": 1, "Organ`))
		// the handler returns early: the server closes a response shorter than its Content-Length
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	_, err := c.Get(context.Background(), Organisations, 1)
	require.Error(t, err)
	assert.True(t, IsNetwork(err), "%v", err)
	assert.True(t, Retryable(err))
}

func TestResponseThatNeverFinishesIsBoundedByTimeout(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var hits atomic.Int32
	f.handle("GET /Organisations", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`[{"OrganisationId": 1},`))
		w.(http.Flusher).Flush()
		select { // never finish the body
		case <-r.Context().Done():
		case <-release:
		}
	})
	f.handle("GET /Persons", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select { // never even send headers
		case <-r.Context().Done():
		case <-release:
		}
	})
	cfg := testConfig(f.srv.URL, nil)
	cfg.Timeout = 300 * time.Millisecond
	cfg.RetryMax = 1
	c := newTestClient(t, cfg)

	start := time.Now()
	_, err := c.List(context.Background(), Organisations, 1, 10)
	require.Error(t, err)
	assert.True(t, IsNetwork(err), "%v", err)
	assert.Less(t, time.Since(start), 3*time.Second)

	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "the cause is kept: %v", err)

	start = time.Now()
	_, err = c.List(context.Background(), Persons, 1, 10)
	require.Error(t, err)
	assert.True(t, IsNetwork(err), "%v", err)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Contains(t, err.Error(), "List Persons")
}

func TestCallerCancellationIsNotANetworkError(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	started := make(chan struct{}, 1)
	f.handle("GET /Organisations", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := c.List(ctx, Organisations, 1, 10)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, IsNetwork(err))
	assert.False(t, Retryable(err))
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		if r.Header.Get("Authorization") != "" {
			t.Errorf("bearer token leaked to another host")
		}
		writeJSON(w, map[string]any{"PersonId": 3})
	}))
	t.Cleanup(other.Close)
	f.handle("GET /Persons/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("id") {
		case "1": // same host: followed, token kept
			http.Redirect(w, r, "/moved/Persons/1", http.StatusMovedPermanently)
		case "3":
			http.Redirect(w, r, other.URL+"/Persons/3", http.StatusFound)
		case "9": // loop
			http.Redirect(w, r, "/Persons/9", http.StatusFound)
		}
	})
	f.handle("GET /moved/Persons/1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"PersonId": 1, "PersonLastName": "Moved"})
	})
	var postHits atomic.Int32
	f.handle("POST /Persons", func(w http.ResponseWriter, r *http.Request) {
		postHits.Add(1)
		http.Redirect(w, r, "/elsewhere/Persons", http.StatusTemporaryRedirect)
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	ctx := context.Background()

	rec, err := c.Get(ctx, Persons, 1)
	require.NoError(t, err)
	assert.Equal(t, "Moved", rec["PersonLastName"])

	_, err = c.Get(ctx, Persons, 3)
	require.Error(t, err)
	assert.Equal(t, int32(0), otherHits.Load())
	assert.False(t, Retryable(err), "%v", err)
	assert.Contains(t, err.Error(), "another host")

	_, err = c.Get(ctx, Persons, 9)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redirects")
	assert.False(t, Retryable(err), "%v", err)

	_, err = c.Create(ctx, Persons, Record{"PersonLastName": "X"}, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused to follow a redirect of POST")
	assert.Equal(t, int32(1), postHits.Load())
}

func TestServerTextWithTokenIsRedacted(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	f.handle("GET /Users/{id}", func(w http.ResponseWriter, r *http.Request) {
		// a (badly behaved) server echoing the credentials back
		http.Error(w, "bad request from "+r.Header.Get("Authorization")+" app "+testAppToken, http.StatusBadRequest)
	})
	logs := &testkit.Buffer{}
	c := newTestClient(t, testConfig(f.srv.URL, logs))
	_, err := c.Get(context.Background(), Users, 5)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "[REDACTED]")
	assertNoSecrets(t, "error", err.Error())
	assertNoSecrets(t, "logs", logs.String())
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	ctx := context.Background()
	for name, err := range map[string]error{
		"page 0":      func() error { _, err := c.List(ctx, Organisations, 0, 10); return err }(),
		"size 1001":   func() error { _, err := c.List(ctx, Organisations, 1, 1001); return err }(),
		"entity":      func() error { _, err := c.Get(ctx, Entity("Widgets"), 1); return err }(),
		"property":    func() error { _, err := c.FindBy(ctx, Persons, "PersonEmail = 'x' OR 1", "y"); return err }(),
		"org no tok":  func() error { _, err := c.Create(ctx, Organisations, Record{}, ""); return err }(),
		"id mismatch": func() error { _, err := c.Update(ctx, Persons, 1, Record{"PersonId": 2}); return err }(),
	} {
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		assert.False(t, Retryable(err), name)
	}
	err := c.Delete(ctx, Organisations, 1)
	assert.ErrorIs(t, err, ErrMethodNotAllowed)
	assert.True(t, IsValidation(err))
	assert.Contains(t, err.Error(), "Delete Organisations 1")
	assert.Equal(t, int32(0), f.logins.Load(), "no request may be sent for bad input")

	_, err = New(Config{BaseURL: "ftp://x", APIToken: "t"})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = New(Config{BaseURL: "http://x"})
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

// TestUpdateNeverSendsCredentialsOrServerFields: a GET may return a user's password,
// authentication code and ticket masked; a PUT that carried them back would overwrite
// the real ones. The PUT leaves them out, and the properties the server maintains,
// and keeps every other property it read.
func TestUpdateNeverSendsCredentialsOrServerFields(t *testing.T) {
	t.Parallel()
	f := newFakeAuth(t)
	var puts []map[string]any
	var mu sync.Mutex
	f.handle("GET /Users/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"UserId": 5, "UserName": "Ann", "UserCustom7": "keep",
			"UserPassword": "********", "UserAuthenticationCode": "********", "UserTicket": "********",
			"UserUpdatedAt": "2025-01-01T00:00:00.0000000Z", "UserCreatedBy": "Ann"})
	})
	f.handle("PUT /Users/{id}", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		mu.Lock()
		puts = append(puts, body)
		mu.Unlock()
	})
	c := newTestClient(t, testConfig(f.srv.URL, nil))
	rec, err := c.Update(context.Background(), Users, 5, Record{"UserName": "Ann B", "UserPassword": "********"})
	require.NoError(t, err)
	require.Len(t, puts, 1)
	for _, p := range []string{"UserPassword", "UserAuthenticationCode", "UserTicket", "UserUpdatedAt", "UserCreatedBy"} {
		assert.NotContains(t, puts[0], p)
		assert.NotContains(t, rec, p, "the record returned is the one written")
	}
	assert.Equal(t, "keep", puts[0]["UserCustom7"])
	assert.Equal(t, "Ann B", puts[0]["UserName"])
	assert.Equal(t, json.Number("5"), rec["UserId"].(json.Number))
}
