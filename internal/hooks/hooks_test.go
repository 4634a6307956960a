package hooks_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/internal/hooks"
)

const secret = "hook-secret-for-tests"

// recordingSink is the Sink seam: it records what the handler asked for and
// answers with the configured results.
type recordingSink struct {
	mu      sync.Mutex
	pokes   []string
	deletes []string
	unnamed []string
	poked   int   // what Poke reports
	pokeErr error // what Poke fails with
	delErr  error // what Deleted fails with
}

func (s *recordingSink) Poke(_ context.Context, ev hooks.Event) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pokes = append(s.pokes, ev.Entity)
	return s.poked, s.pokeErr
}

func (s *recordingSink) Deleted(_ context.Context, entity string, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletes = append(s.deletes, entity+"/"+strconv.FormatInt(id, 10))
	return s.delErr
}

func (s *recordingSink) Unnamed(_ context.Context, entity string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unnamed = append(s.unnamed, entity)
	return nil
}

func (s *recordingSink) unnamedCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.unnamed...)
}

func (s *recordingSink) calls() (pokes, deletes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.pokes...), append([]string(nil), s.deletes...)
}

// serve runs the hooks handler on a real 127.0.0.1 port.
func serve(t *testing.T, sink hooks.Sink, perSecond int) string {
	t.Helper()
	h, err := hooks.NewHandler(secret, sink, perSecond, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks/webcrm"
}

// call sends one hook call and returns the status, the Retry-After header and the body.
func call(t *testing.T, method, target string, header http.Header, body io.Reader) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

func withSecret(s string) http.Header { return http.Header{hooks.SecretHeader: {s}} }

const updateEvent = `{"EventType":"Update","Entity":"Organisations","Id":42}`

func TestGoodCallPokesThePairings(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{poked: 2}
	target := serve(t, sink, 50)
	status, _, body := call(t, http.MethodPost, target, withSecret(secret), strings.NewReader(updateEvent))
	require.Equal(t, http.StatusOK, status, body)
	require.JSONEq(t, `{"poked":2}`, body)
	// The secret may come as a query parameter for targets that cannot set headers.
	status, _, body = call(t, http.MethodPost, target+"?secret="+url.QueryEscape(secret), nil,
		strings.NewReader(`{"EventType":"Create","Entity":"Persons","Id":7}`))
	require.Equal(t, http.StatusOK, status, body)
	pokes, deletes := sink.calls()
	require.Equal(t, []string{"Organisations", "Persons"}, pokes)
	require.Empty(t, deletes)
}

func TestDeleteGoesToTheLinkAndPokes(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{poked: 1}
	target := serve(t, sink, 50)
	status, _, body := call(t, http.MethodPost, target, withSecret(secret), strings.NewReader(`{"EventType":"Delete","Entity":"Organisations","Id":42}`))
	require.Equal(t, http.StatusOK, status, body)
	pokes, deletes := sink.calls()
	require.Equal(t, []string{"Organisations/42"}, deletes)
	require.Equal(t, []string{"Organisations"}, pokes)

	// A delete that cannot be delivered still pokes: reconciliation catches up.
	sink.mu.Lock()
	sink.delErr = errors.New("temporal unavailable")
	sink.mu.Unlock()
	status, _, _ = call(t, http.MethodPost, target, withSecret(secret), strings.NewReader(`{"EventType":"delete","Entity":"Organisations","Id":43}`))
	require.Equal(t, http.StatusOK, status)
	pokes, deletes = sink.calls()
	require.Equal(t, []string{"Organisations/42", "Organisations/43"}, deletes)
	require.Len(t, pokes, 2)
}

func TestMissingOrWrongSecretIs401(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{poked: 1}
	// A budget of one: refused calls must not spend it.
	target := serve(t, sink, 1)
	for name, h := range map[string]http.Header{
		"missing":         nil,
		"wrong":           withSecret("hook-secret-for-test"),
		"longer":          withSecret(secret + "x"),
		"empty":           withSecret(""),
		"other header":    {"Authorization": {"Bearer " + secret}},
		"wrong and query": withSecret("nope"),
	} {
		for range 3 {
			status, _, body := call(t, http.MethodPost, target, h, strings.NewReader(updateEvent))
			require.Equal(t, http.StatusUnauthorized, status, name)
			require.NotContains(t, body, secret)
		}
	}
	status, _, _ := call(t, http.MethodPost, target+"?secret=wrong", nil, strings.NewReader(updateEvent))
	require.Equal(t, http.StatusUnauthorized, status)
	pokes, _ := sink.calls()
	require.Empty(t, pokes)
	// The budget is intact after the refused flood.
	status, _, body := call(t, http.MethodPost, target, withSecret(secret), strings.NewReader(updateEvent))
	require.Equal(t, http.StatusOK, status, body)
}

func TestOversizedBodyIs413(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{poked: 1}
	target := serve(t, sink, 50)
	// Valid JSON, just too long.
	big := `{"EventType":"Update","Entity":"Organisations","Id":42,"Pad":"` + strings.Repeat("x", hooks.MaxBodyBytes) + `"}`
	status, _, _ := call(t, http.MethodPost, target, withSecret(secret), strings.NewReader(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	// Without a Content-Length too.
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, big)
		_ = pw.Close()
	}()
	status, _, _ = call(t, http.MethodPost, target, withSecret(secret), pr)
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	// Exactly at the limit is accepted.
	fit := `{"EventType":"Update","Entity":"Organisations","Id":42,"Pad":"`
	fit += strings.Repeat("y", hooks.MaxBodyBytes-len(fit)-2) + `"}`
	require.Len(t, fit, hooks.MaxBodyBytes)
	status, _, body := call(t, http.MethodPost, target, withSecret(secret), strings.NewReader(fit))
	require.Equal(t, http.StatusOK, status, body)
	pokes, _ := sink.calls()
	require.Len(t, pokes, 1)
}

func TestFloodIs429AndTheBudgetRefills(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{poked: 1}
	const perSecond = 4
	target := serve(t, sink, perSecond)
	post := func() (int, string) {
		status, retry, _ := call(t, http.MethodPost, target, withSecret(secret), strings.NewReader(updateEvent))
		return status, retry
	}
	// The burst equals the per-second budget.
	for i := range perSecond {
		status, _ := post()
		require.Equal(t, http.StatusOK, status, "call %d", i+1)
	}
	status, retry := post()
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, "1", retry)
	pokes, _ := sink.calls()
	require.Len(t, pokes, perSecond, "refused calls do not poke")

	// One token comes back every 1/perSecond seconds.
	start := time.Now()
	require.Eventually(t, func() bool {
		s, _ := post()
		return s == http.StatusOK
	}, 3*time.Second, 20*time.Millisecond)
	require.Less(t, time.Since(start), 2*time.Second)
	pokes, _ = sink.calls()
	require.Len(t, pokes, perSecond+1)
}

func TestWrongMethodIs405(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{poked: 1}
	target := serve(t, sink, 50)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		status, _, _ := call(t, m, target, withSecret(secret), strings.NewReader(updateEvent))
		require.Equal(t, http.StatusMethodNotAllowed, status, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
	pokes, _ := sink.calls()
	require.Empty(t, pokes)
}

func TestACallThatNamesNoEntityIs400(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{poked: 1}
	target := serve(t, sink, 50)
	for name, body := range map[string]string{
		"not json":  `{"EventType":"Update",`,
		"empty":     ``,
		"array":     `[1,2]`,
		"no entity": `{"EventType":"Update","Id":42}`,
	} {
		status, _, text := call(t, http.MethodPost, target, withSecret(secret), strings.NewReader(body))
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", name, text)
		require.Contains(t, text, "entity=", name)
	}
	pokes, _ := sink.calls()
	require.Empty(t, pokes)
}

// TestTheTargetURLNamesEntityAndEventWhateverTheBody: webCRM documents no hook
// body, so a hook registered with ?entity=&event= in its target is handled from
// the target, whatever its body looks like; an id in the body is a hint that
// lets a delete go straight to its link.
func TestTheTargetURLNamesEntityAndEventWhateverTheBody(t *testing.T) {
	t.Parallel()
	form := http.Header{hooks.SecretHeader: {secret}, "Content-Type": {"application/x-www-form-urlencoded"}}
	json := withSecret(secret)
	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
		want   []string // deletes delivered
	}{
		{"empty", json, ``, nil},
		{"garbage", json, `<<not a body>>`, nil},
		{"array", json, `[{"x":1}]`, nil},
		{"form id", form, `id=123&type=Organisation`, []string{"Organisations/123"}},
		{"form without id", form, `type=Organisation`, nil},
		{"resource URL", json, `{"resource":"https://api.webcrm.com/Organisations/123","action":"deleted"}`, []string{"Organisations/123"}},
		{"nested entity id", json, `{"data":{"OrganisationTerritoryId":4,"OrganisationId":123}}`, []string{"Organisations/123"}},
		{"body says another event", json, `{"EventType":"Update","Entity":"Persons","Id":123}`, []string{"Organisations/123"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := &recordingSink{poked: 1}
			target := serve(t, sink, 50) + "?entity=Organisations&event=Delete"
			status, _, text := call(t, http.MethodPost, target, tc.header, strings.NewReader(tc.body))
			require.Equal(t, http.StatusOK, status, text)
			pokes, deletes := sink.calls()
			require.Equal(t, []string{"Organisations"}, pokes, "the target's entity is poked")
			require.Equal(t, tc.want, deletes)
			if tc.want == nil {
				require.Equal(t, []string{"Organisations"}, sink.unnamedCalls(), "a delete that names no record asks for it to be found another way")
			} else {
				require.Empty(t, sink.unnamedCalls())
			}
		})
	}
}

func TestUnknownEntityIs404AndSinkFailureIs503(t *testing.T) {
	t.Parallel()
	none := &recordingSink{poked: 0}
	status, _, body := call(t, http.MethodPost, serve(t, none, 50), withSecret(secret), strings.NewReader(`{"EventType":"Update","Entity":"Invoices","Id":1}`))
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, "Invoices")

	down := &recordingSink{pokeErr: errors.New("temporal unavailable")}
	status, _, body = call(t, http.MethodPost, serve(t, down, 50), withSecret(secret), strings.NewReader(updateEvent))
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.NotContains(t, body, "temporal unavailable", "internal errors stay in the log")
}

func TestNewHandlerNeedsASecret(t *testing.T) {
	t.Parallel()
	_, err := hooks.NewHandler("", &recordingSink{}, 10, nil)
	require.ErrorContains(t, err, "TANDEM_HOOKS_SECRET")
}
