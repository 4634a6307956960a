package webcrmsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server. Only APIToken is required.
type Options struct {
	// APIToken is the application token ("authCode") that /Auth/ApiLogin
	// exchanges for access tokens. Required; never logged.
	APIToken string
	// TokenTTL is the access-token lifetime reported as ExpiresIn. Default 1h.
	TokenTTL time.Duration
	// RefreshTokenTTL is how long a refresh token can be used. Default 24h.
	RefreshTokenTTL time.Duration
	// RateLimitPerMinute is the sliding one-minute request quota per
	// application token. Default 250; 0 means the default, negative disables.
	RateLimitPerMinute int
	// PersistPath is an optional JSON file: loaded on start when it exists,
	// written atomically (temp file + rename) after writes and on Close.
	PersistPath string
	// PersistDebounce delays saving after a write so bursts are saved once.
	// Default 250ms.
	PersistDebounce time.Duration
	// Seed makes the demo data, the fault dice and the hook retry jitter
	// deterministic.
	Seed int64
	// SeedSize is the number of organisations generated at first start
	// (when no persisted file was loaded); 0 starts empty.
	SeedSize int
	// Logger receives operational logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock for timestamps, token expiry and rate limiting.
	// Default time.Now. Must be safe for concurrent use.
	Now func() time.Time
	// BaseURL is the public URL of the simulator, used in hook payloads.
	// When empty, the scheme and host of the latest API request are used.
	BaseURL string
	// HookSecret, when set, is sent with every hook delivery as header
	// X-Tandem-Hook-Secret.
	HookSecret string
	// HookWorkers is the number of hook delivery goroutines. Default 4.
	HookWorkers int
	// HookQueueSize bounds pending hook deliveries; when full, new deliveries
	// are dropped (and counted) rather than blocking the API. Default 4096.
	HookQueueSize int
	// HookAttempts is how often a delivery is tried before giving up.
	// Default 3.
	HookAttempts int
	// HookTimeout bounds one delivery attempt. Default 5s.
	HookTimeout time.Duration
	// Faults is the initial fault-injection configuration.
	Faults FaultConfig
	// MaxBodyBytes bounds request bodies. Default 32 MiB.
	MaxBodyBytes int64
}

// DefaultPageSize is the page size used when a request has no Size
// parameter (webCRM does not document one).
const DefaultPageSize = 50

// MaxPatchItems bounds the array of a bulk PATCH.
const MaxPatchItems = 1000

// Server is the webCRM simulator. It is an http.Handler; create it with New
// and release it with Close.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	mu        sync.RWMutex
	tables    map[string]*table
	hooks     map[int64]*hook
	nextHook  int64
	lastStamp time.Time
	version   uint64 // incremented on every committed write

	auth     *authState
	limiter  *rateLimiter
	faults   *Faults
	stats    *statsCollector
	hooksOut *hookDispatcher
	persist  *persister
	queries  *queryCache

	baseURL   atomic.Pointer[string]
	closeOnce sync.Once
	closeErr  error
}

// New builds a Server, loads PersistPath when it exists (otherwise seeds
// SeedSize organisations with Seed) and starts the hook workers.
func New(opts Options) (*Server, error) {
	if opts.APIToken == "" {
		return nil, errors.New("webcrmsim: Options.APIToken is required")
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.RefreshTokenTTL <= 0 {
		opts.RefreshTokenTTL = 24 * time.Hour
	}
	if opts.RateLimitPerMinute == 0 {
		opts.RateLimitPerMinute = 250
	}
	if opts.PersistDebounce <= 0 {
		opts.PersistDebounce = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HookWorkers <= 0 {
		opts.HookWorkers = 4
	}
	if opts.HookQueueSize <= 0 {
		opts.HookQueueSize = 4096
	}
	if opts.HookAttempts <= 0 {
		opts.HookAttempts = 3
	}
	if opts.HookTimeout <= 0 {
		opts.HookTimeout = 5 * time.Second
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 32 << 20
	}
	if opts.SeedSize < 0 {
		return nil, fmt.Errorf("webcrmsim: SeedSize %d is negative", opts.SeedSize)
	}
	faults, err := newFaults(opts.Faults, rand.New(rand.NewPCG(uint64(opts.Seed), 0xfa17)), opts.Now)
	if err != nil {
		return nil, fmt.Errorf("webcrmsim: initial faults: %w", err)
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger.With("component", "webcrmsim"),
		now:     opts.Now,
		auth:    newAuthState(),
		limiter: newRateLimiter(opts.RateLimitPerMinute, time.Minute),
		faults:  faults,
		stats:   newStatsCollector(),
		queries: newQueryCache(8),
	}
	s.resetStoreLocked()
	loaded := false
	if opts.PersistPath != "" {
		loaded, err = s.load(opts.PersistPath)
		if err != nil {
			return nil, fmt.Errorf("webcrmsim: load %s: %w", opts.PersistPath, err)
		}
	}
	if !loaded && opts.SeedSize > 0 {
		s.seedLocked(opts.Seed, opts.SeedSize)
	}
	s.hooksOut = newHookDispatcher(s)
	if opts.PersistPath != "" {
		s.persist = newPersister(s)
		if !loaded {
			s.persist.notify()
		}
	}
	return s, nil
}

// Close stops the hook workers (pending deliveries are abandoned) and, with
// persistence on, writes the final state. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.hooksOut.close()
		if s.persist != nil {
			s.closeErr = s.persist.close()
		}
	})
	return s.closeErr
}

// Faults returns the live fault-injection settings.
func (s *Server) Faults() *Faults { return s.faults }

// Stats returns a snapshot of the request and write counters.
func (s *Server) Stats() Stats {
	st := s.stats.snapshot()
	st.PeakPerMinute = s.limiter.peakPerWindow()
	return st
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.stats.reset()
	s.limiter.resetPeak(s.now())
}

// routeKind classifies an API request path.
type routeKind int

const (
	routeUnknown routeKind = iota
	routeLogin
	routeRefresh
	routeQueries
	routeCollection
	routeItem
	routeHooks
	routeHookItem
)

type route struct {
	kind    routeKind
	ent     *entity
	id      int64
	pattern string // "METHOD /Entity/{id}" for stats
}

// suffix is the swagger path suffix of the route, for method checks.
func (rt route) suffix() string {
	switch rt.kind {
	case routeItem:
		return "/{id}"
	case routeHooks:
		return "/Hooks"
	case routeHookItem:
		return "/Hooks/{id}"
	}
	return ""
}

func parseRoute(method, path string) route {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	rt := route{kind: routeUnknown, pattern: method + " (unknown)"}
	switch {
	case len(segs) == 2 && strings.EqualFold(segs[0], "Auth") && strings.EqualFold(segs[1], "ApiLogin"):
		return route{kind: routeLogin, pattern: method + " /Auth/ApiLogin"}
	case len(segs) == 2 && strings.EqualFold(segs[0], "Auth") && strings.EqualFold(segs[1], "ApiRefresh"):
		return route{kind: routeRefresh, pattern: method + " /Auth/ApiRefresh"}
	case len(segs) == 1 && strings.EqualFold(segs[0], "Queries"):
		return route{kind: routeQueries, pattern: method + " /Queries"}
	}
	e, ok := entities.lookup[strings.ToLower(segs[0])]
	if !ok || !strings.EqualFold(segs[0], e.Name) {
		return rt
	}
	base := method + " /" + e.Name
	switch {
	case len(segs) == 1:
		return route{kind: routeCollection, ent: e, pattern: base}
	case len(segs) == 2 && strings.EqualFold(segs[1], "Hooks"):
		return route{kind: routeHooks, ent: e, pattern: base + "/Hooks"}
	case len(segs) == 2:
		id, err := strconv.ParseInt(segs[1], 10, 32)
		if err != nil {
			return rt
		}
		return route{kind: routeItem, ent: e, id: id, pattern: base + "/{id}"}
	case len(segs) == 3 && strings.EqualFold(segs[1], "Hooks"):
		id, err := strconv.ParseInt(segs[2], 10, 64)
		if err != nil {
			return rt
		}
		return route{kind: routeHookItem, ent: e, id: id, pattern: base + "/Hooks/{id}"}
	}
	return rt
}

// ServeHTTP serves the webCRM API and, under /_sim/, the admin endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_sim" || strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveAdmin(w, r)
		return
	}
	s.rememberBase(r)
	rt := parseRoute(r.Method, r.URL.Path)
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { s.stats.request(rt.pattern, rec.statusForStats()) }()

	act := s.faults.decide(lossyWrite(r.Method, rt), len(requestURI(r)))
	if act.urlTooLong {
		s.stats.add(func(st *Stats) { st.URLTooLong++ })
		writeURLTooLong(rec)
		return
	}
	bh := &act.behaviour
	if act.latency > 0 {
		s.stats.fault("latency")
		if !sleepCtx(r.Context(), act.latency) {
			return
		}
	}
	switch {
	case act.force429 > 0:
		s.stats.fault("429")
		s.stats.rateLimited()
		writeTooMany(rec, act.force429, "The request was throttled (injected fault).")
		return
	case act.drop:
		s.stats.fault("drop")
		rec.dropped = true
		dropConnection(w)
		return
	case act.serverError != 0:
		s.stats.fault("5xx")
		writeError(rec, &httpError{status: act.serverError, typ: "ServerErrorException", msg: fmt.Sprintf("Injected fault: HTTP %d.", act.serverError)})
		return
	case act.malformed == MalformedHTML:
		s.stats.fault("html")
		rec.Header().Set("Content-Type", "text/html; charset=utf-8")
		rec.WriteHeader(http.StatusOK)
		_, _ = rec.Write([]byte(maintenancePage))
		return
	case act.lostDrop || act.lostStatus != 0:
		buf := newBufferedWriter()
		s.serveAPI(buf, r, rt, bh)
		if buf.status != 0 && (buf.status < 200 || buf.status > 299) {
			buf.copyTo(rec) // not carried out: nothing to lose
			return
		}
		s.stats.add(func(st *Stats) { st.LostAnswers++ })
		if act.lostDrop {
			rec.dropped = true
			dropConnection(w)
			return
		}
		writeError(rec, &httpError{status: act.lostStatus, typ: "ServerErrorException", msg: fmt.Sprintf("An error has occurred (HTTP %d).", act.lostStatus)})
		return
	case act.malformed == MalformedTruncated:
		buf := newBufferedWriter()
		s.serveAPI(buf, r, rt, bh)
		if buf.truncate() {
			s.stats.fault("truncated")
		}
		buf.copyTo(rec)
		return
	}
	s.serveAPI(rec, r, rt, bh)
}

// lossyWrite reports whether LostAnswerRate applies to a request: POST,
// PUT, PATCH and DELETE, except on /Auth/.
func lossyWrite(method string, rt route) bool {
	if rt.kind == routeLogin || rt.kind == routeRefresh {
		return false
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

const maintenancePage = `<!DOCTYPE html>
<html><head><title>webCRM - Service temporarily unavailable</title></head>
<body><h1>We'll be right back</h1><p>webCRM is undergoing maintenance.</p></body></html>
`

func (s *Server) rememberBase(r *http.Request) {
	if s.opts.BaseURL != "" || r.Host == "" {
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := scheme + "://" + r.Host
	if p := s.baseURL.Load(); p == nil || *p != u {
		s.baseURL.Store(&u)
	}
}

func (s *Server) base() string {
	if s.opts.BaseURL != "" {
		return strings.TrimRight(s.opts.BaseURL, "/")
	}
	if p := s.baseURL.Load(); p != nil {
		return *p
	}
	return "http://localhost"
}

// serveAPI carries out one API request; bh is the request's share of the
// fault setting (nil: none).
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rt route, bh *behaviour) {
	switch rt.kind {
	case routeLogin, routeRefresh:
		if r.Method != http.MethodPost {
			methodNotAllowed(w, []string{http.MethodPost})
			return
		}
		if rt.kind == routeLogin {
			s.handleLogin(w, r)
		} else {
			s.handleRefresh(w, r)
		}
		return
	}
	appToken, err := s.authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, err)
		return
	}
	if ok, retry := s.limiter.allow(appToken, s.now()); !ok {
		s.stats.rateLimited()
		writeTooMany(w, retry, s.throttleMessage())
		return
	}
	switch rt.kind {
	case routeUnknown:
		writeError(w, notFound("No HTTP resource was found that matches the request URI %q.", r.URL.Path))
		return
	case routeQueries:
		if r.Method != http.MethodGet {
			methodNotAllowed(w, []string{http.MethodGet})
			return
		}
		s.handleQuery(w, r, bh)
		return
	}
	if !rt.ent.allows(rt.suffix(), r.Method) {
		methodNotAllowed(w, rt.ent.Methods[rt.suffix()])
		return
	}
	switch rt.kind {
	case routeCollection:
		switch r.Method {
		case http.MethodGet:
			s.handleList(w, r, rt.ent, bh)
		case http.MethodPost:
			s.handleCreate(w, r, rt.ent, bh)
		case http.MethodPatch:
			s.handleBulk(w, r, rt.ent, bh)
		}
	case routeItem:
		switch r.Method {
		case http.MethodGet:
			s.handleGet(w, r, rt.ent, int(rt.id), bh)
		case http.MethodPut:
			s.handlePut(w, r, rt.ent, int(rt.id), bh)
		case http.MethodDelete:
			s.handleDelete(w, r, rt.ent, int(rt.id))
		}
	case routeHooks:
		switch r.Method {
		case http.MethodGet:
			s.handleHookList(w, r, rt.ent, bh)
		case http.MethodPost:
			s.handleHookCreate(w, r, rt.ent)
		}
	case routeHookItem:
		switch r.Method {
		case http.MethodGet:
			s.handleHookGet(w, r, rt.ent, rt.id, bh)
		case http.MethodPut:
			s.handleHookPut(w, r, rt.ent, rt.id)
		case http.MethodDelete:
			s.handleHookDelete(w, r, rt.ent, rt.id)
		}
	}
}

// queryParam returns the first query parameter whose name matches name
// case-insensitively (ASP.NET model binding ignores case).
func queryParam(r *http.Request, name string) (string, bool) {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// paging reads Page (1..1,000,000, default 1) and Size (1..1000, default
// DefaultPageSize); out-of-range or non-integer values are a 400.
func paging(r *http.Request) (page, size int, err error) {
	if page, err = intParam(r, "Page", 1, 1_000_000, 1); err != nil {
		return 0, 0, err
	}
	if size, err = intParam(r, "Size", 1, 1000, DefaultPageSize); err != nil {
		return 0, 0, err
	}
	return page, size, nil
}

// intParam reads an optional integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, lo, hi, def int) (int, error) {
	v, ok := queryParam(r, name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, badRequest("The value '%s' is not valid for %s: it must be an integer from %d to %d.", v, name, lo, hi)
	}
	return n, nil
}

// pageBounds returns the [lo, hi) slice bounds of a page over n items.
func pageBounds(n, page, size int) (int, int) {
	lo := (page - 1) * size
	if lo > n {
		lo = n
	}
	hi := lo + size
	if hi > n {
		hi = n
	}
	return lo, hi
}

// sleepCtx waits d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
