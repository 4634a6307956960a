package webcrmsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

func TestLoginExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	e := newEnv(t, Options{TokenTTL: 10 * time.Minute, RefreshTokenTTL: time.Hour, Now: clock.Now})

	// urlencoded, field name in another case
	res := e.do(call{method: "POST", path: "/Auth/ApiLogin", body: url.Values{"AUTHCODE": {testAPIToken}}, token: "-"})
	require.Equal(t, 200, res.status, "%s", res.body)
	tok := res.object(t)
	require.Equal(t, "Bearer", tok["TokenType"])
	require.Equal(t, "600", fmt.Sprint(tok["ExpiresIn"]))
	require.Equal(t, false, tok["IsError"])
	require.Regexp(t, `^[\w-]+\.[\w-]+\.[\w-]+$`, tok["AccessToken"], "JWT-shaped")
	access, refresh := tok["AccessToken"].(string), tok["RefreshToken"].(string)
	require.Equal(t, 200, e.do(call{method: "GET", path: "/Organisations", token: access}).status)

	// expired after TokenTTL
	clock.Advance(10 * time.Minute)
	requireAPIError(t, e.do(call{method: "GET", path: "/Organisations", token: access}), 401, "UnauthorizedException", "expired")

	// refresh (form field works as well as the header) gives a new token
	res = e.do(call{method: "POST", path: "/Auth/ApiRefresh", body: url.Values{"refreshToken": {refresh}}, token: "-", skipContract: true})
	require.Equal(t, 200, res.status, "%s", res.body)
	access2 := res.object(t)["AccessToken"].(string)
	require.NotEqual(t, access, access2)
	require.Equal(t, 200, e.do(call{method: "GET", path: "/Organisations", token: access2}).status)

	// refresh tokens are single-use
	res = e.do(call{method: "POST", path: "/Auth/ApiRefresh", header: map[string]string{"refreshToken": refresh}, token: "-"})
	require.Equal(t, 401, res.status)
	require.Equal(t, true, res.object(t)["IsError"])

	// wrong and missing authCode
	res = e.do(call{method: "POST", path: "/Auth/ApiLogin", body: url.Values{"authCode": {"nope"}}, token: "-"})
	require.Equal(t, 401, res.status)
	require.Equal(t, "invalid_client", res.object(t)["Error"])
	require.NotContains(t, string(res.body), testAPIToken)
	res = e.do(call{method: "POST", path: "/Auth/ApiLogin", body: url.Values{}, token: "-"})
	require.Equal(t, 400, res.status)
	// multipart, lower-case field name
	res = e.do(call{method: "POST", path: "/Auth/ApiLogin", body: &multipartBody{fields: map[string]string{"authcode": testAPIToken}}, token: "-", skipContract: true})
	require.Equal(t, 200, res.status, "%s", res.body)
	// GET is not allowed on login
	require.Equal(t, 405, e.do(call{method: "GET", path: "/Auth/ApiLogin", token: "-", noRoute: true}).status)
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, h := range []string{"", "Bearer", "Basic abc", "Bearer not-a-token"} {
		c := call{method: "GET", path: "/Persons", token: "-", invalidRequest: h == "" || h == "Bearer" || h == "Basic abc"}
		if h != "" {
			c.header = map[string]string{"Authorization": h}
		}
		res := e.do(c)
		requireAPIError(t, res, 401, "UnauthorizedException", "Authorization has been denied")
		require.Contains(t, res.header.Get("WWW-Authenticate"), "Bearer")
	}
	// unknown paths need a token too, then answer 404
	requireAPIError(t, e.do(call{method: "GET", path: "/Nope", token: "-", skipContract: true}), 401, "UnauthorizedException", "")
	e.login()
	requireAPIError(t, e.do(call{method: "GET", path: "/Nope", skipContract: true}), 404, "NotFoundException", "/Nope")
	requireAPIError(t, e.do(call{method: "GET", path: "/Organisations/abc", invalidRequest: true}), 404, "NotFoundException", "")
}

func TestPagingBounds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 1, SeedSize: 30})
	e.login()
	for _, q := range []string{"Size=0", "Size=1001", "Page=0", "Page=1000001", "Size=-1"} {
		requireAPIError(t, e.do(call{method: "GET", path: "/Organisations?" + q, invalidRequest: true}), 400, "BadRequestException", "")
	}
	requireAPIError(t, e.do(call{method: "GET", path: "/Organisations?Size=abc", invalidRequest: true}), 400, "BadRequestException", "Size")
	requireAPIError(t, e.do(call{method: "GET", path: "/Queries?script=SELECT%20*%20FROM%20Person&Size=5000", invalidRequest: true}), 400, "BadRequestException", "Size")

	// lower-case names work; pages are disjoint and ordered by id
	p2 := e.do(call{method: "GET", path: "/Organisations?page=2&size=7", skipContract: true}).array(t)
	require.Len(t, p2, 7)
	require.Equal(t, "8", fmt.Sprint(p2[0]["OrganisationId"]))
	require.Len(t, e.get("/Organisations").array(t), 30, "default size 50 holds all 30")
	require.Empty(t, e.get("/Organisations?Page=99&Size=10").array(t))
	last := e.get("/Organisations?Page=3&Size=13").array(t)
	require.Len(t, last, 4)
}

func TestPutReplacesWholeRecord(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	e := newEnv(t, Options{Now: clock.Now})
	e.login()
	f := e.fixture()
	path := fmt.Sprintf("/Persons/%d", f.person)
	before := e.get(path).object(t)
	require.Equal(t, "ase@fjord.dk", before["PersonEmail"])

	clock.Advance(time.Second)
	res := e.put(path, map[string]any{"PersonId": f.person, "PersonOrganisationId": f.org, "PersonLastName": "Bøgh-Hansen",
		"PersonCreatedAt": "2001-01-01T00:00:00Z", "PersonUpdatedBy": "someone"})
	require.Equal(t, 200, res.status, "%s", res.body)
	after := e.get(path).object(t)
	require.NotContains(t, after, "PersonEmail", "omitted property is cleared")
	require.NotContains(t, after, "PersonFirstName")
	require.Equal(t, "Bøgh-Hansen", after["PersonLastName"])
	require.Equal(t, before["PersonCreatedAt"], after["PersonCreatedAt"], "server-maintained CreatedAt kept")
	require.Equal(t, "REST API", after["PersonUpdatedBy"])
	require.Greater(t, after["PersonUpdatedAt"], before["PersonUpdatedAt"])
	require.Equal(t, "2025-03-04T10:00:01.0000000Z", after["PersonUpdatedAt"])

	// body id 0 is accepted, a different id is not
	require.Equal(t, 200, e.put(path, map[string]any{"PersonId": 0, "PersonOrganisationId": f.org, "PersonLastName": "X"}).status)
	requireAPIError(t, e.put(path, map[string]any{"PersonId": f.person + 1, "PersonOrganisationId": f.org, "PersonLastName": "X"}), 400, "BadRequestException", "does not match")
	requireAPIError(t, e.put("/Persons/999", map[string]any{"PersonId": 999, "PersonLastName": "X"}), 404, "NotFoundException", "999")
	requireAPIError(t, e.get("/Persons/999"), 404, "NotFoundException", "Person 999 was not found")
}

func TestPersonRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	f := e.fixture()
	other := e.createID("Organisations", map[string]any{"OrganisationName": "Andet A/S"})
	path := fmt.Sprintf("/Persons/%d", f.person)
	requireAPIError(t, e.put(path, map[string]any{"PersonId": f.person, "PersonOrganisationId": other, "PersonLastName": "Bøgh"}), 400, "BadRequestException", "PersonOrganisationId")
	requireAPIError(t, e.put(path, map[string]any{"PersonId": f.person, "PersonLastName": "Bøgh"}), 400, "BadRequestException", "PersonOrganisationId")
	requireAPIError(t, e.post("/Persons", map[string]any{"PersonId": 0, "PersonOrganisationId": f.org, "PersonFirstName": "Ida"}), 400, "BadRequestException", "PersonLastName is required")
	requireAPIError(t, e.post("/Persons", map[string]any{"PersonId": 0, "PersonOrganisationId": 4242, "PersonLastName": "Ida"}), 400, "BadRequestException", "PersonOrganisationId 4242")
	requireAPIError(t, e.post("/Persons", map[string]any{"PersonId": 5, "PersonLastName": "Ida"}), 400, "BadRequestException", "must be 0")
	// the UI (direct store) may move a person
	require.NoError(t, e.sim.Patch("Persons", f.person, map[string]any{"PersonOrganisationId": other}))
	rec, _ := e.sim.Record("Persons", f.person)
	require.Equal(t, int64(other), rec["PersonOrganisationId"])
}

func TestValidationNamesProperty(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	cases := []struct {
		body    map[string]any
		message string
		// swaggerRejects: the swagger schema itself rejects the body
		// (unknown properties are allowed by the schema, the simulator
		// rejects them anyway).
		swaggerRejects bool
	}{
		{map[string]any{"OrganisationId": 0, "OrganisationNope": 1}, `Unknown property "OrganisationNope"`, false},
		{map[string]any{"OrganisationId": 0, "OrganisationName": 12}, "OrganisationName: expected string, got number", true},
		{map[string]any{"OrganisationId": 0, "OrganisationOwner": "1"}, "OrganisationOwner: expected int32, got string", true},
		{map[string]any{"OrganisationId": 0, "OrganisationOwner": 1.5}, "OrganisationOwner: expected int32", true},
		{map[string]any{"OrganisationId": 0, "OrganisationXInt1": 3000000000}, "OrganisationXInt1: 3000000000 is out of the int32 range", true},
		{map[string]any{"OrganisationId": 0, "OrganisationNoAds": "yes"}, "OrganisationNoAds: expected boolean", true},
		{map[string]any{"OrganisationId": 0, "OrganisationXDate1": "yesterday"}, "OrganisationXDate1", true},
		{map[string]any{"OrganisationId": 0, "OrganisationLastItemType": "Party"}, "OrganisationLastItemType", true},
		{map[string]any{"OrganisationId": 0, "OrganisationCity": strings.Repeat("ø", 51)}, "OrganisationCity: longer than 50", true},
	}
	for _, c := range cases {
		res := e.do(call{method: "POST", path: "/Organisations", body: c.body, invalidRequest: c.swaggerRejects})
		requireAPIError(t, res, 400, "BadRequestException", c.message)
	}
	require.Zero(t, e.sim.Count("Organisations"))
	// Unsupported media type and non-JSON
	res := e.do(call{method: "POST", path: "/Persons", body: []byte(`<PersonDto/>`), header: map[string]string{"Content-Type": "application/xml"}, skipContract: true})
	requireAPIError(t, res, 415, "UnsupportedMediaTypeException", "application/xml")
	requireAPIError(t, e.do(call{method: "POST", path: "/Persons", body: []byte(`{"PersonId":0,`), skipContract: true}), 400, "BadRequestException", "not valid JSON")
	requireAPIError(t, e.do(call{method: "POST", path: "/Persons", body: []byte(`[1]`), skipContract: true}), 400, "BadRequestException", "JSON object")
	// property names are matched case-insensitively and stored canonically
	id := e.createID("Organisations", map[string]any{"organisationname": "Små Bølger ApS", "ORGANISATIONLASTITEMTYPE": "opportunity"})
	rec := e.get(fmt.Sprintf("/Organisations/%d", id)).object(t)
	require.Equal(t, "Små Bølger ApS", rec["OrganisationName"])
	require.Equal(t, "Opportunity", rec["OrganisationLastItemType"])
}

func TestCreateResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	res := e.post("/Organisations", map[string]any{"OrganisationId": 0, "OrganisationName": "Tom A/S"})
	require.Equal(t, 200, res.status)
	require.Empty(t, res.body, "POST /Organisations answers without a body")
	require.Equal(t, "0", res.header.Get("Content-Length"))
	res = e.post("/Users", map[string]any{"UserId": 0, "UserName": "Ole"})
	require.Equal(t, 200, res.status)
	require.Empty(t, res.body)
	res = e.post("/Persons", map[string]any{"PersonId": 0, "PersonOrganisationId": 1, "PersonLastName": "Lie"})
	require.Equal(t, 200, res.status)
	require.Equal(t, "1", string(res.body), "bare JSON integer")
	require.Equal(t, "2", string(e.post("/Persons", map[string]any{"PersonId": 0, "PersonLastName": "Aas"}).body))
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	f := e.fixture()
	for _, ent := range []string{"Organisations", "Persons", "Users", "Opportunities"} {
		res := e.do(call{method: "DELETE", path: fmt.Sprintf("/%s/1", ent), noRoute: true})
		requireAPIError(t, res, 405, "MethodNotAllowedException", "")
		require.Equal(t, "GET, PUT", res.header.Get("Allow"))
	}
	requireAPIError(t, e.do(call{method: "PATCH", path: "/Persons/1", body: map[string]any{}, noRoute: true}), 405, "MethodNotAllowedException", "")
	requireAPIError(t, e.do(call{method: "PUT", path: "/Persons", body: map[string]any{}, noRoute: true}), 405, "MethodNotAllowedException", "")
	requireAPIError(t, e.do(call{method: "POST", path: "/Queries", noRoute: true}), 405, "MethodNotAllowedException", "")
	require.Equal(t, 200, e.do(call{method: "DELETE", path: fmt.Sprintf("/Products/%d", f.product)}).status)
	require.Equal(t, 200, e.do(call{method: "DELETE", path: fmt.Sprintf("/QuotationLines/%d", f.line)}).status)
	requireAPIError(t, e.do(call{method: "DELETE", path: fmt.Sprintf("/QuotationLines/%d", f.line)}), 404, "NotFoundException", "")
}

func TestBulkPatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	f := e.fixture()
	res := e.do(call{method: "PATCH", path: "/Persons", body: []any{
		map[string]any{"PersonId": 0, "PersonOrganisationId": f.org, "PersonLastName": "Ny"},
		map[string]any{"PersonId": f.person, "PersonOrganisationId": f.org, "PersonLastName": "Opdateret"},
		map[string]any{"PersonId": 0, "PersonOrganisationId": f.org},
		map[string]any{"PersonId": 77, "PersonOrganisationId": f.org, "PersonLastName": "Findes ikke"},
	}})
	require.Equal(t, 200, res.status)
	var out []string
	res.json(t, &out)
	require.Equal(t, "2", out[0])
	require.Equal(t, strconv.Itoa(f.person), out[1])
	require.True(t, IsPatchError(out[2]))
	require.Contains(t, out[2], "PersonLastName is required")
	require.True(t, IsPatchError(out[3]))
	require.Contains(t, out[3], "Person 77 was not found")
	rec, _ := e.sim.Record("Persons", f.person)
	require.Equal(t, "Opdateret", rec["PersonLastName"])
	require.NotContains(t, rec, "PersonEmail", "PATCH items replace like PUT")
	requireAPIError(t, e.do(call{method: "PATCH", path: "/Persons", body: map[string]any{"PersonId": 0}, invalidRequest: true}), 400, "BadRequestException", "JSON array")
	w := e.sim.Stats().Writes["Persons"]
	require.Equal(t, WriteStats{Create: 2, Update: 1}, w, "fixture create + PATCH create + PATCH update")
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	e := newEnv(t, Options{RateLimitPerMinute: 3, Now: clock.Now})
	e.login() // counts as 1
	clock.Advance(10 * time.Second)
	require.Equal(t, 200, e.get("/Users").status)
	require.Equal(t, 200, e.get("/Users").status)
	res := e.get("/Users")
	require.Equal(t, 429, res.status)
	require.Equal(t, "50", res.header.Get("Retry-After"))
	var body tooManyBody
	res.json(t, &body)
	require.Equal(t, 50, body.RetryAfterSeconds)
	require.Equal(t, "TooManyRequestsException", body.Type)
	require.Contains(t, body.Message, "limit of 3 requests per minute")
	// logins are limited too
	require.Equal(t, 429, e.do(call{method: "POST", path: "/Auth/ApiLogin", body: url.Values{"authCode": {testAPIToken}}, token: "-"}).status)
	// the window slides: after the login falls out, one slot frees up
	clock.Advance(50 * time.Second)
	require.Equal(t, 200, e.get("/Users").status)
	require.Equal(t, 429, e.get("/Users").status)
	st := e.sim.Stats()
	require.Equal(t, int64(3), st.RateLimited)
	require.Equal(t, int64(2), st.Requests["GET /Users"][429])
	require.Equal(t, 3, st.PeakPerMinute, "the most requests let through in any minute")
	e.sim.ResetStats()
	require.Equal(t, 3, e.sim.Stats().PeakPerMinute, "a reset starts from the requests in the window now")
	clock.Advance(2 * time.Minute)
	e.sim.ResetStats()
	require.Zero(t, e.sim.Stats().PeakPerMinute)
}

var stampRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`)

func TestTimestamps(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0.Add(123456789 * time.Nanosecond))
	e := newEnv(t, Options{Now: clock.Now})
	e.login()
	a := e.createID("Organisations", map[string]any{"OrganisationName": "A"})
	b := e.createID("Organisations", map[string]any{"OrganisationName": "B"})
	ra, rb := e.get(fmt.Sprintf("/Organisations/%d", a)).object(t), e.get(fmt.Sprintf("/Organisations/%d", b)).object(t)
	require.Regexp(t, stampRe, ra["OrganisationUpdatedAt"])
	require.Equal(t, "2025-03-04T10:00:00.1234567Z", ra["OrganisationUpdatedAt"])
	require.Equal(t, ra["OrganisationUpdatedAt"], rb["OrganisationUpdatedAt"], "same clock tick, same stamp")
	// a second write of one record in the same tick still moves its UpdatedAt forward
	require.NoError(t, e.sim.Patch("Organisations", a, map[string]any{"OrganisationCity": "Ærøskøbing"}))
	ra2, _ := e.sim.Record("Organisations", a)
	require.Equal(t, "2025-03-04T10:00:00.1234568Z", ra2["OrganisationUpdatedAt"])
	// and later writes never get an earlier stamp, even if the clock goes back
	clock.Advance(-time.Hour)
	require.NoError(t, e.sim.Patch("Organisations", b, map[string]any{"OrganisationCity": "Bodø"}))
	rb2, _ := e.sim.Record("Organisations", b)
	require.Equal(t, "2025-03-04T10:00:00.1234568Z", rb2["OrganisationUpdatedAt"])
	// input date-times without offset are UTC; offsets are converted
	id := e.createID("Organisations", map[string]any{"OrganisationName": "C", "OrganisationXDate1": "2024-05-06T07:08:09+02:00"})
	require.Equal(t, "2024-05-06T05:08:09.0000000Z", e.get(fmt.Sprintf("/Organisations/%d", id)).object(t)["OrganisationXDate1"])
}

// TestConcurrentUse runs API writes, queries and direct-store edits from
// several goroutines at once (run with -race) and checks nothing is lost.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t, Options{Seed: 2, SeedSize: 20, RateLimitPerMinute: -1, PersistPath: t.TempDir() + "/s.json", PersistDebounce: time.Millisecond})
	e.login()
	require.Equal(t, 200, e.post("/Persons/Hooks", map[string]any{"Id": 0, "TargetUrl": rc.srv.URL, "IsEnabled": true, "Filter": []string{"All"}}).status)
	before := e.sim.Count("Persons")
	const workers, each = 4, 25
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				body, _ := json.Marshal(map[string]any{"PersonId": 0, "PersonOrganisationId": 1 + (w+i)%20, "PersonLastName": fmt.Sprintf("W%d-%d", w, i)})
				req, _ := http.NewRequest("POST", e.srv.URL+"/Persons", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+e.token)
				resp, err := e.client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
				if err := e.sim.Patch("Organisations", 1+i%20, map[string]any{"OrganisationCity": fmt.Sprint(w)}); err != nil {
					errs <- err
					return
				}
				q := url.QueryEscape("SELECT PersonId FROM Person WHERE PersonLastName LIKE 'W%' ORDER BY PersonUpdatedAt DESC")
				qreq, _ := http.NewRequest("GET", e.srv.URL+"/Queries?Size=10&script="+q, nil)
				qreq.Header.Set("Authorization", "Bearer "+e.token)
				resp, err = e.client.Do(qreq)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("query status %d", resp.StatusCode)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	require.Equal(t, before+workers*each, e.sim.Count("Persons"))
	rc.waitFor(t, workers*each)
	ids := map[int]bool{}
	for _, p := range rc.payloads() {
		require.False(t, ids[p.ID], "one Create hook per person")
		ids[p.ID] = true
	}
}
