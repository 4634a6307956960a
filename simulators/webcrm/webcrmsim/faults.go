package webcrmsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("50ms", "2s"); a JSON number is taken as nanoseconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1.5s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts "50ms"-style strings and integer nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("duration %s: want a string like \"50ms\" or integer nanoseconds", b)
	}
	*d = Duration(n)
	return nil
}

// Kinds of malformed bodies.
const (
	// MalformedHTML answers 200 with an HTML maintenance page instead of
	// running the request.
	MalformedHTML = "html"
	// MalformedTruncated runs the request and cuts a 200 JSON body in half.
	MalformedTruncated = "truncated"
	// MalformedMixed picks html or truncated at random.
	MalformedMixed = "mixed"
)

// FaultConfig is the fault-injection setting, also the JSON of
// GET/PUT /_sim/faults. Faults apply to API requests only (not /_sim/).
// Per request, in this order: Latency (+ random Jitter) is added; a forced
// 429 is answered while Force429Requests > 0 or until Force429For has
// passed; then with DropRate the connection is closed without a response;
// with ServerErrorRate a 500, 502, 503 or 504 is answered; with
// MalformedRate the body is malformed (see MalformedKind). Dropped, 5xx and
// HTML-answered requests are not executed.
//
// The fields from UnorderedPages on make the simulator behave as badly as a
// real, SQL-backed webCRM is allowed to (the API promises none of these
// things); HostileProfile turns them all on. A request whose URI is longer
// than MaxURLLength is refused before any of the above.
type FaultConfig struct {
	ServerErrorRate float64  `json:"ServerErrorRate"`
	Latency         Duration `json:"Latency"`
	Jitter          Duration `json:"Jitter"`
	DropRate        float64  `json:"DropRate"`
	MalformedRate   float64  `json:"MalformedRate"`
	// MalformedKind is "html" (default), "truncated" or "mixed".
	MalformedKind string `json:"MalformedKind"`
	// Force429Requests answers the next N API requests with 429.
	Force429Requests int `json:"Force429Requests"`
	// Force429For answers every API request with 429 for this long from
	// the moment the setting is applied; GET reports the time left.
	Force429For Duration `json:"Force429For"`
	// RetryAfterSeconds is the Retry-After of forced 429s (default 1).
	RetryAfterSeconds int `json:"RetryAfterSeconds"`

	// UnorderedPages gives list pages (GET /X?Page&Size) and /Queries
	// results a fresh random order on every request: all rows of a script
	// without ORDER BY, and rows whose ORDER BY keys tie otherwise. Paging
	// by page number then skips some rows and repeats others.
	UnorderedPages bool `json:"UnorderedPages"`
	// LostAnswerRate is the fraction of successful POST, PUT, PATCH and
	// DELETE requests (not /Auth/) that are carried out and committed but
	// whose answer is lost: half of them get a 500/502/503/504, half have
	// their connection closed. Counted in Stats.LostAnswers.
	LostAnswerRate float64 `json:"LostAnswerRate"`
	// MaxURLLength, when positive, refuses a request whose request URI
	// (path, '?' and raw query as sent) is longer, with IIS's 404.15 HTML
	// page, before authentication and rate limiting. Counted in
	// Stats.URLTooLong.
	MaxURLLength int `json:"MaxURLLength"`
	// PatchShuffle answers a bulk PATCH's result strings in another order
	// than the items were sent. Counted in Stats.PatchShuffled.
	PatchShuffle bool `json:"PatchShuffle"`
	// PatchShortRate is the fraction of bulk PATCH answers that leave out
	// some result strings (every item was still processed). Counted in
	// Stats.PatchShortened.
	PatchShortRate float64 `json:"PatchShortRate"`
	// PatchItemErrorRate is the chance of each bulk PATCH item to be
	// rejected without being written, answered by PatchItemErrorMessage.
	// Counted in Stats.PatchItemErrors.
	PatchItemErrorRate float64 `json:"PatchItemErrorRate"`
	// MaskSecrets answers User and Person credential properties (see
	// SecretProperties) that hold a value as SecretMask, and makes them
	// write-protected: a PUT or PATCH that leaves one out (or sends null)
	// keeps the stored value; one that sends the mask stores the mask,
	// counted in Stats.SecretsOverwritten.
	MaskSecrets bool `json:"MaskSecrets"`
	// RewriteOnWrite makes API writes store strings longer than their
	// property's maximum length cut at that length (instead of a 400) and
	// telephone-like properties (names with Telephone, Phone, Mobile or
	// Fax) without spaces, without saying so in the answer. Counted in
	// Stats.ValuesRewritten.
	RewriteOnWrite bool `json:"RewriteOnWrite"`
	// HookBody is the body of hook deliveries: "" the JSON HookPayload,
	// "empty" no body, "form" id=123&type=Organisation urlencoded, "other"
	// a JSON shape of its own, "mixed" one of these at random per delivery.
	HookBody string `json:"HookBody"`
	// TimeStamps is how the API writes date-times: "" UTC with Z, "offset"
	// the same instant with TimeZone's offset, "local" TimeZone's wall time
	// without an offset. Date-times sent by clients and /Queries literals
	// without an offset are read as TimeZone's wall time in "local" mode
	// and as UTC otherwise.
	TimeStamps string `json:"TimeStamps"`
	// TimeZone is the IANA zone of TimeStamps (default Europe/Copenhagen).
	TimeZone string `json:"TimeZone"`
}

func (c FaultConfig) validate() error {
	rates := []struct {
		name string
		v    float64
	}{{"ServerErrorRate", c.ServerErrorRate}, {"DropRate", c.DropRate}, {"MalformedRate", c.MalformedRate},
		{"LostAnswerRate", c.LostAnswerRate}, {"PatchShortRate", c.PatchShortRate}, {"PatchItemErrorRate", c.PatchItemErrorRate}}
	for _, r := range rates {
		if r.v < 0 || r.v > 1 {
			return fmt.Errorf("%s %v is outside 0..1", r.name, r.v)
		}
	}
	if c.Latency < 0 || c.Jitter < 0 || c.Force429For < 0 || c.Force429Requests < 0 || c.RetryAfterSeconds < 0 || c.MaxURLLength < 0 {
		return fmt.Errorf("durations and counts must not be negative")
	}
	switch c.MalformedKind {
	case "", MalformedHTML, MalformedTruncated, MalformedMixed:
	default:
		return fmt.Errorf("MalformedKind %q is not one of html, truncated, mixed", c.MalformedKind)
	}
	switch c.HookBody {
	case HookBodyJSON, HookBodyEmpty, HookBodyForm, HookBodyOther, HookBodyMixed:
	default:
		return fmt.Errorf("HookBody %q is not one of \"\", empty, form, other, mixed", c.HookBody)
	}
	switch c.TimeStamps {
	case TimeStampsUTC, TimeStampsOffset, TimeStampsLocal:
	default:
		return fmt.Errorf("TimeStamps %q is not one of \"\", offset, local", c.TimeStamps)
	}
	if _, err := c.location(); err != nil {
		return err
	}
	return nil
}

// Faults holds the live fault-injection setting of a Server. Its methods
// are safe for concurrent use. The dice come from a math/rand source seeded
// with Options.Seed.
type Faults struct {
	mu        sync.Mutex
	cfg       FaultConfig
	rng       *rand.Rand
	now       func() time.Time
	remaining int       // forced 429s left
	until     time.Time // forced 429s until
	loc       *time.Location
}

func newFaults(cfg FaultConfig, rng *rand.Rand, now func() time.Time) (*Faults, error) {
	f := &Faults{rng: rng, now: now}
	if err := f.Set(cfg); err != nil {
		return nil, err
	}
	return f, nil
}

// Set replaces the whole fault configuration.
func (f *Faults) Set(cfg FaultConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	loc, err := cfg.location()
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	f.loc = loc
	f.remaining = cfg.Force429Requests
	f.until = time.Time{}
	if cfg.Force429For > 0 {
		f.until = f.now().Add(time.Duration(cfg.Force429For))
	}
	return nil
}

// Config returns the current configuration; Force429Requests and
// Force429For report what is left.
func (f *Faults) Config() FaultConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cfg
	c.Force429Requests = f.remaining
	c.Force429For = 0
	if left := f.until.Sub(f.now()); left > 0 {
		c.Force429For = Duration(left)
	}
	return c
}

// Clear turns every fault off.
func (f *Faults) Clear() { _ = f.Set(FaultConfig{}) }

// SetServerErrorRate sets the fraction of requests answered with a 5xx.
func (f *Faults) SetServerErrorRate(rate float64) error {
	return f.update(func(c *FaultConfig) { c.ServerErrorRate = rate })
}

// SetLatency sets the delay added to every request, plus up to jitter.
func (f *Faults) SetLatency(latency, jitter time.Duration) error {
	return f.update(func(c *FaultConfig) { c.Latency, c.Jitter = Duration(latency), Duration(jitter) })
}

// SetDropRate sets the fraction of connections closed without a response.
func (f *Faults) SetDropRate(rate float64) error {
	return f.update(func(c *FaultConfig) { c.DropRate = rate })
}

// SetMalformed sets the fraction of malformed 200 answers and their kind.
func (f *Faults) SetMalformed(rate float64, kind string) error {
	return f.update(func(c *FaultConfig) { c.MalformedRate, c.MalformedKind = rate, kind })
}

// Force429 answers the next n requests, and every request for d, with 429
// and Retry-After: retryAfter seconds (0 means 1).
func (f *Faults) Force429(n int, d time.Duration, retryAfter int) error {
	return f.update(func(c *FaultConfig) {
		c.Force429Requests, c.Force429For, c.RetryAfterSeconds = n, Duration(d), retryAfter
	})
}

func (f *Faults) update(fn func(*FaultConfig)) error {
	c := f.Config()
	fn(&c)
	return f.Set(c)
}

// action is what the dice decided for one request.
type action struct {
	latency     time.Duration
	force429    int // Retry-After seconds, 0 = no forced 429
	drop        bool
	serverError int
	malformed   string
	// lostStatus (a 5xx) or lostDrop: carry the request out, then lose
	// its answer (LostAnswerRate).
	lostStatus int
	lostDrop   bool
	// urlTooLong: refuse the request (MaxURLLength); no dice are rolled.
	urlTooLong bool
	behaviour  behaviour
}

var serverErrorStatuses = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// decide rolls the dice for one API request; write marks the requests
// whose answer LostAnswerRate may lose, uriLen is the length of the
// request URI.
func (f *Faults) decide(write bool, uriLen int) action {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cfg
	a := action{behaviour: f.behaviourLocked()}
	if c.MaxURLLength > 0 && uriLen > c.MaxURLLength {
		a.urlTooLong = true
		return a
	}
	a.latency = time.Duration(c.Latency)
	if c.Jitter > 0 {
		a.latency += time.Duration(f.rng.Int64N(int64(c.Jitter) + 1))
	}
	retry := max(c.RetryAfterSeconds, 1)
	if f.remaining > 0 {
		f.remaining--
		a.force429 = retry
		return a
	}
	if !f.until.IsZero() && f.now().Before(f.until) {
		a.force429 = retry
		return a
	}
	if c.DropRate > 0 && f.rng.Float64() < c.DropRate {
		a.drop = true
		return a
	}
	if c.ServerErrorRate > 0 && f.rng.Float64() < c.ServerErrorRate {
		a.serverError = serverErrorStatuses[f.rng.IntN(len(serverErrorStatuses))]
		return a
	}
	if write && c.LostAnswerRate > 0 && f.rng.Float64() < c.LostAnswerRate {
		if f.rng.IntN(2) == 0 {
			a.lostDrop = true
		} else {
			a.lostStatus = serverErrorStatuses[f.rng.IntN(len(serverErrorStatuses))]
		}
		return a
	}
	if c.MalformedRate > 0 && f.rng.Float64() < c.MalformedRate {
		switch c.MalformedKind {
		case MalformedTruncated:
			a.malformed = MalformedTruncated
		case MalformedMixed:
			a.malformed = MalformedHTML
			if f.rng.IntN(2) == 1 {
				a.malformed = MalformedTruncated
			}
		default:
			a.malformed = MalformedHTML
		}
	}
	return a
}
