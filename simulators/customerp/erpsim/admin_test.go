package erpsim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

// TestAdminEndpoints: /_sim/records edits go through the commit path (the feed sees them) and
// are not API stats; stats, faults, reset and seed work over HTTP.
func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{})
	ctx := context.Background()
	raw := func(method, path, body string) answer {
		t.Helper()
		req, err := http.NewRequest(method, h.hs.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body2, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return answer{Status: resp.StatusCode, Header: resp.Header, Body: body2}
	}
	a := raw(http.MethodPut, "/_sim/records/customers", `{"name":"Strand Handel AS"}`)
	require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
	id := a.json(t)["id"].(string)
	a = raw(http.MethodPatch, "/_sim/records/customers/"+id, `{"phone":"+47 22 22 22 22"}`)
	require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
	assert.Equal(t, `"2"`, a.Header.Get("ETag"))
	a = raw(http.MethodPut, "/_sim/records/customers/"+id, `{"name":"Strand Handel ASA"}`)
	require.Equal(t, http.StatusOK, a.Status)
	assert.Nil(t, a.json(t)["phone"], "PUT replaces")
	a = raw(http.MethodGet, "/_sim/records/customers/"+id, "")
	require.Equal(t, http.StatusOK, a.Status)
	a = raw(http.MethodGet, "/_sim/records/customers", "")
	require.Equal(t, http.StatusOK, a.Status)
	assert.True(t, strings.HasPrefix(string(a.Body), "["))
	a = raw(http.MethodPatch, "/_sim/records/customers/"+id, `{"name":""}`)
	require.Equal(t, http.StatusBadRequest, a.Status)
	a = raw(http.MethodGet, "/_sim/records/invoices", "")
	require.Equal(t, http.StatusNotFound, a.Status)
	a = raw(http.MethodDelete, "/_sim/records/customers/"+id, "")
	require.Equal(t, http.StatusNoContent, a.Status)

	chs, _, err := h.c.Changes(ctx, customerp.Customers, "", 10)
	require.NoError(t, err)
	require.Len(t, chs, 4)
	assert.True(t, chs[3].Deleted)

	a = raw(http.MethodGet, "/_sim/stats", "")
	require.Equal(t, http.StatusOK, a.Status)
	st := a.json(t)
	assert.Equal(t, json.Number("1"), st["total"], "only the Changes call counts")
	assert.NotNil(t, st["requests"].(map[string]any)["GET /customers/changes"])
	a = raw(http.MethodPost, "/_sim/stats/reset", "")
	require.Equal(t, http.StatusNoContent, a.Status)
	assert.Equal(t, int64(0), h.srv.Stats().Total)

	a = raw(http.MethodPut, "/_sim/faults", `{"errorRate":0.5,"latencyMillis":1}`)
	require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
	assert.Equal(t, 0.5, h.srv.Faults().Config().ErrorRate)
	a = raw(http.MethodPut, "/_sim/faults", `{"errorRate":2}`)
	require.Equal(t, http.StatusBadRequest, a.Status)
	a = raw(http.MethodPut, "/_sim/faults", `{"errorRat":0.1}`)
	require.Equal(t, http.StatusBadRequest, a.Status, "unknown fault fields are refused")
	a = raw(http.MethodGet, "/_sim/faults", "")
	require.Equal(t, http.StatusOK, a.Status)
	assert.Contains(t, string(a.Body), `"errorRate":0.5`)
	a = raw(http.MethodDelete, "/_sim/faults", "")
	require.Equal(t, http.StatusOK, a.Status)
	assert.Equal(t, erpsim.FaultConfig{}, h.srv.Faults().Config())

	a = raw(http.MethodPost, "/_sim/seed?seed=3&size=4", "")
	require.Equal(t, http.StatusNoContent, a.Status)
	assert.Len(t, h.srv.Records("customers"), 4)
	a = raw(http.MethodPost, "/_sim/seed?size=x", "")
	require.Equal(t, http.StatusBadRequest, a.Status)

	a = raw(http.MethodPost, "/_sim/reset", "")
	require.Equal(t, http.StatusNoContent, a.Status)
	assert.Empty(t, h.srv.Records("customers"))
	chs, next, err := h.c.Changes(ctx, customerp.Customers, "", 10)
	require.NoError(t, err)
	assert.Empty(t, chs)
	after := h.put("customers", map[string]any{"name": "After Reset AS"})
	assert.NotEqual(t, id, after, "ids keep counting after a reset")
	chs, _, err = h.c.Changes(ctx, customerp.Customers, next, 10)
	require.NoError(t, err)
	require.Len(t, chs, 1, "feed positions keep counting after a reset")

	a = raw(http.MethodGet, "/_sim/nothing", "")
	require.Equal(t, http.StatusNotFound, a.Status)
	a = raw(http.MethodGet, "/_sim/reset", "")
	require.Equal(t, http.StatusMethodNotAllowed, a.Status)
}

// TestPage: the page at / lists the records with their versions, refreshes itself, and
// escapes what it shows.
func TestPage(t *testing.T) {
	t.Parallel()
	h := start(t, erpsim.Options{Seed: 2, SeedSize: 3})
	id := h.put("customers", map[string]any{"name": "<script>alert(1)</script> AS"})
	_, err := h.srv.Patch("customers", id, map[string]any{"phone": "1"})
	require.NoError(t, err)
	resp, err := http.Get(h.hs.URL + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	page := string(raw)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, page, `http-equiv="refresh"`)
	for _, r := range customerp.Resources() {
		assert.Contains(t, page, `id="`+string(r)+`"`)
	}
	assert.Contains(t, page, "<td>"+id+"</td><td class=\"num\">2</td>")
	assert.NotContains(t, page, "<script>alert(1)</script>")
	assert.Contains(t, page, "&lt;script&gt;")
	rec, _ := h.srv.Record("customers", id)
	assert.Contains(t, page, rec["updatedAt"].(string))
	resp2, err := http.Post(h.hs.URL+"/", "text/plain", nil)
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp2.StatusCode)
	resp3, err := http.Get(h.hs.URL + "/openapi.yaml")
	require.NoError(t, err)
	resp3.Body.Close()
	assert.Equal(t, http.StatusOK, resp3.StatusCode)
}
