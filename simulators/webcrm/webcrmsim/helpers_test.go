package webcrmsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/webcrm/contract"
)

const testAPIToken = "test-api-token-0f3c"

// apiContract is webCRM's swagger (the kept contract of package
// webcrm/contract, or the full published swagger $WEBCRM_SWAGGER names)
// converted to OpenAPI 3 with a router, used to validate every request the
// tests send and every response they get.
type apiContract struct {
	doc    *openapi3.T
	router routers.Router
}

// loadContract reads the swagger once per test binary. An unreadable
// $WEBCRM_SWAGGER fails the test (never skips).
var loadContract = sync.OnceValues(func() (*apiContract, error) {
	raw, _, err := contract.Swagger()
	if err != nil {
		return nil, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(raw, &doc2); err != nil {
		return nil, err
	}
	// Swagger quirk: /Queries' 200 response references #/definitions/ObjectDto,
	// which the published file never defines. Query rows are free-form flat
	// objects, so ObjectDto is defined here as an object with any properties.
	if _, ok := doc2.Definitions["ObjectDto"]; !ok {
		doc2.Definitions["ObjectDto"] = &openapi2.SchemaRef{Value: &openapi2.Schema{Type: &openapi3.Types{"object"}}}
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, err
	}
	if err := doc3.Validate(context.Background()); err != nil {
		return nil, err
	}
	r, err := legacy.NewRouter(doc3)
	if err != nil {
		return nil, err
	}
	return &apiContract{doc: doc3, router: r}, nil
})

func mustContract(tb testing.TB) *apiContract {
	tb.Helper()
	c, err := loadContract()
	require.NoError(tb, err, "loading the webCRM swagger contract")
	return c
}

// authCheck implements the swagger's Bearer scheme for request validation.
// Swagger quirk: the scheme is declared globally, so it formally applies to
// /Auth/ApiLogin and /Auth/ApiRefresh too, which cannot carry a token; those
// two operations are exempt here.
func authCheck(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if strings.HasPrefix(in.RequestValidationInput.Route.Path, "/Auth/") {
		return nil
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") || len(h) <= len("Bearer ") {
		return errNoBearer
	}
	return nil
}

var errNoBearer = &httpError{status: 401, msg: "no bearer token"}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one simulator served over real HTTP on 127.0.0.1.
type env struct {
	t        testing.TB
	sim      *Server
	srv      *httptest.Server
	contract *apiContract
	token    string
	client   *http.Client
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	if opts.APIToken == "" {
		opts.APIToken = testAPIToken
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	sim, err := New(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, sim.Close())
	})
	return &env{t: t, sim: sim, srv: srv, contract: mustContract(t), client: srv.Client()}
}

// call describes one request.
type call struct {
	method, path string
	body         any // JSON-encoded unless []byte, url.Values (urlencoded) or *multipartBody
	header       map[string]string
	token        string // bearer; "" uses the env's token, "-" sends none
	// invalidRequest marks requests the swagger itself rejects (the test
	// asserts that kin-openapi agrees).
	invalidRequest bool
	// noRoute marks requests whose method and path the swagger does not
	// have (no operation, or only one whose path parameter cannot match).
	noRoute bool
	// skipContract skips swagger validation (admin endpoints, case tests).
	skipContract bool
}

type multipartBody struct{ fields map[string]string }

type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) json(t testing.TB, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	require.NoError(t, dec.Decode(v), "body: %s", r.body)
}

func (r result) object(t testing.TB) map[string]any {
	var m map[string]any
	r.json(t, &m)
	return m
}

func (r result) array(t testing.TB) []map[string]any {
	var a []map[string]any
	r.json(t, &a)
	return a
}

// login gets and remembers an access token.
func (e *env) login() string {
	e.t.Helper()
	res := e.do(call{method: "POST", path: "/Auth/ApiLogin", body: url.Values{"authCode": {testAPIToken}}, token: "-"})
	require.Equal(e.t, 200, res.status, "login: %s", res.body)
	tok := res.object(e.t)["AccessToken"].(string)
	e.token = tok
	return tok
}

func encodeBody(tb testing.TB, body any) ([]byte, string) {
	switch b := body.(type) {
	case nil:
		return nil, ""
	case []byte:
		return b, "application/json"
	case url.Values:
		return []byte(b.Encode()), "application/x-www-form-urlencoded"
	case *multipartBody:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range b.fields {
			require.NoError(tb, mw.WriteField(k, v))
		}
		require.NoError(tb, mw.Close())
		return buf.Bytes(), mw.FormDataContentType()
	}
	raw, err := json.Marshal(body)
	require.NoError(tb, err)
	return raw, "application/json"
}

func (e *env) newRequest(c call, raw []byte, contentType string) *http.Request {
	e.t.Helper()
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(c.method, e.srv.URL+c.path, rd)
	require.NoError(e.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case c.token == "-":
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case e.token != "":
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	return req
}

// do sends the request over HTTP and validates request and response
// against the swagger (unless skipped).
func (e *env) do(c call) result {
	e.t.Helper()
	raw, ct := encodeBody(e.t, c.body)
	validate := !c.skipContract && !strings.HasPrefix(c.path, "/_sim")
	var reqIn *openapi3filter.RequestValidationInput
	opts := &openapi3filter.Options{AuthenticationFunc: authCheck, MultiError: true}
	if validate {
		vreq := e.newRequest(c, raw, ct)
		route, params, err := e.contract.router.FindRoute(vreq)
		if c.noRoute {
			// The legacy router matches /X against /X/{id} with an empty
			// id; such a match fails request validation instead.
			if err == nil {
				err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts})
			}
			require.Error(e.t, err, "the swagger unexpectedly has %s %s", c.method, c.path)
			validate = false
		} else {
			require.NoError(e.t, err, "no swagger operation for %s %s", c.method, c.path)
			reqIn = &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
			err = openapi3filter.ValidateRequest(context.Background(), reqIn)
			if c.invalidRequest {
				require.Error(e.t, err, "the swagger accepts %s %s, but the test expects it not to", c.method, c.path)
			} else {
				require.NoError(e.t, err, "request %s %s violates the swagger", c.method, c.path)
			}
		}
	}
	req := e.newRequest(c, raw, ct)
	resp, err := e.client.Do(req)
	require.NoError(e.t, err, "%s %s", c.method, c.path)
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	require.NoError(e.t, resp.Body.Close())
	res := result{status: resp.StatusCode, header: resp.Header, body: body}
	if validate {
		err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: reqIn,
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                opts,
		})
		require.NoError(e.t, err, "response of %s %s (status %d) violates the swagger: %.500s", c.method, c.path, resp.StatusCode, body)
	}
	return res
}

// Shorthands.
func (e *env) get(path string) result { return e.do(call{method: "GET", path: path}) }
func (e *env) post(path string, body any) result {
	return e.do(call{method: "POST", path: path, body: body})
}
func (e *env) put(path string, body any) result {
	return e.do(call{method: "PUT", path: path, body: body})
}

// requireAPIError checks a {Message, Type} error answer.
func requireAPIError(t testing.TB, res result, status int, typ, msgPart string) {
	t.Helper()
	require.Equal(t, status, res.status, "body: %s", res.body)
	var eb errorBody
	res.json(t, &eb)
	require.Equal(t, typ, eb.Type)
	require.Contains(t, eb.Message, msgPart)
}

// createID POSTs a record and returns its id (looked up through the store
// for Organisations and Users, whose POST returns no body).
func (e *env) createID(entity string, rec map[string]any) int {
	e.t.Helper()
	ent, _ := entities.find(entity)
	if _, ok := rec[ent.IDField]; !ok {
		rec[ent.IDField] = 0
	}
	before := e.sim.Count(ent.Name)
	res := e.post("/"+ent.Name, rec)
	require.Equal(e.t, 200, res.status, "POST /%s: %s", ent.Name, res.body)
	if !ent.PostReturnsID {
		require.Empty(e.t, res.body)
		recs := e.sim.Records(ent.Name)
		require.Len(e.t, recs, before+1)
		return int(recs[len(recs)-1][ent.IDField].(int64))
	}
	var id int
	res.json(e.t, &id)
	return id
}

// fixture creates one linked record of every entity through the API.
type fixture struct {
	user, org, person, product, opp, line int
}

func (e *env) fixture() fixture {
	e.t.Helper()
	var f fixture
	f.user = e.createID("Users", map[string]any{"UserName": "Sofie Østergaard", "UserEmail": "sofie@tandem-demo.dk"})
	f.org = e.createID("Organisations", map[string]any{
		"OrganisationName": "Fjord Tømrer ApS", "OrganisationAddress": "Vestergade 12\n2. th.",
		"OrganisationOwner": f.user, "OrganisationVatNumber": "DK12345674",
	})
	f.person = e.createID("Persons", map[string]any{"PersonOrganisationId": f.org, "PersonFirstName": "Åse", "PersonLastName": "Bøgh", "PersonEmail": "ase@fjord.dk"})
	f.product = e.createID("Products", map[string]any{"ProductCustom1": "P-1", "ProductCombined": "Kabeltromle 25 m", "ProductPrice": 199.95})
	f.opp = e.createID("Opportunities", map[string]any{"OpportunityOrganisationId": f.org, "OpportunityPersonId": f.person, "OpportunityDescription": "Tilbud", "OpportunityErpStatus": "ReadyForSynchronization"})
	f.line = e.createID("QuotationLines", map[string]any{"QuotationLineOpportunityId": f.opp, "QuotationLineData1": "P-1", "QuotationLinePrice": 199.95, "QuotationLineQuantity": 2})
	return f
}
