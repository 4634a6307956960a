package erpsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// FaultConfig says which failures the server injects into API requests (never into /_sim/ or
// the page at /). Rates are probabilities per request, 0..1.
type FaultConfig struct {
	// ErrorRate answers this share of requests with ErrorStatus before doing anything.
	ErrorRate float64 `json:"errorRate"`
	// ErrorStatus is the status of injected errors (default 503; 500..599).
	ErrorStatus int `json:"errorStatus,omitempty"`
	// LatencyMillis delays every request by this many milliseconds.
	LatencyMillis int `json:"latencyMillis"`
	// RateLimitBurst answers the next this-many requests with 429 (counts down).
	RateLimitBurst int `json:"rateLimitBurst"`
	// RetryAfterSeconds is the Retry-After of injected 429s (default 1).
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// DropRate closes the connection of this share of requests without an answer, before
	// doing anything.
	DropRate float64 `json:"dropRate"`
	// DropAfterWriteRate closes the connection without an answer after a successful write
	// was committed: the client cannot know it worked.
	DropAfterWriteRate float64 `json:"dropAfterWriteRate"`
	// DropNextWrites loses the answers of the next this-many committed writes (counts down),
	// like DropAfterWriteRate but exactly.
	DropNextWrites int `json:"dropNextWrites"`
	// MalformedRate replaces this share of successful answers with a truncated JSON body or an
	// HTML page (status 200). Writes are committed first.
	MalformedRate float64 `json:"malformedRate"`
}

func (c FaultConfig) validate() error {
	var errs []error
	for name, r := range map[string]float64{"errorRate": c.ErrorRate, "dropRate": c.DropRate,
		"dropAfterWriteRate": c.DropAfterWriteRate, "malformedRate": c.MalformedRate} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s %v is not within 0..1", name, r))
		}
	}
	if c.ErrorStatus != 0 && (c.ErrorStatus < 500 || c.ErrorStatus > 599) {
		errs = append(errs, fmt.Errorf("errorStatus %d is not a 5xx status", c.ErrorStatus))
	}
	if c.LatencyMillis < 0 || c.RateLimitBurst < 0 || c.RetryAfterSeconds < 0 || c.DropNextWrites < 0 {
		errs = append(errs, errors.New("latencyMillis, rateLimitBurst, retryAfterSeconds and dropNextWrites must not be negative"))
	}
	return errors.Join(errs...)
}

// Faults holds the fault configuration of a running server; safe for concurrent use.
type Faults struct {
	mu  sync.Mutex
	cfg FaultConfig
	rng *rand.Rand
}

func newFaults(seed int64, cfg FaultConfig) (*Faults, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("erpsim: faults: %w", err)
	}
	return &Faults{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}, nil
}

// Set replaces the fault configuration.
func (f *Faults) Set(cfg FaultConfig) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("erpsim: faults: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	return nil
}

// Config returns the current fault configuration (RateLimitBurst as it has counted down).
func (f *Faults) Config() FaultConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg
}

// Clear turns every fault off.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = FaultConfig{}
}

// RateLimit answers the next n API requests with 429 and Retry-After: retryAfter (rounded up
// to whole seconds).
func (f *Faults) RateLimit(n int, retryAfter time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg.RateLimitBurst = n
	f.cfg.RetryAfterSeconds = int((retryAfter + time.Second - 1) / time.Second)
}

// DropNextWrites loses the answers of the next n committed API writes: the write is done,
// but the client's connection is closed before it hears so.
func (f *Faults) DropNextWrites(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg.DropNextWrites = n
}

// takeDropWrite reports whether the answer of a write that just committed is to be lost
// through DropNextWrites, and counts it.
func (f *Faults) takeDropWrite() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cfg.DropNextWrites > 0 {
		f.cfg.DropNextWrites--
		return true
	}
	return false
}

// faultPlan is what to do to one request.
type faultPlan struct {
	latency        time.Duration
	drop           bool
	rateLimit      int // Retry-After seconds; 0 = none
	errorStatus    int
	dropAfterWrite bool
	malformed      int // 0 none, 1 truncated JSON, 2 HTML
}

// plan draws the faults of one request.
func (f *Faults) plan() faultPlan {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &f.cfg
	p := faultPlan{latency: time.Duration(c.LatencyMillis) * time.Millisecond}
	hit := func(rate float64) bool { return rate > 0 && f.rng.Float64() < rate }
	switch {
	case hit(c.DropRate):
		p.drop = true
	case c.RateLimitBurst > 0:
		c.RateLimitBurst--
		p.rateLimit = max(c.RetryAfterSeconds, 1)
	case hit(c.ErrorRate):
		p.errorStatus = c.ErrorStatus
		if p.errorStatus == 0 {
			p.errorStatus = 503
		}
	default:
		p.dropAfterWrite = hit(c.DropAfterWriteRate)
		if hit(c.MalformedRate) {
			p.malformed = 1 + f.rng.IntN(2)
		}
	}
	return p
}
