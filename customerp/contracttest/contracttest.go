// Package contracttest checks HTTP traffic against the CustomERP contract
// (customerp/openapi.yaml) with kin-openapi: a Transport validates every request it carries
// and every response it gets back, and records what breaks the contract. Tests of the client,
// of the reference server and of anything else that speaks the contract wrap their HTTP
// transport in it.
package contracttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/tandemsync/tandem/customerp"
)

// maxBody bounds the bodies the Transport buffers for validation.
const maxBody = 64 << 20

// Transport is an http.RoundTripper that validates requests and responses against the
// contract. Violations are recorded, not returned: the traffic itself is passed on unchanged.
type Transport struct {
	base   http.RoundTripper
	router routers.Router

	mu        sync.Mutex
	reqErrs   []string
	respErrs  []string
	requests  int
	responses int
}

// New returns a Transport carrying requests over base (http.DefaultTransport when nil).
func New(base http.RoundTripper) (*Transport, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	doc, err := customerp.LoadSpec(context.Background())
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // match any host: tests run servers on random ports
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("contracttest: router: %w", err)
	}
	return &Transport{base: base, router: router}, nil
}

// RoundTrip validates req, sends it, and validates the response.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxBody))
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("contracttest: read request body: %w", err)
		}
		reqBody = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	name := req.Method + " " + req.URL.Path
	route, params, routeErr := t.router.FindRoute(req)
	var in *openapi3filter.RequestValidationInput
	if routeErr != nil {
		t.record(true, name, fmt.Errorf("no operation in the contract: %w", routeErr))
	} else {
		vreq := req.Clone(req.Context())
		if reqBody != nil {
			vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		in = &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: bearerPresent},
		}
		if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
			t.record(true, name, err)
		}
	}
	t.mu.Lock()
	t.requests++
	t.mu.Unlock()

	resp, err := t.base.RoundTrip(req)
	if err != nil || in == nil {
		return resp, err
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if readErr != nil {
		// Pass the failure on to the caller as it happened.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{readErr}))
		return resp, nil
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		t.record(false, fmt.Sprintf("%s -> %d", name, resp.StatusCode), err)
	}
	t.mu.Lock()
	t.responses++
	t.mu.Unlock()
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// bearerPresent satisfies the contract's security scheme when the request carries a bearer
// token (whether it is the right one is the server's business).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") || len(h) == len("Bearer ") {
		return fmt.Errorf("no bearer token")
	}
	return nil
}

func (t *Transport) record(request bool, name string, err error) {
	msg := name + ": " + strings.ReplaceAll(err.Error(), "\n", " | ")
	t.mu.Lock()
	defer t.mu.Unlock()
	if request {
		t.reqErrs = append(t.reqErrs, msg)
	} else {
		t.respErrs = append(t.respErrs, msg)
	}
}

// RequestViolations returns how requests broke the contract so far.
func (t *Transport) RequestViolations() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.reqErrs...)
}

// ResponseViolations returns how responses broke the contract so far.
func (t *Transport) ResponseViolations() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.respErrs...)
}

// Counts returns how many requests were sent and how many responses were validated.
func (t *Transport) Counts() (requests, responses int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests, t.responses
}
