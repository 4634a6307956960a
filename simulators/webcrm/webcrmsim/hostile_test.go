package webcrmsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// rawResult is the outcome of a request sent without the env's checks:
// err is set when the connection closed without an answer.
type rawResult struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (e *env) raw(method, path string, body any) rawResult {
	e.t.Helper()
	data, ct := encodeBody(e.t, body)
	req := e.newRequest(call{method: method, path: path}, data, ct)
	resp, err := e.client.Do(req)
	if err != nil {
		return rawResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return rawResult{status: resp.StatusCode, header: resp.Header, body: b}
}

func setFaults(t *testing.T, e *env, cfg FaultConfig) {
	t.Helper()
	require.NoError(t, e.sim.Faults().Set(cfg))
}

// column returns one column of rows as strings.
func column(rows []map[string]any, name string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r[name])
	}
	return out
}

// pageAll reads pages of size from next until one comes back short.
func pageAll(t *testing.T, size int, next func(page int) []map[string]any) []map[string]any {
	t.Helper()
	var all []map[string]any
	for page := 1; page < 100; page++ {
		rows := next(page)
		all = append(all, rows...)
		if len(rows) < size {
			return all
		}
	}
	t.Fatal("paging did not end")
	return nil
}

func distinct(vals []string) int {
	seen := map[string]bool{}
	for _, v := range vals {
		seen[v] = true
	}
	return len(seen)
}

func TestUnorderedPagesQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 4, SeedSize: 40})
	e.login()
	const script = `SELECT OrganisationId, OrganisationCountry FROM Organisation`
	inOrder := column(e.query(script, 1, 1000), "OrganisationId")
	require.Len(t, inOrder, 40)
	require.Equal(t, inOrder, column(e.query(script, 1, 1000), "OrganisationId"), "off: id order, every time")

	setFaults(t, e, FaultConfig{UnorderedPages: true})
	first := column(e.query(script, 1, 1000), "OrganisationId")
	second := column(e.query(script, 1, 1000), "OrganisationId")
	require.NotEqual(t, first, second, "a fresh order per request")
	require.NotEqual(t, inOrder, first)
	require.ElementsMatch(t, inOrder, first)
	require.ElementsMatch(t, inOrder, second)
	paged := column(pageAll(t, 10, func(p int) []map[string]any { return e.query(script, p, 10) }), "OrganisationId")
	require.Len(t, paged, 40, "every page is full")
	require.Less(t, distinct(paged), 40, "paging by page number skips some rows and repeats others")

	// ORDER BY: the keys stay sorted, rows with equal keys change places
	const byCountry = `SELECT OrganisationId, OrganisationCountry FROM Organisation ORDER BY OrganisationCountry`
	a, b := e.query(byCountry, 1, 1000), e.query(byCountry, 1, 1000)
	countries := column(a, "OrganisationCountry")
	require.True(t, slices.IsSorted(countries), "%v", countries)
	require.Equal(t, countries, column(b, "OrganisationCountry"))
	require.NotEqual(t, column(a, "OrganisationId"), column(b, "OrganisationId"), "ties in random order")
	for i, r := range a {
		require.Equal(t, strconv.Itoa(i+1), fmt.Sprint(r["RowNumber"]), "RowNumber is the position in this answer")
	}
	// a total order stays deterministic
	const byID = `SELECT OrganisationId FROM Organisation ORDER BY OrganisationId DESC`
	want := slices.Clone(inOrder)
	slices.Reverse(want)
	require.Equal(t, want, column(e.query(byID, 1, 1000), "OrganisationId"))
	require.Equal(t, want, column(e.query(byID, 1, 1000), "OrganisationId"))

	// the cache still serves one sorted result: the store is what it was
	require.Equal(t, inOrder, column(e.sim.Records("Organisations"), "OrganisationId"))
}

func TestUnorderedPagesList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 5, SeedSize: 30, Faults: FaultConfig{UnorderedPages: true}})
	e.login()
	list := func(page, size int) []map[string]any {
		res := e.get(fmt.Sprintf("/Organisations?Page=%d&Size=%d", page, size))
		require.Equal(t, 200, res.status, "%s", res.body)
		return res.array(t)
	}
	first, second := column(list(1, 100), "OrganisationId"), column(list(1, 100), "OrganisationId")
	require.Len(t, first, 30)
	require.NotEqual(t, first, second)
	require.ElementsMatch(t, first, second)
	require.False(t, slices.IsSortedFunc(first, func(x, y string) int { a, _ := strconv.Atoi(x); b, _ := strconv.Atoi(y); return a - b }))
	paged := column(pageAll(t, 7, func(p int) []map[string]any { return list(p, 7) }), "OrganisationId")
	require.Len(t, paged, 30)
	require.Less(t, distinct(paged), 30, "paging skips and repeats records")

	setFaults(t, e, FaultConfig{})
	require.Equal(t, column(e.sim.Records("Organisations"), "OrganisationId"), column(list(1, 100), "OrganisationId"), "off: id order")
}

func TestLostAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 2, Faults: FaultConfig{LostAnswerRate: 1}})
	e.login() // /Auth/ is never lost
	require.Equal(t, 200, e.get("/Organisations").status, "reads are never lost")
	id, err := e.sim.Put("Organisations", map[string]any{"OrganisationName": "Start"})
	require.NoError(t, err)

	statuses := map[int]int{}
	drops := 0
	for i := range 12 {
		name := fmt.Sprintf("Navn %d", i)
		res := e.raw("PUT", fmt.Sprintf("/Organisations/%d", id), map[string]any{"OrganisationId": id, "OrganisationName": name})
		if res.err != nil {
			drops++
		} else {
			require.GreaterOrEqual(t, res.status, 500, "%s", res.body)
			statuses[res.status]++
		}
		rec, _ := e.sim.Record("Organisations", id)
		require.Equal(t, name, rec["OrganisationName"], "the PUT was committed although its answer was lost")
	}
	require.Positive(t, drops, "some connections are closed")
	require.NotEmpty(t, statuses, "some answers are a 5xx")

	// a created record exists although the client never heard of it
	before := e.sim.Count("Persons")
	res := e.raw("POST", "/Persons", map[string]any{"PersonId": 0, "PersonLastName": "Tabt"})
	require.True(t, res.err != nil || res.status >= 500)
	require.Equal(t, before+1, e.sim.Count("Persons"))

	// a write that is refused was not carried out: its answer is kept
	res = e.raw("POST", "/Persons", map[string]any{"PersonId": 0})
	require.NoError(t, res.err)
	require.Equal(t, 400, res.status)

	st := e.sim.Stats()
	require.Equal(t, int64(13), st.LostAnswers)
	require.Equal(t, int64(12), st.Writes["Organisations"].Update)
	require.Equal(t, int64(drops), st.Requests["PUT /Organisations/{id}"][0])
}

func TestMaxURLLength(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	e := newEnv(t, Options{RateLimitPerMinute: 3, Now: clock.Now, Faults: FaultConfig{MaxURLLength: 2048}})
	e.login() // 1 of 3
	queryURI := func(n int) string {
		build := func(pad int) string {
			script := "SELECT OrganisationId FROM Organisation WHERE OrganisationName <> '" + strings.Repeat("x", pad) + "'"
			return "/Queries?script=" + url.QueryEscape(script)
		}
		uri := build(n - len(build(0)))
		require.Len(t, uri, n)
		return uri
	}
	long := queryURI(2049)
	for range 5 {
		res := e.do(call{method: "GET", path: long, skipContract: true})
		require.Equal(t, 404, res.status)
		require.True(t, strings.HasPrefix(res.header.Get("Content-Type"), "text/html"), res.header.Get("Content-Type"))
		require.Contains(t, string(res.body), "HTTP Error 404.15 - Not Found")
		require.Contains(t, string(res.body), "query string is too long")
	}
	// refused before authentication, too
	res := e.do(call{method: "GET", path: long, token: "-", skipContract: true})
	require.Equal(t, 404, res.status)

	require.Equal(t, 200, e.get(queryURI(2048)).status, "at the limit is fine (2 of 3)")
	require.Equal(t, 200, e.get("/Users").status, "3 of 3: the long URLs were not counted")
	require.Equal(t, 429, e.get("/Users").status)
	st := e.sim.Stats()
	require.Equal(t, int64(6), st.URLTooLong)
	require.Equal(t, int64(6), st.Requests["GET /Queries"][404])
}

func TestPatchAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 6})
	e.login()
	f := e.fixture()
	patch := func(n int, name string) []string {
		var items []any
		for i := range n {
			items = append(items, map[string]any{"PersonId": 0, "PersonOrganisationId": f.org, "PersonLastName": fmt.Sprintf("%s %d", name, i)})
		}
		res := e.do(call{method: "PATCH", path: "/Persons", body: items})
		require.Equal(t, 200, res.status, "%s", res.body)
		var out []string
		res.json(t, &out)
		return out
	}

	setFaults(t, e, FaultConfig{PatchShuffle: true})
	before := e.sim.Count("Persons")
	got := patch(8, "Blandet")
	var want []string
	for id := before + 1; id <= before+8; id++ {
		want = append(want, strconv.Itoa(id))
	}
	require.NotEqual(t, want, got, "another order than the items")
	require.ElementsMatch(t, want, got)
	for i, id := range want {
		n, _ := strconv.Atoi(id)
		rec, _ := e.sim.Record("Persons", n)
		require.Equal(t, fmt.Sprintf("Blandet %d", i), rec["PersonLastName"], "records were created in item order")
	}

	setFaults(t, e, FaultConfig{PatchShortRate: 1})
	before = e.sim.Count("Persons")
	got = patch(6, "Kort")
	require.Less(t, len(got), 6)
	require.Equal(t, before+6, e.sim.Count("Persons"), "every item was written")
	for _, r := range got {
		require.False(t, IsPatchError(r), r)
	}

	setFaults(t, e, FaultConfig{PatchItemErrorRate: 0.5})
	before = e.sim.Count("Persons")
	got = patch(20, "Fejl")
	require.Len(t, got, 20)
	rejected := 0
	for _, r := range got {
		if r == PatchItemErrorMessage {
			rejected++
		} else {
			require.False(t, IsPatchError(r), r)
		}
	}
	require.True(t, IsPatchError(PatchItemErrorMessage))
	require.True(t, rejected > 0 && rejected < 20, "about half: %d", rejected)
	require.Equal(t, before+20-rejected, e.sim.Count("Persons"), "rejected items are not written")

	st := e.sim.Stats()
	require.Equal(t, int64(1), st.PatchShuffled)
	require.Equal(t, int64(1), st.PatchShortened)
	require.Equal(t, int64(rejected), st.PatchItemErrors)
}

func TestMaskSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Seed: 1, SeedSize: 20})
	e.login()
	stored, _ := e.sim.Record("Users", 1)
	for _, p := range SecretProperties()["Users"] {
		require.NotEmpty(t, stored[p], "seeded users have a %s", p)
	}
	var person map[string]any
	for _, p := range e.sim.Records("Persons") {
		if p["PersonPassword"] != nil {
			person = p
			break
		}
	}
	require.NotNil(t, person, "some seeded persons have a password")
	personID := int(person["PersonId"].(int64))

	require.Equal(t, stored["UserPassword"], e.get("/Users/1").object(t)["UserPassword"], "off: as stored")

	setFaults(t, e, FaultConfig{MaskSecrets: true})
	got := e.get("/Users/1").object(t)
	for _, p := range SecretProperties()["Users"] {
		require.Equal(t, SecretMask, got[p], p)
	}
	require.Equal(t, stored["UserName"], got["UserName"])
	for _, u := range e.get("/Users?Size=100").array(t) {
		require.Equal(t, SecretMask, u["UserPassword"])
	}
	require.Equal(t, SecretMask, e.get(fmt.Sprintf("/Persons/%d", personID)).object(t)["PersonPassword"])
	rows := e.query(`SELECT UserId, UserTicket FROM User WHERE UserId = 1`, 1, 10)
	require.Equal(t, SecretMask, rows[0]["UserTicket"])
	rows = e.query(`SELECT * FROM User WHERE UserId = 1`, 1, 10)
	require.Equal(t, SecretMask, rows[0]["UserAuthenticationCode"])
	// an unset credential is not turned into a mask
	plain, err := e.sim.Put("Persons", map[string]any{"PersonLastName": "Uden kode"})
	require.NoError(t, err)
	require.NotContains(t, e.get(fmt.Sprintf("/Persons/%d", plain)).object(t), "PersonPassword")
	// the admin endpoint shows the truth
	res := e.do(call{method: "GET", path: "/_sim/records/Users/1"})
	require.Equal(t, stored["UserPassword"], res.object(t)["UserPassword"])

	// a PUT that leaves the credentials out keeps them (instead of clearing)
	body := map[string]any{"UserId": 1, "UserName": "Ny Navn", "UserEmail": stored["UserEmail"]}
	require.Equal(t, 200, e.put("/Users/1", body).status)
	rec, _ := e.sim.Record("Users", 1)
	require.Equal(t, "Ny Navn", rec["UserName"])
	for _, p := range SecretProperties()["Users"] {
		require.Equal(t, stored[p], rec[p], p)
	}
	require.Nil(t, rec["UserTitle"], "other properties not given are still cleared")
	// so does a PATCH item
	res = e.do(call{method: "PATCH", path: "/Persons", body: []any{map[string]any{
		"PersonId": personID, "PersonOrganisationId": person["PersonOrganisationId"], "PersonLastName": "Uden kode",
	}}})
	require.Equal(t, 200, res.status, "%s", res.body)
	prec, _ := e.sim.Record("Persons", personID)
	require.Equal(t, person["PersonPassword"], prec["PersonPassword"])
	require.Zero(t, e.sim.Stats().SecretsOverwritten)

	// writing back what was read destroys the secrets, and is counted
	u2 := e.get("/Users/2").object(t)
	require.Equal(t, 200, e.put("/Users/2", u2).status)
	rec, _ = e.sim.Record("Users", 2)
	require.Equal(t, SecretMask, rec["UserPassword"])
	require.Equal(t, int64(3), e.sim.Stats().SecretsOverwritten)

	// off again: PUT clears what it leaves out, as before
	setFaults(t, e, FaultConfig{})
	require.Equal(t, 200, e.put("/Users/3", map[string]any{"UserId": 3, "UserName": "X"}).status)
	rec, _ = e.sim.Record("Users", 3)
	require.Nil(t, rec["UserPassword"])
}

func TestRewriteOnWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	long := strings.Repeat("Ø", 250) // OrganisationName has a maximum of 200
	org := map[string]any{"OrganisationId": 0, "OrganisationName": long, "OrganisationTelephone": "+45 12 34 56 78"}
	post := call{method: "POST", path: "/Organisations", body: org, invalidRequest: true}
	requireAPIError(t, e.do(post), 400, "BadRequestException", "longer than 200")

	setFaults(t, e, FaultConfig{RewriteOnWrite: true})
	res := e.do(post)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Empty(t, res.body, "the answer does not say so")
	rec, _ := e.sim.Record("Organisations", 1)
	require.Equal(t, strings.Repeat("Ø", 200), rec["OrganisationName"], "cut at the limit, by characters")
	require.Equal(t, "+4512345678", rec["OrganisationTelephone"])
	got := e.get("/Organisations/1").object(t)
	require.Equal(t, rec["OrganisationName"], got["OrganisationName"])

	pid := e.createID("Persons", map[string]any{"PersonOrganisationId": 1, "PersonLastName": "Hansen", "PersonMobilePhone": "+47 123 45 678"})
	prec, _ := e.sim.Record("Persons", pid)
	require.Equal(t, "+4712345678", prec["PersonMobilePhone"])
	res = e.put(fmt.Sprintf("/Persons/%d", pid), map[string]any{"PersonId": pid, "PersonOrganisationId": 1, "PersonLastName": "Hansen", "PersonDirectPhone": "22 33 44 55"})
	require.Equal(t, 200, res.status, "%s", res.body)
	require.Empty(t, res.body)
	prec, _ = e.sim.Record("Persons", pid)
	require.Equal(t, "22334455", prec["PersonDirectPhone"])
	res = e.do(call{method: "PATCH", path: "/Users", body: []any{map[string]any{"UserId": 0, "UserName": "Sælger", "UserTelephone": "+45 70 00 00 00"}}})
	require.Equal(t, 200, res.status, "%s", res.body)
	urec, _ := e.sim.Record("Users", 1)
	require.Equal(t, "+4570000000", urec["UserTelephone"])
	require.Equal(t, "Sælger", urec["UserName"], "other strings are stored as sent")
	require.Equal(t, int64(5), e.sim.Stats().ValuesRewritten)

	// the admin endpoints are the truth, not rewritten
	_, err := e.sim.Put("Organisations", map[string]any{"OrganisationName": "Admin", "OrganisationTelephone": "+45 1 2"})
	require.NoError(t, err)
	rec, _ = e.sim.Record("Organisations", 2)
	require.Equal(t, "+45 1 2", rec["OrganisationTelephone"])
}

// rawHook is one hook delivery as the receiver saw it.
type rawHook struct {
	path, rawQuery, contentType string
	body                        []byte
}

type rawReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []rawHook
}

func newRawReceiver(t *testing.T) *rawReceiver {
	rc := &rawReceiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, rawHook{path: r.URL.EscapedPath(), rawQuery: r.URL.RawQuery, contentType: r.Header.Get("Content-Type"), body: body})
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *rawReceiver) waitFor(t *testing.T, n int) []rawHook {
	t.Helper()
	var got []rawHook
	require.Eventually(t, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		got = slices.Clone(rc.got)
		return len(got) >= n
	}, 10*time.Second, 5*time.Millisecond, "want %d deliveries", n)
	return got
}

// hookShape classifies a delivery body and checks it names record id.
func hookShape(t *testing.T, h rawHook, id int) string {
	t.Helper()
	switch {
	case len(h.body) == 0:
		require.Empty(t, h.contentType)
		return HookBodyEmpty
	case h.contentType == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(h.body))
		require.NoError(t, err)
		require.Equal(t, url.Values{"id": {strconv.Itoa(id)}, "type": {"Organisation"}}, v)
		return HookBodyForm
	}
	require.Equal(t, "application/json", h.contentType)
	var m map[string]any
	require.NoError(t, json.Unmarshal(h.body, &m), "%s", h.body)
	switch {
	case m["EventType"] != nil:
		var p HookPayload
		require.NoError(t, json.Unmarshal(h.body, &p))
		require.Equal(t, id, p.ID)
		return "json"
	case m["resource"] != nil:
		require.True(t, strings.HasSuffix(m["resource"].(string), fmt.Sprintf("/Organisations/%d", id)), "%s", h.body)
		require.Contains(t, []any{"created", "updated", "deleted"}, m["action"])
		return HookBodyOther
	default:
		require.Equal(t, map[string]any{"data": map[string]any{"OrganisationId": float64(id)}}, m, "%s", h.body)
		return HookBodyOther
	}
}

func TestHookBodies(t *testing.T) {
	t.Parallel()
	for _, style := range []string{HookBodyJSON, HookBodyEmpty, HookBodyForm, HookBodyOther, HookBodyMixed} {
		t.Run("style="+style, func(t *testing.T) {
			t.Parallel()
			rc := newRawReceiver(t)
			e := newEnv(t, Options{Seed: 9, Faults: FaultConfig{HookBody: style}})
			e.login()
			const query = "entity=Organisation&event=Update&sig=a%2Fb%3D%3D&empty=&x=1&x=2"
			target := rc.srv.URL + "/hooks/webcrm/org?" + query
			res := e.post("/Organisations/Hooks", map[string]any{"Id": 0, "EventType": "Update", "TargetUrl": target, "IsEnabled": true, "Filter": []string{"All"}})
			require.Equal(t, 200, res.status, "%s", res.body)
			id, err := e.sim.Put("Organisations", map[string]any{"OrganisationName": "Hook"})
			require.NoError(t, err)
			const n = 24
			for i := range n {
				require.NoError(t, e.sim.Patch("Organisations", id, map[string]any{"OrganisationCity": fmt.Sprint("By ", i)}))
			}
			got := rc.waitFor(t, n)
			shapes := map[string]int{}
			for _, h := range got {
				require.Equal(t, "/hooks/webcrm/org", h.path)
				require.Equal(t, query, h.rawQuery, "the TargetUrl exactly as registered")
				shapes[hookShape(t, h, id)]++
			}
			switch style {
			case HookBodyJSON:
				require.Equal(t, map[string]int{"json": n}, shapes)
			case HookBodyMixed:
				require.Len(t, shapes, 4, "every shape occurs: %v", shapes)
			default:
				require.Equal(t, map[string]int{style: n}, shapes)
			}
			// The receiver records a call before it answers, and the
			// simulator counts it only once the answer is back.
			require.Eventually(t, func() bool { return e.sim.Stats().Hooks.Delivered == n }, 10*time.Second, 5*time.Millisecond,
				"delivered %d, want %d", e.sim.Stats().Hooks.Delivered, n)
		})
	}
}

func TestHookBodyOtherHasBothShapes(t *testing.T) {
	t.Parallel()
	rc := newRawReceiver(t)
	e := newEnv(t, Options{Seed: 3, Faults: FaultConfig{HookBody: HookBodyOther}})
	e.login()
	res := e.post("/Organisations/Hooks", map[string]any{"Id": 0, "TargetUrl": rc.srv.URL + "/h", "IsEnabled": true, "Filter": []string{"All"}})
	require.Equal(t, 200, res.status, "%s", res.body)
	for i := range 12 {
		_, err := e.sim.Put("Organisations", map[string]any{"OrganisationName": fmt.Sprint("Org ", i)})
		require.NoError(t, err)
	}
	resource, data := 0, 0
	for _, h := range rc.waitFor(t, 12) {
		switch {
		case bytes.Contains(h.body, []byte(`"resource"`)):
			resource++
			require.Contains(t, string(h.body), `"action":"created"`)
		case bytes.Contains(h.body, []byte(`"data"`)):
			data++
		}
	}
	require.Positive(t, resource)
	require.Positive(t, data)
}

func TestTimeStamps(t *testing.T) {
	t.Parallel()
	winter := time.Date(2026, 12, 1, 10, 0, 0, 123456700, time.UTC)
	clock := newFakeClock(winter)
	e := newEnv(t, Options{Now: clock.Now})
	e.login()
	id := e.createID("Organisations", map[string]any{"OrganisationName": "Tid", "OrganisationXDate1": "2026-06-15T12:00:00Z"})
	path := fmt.Sprintf("/Organisations/%d", id)

	for _, c := range []struct {
		mode, updated, summer string
	}{
		{TimeStampsUTC, "2026-12-01T10:00:00.1234567Z", "2026-06-15T12:00:00.0000000Z"},
		{TimeStampsOffset, "2026-12-01T11:00:00.1234567+01:00", "2026-06-15T14:00:00.0000000+02:00"},
		{TimeStampsLocal, "2026-12-01T11:00:00.1234567", "2026-06-15T14:00:00.0000000"},
	} {
		setFaults(t, e, FaultConfig{TimeStamps: c.mode})
		one := e.do(call{method: "GET", path: path, skipContract: true}).object(t)
		require.Equal(t, c.updated, one["OrganisationUpdatedAt"], c.mode)
		require.Equal(t, c.updated, one["OrganisationCreatedAt"], c.mode)
		require.Equal(t, c.summer, one["OrganisationXDate1"], c.mode)
		list := e.do(call{method: "GET", path: "/Organisations", skipContract: true}).array(t)
		require.Equal(t, c.updated, list[0]["OrganisationUpdatedAt"], c.mode)
		q := func(script string) []map[string]any {
			res := e.do(call{method: "GET", path: "/Queries?script=" + url.QueryEscape(script), skipContract: true})
			require.Equal(t, 200, res.status, "%s", res.body)
			return res.array(t)
		}
		require.Equal(t, c.updated, q(`SELECT * FROM Organisation`)[0]["OrganisationUpdatedAt"], c.mode)
		require.Equal(t, c.summer, q(`SELECT OrganisationXDate1 FROM Organisation`)[0]["OrganisationXDate1"], c.mode)
		hooks := e.do(call{method: "POST", path: "/Organisations/Hooks", body: map[string]any{"Id": 0, "TargetUrl": "http://127.0.0.1:1/h", "IsEnabled": false, "Filter": []string{"All"}}, skipContract: true})
		require.Equal(t, 200, hooks.status)
		hl := e.do(call{method: "GET", path: "/Organisations/Hooks", skipContract: true}).array(t)
		require.Equal(t, c.updated, hl[0]["CreatedAt"], c.mode)

		// literals: Z or an offset is that instant; none is UTC, or the
		// zone's wall time in local mode (10:30 there is 09:30Z)
		n := func(lit string) int {
			return len(q(`SELECT OrganisationId FROM Organisation WHERE OrganisationUpdatedAt >= '` + lit + `'`))
		}
		require.Equal(t, 0, n("2026-12-01T10:30:00Z"), c.mode)
		require.Equal(t, 1, n("2026-12-01T11:00:00+01:00"), c.mode)
		require.Equal(t, 0, n("2026-12-01T11:00:00.1234568+01:00"), c.mode)
		wantBare := 0
		if c.mode == TimeStampsLocal {
			wantBare = 1
		}
		require.Equal(t, wantBare, n("2026-12-01T10:30:00"), c.mode)
	}
	// admin records stay UTC whatever the mode
	res := e.do(call{method: "GET", path: "/_sim/records/Organisations/" + strconv.Itoa(id)})
	require.Equal(t, "2026-12-01T10:00:00.1234567Z", res.object(t)["OrganisationUpdatedAt"])

	// client date-times: an offset is that instant, none is UTC or local wall time
	for _, c := range []struct{ mode, sent, stored string }{
		{TimeStampsOffset, "2026-06-15T12:00:00", "2026-06-15T12:00:00.0000000Z"},
		{TimeStampsLocal, "2026-06-15T12:00:00", "2026-06-15T10:00:00.0000000Z"},
		{TimeStampsLocal, "2026-01-15T12:00:00.5", "2026-01-15T11:00:00.5000000Z"},
		{TimeStampsLocal, "2026-06-15T12:00:00+02:00", "2026-06-15T10:00:00.0000000Z"},
		{TimeStampsLocal, "2026-06-15T12:00:00Z", "2026-06-15T12:00:00.0000000Z"},
	} {
		setFaults(t, e, FaultConfig{TimeStamps: c.mode})
		res := e.do(call{method: "PUT", path: path, body: map[string]any{"OrganisationId": id, "OrganisationName": "Tid", "OrganisationXDate1": c.sent}, skipContract: true})
		require.Equal(t, 200, res.status, "%s", res.body)
		rec, _ := e.sim.Record("Organisations", id)
		require.Equal(t, c.stored, rec["OrganisationXDate1"], "%s %s", c.mode, c.sent)
	}
	// another zone
	setFaults(t, e, FaultConfig{TimeStamps: TimeStampsOffset, TimeZone: "America/New_York"})
	one := e.do(call{method: "GET", path: path, skipContract: true}).object(t)
	require.Equal(t, "2026-12-01T05:00:00.1234567-05:00", one["OrganisationCreatedAt"])
}

func TestHookTimestampFollowsTimeStamps(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	clock := newFakeClock(time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC))
	e := newEnv(t, Options{Now: clock.Now, Faults: FaultConfig{TimeStamps: TimeStampsOffset}})
	e.login()
	res := e.do(call{method: "POST", path: "/Organisations/Hooks", body: map[string]any{"Id": 0, "TargetUrl": rc.srv.URL + "/h", "IsEnabled": true, "Filter": []string{"All"}}, skipContract: true})
	require.Equal(t, 200, res.status, "%s", res.body)
	_, err := e.sim.Put("Organisations", map[string]any{"OrganisationName": "Sommer"})
	require.NoError(t, err)
	got := rc.waitFor(t, 1)
	require.Equal(t, "2026-07-01T10:00:00.0000000+02:00", got[0].Timestamp)
}

func TestHostileProfile(t *testing.T) {
	t.Parallel()
	p := HostileProfile()
	require.NoError(t, p.validate())
	require.True(t, p.UnorderedPages && p.PatchShuffle && p.MaskSecrets && p.RewriteOnWrite)
	require.Equal(t, 2048, p.MaxURLLength)
	require.Equal(t, HookBodyMixed, p.HookBody)
	require.Equal(t, TimeStampsOffset, p.TimeStamps)
	for _, r := range []float64{p.LostAnswerRate, p.PatchShortRate, p.PatchItemErrorRate} {
		require.True(t, r > 0 && r < 0.5, "moderate rate %v", r)
	}

	e := newEnv(t, Options{Seed: 1, SeedSize: 5})
	body, err := json.Marshal(p)
	require.NoError(t, err)
	res := e.do(call{method: "PUT", path: "/_sim/faults", body: body})
	require.Equal(t, 200, res.status, "%s", res.body)
	var back FaultConfig
	res.json(t, &back)
	require.Equal(t, p, back)
	for _, name := range []string{"UnorderedPages", "LostAnswerRate", "MaxURLLength", "PatchShuffle", "PatchShortRate",
		"PatchItemErrorRate", "MaskSecrets", "RewriteOnWrite", "HookBody", "TimeStamps", "TimeZone"} {
		require.Contains(t, string(res.body), `"`+name+`":`)
	}

	// the admin endpoints see none of it
	stored, _ := e.sim.Record("Users", 1)
	res = e.do(call{method: "GET", path: "/_sim/records/Users/1"})
	require.Equal(t, stored["UserPassword"], res.object(t)["UserPassword"])
	require.Equal(t, stored["UserUpdatedAt"], res.object(t)["UserUpdatedAt"])
	long := "/_sim/records/Users?pad=" + strings.Repeat("x", 3000)
	require.Equal(t, 200, e.do(call{method: "GET", path: long}).status)

	// and the API sees all of it
	e.login()
	got := e.do(call{method: "GET", path: "/Users/1", skipContract: true}).object(t)
	require.Equal(t, SecretMask, got["UserPassword"])
	require.Regexp(t, `\+0[12]:00$`, got["UserUpdatedAt"])
	require.Equal(t, 404, e.do(call{method: "GET", path: "/Users?pad=" + strings.Repeat("x", 3000), skipContract: true}).status)
}

func TestFaultConfigValidatesNewFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, bad := range []string{`{"LostAnswerRate":1.5}`, `{"PatchShortRate":-0.1}`, `{"PatchItemErrorRate":2}`, `{"MaxURLLength":-1}`,
		`{"HookBody":"xml"}`, `{"TimeStamps":"zulu"}`, `{"TimeStamps":"offset","TimeZone":"Mars/Olympus_Mons"}`} {
		res := e.do(call{method: "PUT", path: "/_sim/faults", body: []byte(bad)})
		requireAPIError(t, res, 400, "BadRequestException", "Invalid FaultConfig")
	}
	_, err := New(Options{APIToken: "x", Faults: FaultConfig{HookBody: "xml"}})
	require.Error(t, err)
}
