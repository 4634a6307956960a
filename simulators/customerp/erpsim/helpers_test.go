package erpsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/customerp/contracttest"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

const key = "erpsim-test-key"

// harness is a real server on 127.0.0.1 plus an HTTP client whose transport checks every
// answer against openapi.yaml.
type harness struct {
	t   testing.TB
	srv *erpsim.Server
	hs  *httptest.Server
	ct  *contracttest.Transport
	hc  *http.Client
	c   *customerp.Client
}

func start(t testing.TB, opts erpsim.Options) *harness {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = key
	}
	srv, err := erpsim.New(opts)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	ct, err := contracttest.New(nil)
	require.NoError(t, err)
	c, err := customerp.New(customerp.Config{BaseURL: hs.URL, APIKey: opts.APIKey, Transport: ct, RetryMax: -1})
	require.NoError(t, err)
	h := &harness{t: t, srv: srv, hs: hs, ct: ct, hc: &http.Client{Transport: ct, Timeout: 30 * time.Second}, c: c}
	t.Cleanup(func() {
		hs.Close()
		require.NoError(t, srv.Close())
		require.Empty(t, ct.ResponseViolations(), "answers that break openapi.yaml")
	})
	return h
}

// answer is a read HTTP response.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "body: %s", a.Body)
	return m
}

// problem decodes a problem answer.
func (a answer) problem(t testing.TB) customerp.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", a.Header.Get("Content-Type"), "status %d body %s", a.Status, a.Body)
	var p customerp.Problem
	require.NoError(t, json.Unmarshal(a.Body, &p))
	require.Equal(t, a.Status, p.Status)
	require.NotEmpty(t, p.Type)
	require.NotEmpty(t, p.Title)
	return p
}

// do sends a request with the API key; body may be nil, []byte, string or a value to encode.
func (h *harness) do(method, path string, body any, headers ...string) answer {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		require.NoError(h.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.hs.URL+path, rd)
	require.NoError(h.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := h.hc.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// put creates a record through the Go API and returns its id.
func (h *harness) put(r string, rec map[string]any) string {
	h.t.Helper()
	out, err := h.srv.Put(r, rec)
	require.NoError(h.t, err)
	return out["id"].(string)
}

func n(s string) json.Number { return json.Number(s) }
