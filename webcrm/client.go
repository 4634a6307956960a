package webcrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"
)

// Defaults applied by New for zero Config fields.
const (
	DefaultRequestsPerMinute = 250
	DefaultTimeout           = 30 * time.Second
	DefaultRetryMax          = 4
	DefaultMaxBodyBytes      = 64 << 20
	// MaxPageSize is the largest Size webCRM accepts for list and query endpoints.
	MaxPageSize = 1000
)

// Config configures a Client. Only BaseURL and APIToken are required.
type Config struct {
	// BaseURL is the API root, e.g. https://api.webcrm.com or a simulator URL.
	BaseURL string
	// APIToken is the webCRM application token ("authCode"). It is a secret: the client
	// sends it only in the login form and never logs it or puts it in an error.
	APIToken string
	// RequestsPerMinute is the budget of the process-wide limiter every request of this
	// Client (from any goroutine, retries and logins included) waits on. Default 250
	// (webCRM's published limit per token); negative disables the limiter.
	RequestsPerMinute int
	// Timeout bounds each HTTP attempt, body included. Default 30s.
	Timeout time.Duration
	// RetryMax is how often retryablehttp repeats an attempt after a connection error or
	// a 5xx. Default 4; negative means no retries.
	RetryMax int
	// CorrelationFields names, per entity, the custom property holding tandem's
	// correlation token. The defaults (Organisations: OrganisationCustom15, Users:
	// UserCustom15) apply unless overridden here; map an entity to "" to switch it off.
	CorrelationFields map[Entity]string
	// Logger receives debug logs (never headers, tokens or bodies). Default: discard.
	Logger *slog.Logger
	// MaxBodyBytes bounds a response body; larger bodies are a malformed-response
	// error. Default 64 MiB.
	MaxBodyBytes int64
	// Transport is the HTTP transport underneath the limiter and retries. Default: a
	// pooled transport like http.DefaultTransport. Tests use it to observe traffic.
	Transport http.RoundTripper
	// RetryWaitMin and RetryWaitMax bound retryablehttp's exponential backoff.
	// Defaults 200ms and 5s.
	RetryWaitMin, RetryWaitMax time.Duration
	// MaxURLLength bounds the URLs of look-ups that list many values: they are split
	// into requests whose URLs stay within it. Default DefaultMaxURLLength.
	MaxURLLength int
	// Budget, when set, is where every request (retries and logins included)
	// gets its turn, instead of the client's own limiter: a budget shared by
	// every process on the token (see package internal/budget).
	Budget Budget
	// TimeZone is the zone in which the account writes timestamps that carry no
	// offset. Default UTC. Timestamps with a Z or an offset are read as written;
	// /Queries time literals are sent in UTC with a Z, or, when TimeZone is another
	// zone, as its wall time without an offset, as the server writes them.
	TimeZone *time.Location
}

// Client talks to one webCRM instance. It is safe for concurrent use and meant to be
// created once per process and shared: the rate limiter and the access token live in the
// Client, so two Clients for the same token would each spend the full request budget and
// log in separately.
type Client struct {
	base *url.URL
	// rc retries connection errors and 5xx; rcOnce never retries. Requests that
	// may create something (POST, PATCH) go through rcOnce: webCRM may have carried
	// one out before its answer was lost, and only the caller, who can look the
	// records up by their correlation tokens first, may send it again.
	rc, rcOnce  *retryablehttp.Client
	turns       *limitedTransport
	retryMax    int
	retryWait   [2]time.Duration // min, max
	maxURL      int
	loc         *time.Location
	limiter     *windowLimiter
	log         *slog.Logger
	auth        *auth
	correlation map[Entity]string
	maxBody     int64
	recent      *recentWrites
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New validates cfg and builds a Client. It does not contact the server; the first
// request logs in.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.APIToken) == "" {
		return nil, fmt.Errorf("webcrm: config: %w: APIToken is empty", ErrInvalidArgument)
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("webcrm: config: %w: BaseURL %q must be an absolute http(s) URL", ErrInvalidArgument, cfg.BaseURL)
	}
	if base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("webcrm: config: %w: BaseURL %q must not have a query or fragment", ErrInvalidArgument, cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.RetryMax == 0:
		cfg.RetryMax = DefaultRetryMax
	case cfg.RetryMax < 0:
		cfg.RetryMax = 0
	}
	if cfg.RetryWaitMin <= 0 {
		cfg.RetryWaitMin = 200 * time.Millisecond
	}
	if cfg.RetryWaitMax <= 0 {
		cfg.RetryWaitMax = 5 * time.Second
	}
	if cfg.RetryWaitMax < cfg.RetryWaitMin {
		cfg.RetryWaitMax = cfg.RetryWaitMin
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.RequestsPerMinute == 0 {
		cfg.RequestsPerMinute = DefaultRequestsPerMinute
	}
	if cfg.MaxURLLength <= 0 {
		cfg.MaxURLLength = DefaultMaxURLLength
	}
	if cfg.TimeZone == nil {
		cfg.TimeZone = time.UTC
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	corr := map[Entity]string{Organisations: "OrganisationCustom15", Users: "UserCustom15"}
	for e, f := range cfg.CorrelationFields {
		if !e.Valid() {
			return nil, fmt.Errorf("webcrm: config: %w: CorrelationFields: unknown entity %q", ErrInvalidArgument, string(e))
		}
		if f == "" {
			delete(corr, e)
			continue
		}
		if !identRe.MatchString(f) {
			return nil, fmt.Errorf("webcrm: config: %w: CorrelationFields[%s]: %q is not a property name", ErrInvalidArgument, e, f)
		}
		corr[e] = f
	}

	c := &Client{
		base:        base,
		limiter:     newWindowLimiter(cfg.RequestsPerMinute, time.Now),
		recent:      newRecentWrites(EchoWindow, time.Now),
		log:         logger,
		correlation: corr,
		maxBody:     cfg.MaxBodyBytes,
		maxURL:      cfg.MaxURLLength,
		loc:         cfg.TimeZone,
	}
	c.auth = &auth{c: c, apiToken: cfg.APIToken, now: time.Now}

	transport := cfg.Transport
	if transport == nil {
		transport = newPooledTransport()
	}
	c.turns = &limitedTransport{base: transport, limiter: c.limiter, budget: cfg.Budget}
	c.retryMax, c.retryWait = cfg.RetryMax, [2]time.Duration{cfg.RetryWaitMin, cfg.RetryWaitMax}
	hc := &http.Client{
		Transport:     c.turns,
		Timeout:       cfg.Timeout,
		CheckRedirect: checkRedirect,
	}
	newRetrying := func(retryMax int) *retryablehttp.Client {
		rc := retryablehttp.NewClient()
		rc.HTTPClient = hc
		rc.RetryMax = retryMax
		rc.RetryWaitMin = cfg.RetryWaitMin
		rc.RetryWaitMax = cfg.RetryWaitMax
		rc.CheckRetry = checkRetry
		rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
		rc.Logger = &leveledLogger{log: logger, redact: c.auth.redact}
		return rc
	}
	c.rc, c.rcOnce = newRetrying(cfg.RetryMax), newRetrying(0)
	return c, nil
}

func newPooledTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 100
	t.MaxIdleConnsPerHost = 32
	return t
}

// A Budget hands out the right to send one request, shared by every process
// that uses the token. Acquire blocks until the caller may send, or ctx ends.
type Budget interface {
	Acquire(ctx context.Context) error
}

// limitedTransport waits on the budget (or the client's own limiter) before
// every attempt, so retries and logins spend the same budget as first attempts.
type limitedTransport struct {
	base    http.RoundTripper
	limiter *windowLimiter
	budget  Budget
}

func (t *limitedTransport) wait(ctx context.Context) error {
	if t.budget != nil {
		return t.budget.Acquire(ctx)
	}
	return t.limiter.Wait(ctx)
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if p, ok := req.Context().Value(prepaidKey{}).(*prepaid); ok && p.spent.CompareAndSwap(false, true) {
		return t.base.RoundTrip(req) // its turn was taken before (reserve)
	}
	if err := t.wait(req.Context()); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("waiting for rate limiter: %w", err)
	}
	return t.base.RoundTrip(req)
}

// prepaidKey keys the context value of a request whose turn of the budget was
// taken already (reserve).
type prepaidKey struct{}

// prepaid is one turn of the budget, taken ahead: the first request sent with
// it spends it instead of waiting for one.
type prepaid struct{ spent atomic.Bool }

// reserve waits for one request's turn of the budget now and returns a context
// in which the next request sent spends it, and how long the wait took. A PUT
// built on a read reserves its turn before that read, so nothing but the
// read's round trip lies between the values read and the write: a turn can
// take seconds when the budget is spent, and an edit made meanwhile would be
// overwritten with the values read before it.
func (c *Client) reserve(ctx context.Context) (context.Context, time.Duration, error) {
	start := time.Now()
	if err := c.turns.wait(ctx); err != nil {
		return nil, 0, fmt.Errorf("waiting for rate limiter: %w", err)
	}
	return context.WithValue(ctx, prepaidKey{}, &prepaid{}), time.Since(start), nil
}

// redirectError is returned by checkRedirect when the client refuses to follow.
type redirectError struct {
	status int
	reason string
}

func (e *redirectError) Error() string { return e.reason }

// checkRedirect follows at most 5 redirects, and only to the same scheme and host (so
// the bearer token never travels elsewhere) and only for GET (a 301/302 would turn a
// write into a GET).
func checkRedirect(req *http.Request, via []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	first := via[0]
	switch {
	case first.Method != http.MethodGet:
		return &redirectError{status, fmt.Sprintf("refused to follow a redirect of %s", first.Method)}
	case req.URL.Scheme != first.URL.Scheme || req.URL.Host != first.URL.Host:
		return &redirectError{status, fmt.Sprintf("refused to follow a redirect to another host (%s)", req.URL.Host)}
	case len(via) >= 5:
		return &redirectError{status, "stopped after 5 redirects"}
	}
	return nil
}

// checkRetry retries connection errors and 5xx (except 501), never 4xx or 429, and
// never when the caller's context is done or a redirect was refused.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var re *redirectError
		if errors.As(err, &re) {
			return false, nil
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	if resp.StatusCode == 0 || (resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented) {
		return true, nil
	}
	return false, nil
}

// call describes one logical API operation.
type call struct {
	op     string
	entity Entity
	id     string
	method string
	path   string
	query  url.Values
	body   any        // JSON-encoded when non-nil
	form   url.Values // form-encoded when non-nil (login)
	header http.Header
	noAuth bool
}

// retried reports whether the HTTP layer may send the call again after a connection
// error or a 5xx: reads and DELETE (a second one answers 404) may be; POST and PATCH,
// which create records, may not, except the login, which creates nothing; nor may PUT,
// whose body holds the whole record as read before it: sent again after a backoff, it
// would put back values a person has changed since (Update reads again first).
func (k call) retried() bool {
	switch k.method {
	case http.MethodPost, http.MethodPatch:
		return k.noAuth
	case http.MethodPut:
		return false
	}
	return true
}

// response is a fully read 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do performs the call: bearer auth (with one re-login on 401), retries, limiter,
// bounded body, typed errors. It returns only 2xx answers.
func (c *Client) do(ctx context.Context, k call) (*response, error) {
	var payload []byte
	contentType := ""
	switch {
	case k.form != nil:
		payload = []byte(k.form.Encode())
		contentType = "application/x-www-form-urlencoded"
	case k.body != nil:
		b, err := json.Marshal(k.body)
		if err != nil {
			return nil, fmt.Errorf("webcrm: %s %s %s: encoding request: %w", k.op, k.entity, k.id, err)
		}
		payload = b
		contentType = "application/json"
	}
	for attempt := 0; ; attempt++ {
		token := ""
		if !k.noAuth {
			t, err := c.auth.token(ctx)
			if err != nil {
				return nil, err
			}
			token = t
		}
		var raw any // nil interface for no body: a nil []byte would make net/http probe for one
		if payload != nil {
			raw = payload
		}
		req, err := retryablehttp.NewRequestWithContext(ctx, k.method, c.url(k.path, k.query), raw)
		if err != nil {
			return nil, fmt.Errorf("webcrm: %s %s %s: building request: %w", k.op, k.entity, k.id, err)
		}
		req.Header.Set("Accept", "application/json")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for h, vs := range k.header {
			req.Header[h] = vs
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		rc := c.rc
		if !k.retried() {
			rc = c.rcOnce
		}
		resp, err := rc.Do(req)
		if err != nil {
			return nil, c.transportError(ctx, k, err)
		}
		body, rerr := readBody(resp.Body, c.maxBody)
		_ = resp.Body.Close()
		c.log.LogAttrs(ctx, slog.LevelDebug, "webcrm request",
			slog.String("op", k.op), slog.String("entity", string(k.entity)), slog.String("method", k.method),
			slog.String("path", k.path), slog.Int("status", resp.StatusCode), slog.Duration("elapsed", time.Since(start)))
		if rerr != nil {
			if errors.Is(rerr, errBodyTooLarge) {
				return nil, &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: resp.StatusCode, Malformed: true,
					Message: fmt.Sprintf("response body exceeds %d bytes", c.maxBody)}
			}
			return nil, c.transportError(ctx, k, fmt.Errorf("reading response body: %w", rerr))
		}
		switch s := resp.StatusCode; {
		case s >= 200 && s < 300:
			return &response{status: s, header: resp.Header, body: body}, nil
		case s == http.StatusUnauthorized && !k.noAuth && attempt == 0:
			c.log.LogAttrs(ctx, slog.LevelInfo, "webcrm: access token rejected, logging in again",
				slog.String("op", k.op), slog.String("entity", string(k.entity)))
			c.auth.invalidate(token)
			continue
		case s == http.StatusTooManyRequests:
			ra := retryAfter(resp.Header, body, time.Now())
			c.log.LogAttrs(ctx, slog.LevelWarn, "webcrm: rate limited",
				slog.String("op", k.op), slog.String("entity", string(k.entity)), slog.Duration("retry_after", ra))
			return nil, &RateLimitError{Op: k.op, Entity: k.entity, ID: k.id, RetryAfter: ra, Message: c.auth.redact(serverMessage(body))}
		case s == http.StatusNotFound && isPage(resp.Header, body):
			// webCRM answers in JSON; a 404 page comes from something in front of it
			// (a proxy, IIS refusing a long URL) and says nothing about the record.
			return nil, &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: s, Malformed: true,
				Message: "HTML page instead of an API answer (refused before webCRM, e.g. a URL too long): " + c.auth.redact(excerpt(htmlTitle(body), maxExcerpt))}
		default:
			msg := serverMessage(body)
			if s >= 300 && s < 400 {
				msg = strings.TrimSpace("unexpected redirect to " + resp.Header.Get("Location") + " " + msg)
			}
			return nil, &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: s, Message: c.auth.redact(msg)}
		}
	}
}

// transportError classifies an error without a usable response.
func (c *Client) transportError(ctx context.Context, k call, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("webcrm: %s %s %s: %w", k.op, k.entity, k.id, ctx.Err())
	}
	var re *redirectError
	if errors.As(err, &re) {
		return &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: re.status, Message: re.reason}
	}
	if msg := c.auth.redact(err.Error()); msg != err.Error() {
		err = errors.New(msg) // drop the chain rather than carry a secret
	}
	return &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: 0, Err: err}
}

var errBodyTooLarge = errors.New("body too large")

func readBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// serverMessage extracts a short human text from an error body: the Message /
// ErrorDescription / title field of a JSON object, else an excerpt of the raw text.
func serverMessage(body []byte) string {
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		for _, k := range []string{"Message", "message", "ErrorDescription", "Error", "title", "detail"} {
			if s, ok := obj[k].(string); ok && s != "" {
				return excerpt([]byte(s), maxExcerpt)
			}
		}
	}
	if looksLikeHTML(body) {
		return "HTML page: " + excerpt(htmlTitle(body), maxExcerpt-12)
	}
	return excerpt(body, maxExcerpt)
}

var titleRe = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

func htmlTitle(body []byte) []byte {
	if m := titleRe.FindSubmatch(body); m != nil && len(bytes.TrimSpace(m[1])) > 0 {
		return m[1]
	}
	return body
}

// isPage reports whether an answer is an HTML page.
func isPage(h http.Header, body []byte) bool {
	return strings.Contains(strings.ToLower(h.Get("Content-Type")), "html") || looksLikeHTML(body)
}

func looksLikeHTML(body []byte) bool {
	t := bytes.TrimSpace(body)
	return len(t) > 0 && t[0] == '<'
}

// retryAfter reads the Retry-After header (seconds or HTTP date), else the
// RetryAfterSeconds body field.
func retryAfter(h http.Header, body []byte, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && !math.IsInf(secs, 0) {
			return time.Duration(secs * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	var obj struct {
		RetryAfterSeconds *json.Number
	}
	if json.Unmarshal(body, &obj) == nil && obj.RetryAfterSeconds != nil {
		if secs, err := obj.RetryAfterSeconds.Float64(); err == nil && secs >= 0 {
			return time.Duration(secs * float64(time.Second))
		}
	}
	return 0
}

// decodeJSON decodes a 2xx body into v, reporting HTML pages, empty bodies, truncated or
// invalid JSON and trailing garbage as malformed-response errors.
func (c *Client) decodeJSON(k call, r *response, v any) error {
	malformed := func(msg string, err error) error {
		return &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: r.status, Malformed: true, Message: msg, Err: err}
	}
	ct := strings.ToLower(r.header.Get("Content-Type"))
	if strings.Contains(ct, "html") || looksLikeHTML(r.body) {
		return malformed("HTML instead of JSON: "+c.auth.redact(excerpt(htmlTitle(r.body), maxExcerpt)), nil)
	}
	if len(bytes.TrimSpace(r.body)) == 0 {
		return malformed("empty body where JSON was expected", nil)
	}
	if !utf8.Valid(r.body) {
		return malformed("body is not valid UTF-8", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return malformed(fmt.Sprintf("invalid JSON (%d bytes): %s", len(r.body), c.auth.redact(excerpt(r.body, 80))), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed(fmt.Sprintf("trailing data after JSON value (%d bytes)", len(r.body)), nil)
	}
	return nil
}
