package webcrmsim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/require"
)

// TestContractEveryOperation drives every operation the simulator serves
// for the six entities and validates each request and response against
// webCRM's swagger (the kept contract derived from the published one, see
// loadContract).
func TestContractEveryOperation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	f := e.fixture()
	ids := map[string]int{"Users": f.user, "Organisations": f.org, "Persons": f.person, "Products": f.product, "Opportunities": f.opp, "QuotationLines": f.line}

	for _, ent := range entities.list {
		id := ids[ent.Name]
		t.Run(ent.Name, func(t *testing.T) {
			e.t = t
			// GET list and by id.
			list := e.get("/" + ent.Name + "?Page=1&Size=10")
			require.Equal(t, 200, list.status)
			require.Len(t, list.array(t), 1)
			one := e.get(fmt.Sprintf("/%s/%d", ent.Name, id))
			require.Equal(t, 200, one.status)
			rec := one.object(t)
			require.Equal(t, strconv.Itoa(id), fmt.Sprint(rec[ent.IDField]))

			// PUT the record back (GET-modify-PUT), minus server fields.
			for _, k := range []string{ent.createdAt, ent.updatedAt, ent.createdBy, ent.updatedBy} {
				require.Contains(t, rec, k)
				delete(rec, k)
			}
			res := e.put(fmt.Sprintf("/%s/%d", ent.Name, id), rec)
			require.Equal(t, 200, res.status, "%s", res.body)
			require.Empty(t, res.body)

			// PATCH: one update, one insert.
			clone := map[string]any{}
			for k, v := range rec {
				clone[k] = v
			}
			clone[ent.IDField] = 0
			res = e.do(call{method: "PATCH", path: "/" + ent.Name, body: []any{rec, clone}})
			require.Equal(t, 200, res.status)
			var out []string
			res.json(t, &out)
			require.Len(t, out, 2)
			require.Equal(t, strconv.Itoa(id), out[0])
			newID, err := strconv.Atoi(out[1])
			require.NoError(t, err, "PATCH results: %v", out)

			// DELETE where the swagger has it, else 405.
			path := fmt.Sprintf("/%s/%d", ent.Name, newID)
			if ent.allows("/{id}", "DELETE") {
				res = e.do(call{method: "DELETE", path: path})
				require.Equal(t, 200, res.status)
				require.Empty(t, res.body)
				requireAPIError(t, e.get(path), 404, "NotFoundException", "not found")
			} else {
				res = e.do(call{method: "DELETE", path: path, noRoute: true})
				requireAPIError(t, res, 405, "MethodNotAllowedException", "does not support")
				require.NotEmpty(t, res.header.Get("Allow"))
			}

			// Hooks CRUD.
			hook := map[string]any{"Id": 0, "EventType": "Update", "TargetUrl": "https://example.invalid/hook", "IsEnabled": true, "Filter": []string{"All"}}
			res = e.post("/"+ent.Name+"/Hooks", hook)
			require.Equal(t, 200, res.status, "%s", res.body)
			var hid int64
			res.json(t, &hid)
			hpath := fmt.Sprintf("/%s/Hooks/%d", ent.Name, hid)
			got := e.get(hpath)
			require.Equal(t, 200, got.status)
			require.Equal(t, "Update", got.object(t)["EventType"])
			hook["Id"], hook["IsEnabled"], hook["EventType"] = hid, false, "Delete"
			require.Equal(t, 200, e.put(hpath, hook).status)
			hl := e.get("/" + ent.Name + "/Hooks?Page=1&Size=5")
			require.Equal(t, 200, hl.status)
			hooks := hl.array(t)
			require.Len(t, hooks, 1)
			require.Equal(t, false, hooks[0]["IsEnabled"])
			require.Equal(t, 200, e.do(call{method: "DELETE", path: hpath}).status)
			requireAPIError(t, e.get(hpath), 404, "NotFoundException", "hook")
		})
	}
	e.t = t

	// Queries (rows are the swagger's undefined ObjectDto, see loadContract).
	res := e.get("/Queries?script=" + url.QueryEscape("SELECT * FROM Person JOIN Organisation ON (Person.PersonOrganisationId = Organisation.OrganisationId)") + "&Page=1&Size=10")
	require.Equal(t, 200, res.status)
	rows := res.array(t)
	require.Len(t, rows, 2) // the fixture's person and the one PATCH inserted
	require.Equal(t, "Fjord Tømrer ApS", rows[0]["OrganisationName"])

	// Refresh with the swagger's header parameter.
	login := e.do(call{method: "POST", path: "/Auth/ApiLogin", body: &multipartBody{fields: map[string]string{"authCode": testAPIToken}}, token: "-"})
	require.Equal(t, 200, login.status)
	refresh := login.object(t)["RefreshToken"].(string)
	res = e.do(call{method: "POST", path: "/Auth/ApiRefresh", header: map[string]string{"refreshToken": refresh}, token: "-"})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Equal(t, "Bearer", res.object(t)["TokenType"])
}

// TestContractSeededData lists every seeded record of every entity and
// validates the pages against the swagger's DTO schemas (types, enums,
// lengths, date-time format).
func TestContractSeededData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 7, SeedSize: 300})
	e.login()
	for _, ent := range entities.list {
		total := 0
		for page := 1; ; page++ {
			res := e.get(fmt.Sprintf("/%s?Page=%d&Size=1000", ent.Name, page))
			require.Equal(t, 200, res.status)
			n := len(res.array(t))
			total += n
			if n < 1000 {
				break
			}
		}
		require.Equal(t, e.sim.Count(ent.Name), total, ent.Name)
		require.Positive(t, total, ent.Name)
	}
}

// TestContractValidatorIsNotVacuous proves the swagger checks used above
// reject wrong types, bad date-times and unknown enum values.
func TestContractValidatorIsNotVacuous(t *testing.T) {
	t.Parallel()
	c := mustContract(t)
	for _, body := range []string{
		`{"OrganisationId":"1"}`,
		`{"OrganisationId":1,"OrganisationCreatedAt":"2024-01-01 10:00"}`,
		`{"OrganisationId":1,"OrganisationLastItemType":"Nope"}`,
		`{"OrganisationId":1,"OrganisationNoAds":"yes"}`,
	} {
		req := httptestRequest(t, "GET", "/Organisations/1")
		route, params, err := c.router.FindRoute(req)
		require.NoError(t, err)
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: &openapi3filter.Options{AuthenticationFunc: authCheck}}
		err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: 200,
			Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
			Body:   io.NopCloser(strings.NewReader(body)),
		})
		require.Error(t, err, body)
	}
}

func httptestRequest(t *testing.T, method, path string) *http.Request {
	req, err := http.NewRequest(method, "http://127.0.0.1"+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer x")
	return req
}
