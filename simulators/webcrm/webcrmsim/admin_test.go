package webcrmsim

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAdminEndpointsAndStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	require.Equal(t, 200, e.get("/_sim/health").status)
	res := e.do(call{method: "POST", path: "/_sim/seed?seed=9&size=12"})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, "12", fmt.Sprint(res.object(t)["Organisations"]))

	e.login()
	e.get("/Organisations/1")
	e.get("/Organisations/2")
	e.get("/Organisations/999")
	e.get("/Organisations?Size=5")
	e.do(call{method: "PUT", path: "/Organisations/1", body: map[string]any{"OrganisationId": 1, "OrganisationName": "Ny"}})

	// records over HTTP (the direct store): not counted as API requests
	res = e.do(call{method: "POST", path: "/_sim/records/Person", body: map[string]any{"PersonLastName": "Admin", "PersonOrganisationId": 1}})
	require.Equal(t, 200, res.status, "%s", res.body)
	pid := fmt.Sprint(res.object(t)["Id"])
	res = e.do(call{method: "PATCH", path: "/_sim/records/Persons/" + pid, body: map[string]any{"PersonEmail": "a@b.dk"}})
	require.Equal(t, 200, res.status, "%s", res.body)
	got := e.do(call{method: "GET", path: "/_sim/records/Persons/" + pid}).object(t)
	require.Equal(t, "a@b.dk", got["PersonEmail"])
	require.Equal(t, "webCRM UI", got["PersonUpdatedBy"])
	res = e.do(call{method: "PUT", path: "/_sim/records/Persons/" + pid, body: map[string]any{"PersonLastName": "Erstattet"}})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Len(t, e.do(call{method: "GET", path: "/_sim/records/persons"}).array(t), e.sim.Count("Persons"))
	require.Equal(t, 200, e.do(call{method: "DELETE", path: "/_sim/records/Organisations/12"}).status)
	require.Equal(t, 404, e.do(call{method: "DELETE", path: "/_sim/records/Organisations/12"}).status)
	require.Equal(t, 400, e.do(call{method: "PATCH", path: "/_sim/records/Persons/" + pid, body: map[string]any{"PersonLastName": 5}}).status)
	require.Equal(t, 404, e.do(call{method: "GET", path: "/_sim/records/Invoices"}).status)

	var st Stats
	e.do(call{method: "GET", path: "/_sim/stats"}).json(t, &st)
	require.Equal(t, map[int]int64{200: 2, 404: 1}, st.Requests["GET /Organisations/{id}"])
	require.Equal(t, map[int]int64{200: 1}, st.Requests["GET /Organisations"])
	require.Equal(t, map[int]int64{200: 1}, st.Requests["PUT /Organisations/{id}"])
	require.Equal(t, map[int]int64{200: 1}, st.Requests["POST /Auth/ApiLogin"])
	require.Equal(t, int64(6), st.TotalRequests)
	require.Equal(t, WriteStats{Update: 1}, st.Writes["Organisations"])
	require.NotContains(t, st.Writes, "Persons", "direct-store writes are not API writes")
	require.Equal(t, st, e.sim.Stats())

	require.Equal(t, 200, e.do(call{method: "POST", path: "/_sim/stats/reset"}).status)
	require.Zero(t, e.sim.Stats().TotalRequests)

	res = e.do(call{method: "POST", path: "/_sim/reset"})
	require.Equal(t, 200, res.status)
	for _, name := range Entities() {
		require.Zero(t, e.sim.Count(name))
	}
	require.Equal(t, 200, e.get("/Organisations").status, "tokens survive a reset")
	require.Equal(t, 405, e.do(call{method: "GET", path: "/_sim/reset"}).status)
	require.Equal(t, 404, e.do(call{method: "GET", path: "/_sim/nope"}).status)
	require.Equal(t, 400, e.do(call{method: "POST", path: "/_sim/seed?size=-1"}).status)
}

func TestStatsCountQueriesByShape(t *testing.T) {
	for script, want := range map[string]string{
		"SELECT * FROM Organisation WHERE OrganisationUpdatedAt >= '2026-12-01T10:00:00.0000000Z' ORDER BY OrganisationUpdatedAt": "SELECT * FROM Organisation WHERE OrganisationUpdatedAt >= ? ORDER BY OrganisationUpdatedAt",
		"SELECT * FROM Organisation WHERE OrganisationCustom15 = 'a' OR OrganisationCustom15 = 'b''c'":                            "SELECT * FROM Organisation WHERE OrganisationCustom15 = ? OR …",
		"SELECT OrganisationId FROM Organisation WHERE OrganisationId IN (1, 2,3) ORDER BY OrganisationId":                        "SELECT OrganisationId FROM Organisation WHERE OrganisationId IN (?) ORDER BY OrganisationId",
	} {
		require.Equal(t, want, queryShape(script), script)
	}
}
