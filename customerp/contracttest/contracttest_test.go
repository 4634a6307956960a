package contracttest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp/contracttest"
)

// TestTransportFindsViolations: the transport flags answers and requests that break the
// contract, and passes conforming ones.
func TestTransportFindsViolations(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/customers/CU-1":
			_, _ = w.Write([]byte(`{"id":"CU-1","version":1,"updatedAt":"2025-01-01T00:00:00Z","name":"A"}`))
		case "/customers/CU-2":
			_, _ = w.Write([]byte(`{"id":"CU-2","version":1,"updatedAt":"2025-01-01T00:00:00Z","name":"A","colour":"red"}`))
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer hs.Close()
	tr, err := contracttest.New(nil)
	require.NoError(t, err)
	c := &http.Client{Transport: tr}
	get := func(path string, auth bool) {
		req, err := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		require.NoError(t, err)
		if auth {
			req.Header.Set("Authorization", "Bearer k")
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	get("/customers/CU-1", true)
	assert.Empty(t, tr.RequestViolations())
	assert.Empty(t, tr.ResponseViolations())

	get("/customers/CU-2", true)
	require.Len(t, tr.ResponseViolations(), 1)
	assert.Contains(t, tr.ResponseViolations()[0], "colour")

	get("/customers/CU-3", true)
	require.Len(t, tr.ResponseViolations(), 2, "418 is not a documented answer")

	get("/customers/CU-1", false)
	require.Len(t, tr.RequestViolations(), 1, "no bearer token")

	get("/invoices", true)
	require.Len(t, tr.RequestViolations(), 2)
	assert.True(t, strings.Contains(tr.RequestViolations()[1], "no operation"))
	reqs, resps := tr.Counts()
	assert.Equal(t, 5, reqs)
	assert.Equal(t, 4, resps)
}
