package webcrmsim

import (
	"maps"
	"regexp"
	"strings"
	"sync"
)

// Stats is a snapshot of what the simulator's API has served. Admin
// requests under /_sim/ and direct-store calls are not counted.
type Stats struct {
	// Requests counts API requests by "METHOD /Entity", "METHOD
	// /Entity/{id}", "METHOD /Entity/Hooks[/{id}]", "METHOD /Queries",
	// "POST /Auth/ApiLogin" ... and by HTTP status; status 0 means the
	// connection was dropped by a fault.
	Requests map[string]map[int]int64 `json:"Requests"`
	// TotalRequests is the sum of Requests.
	TotalRequests int64 `json:"TotalRequests"`
	// RateLimited counts 429 answers (rate limiter and forced faults).
	RateLimited int64 `json:"RateLimited"`
	// PeakPerMinute is the most requests of one token the rate limiter let
	// through in any sliding minute (0 when it is off).
	PeakPerMinute int `json:"PeakPerMinute"`
	// Writes counts records written through the API, per entity.
	Writes map[string]WriteStats `json:"Writes"`
	// Faults counts injected faults by kind: latency, 429, drop, 5xx, html,
	// truncated.
	Faults map[string]int64 `json:"Faults"`
	// Hooks counts hook deliveries.
	Hooks HookStats `json:"Hooks"`

	// LostAnswers counts writes that were committed but answered with a
	// 5xx or a closed connection (FaultConfig.LostAnswerRate).
	LostAnswers int64 `json:"LostAnswers"`
	// URLTooLong counts requests refused for FaultConfig.MaxURLLength.
	URLTooLong int64 `json:"URLTooLong"`
	// PatchShuffled counts bulk PATCH answers given in another order.
	PatchShuffled int64 `json:"PatchShuffled"`
	// PatchShortened counts bulk PATCH answers that left out results.
	PatchShortened int64 `json:"PatchShortened"`
	// PatchItemErrors counts bulk PATCH items refused by
	// FaultConfig.PatchItemErrorRate (not written).
	PatchItemErrors int64 `json:"PatchItemErrors"`
	// SecretsOverwritten counts credential properties (SecretProperties)
	// that an API write set to SecretMask, destroying the real secret.
	SecretsOverwritten int64 `json:"SecretsOverwritten"`
	// ValuesRewritten counts string values FaultConfig.RewriteOnWrite
	// stored differently from how they were sent.
	ValuesRewritten int64 `json:"ValuesRewritten"`
	// Queries counts the /Queries scripts that were run, by shape: the
	// script with its literals replaced by ? and lists of them by (?).
	Queries map[string]int64 `json:"Queries"`
}

// WriteStats counts API writes of one entity.
type WriteStats struct {
	Create int64 `json:"Create"`
	Update int64 `json:"Update"`
	Delete int64 `json:"Delete"`
}

// Total is Create + Update + Delete.
func (w WriteStats) Total() int64 { return w.Create + w.Update + w.Delete }

// HookStats counts hook deliveries: Queued when a write matched a hook,
// Delivered on a 2xx answer, Failed after the last attempt failed, Dropped
// when the queue was full or the server closed.
type HookStats struct {
	Queued    int64 `json:"Queued"`
	Delivered int64 `json:"Delivered"`
	Failed    int64 `json:"Failed"`
	Dropped   int64 `json:"Dropped"`
}

// RequestCount returns the number of requests of a pattern, any status.
func (s Stats) RequestCount(pattern string) int64 {
	var n int64
	for _, c := range s.Requests[pattern] {
		n += c
	}
	return n
}

type statsCollector struct {
	mu sync.Mutex
	s  Stats
}

func newStatsCollector() *statsCollector {
	c := &statsCollector{}
	c.reset()
	return c
}

func (c *statsCollector) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s = Stats{Requests: map[string]map[int]int64{}, Writes: map[string]WriteStats{}, Faults: map[string]int64{}, Queries: map[string]int64{}}
}

// literals are a /Queries script's quoted strings and numbers; lists are
// parenthesised lists of what queryShape made of them.
var (
	literals = regexp.MustCompile(`'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b`)
	lists    = regexp.MustCompile(`\(\s*\?(?:\s*,\s*\?)*\s*\)`)
	orRuns   = regexp.MustCompile(`(?i)(\S+\s*=\s*\?)(?:\s+or\s+\S+\s*=\s*\?)+`)
)

// queryShape is a script with its literals replaced, so that the scripts of
// one kind count together.
func queryShape(script string) string {
	s := literals.ReplaceAllString(strings.Join(strings.Fields(script), " "), "?")
	s = lists.ReplaceAllString(s, "(?)")
	return orRuns.ReplaceAllString(s, "$1 OR …")
}

func (c *statsCollector) query(script string) {
	shape := queryShape(script)
	c.mu.Lock()
	c.s.Queries[shape]++
	c.mu.Unlock()
}

func (c *statsCollector) request(pattern string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.s.Requests[pattern]
	if m == nil {
		m = map[int]int64{}
		c.s.Requests[pattern] = m
	}
	m[status]++
	c.s.TotalRequests++
}

func (c *statsCollector) rateLimited() {
	c.mu.Lock()
	c.s.RateLimited++
	c.mu.Unlock()
}

func (c *statsCollector) fault(kind string) {
	c.mu.Lock()
	c.s.Faults[kind]++
	c.mu.Unlock()
}

func (c *statsCollector) write(entity, kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.s.Writes[entity]
	switch kind {
	case "Create":
		w.Create++
	case "Update":
		w.Update++
	case "Delete":
		w.Delete++
	}
	c.s.Writes[entity] = w
}

// add changes counters under the lock.
func (c *statsCollector) add(fn func(*Stats)) {
	c.mu.Lock()
	fn(&c.s)
	c.mu.Unlock()
}

func (c *statsCollector) hook(fn func(*HookStats)) {
	c.mu.Lock()
	fn(&c.s.Hooks)
	c.mu.Unlock()
}

func (c *statsCollector) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.s
	out.Requests = make(map[string]map[int]int64, len(c.s.Requests))
	for k, m := range c.s.Requests {
		cp := make(map[int]int64, len(m))
		for st, n := range m {
			cp[st] = n
		}
		out.Requests[k] = cp
	}
	out.Writes = make(map[string]WriteStats, len(c.s.Writes))
	for k, v := range c.s.Writes {
		out.Writes[k] = v
	}
	out.Faults = maps.Clone(c.s.Faults)
	out.Queries = maps.Clone(c.s.Queries)
	return out
}
