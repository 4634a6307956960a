package badinput

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/webcrm"
)

// faultProxy is a real HTTP server on 127.0.0.1 in front of a simulator.
// Requests pass through to the simulator unless a rule claims them: a
// responder rule answers by itself (a status, a broken body, a redirect, a
// hang, a reset); edit rules rewrite the simulator's JSON answer, e.g. the
// records of one id in a GET, a /Queries page or a change-feed page. Every
// matching edit applies, so cases running at the same time do not hide each
// other's edits.
type faultProxy struct {
	name   string
	sim    http.Handler
	srv    *httptest.Server
	closed chan struct{}

	mu    sync.Mutex
	rules []*rule
}

// call is one request with its body read, so rules can look at it and the
// simulator can still get it.
type call struct {
	r    *http.Request
	body []byte
}

// request rebuilds the request with its body for the simulator.
func (c *call) request() *http.Request {
	r := c.r.Clone(c.r.Context())
	r.Body = io.NopCloser(bytes.NewReader(c.body))
	r.ContentLength = int64(len(c.body))
	return r
}

// rule is one fault. Exactly one of respond and edit is set.
type rule struct {
	name    string
	match   func(c *call) bool
	respond func(w http.ResponseWriter, c *call, p *faultProxy, r *rule)
	edit    func(c *call, body []byte) ([]byte, error)
	hits    atomic.Int64 // requests answered or answers changed by the rule
	off     chan struct{}
	once    sync.Once
}

func newFaultProxy(t *testing.T, name string, sim http.Handler) *faultProxy {
	p := &faultProxy{name: name, sim: sim, closed: make(chan struct{})}
	p.srv = httptest.NewServer(p)
	t.Cleanup(func() {
		close(p.closed)
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

// URL is the proxy's base URL.
func (p *faultProxy) URL() string { return p.srv.URL }

// add installs rules until remove (or the end of the test).
func (p *faultProxy) add(t reporter, rules ...*rule) {
	t.Helper()
	p.mu.Lock()
	for _, r := range rules {
		r.off = make(chan struct{})
		p.rules = append(p.rules, r)
	}
	p.mu.Unlock()
	t.Cleanup(func() { p.remove(rules...) })
}

// remove uninstalls rules; hanging answers of theirs are aborted.
func (p *faultProxy) remove(rules ...*rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rules {
		for i, have := range p.rules {
			if have == r {
				p.rules = append(p.rules[:i], p.rules[i+1:]...)
				break
			}
		}
		r.once.Do(func() { close(r.off) })
	}
}

func (p *faultProxy) pick(c *call) (*rule, []*rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var edits []*rule
	for _, r := range p.rules {
		if !r.match(c) {
			continue
		}
		if r.respond != nil {
			return r, nil
		}
		edits = append(edits, r)
	}
	return nil, edits
}

// ServeHTTP implements http.Handler.
func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "proxy: reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	c := &call{r: r, body: body}
	responder, edits := p.pick(c)
	if responder != nil {
		responder.hits.Add(1)
		responder.respond(w, c, p, responder)
		return
	}
	if len(edits) == 0 {
		p.sim.ServeHTTP(w, c.request())
		return
	}
	rec := p.forward(c)
	out := rec.Body.Bytes()
	if rec.Code >= 200 && rec.Code < 300 {
		for _, e := range edits {
			b, err := e.edit(c, out)
			if err != nil {
				http.Error(w, fmt.Sprintf("proxy %s: rule %s: %v", p.name, e.name, err), http.StatusInternalServerError)
				return
			}
			if b != nil {
				out = b
				e.hits.Add(1)
			}
		}
	}
	writeRecorded(w, rec, out)
}

// forward runs the request through the simulator and keeps its answer.
func (p *faultProxy) forward(c *call) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	p.sim.ServeHTTP(rec, c.request())
	return rec
}

func writeRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// ---- matchers ----

// on matches one method and exact path.
func on(method, path string) func(c *call) bool {
	return func(c *call) bool { return c.r.Method == method && c.r.URL.Path == path }
}

// crmPath is the path of one webCRM record.
func crmPath(e webcrm.Entity, id int) string { return "/" + string(e) + "/" + strconv.Itoa(id) }

// erpPath is the path of one ERP record.
func erpPath(r customerp.Resource, id string) string { return "/" + string(r) + "/" + id }

var fromRe = regexp.MustCompile(`(?i)\bFROM\s+(\w+)`)

// queryTable is the table a /Queries script reads.
func queryTable(r *http.Request) string {
	if m := fromRe.FindStringSubmatch(r.URL.Query().Get("script")); m != nil {
		return m[1]
	}
	return ""
}

// ---- JSON with raw splices ----

// raw is JSON text put into an answer exactly as it is: it may be invalid
// JSON, invalid UTF-8 or nested deeper than a decoder allows.
type raw string

func decodeAny(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

var spliceSeq atomic.Int64

// encodeAny encodes v, writing raw values verbatim.
func encodeAny(v any) ([]byte, error) {
	splices := map[string]string{}
	v = stashRaw(v, splices)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.TrimRight(buf.Bytes(), "\n")
	for marker, text := range splices {
		out = bytes.Replace(out, []byte(strconv.Quote(marker)), []byte(text), 1)
	}
	return out, nil
}

func stashRaw(v any, splices map[string]string) any {
	switch x := v.(type) {
	case raw:
		marker := fmt.Sprintf("@@badinput-raw-%d@@", spliceSeq.Add(1))
		splices[marker] = string(x)
		return marker
	case map[string]any:
		for k, e := range x {
			x[k] = stashRaw(e, splices)
		}
	case []any:
		for i, e := range x {
			x[i] = stashRaw(e, splices)
		}
	}
	return v
}

// ---- edit rules ----

// objectEdit rewrites the JSON object answering the matched requests.
func objectEdit(name string, match func(c *call) bool, ed func(rec map[string]any)) *rule {
	return &rule{
		name:  name,
		match: match,
		edit: func(_ *call, body []byte) ([]byte, error) {
			v, err := decodeAny(body)
			obj, ok := v.(map[string]any)
			if err != nil || !ok {
				return nil, nil
			}
			ed(obj)
			return encodeAny(obj)
		},
	}
}

// crmEdit rewrites, in every answer about records of webCRM entity e (GET
// /<Entity>/<id>, list pages and /Queries pages on its table), the records
// pick selects.
func crmEdit(name string, e webcrm.Entity, pick func(rec map[string]any) bool, ed func(rec map[string]any)) *rule {
	return &rule{
		name: name,
		match: func(c *call) bool {
			p := c.r.URL.Path
			return c.r.Method == http.MethodGet &&
				(p == "/"+string(e) || strings.HasPrefix(p, "/"+string(e)+"/") || (p == "/Queries" && strings.EqualFold(queryTable(c.r), e.Table())))
		},
		edit: func(_ *call, body []byte) ([]byte, error) {
			v, err := decodeAny(body)
			if err != nil {
				return nil, nil // not JSON: leave it alone
			}
			changed := false
			apply := func(x any) {
				if rec, ok := x.(map[string]any); ok && pick(rec) {
					ed(rec)
					changed = true
				}
			}
			switch x := v.(type) {
			case []any:
				for _, row := range x {
					apply(row)
				}
			default:
				apply(x)
			}
			if !changed {
				return nil, nil
			}
			return encodeAny(v)
		},
	}
}

// crmRows rewrites the /Queries pages on entity e's table as a whole.
func crmRows(name string, e webcrm.Entity, fn func(rows []any) ([]any, bool)) *rule {
	return &rule{
		name: name,
		match: func(c *call) bool {
			return c.r.Method == http.MethodGet && c.r.URL.Path == "/Queries" && strings.EqualFold(queryTable(c.r), e.Table())
		},
		edit: func(_ *call, body []byte) ([]byte, error) {
			v, err := decodeAny(body)
			rows, ok := v.([]any)
			if err != nil || !ok {
				return nil, nil
			}
			rows, changed := fn(rows)
			if !changed {
				return nil, nil
			}
			return encodeAny(rows)
		},
	}
}

// erpFeed rewrites the change-feed pages of resource r as a whole.
func erpFeed(name string, r customerp.Resource, fn func(c *call, page map[string]any) bool) *rule {
	return &rule{
		name:  name,
		match: on(http.MethodGet, "/"+string(r)+"/changes"),
		edit: func(c *call, body []byte) ([]byte, error) {
			v, err := decodeAny(body)
			page, ok := v.(map[string]any)
			if err != nil || !ok || !fn(c, page) {
				return nil, nil
			}
			return encodeAny(page)
		},
	}
}

// ---- responders ----

// answer responds with a fixed status, content type and body.
func answer(name string, match func(c *call) bool, status int, contentType, body string) *rule {
	return &rule{name: name, match: match, respond: func(w http.ResponseWriter, _ *call, _ *faultProxy, _ *rule) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}}
}

// reshape forwards the request and answers with fn applied to the
// simulator's body (same status and headers).
func reshape(name string, match func(c *call) bool, fn func(body []byte) []byte) *rule {
	return &rule{name: name, match: match, respond: func(w http.ResponseWriter, c *call, p *faultProxy, _ *rule) {
		rec := p.forward(c)
		writeRecorded(w, rec, fn(rec.Body.Bytes()))
	}}
}

// redirect answers with a redirect to the location loc returns.
func redirect(name string, match func(c *call) bool, status int, loc func(c *call) string) *rule {
	return &rule{name: name, match: match, respond: func(w http.ResponseWriter, c *call, _ *faultProxy, _ *rule) {
		w.Header().Set("Location", loc(c))
		w.WriteHeader(status)
	}}
}

// reset closes the connection with a TCP reset instead of answering.
func reset(name string, match func(c *call) bool) *rule {
	return &rule{name: name, match: match, respond: func(w http.ResponseWriter, _ *call, _ *faultProxy, _ *rule) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}}
}

// hangLog records how long hung answers were waited for before the client
// gave up.
type hangLog struct {
	mu      sync.Mutex
	started int
	waited  []time.Duration
}

func (h *hangLog) begin() {
	h.mu.Lock()
	h.started++
	h.mu.Unlock()
}

func (h *hangLog) abandoned(d time.Duration) {
	h.mu.Lock()
	h.waited = append(h.waited, d)
	h.mu.Unlock()
}

func (h *hangLog) snapshot() (started int, waited []time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started, append([]time.Duration(nil), h.waited...)
}

// hang answers 200 with the start of a JSON body and never finishes it: it
// waits until the client gives up (logged), or aborts the connection when
// the rule is removed.
func hang(name string, match func(c *call) bool, log *hangLog) *rule {
	return &rule{name: name, match: match, respond: func(w http.ResponseWriter, c *call, p *faultProxy, r *rule) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"partial": `)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		log.begin()
		start := time.Now()
		select {
		case <-c.r.Context().Done():
			log.abandoned(time.Since(start))
		case <-r.off:
			panic(http.ErrAbortHandler)
		case <-p.closed:
			panic(http.ErrAbortHandler)
		}
	}}
}

// elsewhere is another host a redirect points at. It answers every request
// with 404 problem details and notes whether a request carried credentials.
type elsewhere struct {
	srv      *httptest.Server
	requests atomic.Int64
	withAuth atomic.Int64
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			e.withAuth.Add(1)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"type":"about:blank","title":"Not Found","status":404,"detail":"no such page on this host"}`)
	}))
	// Another address, so that it is another host for the clients, not
	// just another port.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("elsewhere: listen on 127.0.0.2: %v", err)
	}
	e.srv.Listener = ln
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}
