package customerp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, e.g. http://127.0.0.1:8082 (paths such as /customers are
	// appended to it).
	BaseURL string
	// APIKey is sent as `Authorization: Bearer <key>`. It is a secret: it never appears in
	// logs or errors.
	APIKey string
	// Timeout bounds each HTTP attempt (default 30s).
	Timeout time.Duration
	// RetryMax is how many times a connection error or 5xx answer is retried (default 4;
	// negative: never).
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the exponential backoff between retries
	// (defaults 250ms and 5s).
	RetryWaitMin, RetryWaitMax time.Duration
	// MaxResponseBytes bounds a response body (default 32 MiB); a larger one is a
	// *MalformedError.
	MaxResponseBytes int64
	// Transport, when set, carries the HTTP requests (tests wrap it to check the contract).
	Transport http.RoundTripper
	// Logger receives one debug line per HTTP attempt and a warning per retry (default: discard).
	Logger *slog.Logger
}

// Client calls a CustomERP API. It is safe for concurrent use.
type Client struct {
	base     *url.URL
	apiKey   string
	maxBody  int64
	http     *retryablehttp.Client
	longHTTP *retryablehttp.Client // for long polls: its timeout allows MaxFeedWait more
	log      *slog.Logger
	retryMax int
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("customerp: Config.BaseURL is required")
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("customerp: Config.BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("customerp: Config.APIKey is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	switch {
	case cfg.RetryMax == 0:
		cfg.RetryMax = 4
	case cfg.RetryMax < 0:
		cfg.RetryMax = 0
	}
	if cfg.RetryWaitMin <= 0 {
		cfg.RetryWaitMin = 250 * time.Millisecond
	}
	if cfg.RetryWaitMax <= 0 {
		cfg.RetryWaitMax = 5 * time.Second
	}
	if cfg.RetryWaitMax < cfg.RetryWaitMin {
		cfg.RetryWaitMax = cfg.RetryWaitMin
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 32 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := loadSchemaInfo(); err != nil {
		return nil, err
	}
	hc := cleanhttp.DefaultPooledClient()
	hc.Timeout = cfg.Timeout
	hc.CheckRedirect = sameHostRedirect
	if cfg.Transport != nil {
		hc.Transport = cfg.Transport
	}
	c := &Client{base: base, apiKey: cfg.APIKey, maxBody: cfg.MaxResponseBytes, log: cfg.Logger, retryMax: cfg.RetryMax}
	c.http = c.retrying(hc, cfg)
	long := *hc
	long.Timeout = cfg.Timeout + MaxFeedWait
	c.longHTTP = c.retrying(&long, cfg)
	return c, nil
}

// retrying wraps hc in the client's retry policy and logging.
func (c *Client) retrying(hc *http.Client, cfg Config) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient:   hc,
		RetryWaitMin: cfg.RetryWaitMin,
		RetryWaitMax: cfg.RetryWaitMax,
		RetryMax:     cfg.RetryMax,
		CheckRetry:   checkRetry,
		Backoff:      retryablehttp.DefaultBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		RequestLogHook: func(_ retryablehttp.Logger, req *http.Request, attempt int) {
			if st, ok := req.Context().Value(callKey{}).(*callState); ok {
				st.attempts.Store(int32(attempt + 1))
				if attempt > 0 {
					c.log.Warn("customerp: retrying", "op", st.op, "resource", string(st.resource), "id", st.id, "attempt", attempt+1)
				}
			}
		},
	}
}

// callKey keys the per-call state in a request context.
type callKey struct{}

// callState is what one client call shares with the retry hooks.
type callState struct {
	op       string
	resource Resource
	id       string
	noRetry  bool
	attempts atomic.Int32
}

// checkRetry retries connection errors and 5xx answers (as retryablehttp does by default) but
// never 429 and never other 4xx. A call marked noRetry (a create without Idempotency-Key) is
// not retried at all, since repeating it could create a second record.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if st, ok := ctx.Value(callKey{}).(*callState); ok && st.noRetry {
		return false, nil
	}
	if err == nil && resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		return false, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// response is a fully read HTTP answer.
type response struct {
	status   int
	header   http.Header
	body     []byte
	attempts int
}

// call describes one API call.
type call struct {
	op       string
	resource Resource
	id       string
	method   string
	path     string
	query    url.Values
	body     any // marshalled to JSON when non-nil
	header   map[string]string
	noRetry  bool
	long     bool // a long poll: the attempt may last MaxFeedWait longer
}

// do performs cl and turns transport failures, 429 and non-2xx answers into typed errors. The
// response is returned whenever an HTTP answer arrived, errors included.
func (c *Client) do(ctx context.Context, cl call) (*response, error) {
	st := &callState{op: cl.op, resource: cl.resource, id: cl.id, noRetry: cl.noRetry}
	ctx = context.WithValue(ctx, callKey{}, st)
	u := *c.base
	u.Path = c.base.Path + cl.path
	u.RawQuery = cl.query.Encode()
	var raw any
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("customerp: %s %s: encode body: %w", cl.op, target(cl.resource, cl.id), err)
		}
		raw = b
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, cl.method, u.String(), raw)
	if err != nil {
		return nil, fmt.Errorf("customerp: %s %s: build request: %w", cl.op, target(cl.resource, cl.id), err)
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json, application/problem+json")
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range cl.header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	hc := c.http
	if cl.long {
		hc = c.longHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("customerp: %s %s: %w", cl.op, target(cl.resource, cl.id), ctxErr)
		}
		return nil, &NetworkError{Op: cl.op, Resource: cl.resource, ID: cl.id, Err: scrub(err)}
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	out := &response{status: resp.StatusCode, header: resp.Header, body: body, attempts: int(st.attempts.Load())}
	c.log.Debug("customerp: call", "op", cl.op, "method", cl.method, "path", cl.path, "status", resp.StatusCode,
		"attempts", out.attempts, "duration", time.Since(start))
	if readErr != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("customerp: %s %s: %w", cl.op, target(cl.resource, cl.id), ctxErr)
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil, &MalformedError{Op: cl.op, Resource: cl.resource, ID: cl.id, Status: resp.StatusCode, Err: fmt.Errorf("read body: %w", scrub(readErr))}
		}
		return nil, &NetworkError{Op: cl.op, Resource: cl.resource, ID: cl.id, Err: fmt.Errorf("read %d body: %w", resp.StatusCode, scrub(readErr))}
	}
	if int64(len(body)) > c.maxBody {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil, &MalformedError{Op: cl.op, Resource: cl.resource, ID: cl.id, Status: resp.StatusCode,
				Err: fmt.Errorf("body larger than %d bytes", c.maxBody)}
		}
		out.body = body[:c.maxBody]
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return out, nil
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return out, &RateLimitError{Op: cl.op, Resource: cl.resource, ID: cl.id, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return out, &APIError{Op: cl.op, Resource: cl.resource, ID: cl.id, Status: resp.StatusCode, Problem: parseProblem(resp.StatusCode, resp.Header, out.body)}
}

// scrub removes the query string from URLs inside transport errors (look-up values such as
// e-mail addresses are personal data) and never lets a header value through.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		if perr == nil {
			u.RawQuery = ""
			return fmt.Errorf("%s %s: %w", ue.Op, u.String(), ue.Err)
		}
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 1s when absent or invalid.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return time.Second
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return time.Second
}

// parseProblem reads problem details from an error body, or makes some up from the status.
func parseProblem(status int, h http.Header, body []byte) Problem {
	var p Problem
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if strings.HasSuffix(mt, "json") && json.Unmarshal(body, &p) == nil && (p.Title != "" || p.Detail != "" || p.Type != "") {
		if p.Status == 0 {
			p.Status = status
		}
		return p
	}
	p = Problem{Type: "about:blank", Title: http.StatusText(status), Status: status}
	if snippet := strings.TrimSpace(string(body)); snippet != "" && utf8Printable(snippet) {
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		p.Detail = snippet
	}
	return p
}

func utf8Printable(s string) bool {
	for _, r := range s {
		if r == 0xFFFD || (r < 0x20 && r != '\n' && r != '\r' && r != '\t') {
			return false
		}
	}
	return true
}

// decodeJSON decodes one JSON value from body into v (numbers as json.Number) and insists on
// a JSON content type and nothing after the value.
func decodeJSON(resp *response, v any) error {
	mt, _, _ := mime.ParseMediaType(resp.header.Get("Content-Type"))
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return fmt.Errorf("content type %q is not JSON", resp.header.Get("Content-Type"))
	}
	if !utf8.Valid(resp.body) {
		return fmt.Errorf("body is not valid UTF-8 (at byte %d)", invalidUTF8At(resp.body))
	}
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

func (c *Client) malformed(cl call, resp *response, err error) error {
	return &MalformedError{Op: cl.op, Resource: cl.resource, ID: cl.id, Status: resp.status, Err: err}
}

// decodeRecord decodes a record answer and checks it has an id and a version.
// sameHostRedirect follows at most five redirects of a GET on the same host;
// anything else is an error, so an answer from elsewhere is never taken for
// the ERP's (a 404 there would read as a delete).
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("stopped after %d redirects", len(via))
	}
	if req.Method != http.MethodGet || req.URL.Host != via[0].URL.Host {
		return fmt.Errorf("refused a redirect to %s (%s)", req.URL.Host, req.Method)
	}
	return nil
}

// invalidUTF8At returns the offset of the first byte that is not valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func (c *Client) decodeRecord(cl call, resp *response) (Record, error) {
	var m map[string]any
	if err := decodeJSON(resp, &m); err != nil {
		return nil, c.malformed(cl, resp, err)
	}
	if m == nil {
		return nil, c.malformed(cl, resp, errors.New("record is null"))
	}
	rec := Record(m)
	if err := checkRecord(rec); err != nil {
		return nil, c.malformed(cl, resp, err)
	}
	if cl.id != "" && (cl.method == http.MethodGet || cl.method == http.MethodPut) {
		if got, _ := rec["id"].(string); got != cl.id {
			return nil, c.malformed(cl, resp, fmt.Errorf("asked for %s, got a record with id %q", cl.id, got))
		}
	}
	return rec, nil
}

func checkRecord(rec Record) error {
	if _, err := rec.ID(); err != nil {
		return err
	}
	if _, err := rec.Version(); err != nil {
		return err
	}
	if _, err := rec.UpdatedAt(); err != nil {
		return err
	}
	return nil
}

func (c *Client) checkResource(op string, r Resource, id string, needID bool) error {
	if !r.Valid() {
		return fmt.Errorf("customerp: %s %s: unknown resource", op, target(r, id))
	}
	if needID && id == "" {
		return fmt.Errorf("customerp: %s %s: empty id", op, r)
	}
	return nil
}

func itemPath(r Resource, id string) string {
	return "/" + string(r) + "/" + url.PathEscape(id)
}

// Get reads one record. The record carries "version" and "updatedAt".
func (c *Client) Get(ctx context.Context, r Resource, id string) (Record, error) {
	if err := c.checkResource("get", r, id, true); err != nil {
		return nil, err
	}
	cl := call{op: "get", resource: r, id: id, method: http.MethodGet, path: itemPath(r, id)}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return c.decodeRecord(cl, resp)
}

// writable returns a copy of rec without the resource's read-only properties, which the
// server refuses in writes (so a record read with Get can be sent back as it is).
func writable(r Resource, rec Record) map[string]any {
	ro := readOnlyProps(r)
	out := make(map[string]any, len(rec))
	for k, v := range rec {
		if !ro[k] {
			out[k] = v
		}
	}
	return out
}

// Create creates a record of resource r from rec's writable fields and returns it as stored
// (with its new id and version 1). With a non-empty idempotencyKey the create is retried on
// network errors and 5xx, and a repeat with the same key and body returns the record the first
// call created; the same key with another body is a validation error (422). Without a key the
// call is never retried.
func (c *Client) Create(ctx context.Context, r Resource, rec Record, idempotencyKey string) (Record, error) {
	if err := c.checkResource("create", r, "", false); err != nil {
		return nil, err
	}
	cl := call{op: "create", resource: r, method: http.MethodPost, path: "/" + string(r), body: writable(r, rec), noRetry: idempotencyKey == ""}
	if idempotencyKey != "" {
		cl.header = map[string]string{"Idempotency-Key": idempotencyKey}
	}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return c.decodeRecord(cl, resp)
}

// Update replaces every writable field of record id with rec's (a field rec lacks becomes null
// or its default), provided the record is still at version ifMatchVersion, and returns the
// record as stored. When the record has moved on it returns a *StaleError (IsStale). When an
// attempt was retried after its answer got lost and the retry finds the record at exactly
// ifMatchVersion+1 holding what was sent, that is taken as this call's own write.
func (c *Client) Update(ctx context.Context, r Resource, id string, rec Record, ifMatchVersion int64) (Record, error) {
	if err := c.checkResource("update", r, id, true); err != nil {
		return nil, err
	}
	body := writable(r, rec)
	cl := call{op: "update", resource: r, id: id, method: http.MethodPut, path: itemPath(r, id), body: body,
		header: map[string]string{"If-Match": etag(ifMatchVersion)}}
	resp, err := c.do(ctx, cl)
	if err == nil {
		return c.decodeRecord(cl, resp)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionFailed {
		return nil, err
	}
	stale := &StaleError{APIError: ae, IfMatch: ifMatchVersion, Current: ae.Problem.CurrentVersion}
	if resp != nil && resp.attempts > 1 && ae.Problem.CurrentVersion == ifMatchVersion+1 {
		// An earlier attempt may have committed this very write and lost its answer.
		cur, gerr := c.Get(ctx, r, id)
		if gerr == nil {
			if v, verr := cur.Version(); verr == nil && v == ifMatchVersion+1 && sameFields(body, cur) {
				return cur, nil
			}
		}
	}
	return nil, stale
}

// Delete deletes record id. A delete retried after its first answer was lost, that then finds
// the record gone, succeeds.
func (c *Client) Delete(ctx context.Context, r Resource, id string) error {
	if err := c.checkResource("delete", r, id, true); err != nil {
		return err
	}
	cl := call{op: "delete", resource: r, id: id, method: http.MethodDelete, path: itemPath(r, id)}
	resp, err := c.do(ctx, cl)
	if err != nil && IsNotFound(err) && resp != nil && resp.attempts > 1 {
		// An earlier attempt deleted the record and lost its answer.
		return nil
	}
	return err
}

// List returns one page of resource r's records in id order, starting after the cursor after
// ("" for the first page), at most limit (1..1000; 0 means the server default of 100), and the
// cursor of the next page ("" after the last page).
func (c *Client) List(ctx context.Context, r Resource, after string, limit int) ([]Record, string, error) {
	return c.list(ctx, r, nil, after, limit)
}

// Find returns every record of r whose look-up property equals value: organisationNumber
// (customers; compared ignoring case, spaces and punctuation), customerNumber, email
// (compared ignoring case), productNumber, orderNumber, contactType, customerId, orderId and
// externalRef, as r.Filters() lists them.
func (c *Client) Find(ctx context.Context, r Resource, property, value string) ([]Record, error) {
	return c.FindWhere(ctx, r, map[string]string{property: value})
}

// maxFind bounds the records one Find returns; a look-up matching more is an error.
const maxFind = 10000

// FindWhere is Find with several conditions that must all hold, e.g.
// {"email": "a@b.dk", "contactType": "person"}.
func (c *Client) FindWhere(ctx context.Context, r Resource, filters map[string]string) ([]Record, error) {
	allowed := map[string]bool{}
	for _, f := range r.Filters() {
		allowed[f] = true
	}
	q := url.Values{}
	for k, v := range filters {
		if !allowed[k] {
			return nil, fmt.Errorf("customerp: find %s: %q is not a look-up property of %s (have %s)", r, k, r, strings.Join(r.Filters(), ", "))
		}
		q.Set(k, v)
	}
	var out []Record
	after := ""
	for {
		recs, next, err := c.list(ctx, r, q, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if len(out) > maxFind {
			return nil, fmt.Errorf("customerp: find %s: more than %d records match", r, maxFind)
		}
		if next == "" || len(recs) == 0 {
			return out, nil
		}
		after = next
	}
}

func (c *Client) list(ctx context.Context, r Resource, q url.Values, after string, limit int) ([]Record, string, error) {
	if err := c.checkResource("list", r, "", false); err != nil {
		return nil, "", err
	}
	query := url.Values{}
	for k, v := range q {
		query[k] = v
	}
	if after != "" {
		query.Set("after", after)
	}
	if limit > 0 {
		query.Set("limit", strconv.Itoa(limit))
	}
	cl := call{op: "list", resource: r, method: http.MethodGet, path: "/" + string(r), query: query}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, "", err
	}
	var page struct {
		Items []map[string]any `json:"items"`
		Next  *string          `json:"next"`
	}
	if err := decodeJSON(resp, &page); err != nil {
		return nil, "", c.malformed(cl, resp, err)
	}
	if page.Items == nil || page.Next == nil {
		return nil, "", c.malformed(cl, resp, errors.New("page lacks items or next"))
	}
	recs := make([]Record, 0, len(page.Items))
	for i, m := range page.Items {
		rec := Record(m)
		if err := checkRecord(rec); err != nil {
			return nil, "", c.malformed(cl, resp, fmt.Errorf("item %d: %w", i, err))
		}
		recs = append(recs, rec)
	}
	return recs, *page.Next, nil
}

// Change is one entry of a change feed: a committed create, update or delete.
type Change struct {
	Seq       string    // the change's position; opaque
	ID        string    // the record's id
	Version   int64     // the record's version after the change
	UpdatedAt time.Time // when the change was committed (UTC)
	Deleted   bool      // a tombstone: the record is gone
	Record    Record    // the record as of this change; for a tombstone, its last state
}

// Changes returns the changes of resource r committed after the position since ("" or "0" for
// the beginning), oldest first, at most limit (1..1000; 0 means the server default of 100),
// and the position to pass next time. Every committed change appears exactly once, in commit
// order, deletes included; an empty result returns since unchanged.
func (c *Client) Changes(ctx context.Context, r Resource, since string, limit int) ([]Change, string, error) {
	chs, next, _, err := c.changes(ctx, r, since, limit, 0)
	return chs, next, err
}

// MaxFeedWait is the longest long poll the contract allows (`wait` ≤ 30 s).
const MaxFeedWait = 30 * time.Second

// WaitChanges is Changes with a long poll: when no change exists after since, the server holds
// the request until one commits or wait passes (at most MaxFeedWait). An adapter without long
// poll answers at once (no `Tandem-Long-Poll` header); then, when it returned nothing,
// WaitChanges itself waits until interval has passed since the request began (or ctx ends), so
// that a caller reading the feed back to back still reads it once per interval, not in a
// spin. longPolled reports whether the server honoured the wait.
func (c *Client) WaitChanges(ctx context.Context, r Resource, since string, limit int, wait, interval time.Duration) (chs []Change, next string, longPolled bool, err error) {
	wait = min(max(wait, 0), MaxFeedWait)
	began := time.Now()
	chs, next, longPolled, err = c.changes(ctx, r, since, limit, wait)
	if err != nil || longPolled || len(chs) > 0 || wait == 0 {
		return chs, next, longPolled, err
	}
	t := time.NewTimer(interval - time.Since(began))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return chs, next, false, nil
}

func (c *Client) changes(ctx context.Context, r Resource, since string, limit int, wait time.Duration) ([]Change, string, bool, error) {
	if err := c.checkResource("changes", r, "", false); err != nil {
		return nil, "", false, err
	}
	query := url.Values{}
	if since != "" {
		query.Set("since", since)
	}
	if limit > 0 {
		query.Set("limit", strconv.Itoa(limit))
	}
	if secs := int(wait / time.Second); secs > 0 {
		query.Set("wait", strconv.Itoa(secs))
	}
	cl := call{op: "changes", resource: r, method: http.MethodGet, path: "/" + string(r) + "/changes", query: query, long: wait > 0}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, "", false, err
	}
	longPolled := wait > 0 && resp.header.Get("Tandem-Long-Poll") == "1"
	var page struct {
		Items []struct {
			Seq       string         `json:"seq"`
			ID        string         `json:"id"`
			Version   json.Number    `json:"version"`
			UpdatedAt string         `json:"updatedAt"`
			Deleted   bool           `json:"deleted"`
			Record    map[string]any `json:"record"`
		} `json:"items"`
		Next *string `json:"next"`
	}
	if err := decodeJSON(resp, &page); err != nil {
		return nil, "", false, c.malformed(cl, resp, err)
	}
	if page.Items == nil || page.Next == nil || *page.Next == "" {
		return nil, "", false, c.malformed(cl, resp, errors.New("feed page lacks items or next"))
	}
	if cur, err1 := strconv.ParseInt(since, 10, 64); err1 == nil {
		if next, err2 := strconv.ParseInt(*page.Next, 10, 64); err2 == nil && next < cur {
			return nil, "", false, c.malformed(cl, resp, fmt.Errorf("feed token went backwards from %s to %s", since, *page.Next))
		}
	}
	out := make([]Change, 0, len(page.Items))
	for i, it := range page.Items {
		// One broken item must not stop the feed: without an id it is
		// reported and passed over; without a readable version or time it
		// is handed on without its record (Version 0), so the reader
		// fetches the record itself.
		if it.ID == "" {
			c.log.WarnContext(ctx, "customerp: change feed item without id passed over", "resource", string(r), "item", i, "next", *page.Next)
			continue
		}
		v, verr := int64Of(it.Version)
		at, terr := time.Parse(time.RFC3339Nano, it.UpdatedAt)
		if verr != nil || terr != nil || it.Seq == "" {
			c.log.WarnContext(ctx, "customerp: change feed item without a readable version; the record is read instead", "resource", string(r), "id", it.ID)
			out = append(out, Change{Seq: it.Seq, ID: it.ID, Deleted: it.Deleted})
			continue
		}
		out = append(out, Change{Seq: it.Seq, ID: it.ID, Version: v, UpdatedAt: at.UTC(), Deleted: it.Deleted, Record: Record(it.Record)})
	}
	return out, *page.Next, longPolled, nil
}

// sameFields reports whether every non-null field of the write body holds the same value in
// rec (numbers compared as exact decimals, nested objects field by field).
func sameFields(body map[string]any, rec Record) bool {
	raw, err := json.Marshal(body)
	if err != nil {
		return false
	}
	var sent map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&sent); err != nil {
		return false
	}
	return subsetEqual(sent, map[string]any(rec))
}

func subsetEqual(sent, got any) bool {
	switch s := sent.(type) {
	case nil:
		return true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range s {
			if !subsetEqual(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(s) {
			return false
		}
		for i := range s {
			if !subsetEqual(s[i], g[i]) {
				return false
			}
		}
		return true
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return false
		}
		a, okA := new(big.Rat).SetString(string(s))
		b, okB := new(big.Rat).SetString(string(g))
		return okA && okB && a.Cmp(b) == 0
	default:
		return sent == got
	}
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }
