package erpsim

import (
	"strconv"
	"sync"
)

// Stats counts the API requests a server answered (not /_sim/ and not the page at /).
type Stats struct {
	// Requests counts answers per route ("GET /customers/{id}") and status ("200"; "dropped"
	// for a connection closed without an answer).
	Requests map[string]map[string]int64 `json:"requests"`
	// Writes counts committed API writes per resource (creates, changing replaces, deletes;
	// idempotent replays and no-op replaces are not writes).
	Writes map[string]int64 `json:"writes"`
	// Total is the number of API requests.
	Total int64 `json:"total"`
	// RateLimited is the number of 429 answers.
	RateLimited int64 `json:"rateLimited"`
	// FaultsInjected is the number of requests a fault was injected into.
	FaultsInjected int64 `json:"faultsInjected"`
}

// Count returns how many answers route got with status (e.g. "POST /customers", 201).
func (s Stats) Count(route string, status int) int64 {
	return s.Requests[route][strconv.Itoa(status)]
}

// statsCollector is the live, locked version of Stats.
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
	c.s = Stats{Requests: map[string]map[string]int64{}, Writes: map[string]int64{}}
}

func (c *statsCollector) request(route, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.s.Requests[route]
	if m == nil {
		m = map[string]int64{}
		c.s.Requests[route] = m
	}
	m[status]++
	c.s.Total++
	if status == "429" {
		c.s.RateLimited++
	}
}

func (c *statsCollector) write(resource string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.Writes[resource]++
}

func (c *statsCollector) fault() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.FaultsInjected++
}

func (c *statsCollector) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Stats{Requests: map[string]map[string]int64{}, Writes: map[string]int64{}, Total: c.s.Total,
		RateLimited: c.s.RateLimited, FaultsInjected: c.s.FaultsInjected}
	for k, m := range c.s.Requests {
		cp := make(map[string]int64, len(m))
		for s, n := range m {
			cp[s] = n
		}
		out.Requests[k] = cp
	}
	for k, n := range c.s.Writes {
		out.Writes[k] = n
	}
	return out
}
