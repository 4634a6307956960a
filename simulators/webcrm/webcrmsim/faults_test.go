package webcrmsim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFaultServerErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 3})
	e.login()
	require.NoError(t, e.sim.Faults().SetServerErrorRate(1))
	seen := map[int]bool{}
	for range 40 {
		res := e.do(call{method: "POST", path: "/Persons", body: map[string]any{"PersonId": 0, "PersonLastName": "X"}})
		require.GreaterOrEqual(t, res.status, 500)
		seen[res.status] = true
		var eb errorBody
		res.json(t, &eb)
		require.Equal(t, "ServerErrorException", eb.Type)
	}
	require.Len(t, seen, 4, "500, 502, 503 and 504 all occur")
	require.Zero(t, e.sim.Count("Persons"), "a 5xx fault does not run the request")
	require.Equal(t, int64(40), e.sim.Stats().Faults["5xx"])

	// rate 0.5 hits about half, deterministic for the seed
	require.NoError(t, e.sim.Faults().SetServerErrorRate(0.5))
	fails := 0
	for range 200 {
		if e.get("/Persons").status >= 500 {
			fails++
		}
	}
	require.InDelta(t, 100, fails, 30)
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: FaultConfig{Latency: Duration(80 * time.Millisecond)}})
	start := time.Now()
	e.login()
	require.GreaterOrEqual(t, time.Since(start), 80*time.Millisecond)
	require.NoError(t, e.sim.Faults().SetLatency(0, 0))
	start = time.Now()
	e.get("/Users")
	require.Less(t, time.Since(start), 80*time.Millisecond)
}

func TestFaultForced429(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	e := newEnv(t, Options{Now: clock.Now})
	e.login()
	require.NoError(t, e.sim.Faults().Force429(2, 0, 7))
	for range 2 {
		res := e.get("/Users")
		require.Equal(t, 429, res.status)
		require.Equal(t, "7", res.header.Get("Retry-After"))
		var body tooManyBody
		res.json(t, &body)
		require.Equal(t, 7, body.RetryAfterSeconds)
		require.Equal(t, "TooManyRequestsException", body.Type)
	}
	require.Equal(t, 200, e.get("/Users").status)

	require.NoError(t, e.sim.Faults().Force429(0, 30*time.Second, 0))
	require.Equal(t, 429, e.get("/Users").status)
	require.Equal(t, Duration(30*time.Second), e.sim.Faults().Config().Force429For)
	clock.Advance(31 * time.Second)
	require.Equal(t, 200, e.get("/Users").status)
	require.Equal(t, int64(3), e.sim.Stats().RateLimited)
}

func TestFaultDroppedConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	require.NoError(t, e.sim.Faults().SetDropRate(1))
	req, err := http.NewRequest("GET", e.srv.URL+"/Users", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := e.client.Do(req)
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the connection is closed without a response")
	// (net/http may retry an idempotent GET once on a fresh connection)
	require.GreaterOrEqual(t, e.sim.Stats().Requests["GET /Users"][0], int64(1))
	e.sim.Faults().Clear()
	require.Equal(t, 200, e.get("/Users").status)
}

func TestFaultMalformedBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 1, SeedSize: 3})
	e.login()
	require.NoError(t, e.sim.Faults().SetMalformed(1, MalformedHTML))
	res := e.do(call{method: "GET", path: "/Organisations", skipContract: true})
	require.Equal(t, 200, res.status)
	require.Contains(t, res.header.Get("Content-Type"), "text/html")
	require.True(t, strings.HasPrefix(string(res.body), "<!DOCTYPE html>"))

	require.NoError(t, e.sim.Faults().SetMalformed(1, MalformedTruncated))
	res = e.do(call{method: "GET", path: "/Organisations", skipContract: true})
	require.Equal(t, 200, res.status)
	require.Contains(t, res.header.Get("Content-Type"), "application/json")
	require.False(t, json.Valid(res.body), "truncated JSON")
	require.True(t, strings.HasPrefix(string(res.body), `[{"OrganisationId":1`))

	// a truncated answer to a write still performed the write
	before := e.sim.Count("Persons")
	res = e.do(call{method: "POST", path: "/Persons", body: map[string]any{"PersonId": 0, "PersonLastName": "Trunc"}, skipContract: true})
	require.Equal(t, 200, res.status)
	require.Equal(t, before+1, e.sim.Count("Persons"))
	st := e.sim.Stats().Faults
	require.Equal(t, int64(1), st["html"])
	require.Equal(t, int64(2), st["truncated"])
}

func TestFaultsAdminEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	body := `{"ServerErrorRate":0.25,"Latency":"5ms","Jitter":"1ms","DropRate":0.1,"MalformedRate":0.2,"MalformedKind":"mixed","Force429Requests":3,"RetryAfterSeconds":2}`
	res := e.do(call{method: "PUT", path: "/_sim/faults", body: []byte(body)})
	require.Equal(t, 200, res.status, "%s", res.body)
	var got FaultConfig
	res.json(t, &got)
	require.Equal(t, FaultConfig{ServerErrorRate: 0.25, Latency: Duration(5 * time.Millisecond), Jitter: Duration(time.Millisecond), DropRate: 0.1,
		MalformedRate: 0.2, MalformedKind: "mixed", Force429Requests: 3, RetryAfterSeconds: 2}, got)
	require.Equal(t, got, e.sim.Faults().Config())
	for _, bad := range []string{`{"ServerErrorRate":2}`, `{"MalformedKind":"xml"}`, `{"Latency":"soon"}`, `{"Nope":1}`, `{"DropRate":-1}`} {
		res := e.do(call{method: "PUT", path: "/_sim/faults", body: []byte(bad)})
		requireAPIError(t, res, 400, "BadRequestException", "Invalid FaultConfig")
	}
	res = e.do(call{method: "PUT", path: "/_sim/faults", body: []byte(`{}`)})
	require.Equal(t, 200, res.status)
	require.Equal(t, FaultConfig{}, e.sim.Faults().Config())
	require.Equal(t, 405, e.do(call{method: "POST", path: "/_sim/faults"}).status)
}

// TestFaultsDoNotTouchAdmin checks that /_sim/ stays reachable and uncounted
// while every API request fails.
func TestFaultsDoNotTouchAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: FaultConfig{DropRate: 1}})
	resp, err := e.client.Get(e.srv.URL + "/_sim/stats")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var st Stats
	require.NoError(t, json.Unmarshal(body, &st))
	require.Zero(t, st.TotalRequests, string(body))
}
