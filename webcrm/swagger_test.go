package webcrm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/tandemsync/tandem/webcrm/contract"
)

// swaggerHost is the host the validator matches requests against.
const swaggerHost = "http://webcrm.swagger.test"

// loadSwagger loads the webCRM swagger 2.0 document (the contract kept in webcrm/contract,
// or the full published swagger when $WEBCRM_SWAGGER names one), converts it to OpenAPI 3
// and builds a router. It repairs three defects of the published document, which the
// kept contract keeps as they are; each would make every matching request fail for
// reasons unrelated to the client:
//   - /Queries answers with items "#/definitions/ObjectDto", which is not defined: it
//     becomes a free-form object (rows are flat objects of DTO columns);
//   - the login operations take formData but list no consumes: they get the two form
//     encodings webCRM's documentation and clients use;
//   - DTO properties are not marked nullable, but every property except the id is
//     optional/nullable in webCRM (the NSwag client maps them to nullable types): they
//     are marked nullable, so a record read with nulls can be written back.
//
// The global Bearer requirement is checked by authenticate below.
func loadSwagger(t testing.TB) routers.Router {
	t.Helper()
	raw, path, err := contract.Swagger()
	if err != nil {
		t.Fatalf("webCRM swagger document for the contract test: %v", err)
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(raw, &doc2); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if _, ok := doc2.Definitions["ObjectDto"]; !ok {
		doc2.Definitions["ObjectDto"] = &openapi2.SchemaRef{Value: &openapi2.Schema{Type: &openapi3.Types{"object"}}}
	}
	for _, item := range doc2.Paths {
		for _, op := range item.Operations() {
			hasForm := false
			for _, p := range op.Parameters {
				hasForm = hasForm || p.In == "formData"
			}
			if hasForm && len(op.Consumes) == 0 {
				op.Consumes = []string{"application/x-www-form-urlencoded", "multipart/form-data"}
			}
		}
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		t.Fatalf("%s: converting to OpenAPI 3: %v", path, err)
	}
	for _, s := range doc3.Components.Schemas {
		if s.Value == nil {
			continue
		}
		required := map[string]bool{}
		for _, r := range s.Value.Required {
			required[r] = true
		}
		for name, p := range s.Value.Properties {
			if !required[name] && p.Value != nil {
				p.Value.Nullable = true
			}
		}
	}
	doc3.Servers = openapi3.Servers{{URL: swaggerHost}}
	router, err := legacy.NewRouter(doc3)
	if err != nil {
		t.Fatalf("%s: building router: %v", path, err)
	}
	return router
}

// authenticate enforces the document's Bearer scheme: an "Authorization: Bearer <token>"
// header on every operation except the login/refresh ones, which issue the token.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	path := in.RequestValidationInput.Route.Path
	if strings.HasPrefix(path, "/Auth/Api") {
		return nil
	}
	v := in.RequestValidationInput.Request.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(v, "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		return fmt.Errorf("missing bearer token")
	}
	return nil
}

// validatingTransport checks every request the client sends, and every 2xx answer it
// receives, against the swagger document.
type validatingTransport struct {
	router routers.Router
	base   http.RoundTripper

	mu       sync.Mutex
	problems []string
	covered  map[string]int // "METHOD /path/{template}" -> requests
}

func newValidatingTransport(t testing.TB) *validatingTransport {
	return &validatingTransport{router: loadSwagger(t), base: http.DefaultTransport, covered: map[string]int{}}
}

func (v *validatingTransport) problem(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

// Problems returns every validation failure seen so far.
func (v *validatingTransport) Problems() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.problems...)
}

// Covered returns the operations exercised, sorted.
func (v *validatingTransport) Covered() map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]int, len(v.covered))
	for k, n := range v.covered {
		out[k] = n
	}
	return out
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	vreq := req.Clone(req.Context())
	u := *req.URL
	u.Scheme, u.Host = "http", strings.TrimPrefix(swaggerHost, "http://")
	vreq.URL = &u
	vreq.Host = u.Host
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	what := req.Method + " " + req.URL.Path

	route, params, err := v.router.FindRoute(vreq)
	if err != nil {
		v.problem("%s: no such operation in the swagger document: %v", what, err)
		return v.base.RoundTrip(req)
	}
	key := req.Method + " " + route.Path
	v.mu.Lock()
	v.covered[key]++
	v.mu.Unlock()
	opts := &openapi3filter.Options{AuthenticationFunc: authenticate, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		v.problem("%s: request violates the swagger document: %v", key, err)
	}

	resp, err := v.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	rb, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	if rerr != nil {
		return resp, nil
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	rin.SetBodyBytes(rb)
	if err := openapi3filter.ValidateResponse(req.Context(), rin); err != nil {
		v.problem("%s: response %d violates the swagger document: %v", key, resp.StatusCode, err)
	}
	return resp, nil
}

// TestSwaggerValidatorRejectsBadRequests makes sure the validator used by the contract
// test has teeth: requests the client must never send are reported.
func TestSwaggerValidatorRejectsBadRequests(t *testing.T) {
	t.Parallel()
	vt := newValidatingTransport(t)
	vt.base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusUnauthorized, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})
	bad := []struct {
		method, url, body string
		auth              bool
	}{
		{"GET", "/Organisations?Page=0&Size=10", "", true},                       // Page minimum 1
		{"GET", "/Organisations?Page=1&Size=5000", "", true},                     // Size maximum 1000
		{"GET", "/Organisations", "", false},                                     // no bearer
		{"DELETE", "/Organisations/5", "", true},                                 // no such operation
		{"PUT", "/Persons/5", `{"PersonId": "five"}`, true},                      // wrong type
		{"PUT", "/Persons/5", `{"PersonStatus": "Retired"}`, true},               // unknown enum value
		{"POST", "/Organisations/Hooks", `{"TargetUrl": "x"}`, true},             // required Id, IsEnabled, Filter missing
		{"GET", "/Widgets", "", true},                                            // no such path
		{"POST", "/Persons", `{"PersonId": 0, "PersonCheckMark1": "yes"}`, true}, // bool expected
	}
	for _, b := range bad {
		req, err := http.NewRequest(b.method, "http://127.0.0.1:1"+b.url, strings.NewReader(b.body))
		if err != nil {
			t.Fatal(err)
		}
		if b.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if b.auth {
			req.Header.Set("Authorization", "Bearer abc")
		}
		before := len(vt.Problems())
		resp, err := vt.RoundTrip(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		if len(vt.Problems()) == before {
			t.Errorf("%s %s %s: not reported", b.method, b.url, b.body)
		}
	}
	good, _ := http.NewRequest("GET", "http://127.0.0.1:1/Organisations?Page=1&Size=1000", nil)
	good.Header.Set("Authorization", "Bearer abc")
	before := len(vt.Problems())
	if resp, err := vt.RoundTrip(good); err == nil {
		_ = resp.Body.Close()
	}
	if p := vt.Problems(); len(p) != before {
		t.Errorf("valid request reported: %v", p[before:])
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
