package erpsim

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tandemsync/tandem/customerp"
)

// DefaultMaxBodyBytes is the largest request body the server accepts unless Options say
// otherwise.
const DefaultMaxBodyBytes = 1 << 20

// Options configure a Server.
type Options struct {
	// APIKey is the bearer token every API request must carry (required).
	APIKey string
	// DBPath is the SQLite file; "" keeps everything in memory.
	DBPath string
	// Seed makes the demo data and the fault dice deterministic.
	Seed int64
	// SeedSize is the number of customers to generate (with contacts, products, orders and
	// lines) when the database starts empty; 0 generates nothing.
	SeedSize int
	// Logger receives the server's log lines (default: discard).
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies (default 1 MiB); larger ones get 413.
	MaxBodyBytes int64
	// Faults to inject from the start (see FaultConfig); change them later with Faults().
	Faults FaultConfig
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the reference CustomERP server: an http.Handler serving the contract of
// customerp/openapi.yaml, the admin endpoints under /_sim/ and a read-only page at /.
type Server struct {
	opts      Options
	store     *store
	v         *validator
	faults    *Faults
	stats     *statsCollector
	log       *slog.Logger
	spec      []byte
	closeOnce sync.Once
	closeErr  error
}

// New opens (or creates) the database, seeds it when it is empty and SeedSize > 0, and
// returns the server.
func New(opts Options) (*Server, error) {
	if opts.APIKey == "" {
		return nil, errors.New("erpsim: Options.APIKey is required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SeedSize < 0 {
		return nil, fmt.Errorf("erpsim: Options.SeedSize %d is negative", opts.SeedSize)
	}
	ctx := context.Background()
	doc, err := customerp.LoadSpec(ctx)
	if err != nil {
		return nil, err
	}
	v, err := newValidator(doc)
	if err != nil {
		return nil, err
	}
	faults, err := newFaults(opts.Seed, opts.Faults)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, opts.DBPath, opts.Now)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, store: st, v: v, faults: faults, stats: newStatsCollector(), log: opts.Logger, spec: customerp.OpenAPI()}
	if opts.SeedSize > 0 {
		recs, _, err := st.counts(ctx)
		if err != nil {
			_ = st.close()
			return nil, err
		}
		if len(recs) == 0 {
			if err := s.SeedData(ctx, opts.Seed, opts.SeedSize); err != nil {
				_ = st.close()
				return nil, err
			}
		}
	}
	return s, nil
}

// Close closes the database. Requests still running may fail.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.store.close() })
	return s.closeErr
}

// Faults returns the server's fault injection settings.
func (s *Server) Faults() *Faults { return s.faults }

// Stats returns a copy of the API request counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// ResetStats zeroes the API request counters.
func (s *Server) ResetStats() { s.stats.reset() }

// Reset removes every record, change and idempotency key. Ids and feed positions keep
// counting from where they were, so nothing handed out before is ever reused.
func (s *Server) Reset(ctx context.Context) error { return s.store.reset(ctx) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/":
		s.serveUI(w, r)
	case p == "/openapi.yaml":
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(s.spec)
	case p == "/_sim" || strings.HasPrefix(p, "/_sim/"):
		s.serveAdmin(w, r)
	default:
		s.serveAPI(w, r)
	}
}

// routeKey names the route of an API request for the stats: "GET /customers/{id}".
func routeKey(method string, parts []string) string {
	if len(parts) == 0 || !customerp.Resource(parts[0]).Valid() {
		return method + " /{unknown}"
	}
	switch {
	case len(parts) == 1:
		return method + " /" + parts[0]
	case len(parts) == 2 && parts[1] == "changes":
		return method + " /" + parts[0] + "/changes"
	case len(parts) == 2:
		return method + " /" + parts[0] + "/{id}"
	}
	return method + " /" + parts[0] + "/{unknown}"
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if u, err := url.PathUnescape(part); err == nil {
			parts[i] = u
		}
	}
	return parts
}

// serveAPI runs one API request through fault injection, authentication, the handler and the
// stats.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	route := routeKey(r.Method, parts)
	plan := s.faults.plan()
	if plan.latency > 0 {
		t := time.NewTimer(plan.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case plan.drop:
		s.stats.fault()
		s.stats.request(route, "dropped")
		dropConnection(w)
		return
	case plan.rateLimit > 0:
		s.stats.fault()
		s.stats.request(route, "429")
		writeProblem(w, &apiError{status: http.StatusTooManyRequests, kind: "rate-limited", retry: plan.rateLimit,
			detail: fmt.Sprintf("too many requests; try again in %d s", plan.rateLimit)}, s.log)
		return
	case plan.errorStatus > 0:
		s.stats.fault()
		s.stats.request(route, strconv.Itoa(plan.errorStatus))
		writeProblem(w, &apiError{status: plan.errorStatus, kind: "unavailable", detail: "injected failure"}, s.log)
		return
	}
	buf := &bufferedWriter{header: http.Header{}}
	s.handleAPI(buf, r, parts)
	status := buf.statusCode()
	ok := status >= 200 && status < 300
	if ok && r.Method != http.MethodGet && (plan.dropAfterWrite || s.faults.takeDropWrite()) {
		s.stats.fault()
		s.stats.request(route, "dropped")
		dropConnection(w)
		return
	}
	if plan.malformed > 0 && ok && buf.body.Len() > 0 {
		s.stats.fault()
		s.stats.request(route, strconv.Itoa(status))
		writeMalformed(w, plan.malformed, buf.body.Bytes())
		return
	}
	s.stats.request(route, strconv.Itoa(status))
	buf.flush(w)
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // the documented way to abort a response without hijacking
}

// writeMalformed writes a 200 whose body breaks the contract: truncated JSON or an HTML page.
func writeMalformed(w http.ResponseWriter, kind int, body []byte) {
	if kind == 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>Down for maintenance</h1></body></html>")
}

// bufferedWriter holds an answer until the fault injection has decided what to do with it.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedWriter) statusCode() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}
func (b *bufferedWriter) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.statusCode())
	_, _ = w.Write(b.body.Bytes())
}

// authorized checks the bearer token in constant time.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[len(prefix):])), []byte(s.opts.APIKey)) == 1
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request, parts []string) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="customerp"`)
		writeProblem(w, &apiError{status: http.StatusUnauthorized, kind: "unauthorized", detail: "a valid API key is required as a bearer token"}, s.log)
		return
	}
	if len(parts) == 0 || !customerp.Resource(parts[0]).Valid() || len(parts) > 2 {
		writeProblem(w, &apiError{status: http.StatusNotFound, kind: "not-found", detail: "no such resource"}, s.log)
		return
	}
	res := customerp.Resource(parts[0])
	allow := func(methods ...string) bool {
		for _, m := range methods {
			if r.Method == m {
				return true
			}
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeProblem(w, &apiError{status: http.StatusMethodNotAllowed, kind: "method-not-allowed", detail: r.Method + " is not allowed here"}, s.log)
		return false
	}
	switch {
	case len(parts) == 1:
		if !allow(http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodGet {
			s.handleList(w, r, res)
		} else {
			s.handleCreate(w, r, res)
		}
	case parts[1] == "changes":
		if allow(http.MethodGet) {
			s.handleChanges(w, r, res)
		}
	default:
		if !allow(http.MethodGet, http.MethodPut, http.MethodDelete) {
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.handleGet(w, r, res, parts[1])
		case http.MethodPut:
			s.handleReplace(w, r, res, parts[1])
		case http.MethodDelete:
			s.handleDelete(w, r, res, parts[1])
		}
	}
}

// readBody reads a JSON object body: 415 unless JSON, 413 when too large, 400 unless valid
// UTF-8 JSON holding exactly one object.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, &apiError{status: http.StatusUnsupportedMediaType, kind: "unsupported-media-type", detail: "the body must be application/json"}
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		return nil, tooLarge(s.opts.MaxBodyBytes)
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(s.opts.MaxBodyBytes)
		}
		return nil, badRequest("cannot read the body: " + err.Error())
	}
	return decodeBody(raw)
}

func tooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, kind: "too-large", detail: fmt.Sprintf("the body is larger than %d bytes", limit)}
}

// decodeBody parses a JSON object with numbers kept exact.
func decodeBody(raw []byte) (map[string]any, error) {
	if !utf8.Valid(raw) {
		return nil, badRequest("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("the body is not valid JSON: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("the body holds more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("the body must be a JSON object")
	}
	return m, nil
}

// ifMatch parses If-Match: `"<version>"` (also W/ or unquoted). ok=false when absent.
func ifMatch(r *http.Request) (int64, bool, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return 0, false, nil
	}
	v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, true, badRequest("If-Match must be a version as an entity tag, e.g. \"3\"",
			customerp.FieldError{Field: "If-Match", Message: "must be a version, e.g. \"3\""})
	}
	return n, true, nil
}

func writeRecord(w http.ResponseWriter, status int, rec map[string]any) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(mustInt(rec["version"]), 10)+`"`)
	writeJSON(w, status, rec)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"type":"urn:customerp:problem:internal","title":"Internal Server Error","status":500}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeProblem answers err as RFC 9457 problem details; errors that are not *apiError are
// internal (500) and logged.
func writeProblem(w http.ResponseWriter, err error, log *slog.Logger) {
	var ae *apiError
	if !errors.As(err, &ae) {
		log.Error("erpsim: internal error", "err", err)
		ae = &apiError{status: http.StatusInternalServerError, kind: "internal", detail: "the server failed; see its log"}
	}
	p := customerp.Problem{Type: "urn:customerp:problem:" + ae.kind, Title: http.StatusText(ae.status), Status: ae.status,
		Detail: ae.detail, Errors: ae.fields, CurrentVersion: ae.current}
	if ae.status == http.StatusPreconditionFailed {
		w.Header().Set("ETag", `"`+strconv.FormatInt(ae.current, 10)+`"`)
	}
	if ae.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retry))
	}
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(ae.status)
	_, _ = w.Write(b)
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, res customerp.Resource) {
	body, err := s.readBody(w, r)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if utf8.RuneCountInString(key) > 200 {
		writeProblem(w, badRequest("Idempotency-Key is longer than 200 characters",
			customerp.FieldError{Field: "Idempotency-Key", Message: "must be at most 200 characters"}), s.log)
		return
	}
	rec, replayed, err := s.create(r.Context(), res, body, key)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		writeRecord(w, http.StatusOK, rec)
		return
	}
	s.stats.write(string(res))
	w.Header().Set("Location", "/"+string(res)+"/"+url.PathEscape(rec["id"].(string)))
	writeRecord(w, http.StatusCreated, rec)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, res customerp.Resource, id string) {
	rec, ok, err := s.store.get(r.Context(), res, id)
	switch {
	case err != nil:
		writeProblem(w, err, s.log)
	case !ok:
		writeProblem(w, notFound(res, id), s.log)
	default:
		writeRecord(w, http.StatusOK, rec)
	}
}

func (s *Server) handleReplace(w http.ResponseWriter, r *http.Request, res customerp.Resource, id string) {
	v, present, err := ifMatch(r)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	if !present {
		writeProblem(w, &apiError{status: http.StatusPreconditionRequired, kind: "precondition-required",
			detail: "a PUT needs If-Match with the version it is based on",
			fields: []customerp.FieldError{{Field: "If-Match", Message: "is required"}}}, s.log)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	rec, err := s.replace(r.Context(), res, id, body, v)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	if mustInt(rec["version"]) != v {
		s.stats.write(string(res))
	}
	writeRecord(w, http.StatusOK, rec)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, res customerp.Resource, id string) {
	v, present, err := ifMatch(r)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	if !present {
		v = noIfMatch
	}
	if err := s.remove(r.Context(), res, id, v); err != nil {
		writeProblem(w, err, s.log)
		return
	}
	s.stats.write(string(res))
	w.WriteHeader(http.StatusNoContent)
}

// queryInt parses an optional integer query parameter within lo..hi.
func queryInt(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi),
			customerp.FieldError{Field: name, Message: fmt.Sprintf("must be an integer from %d to %d", lo, hi)})
	}
	return n, nil
}

// checkParams refuses query parameters the operation does not know, and repeated ones.
func checkParams(q url.Values, allowed ...string) error {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	var fields []customerp.FieldError
	for k, v := range q {
		switch {
		case !ok[k]:
			fields = append(fields, customerp.FieldError{Field: k, Message: "unknown query parameter"})
		case len(v) > 1:
			fields = append(fields, customerp.FieldError{Field: k, Message: "given more than once"})
		}
	}
	if len(fields) > 0 {
		return badRequest("the query has parameters this operation does not take", fields...)
	}
	return nil
}

// position parses a cursor or feed token: decimal digits; "" is 0.
func position(q url.Values, name string) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, badRequest(name+" is not a position this server handed out",
			customerp.FieldError{Field: name, Message: "is not a valid position"})
	}
	return n, nil
}

// paging checks the query's parameters and reads its limit (1..1000, default 100) and the
// position named cursor ("after" or "since").
func paging(q url.Values, cursor string, extra ...string) (limit int, pos int64, err error) {
	if err := checkParams(q, append([]string{"limit", cursor}, extra...)...); err != nil {
		return 0, 0, err
	}
	if limit, err = queryInt(q, "limit", 100, 1, 1000); err != nil {
		return 0, 0, err
	}
	if pos, err = position(q, cursor); err != nil {
		return 0, 0, err
	}
	return limit, pos, nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, res customerp.Resource) {
	q := r.URL.Query()
	filters := res.Filters()
	limit, after, err := paging(q, "after", filters...)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	where := map[string]string{}
	for _, f := range filters {
		if v, ok := q[f]; ok {
			if f == "contactType" && v[0] != "person" && v[0] != "employee" {
				writeProblem(w, badRequest("contactType must be person or employee",
					customerp.FieldError{Field: "contactType", Message: "must be one of: person, employee"}), s.log)
				return
			}
			where[f] = normalizeFilter(f, v[0])
		}
	}
	recs, ns, more, err := s.store.list(r.Context(), res, where, after, limit)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	next := ""
	if more && len(ns) > 0 {
		next = strconv.FormatInt(ns[len(ns)-1], 10)
	}
	if recs == nil {
		recs = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": recs, "next": next})
}

// feedItem is one change as the feed shows it.
type feedItem struct {
	Seq       string          `json:"seq"`
	ID        string          `json:"id"`
	Version   int64           `json:"version"`
	UpdatedAt string          `json:"updatedAt"`
	Deleted   bool            `json:"deleted"`
	Record    json.RawMessage `json:"record"`
}

// MaxFeedWait is the longest long poll of the change feed (the contract's maximum of `wait`).
const MaxFeedWait = 30 * time.Second

func (s *Server) handleChanges(w http.ResponseWriter, r *http.Request, res customerp.Resource) {
	q := r.URL.Query()
	limit, since, err := paging(q, "since", "wait")
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	waitSeconds, err := queryInt(q, "wait", 0, 0, int(MaxFeedWait/time.Second))
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	chs, err := s.longPoll(r.Context(), res, since, limit, time.Duration(waitSeconds)*time.Second)
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	if q.Has("wait") {
		w.Header().Set("Tandem-Long-Poll", "1")
	}
	items := make([]feedItem, 0, len(chs))
	next := since
	for _, c := range chs {
		items = append(items, feedItem{Seq: strconv.FormatInt(c.Seq, 10), ID: c.ID, Version: c.Version,
			UpdatedAt: c.UpdatedAt, Deleted: c.Deleted, Record: c.Record})
		next = c.Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": strconv.FormatInt(next, 10)})
}

// longPoll reads the changes of res after since; when there are none and wait > 0 it waits
// for a commit (of any resource: it reads again and waits on) until wait has passed or the
// request is gone, and returns what it read last (nothing when no change of res committed).
func (s *Server) longPoll(ctx context.Context, res customerp.Resource, since int64, limit int, wait time.Duration) ([]change, error) {
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		// Take the channel before reading, so a commit between the read and the wait
		// is not missed.
		committed := s.store.commits()
		chs, err := s.store.changes(ctx, res, since, limit)
		if err != nil || len(chs) > 0 || deadline == nil {
			return chs, err
		}
		select {
		case <-committed:
		case <-deadline:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		}
	}
}
