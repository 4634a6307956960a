// Package engine holds the decisions that keep a webCRM record and its ERP
// counterpart in step: where a change goes (route), what a record's first
// contact does (match one counterpart, or create it, in batches where the side
// allows), how two records merge and what is written, how references are
// resolved or block a link, what a delete does, and which failures are retried
// by whom. It talks to the two systems through a Store per side (and the
// feeds and listers of polls, backfills and reconciliation), to the link
// workflows through Links, and knows nothing of Temporal: the activities wire
// clients into it.
package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/tandemsync/tandem/mappings"
)

// DefaultConcurrency is the number of changes one call dispatches at once
// unless Options says otherwise.
const DefaultConcurrency = 16

// Options configure an Engine.
type Options struct {
	// Pairings are the mappings of every pairing.
	Pairings *mappings.Set
	// Sides returns the stores, feeds and listers of a pairing's two sides.
	Sides func(p *mappings.Pairing) Sides
	// Links reaches the link workflows.
	Links Links
	// Classify tells the class of the clients' errors.
	Classify Classifier
	// Logger receives the engine's logs (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives what the engine counts (default: nothing).
	Metrics Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Concurrency is the number of changes one call dispatches at once
	// (default DefaultConcurrency).
	Concurrency int
	// Heartbeat, when set, is called as long work makes progress (the
	// activities report it to Temporal).
	Heartbeat func(ctx context.Context, details ...any)
}

// Engine applies changes to links and dispatches batches of them. It is safe
// for concurrent use; build one per process, since it keeps the normalised
// merge indexes.
type Engine struct {
	set         *mappings.Set
	sides       func(p *mappings.Pairing) Sides
	links       Links
	classify    Classifier
	log         *slog.Logger
	metrics     Metrics
	now         func() time.Time
	concurrency int
	heartbeat   func(ctx context.Context, details ...any)
	indexes     *normIndexes
}

// New builds an Engine.
func New(o Options) *Engine {
	e := &Engine{set: o.Pairings, sides: o.Sides, links: o.Links, classify: o.Classify, log: o.Logger,
		metrics: o.Metrics, now: o.Now, concurrency: o.Concurrency, heartbeat: o.Heartbeat, indexes: &normIndexes{}}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.metrics == nil {
		e.metrics = noMetrics{}
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.concurrency <= 0 {
		e.concurrency = DefaultConcurrency
	}
	return e
}

// WithConcurrency returns a copy of e that dispatches n changes at once (the
// merge indexes stay shared).
func (e *Engine) WithConcurrency(n int) *Engine {
	c := *e
	if n > 0 {
		c.concurrency = n
	}
	return &c
}

// pairing returns the mapping of a pairing, or a Validation error.
func (e *Engine) pairing(name string) (*mappings.Pairing, error) {
	p, ok := e.set.Pairing(name)
	if !ok {
		return nil, permanentf("unknown pairing %q (known: %v)", name, e.set.Names())
	}
	return p, nil
}

// beat reports progress, when the engine was given a Heartbeat.
func (e *Engine) beat(ctx context.Context, details ...any) {
	if e.heartbeat != nil {
		e.heartbeat(ctx, details...)
	}
}
