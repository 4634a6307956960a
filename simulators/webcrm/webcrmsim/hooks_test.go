package webcrmsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// receiver is a real HTTP endpoint that records hook deliveries.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []HookPayload
	secrets  []string
	failNext atomic.Int32 // answer 500 this many times first
	calls    atomic.Int32
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.calls.Add(1)
		if rc.failNext.Load() > 0 {
			rc.failNext.Add(-1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var p HookPayload
		if err := json.Unmarshal(body, &p); err != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, p)
		rc.secrets = append(rc.secrets, r.Header.Get(HookSecretHeader))
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) payloads() []HookPayload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]HookPayload(nil), rc.got...)
}

func (rc *receiver) waitFor(t *testing.T, n int) []HookPayload {
	t.Helper()
	require.Eventually(t, func() bool { return len(rc.payloads()) >= n }, 10*time.Second, 5*time.Millisecond, "want %d deliveries", n)
	return rc.payloads()
}

func TestHooksFireOnCreateUpdateDelete(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, Options{HookSecret: "s3cret"})
	e.login()
	addHook := func(entity, event string, enabled bool) {
		h := map[string]any{"Id": 0, "TargetUrl": rc.srv.URL + "/hooks/" + entity, "IsEnabled": enabled, "Filter": []string{"All"}}
		if event != "" {
			h["EventType"] = event
		}
		res := e.post("/"+entity+"/Hooks", h)
		require.Equal(t, 200, res.status, "%s", res.body)
	}
	addHook("Organisations", "Create", true)
	addHook("Organisations", "Update", true)
	addHook("Organisations", "Delete", true)
	addHook("Organisations", "Update", false) // disabled: never fires
	addHook("QuotationLines", "", true)       // every event

	org := e.createID("Organisations", map[string]any{"OrganisationName": "Hook A/S"})
	got := rc.waitFor(t, 1)
	require.Equal(t, "Create", got[0].EventType)
	require.Equal(t, "Organisations", got[0].Entity)
	require.Equal(t, org, got[0].ID)
	require.Equal(t, int64(1), got[0].HookID)
	require.Equal(t, fmt.Sprintf("%s/Organisations/%d", e.srv.URL, org), got[0].URL)
	require.Regexp(t, stampRe, got[0].Timestamp)

	require.Equal(t, 200, e.put(fmt.Sprintf("/Organisations/%d", org), map[string]any{"OrganisationId": org, "OrganisationName": "Hook 2 A/S"}).status)
	got = rc.waitFor(t, 2)
	require.Equal(t, "Update", got[1].EventType)
	require.Equal(t, int64(2), got[1].HookID)

	// direct-store edits (a user in the UI) fire hooks too
	require.NoError(t, e.sim.Patch("Organisations", org, map[string]any{"OrganisationCity": "Tromsø"}))
	require.NoError(t, e.sim.Remove("Organisations", org))
	rc.waitFor(t, 4)

	opp := e.createID("Opportunities", map[string]any{"OpportunityDescription": "x"})
	line := e.createID("QuotationLines", map[string]any{"QuotationLineOpportunityId": opp, "QuotationLinePrice": 1})
	require.Equal(t, 200, e.do(call{method: "DELETE", path: fmt.Sprintf("/QuotationLines/%d", line)}).status)
	got = rc.waitFor(t, 6)

	kinds := map[string]int{}
	for _, p := range got {
		kinds[p.Entity+" "+p.EventType]++
		require.NotEqual(t, int64(4), p.HookID, "disabled hook fired")
	}
	require.Equal(t, map[string]int{
		"Organisations Create": 1, "Organisations Update": 2, "Organisations Delete": 1,
		"QuotationLines Create": 1, "QuotationLines Delete": 1,
	}, kinds)
	for _, s := range rc.secrets {
		require.Equal(t, "s3cret", s)
	}
	require.Eventually(t, func() bool { return e.sim.Stats().Hooks.Delivered == 6 }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, e.sim.Stats().Hooks.Failed)
}

func TestHookRetriesAndFailures(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, Options{HookAttempts: 3})
	_, err := e.sim.Put("Organisations", map[string]any{"OrganisationName": "before hooks"})
	require.NoError(t, err)
	e.login()
	res := e.post("/Organisations/Hooks", map[string]any{"Id": 0, "EventType": "Update", "TargetUrl": rc.srv.URL, "IsEnabled": true, "Filter": []string{}})
	require.Equal(t, 200, res.status)

	rc.failNext.Store(2) // two 500s, then success on the third attempt
	require.NoError(t, e.sim.Patch("Organisations", 1, map[string]any{"OrganisationCity": "Bergen"}))
	rc.waitFor(t, 1)
	require.Equal(t, int32(3), rc.calls.Load())

	rc.failNext.Store(3) // all attempts fail
	require.NoError(t, e.sim.Patch("Organisations", 1, map[string]any{"OrganisationCity": "Oslo"}))
	require.Eventually(t, func() bool { return e.sim.Stats().Hooks.Failed == 1 }, 10*time.Second, 5*time.Millisecond)
	st := e.sim.Stats().Hooks
	require.Equal(t, HookStats{Queued: 2, Delivered: 1, Failed: 1}, st)
}

func TestHookValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	cases := []struct {
		body           map[string]any
		msg            string
		swaggerRejects bool
	}{
		{map[string]any{"Id": 0, "TargetUrl": "not a url", "IsEnabled": true, "Filter": []string{}}, "absolute http(s) URL", false},
		{map[string]any{"Id": 0, "TargetUrl": "https://x.invalid", "IsEnabled": true, "Filter": []string{"Owner"}}, "Filter", true},
		{map[string]any{"Id": 0, "TargetUrl": "https://x.invalid", "IsEnabled": true, "Filter": []string{}, "EventType": "Upsert"}, "EventType", true},
		{map[string]any{"Id": 0, "TargetUrl": "https://x.invalid", "Filter": []string{}}, "IsEnabled is required", true},
		{map[string]any{"Id": 0, "TargetUrl": "https://x.invalid", "IsEnabled": true, "Filter": []string{}, "Secret": "x"}, `Unknown property "Secret"`, false},
	}
	for _, c := range cases {
		requireAPIError(t, e.do(call{method: "POST", path: "/Persons/Hooks", body: c.body, invalidRequest: c.swaggerRejects}), 400, "BadRequestException", c.msg)
	}
	// another entity's hook id is not found here
	res := e.post("/Users/Hooks", map[string]any{"Id": 0, "TargetUrl": "https://x.invalid", "IsEnabled": true, "Filter": []string{"Current"}})
	require.Equal(t, 200, res.status)
	requireAPIError(t, e.get("/Persons/Hooks/1"), 404, "NotFoundException", "")
}

// TestHookQueueNeverBlocks fills a tiny queue with a receiver that never
// answers in time: API writes stay fast and the overflow is counted.
func TestHookQueueNeverBlocks(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(block) })
	e := newEnv(t, Options{HookWorkers: 1, HookQueueSize: 2, HookAttempts: 1, HookTimeout: 5 * time.Second})
	e.login()
	require.Equal(t, 200, e.post("/Organisations/Hooks", map[string]any{"Id": 0, "EventType": "Create", "TargetUrl": slow.URL, "IsEnabled": true, "Filter": []string{"All"}}).status)
	start := time.Now()
	for i := range 20 {
		_, err := e.sim.Put("Organisations", map[string]any{"OrganisationName": fmt.Sprint(i)})
		require.NoError(t, err)
	}
	require.Less(t, time.Since(start), 2*time.Second)
	st := e.sim.Stats().Hooks
	require.Equal(t, int64(20), st.Queued+st.Dropped)
	require.GreaterOrEqual(t, st.Dropped, int64(17))
}
