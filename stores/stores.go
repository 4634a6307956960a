// Package stores wires the webCRM and CustomERP clients into the sync engine:
// per pairing, a store, a change feed, a lister and a merge-value feed of each
// side (engine.Sides), and the classification of the clients' errors
// (Classify).
package stores

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
)

// Clients are the two systems' clients, shared by every pairing.
type Clients struct {
	WebCRM *webcrm.Client
	ERP    *customerp.Client
	Logger *slog.Logger
}

// Sides returns the two sides of pairing p. The webCRM store creates records
// in batches when the pairing has a correlation field (which finds a batch's
// records again); without one, each is created on its own.
func (c Clients) Sides(p *mappings.Pairing) engine.Sides {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	w := WebCRM{c: c.WebCRM, entity: webcrm.Entity(p.WebCRMEntity), correlation: p.CorrelationField, log: log}
	e := ERP{c: c.ERP, resource: customerp.Resource(p.ERPResource), p: p}
	var ws engine.Store = w
	if p.CorrelationField != "" {
		ws = BatchWebCRM{w}
	}
	return engine.Sides{
		Store:  map[domain.Side]engine.Store{domain.WebCRM: ws, domain.ERP: e},
		Index:  map[domain.Side]engine.IndexFeed{domain.WebCRM: w, domain.ERP: e},
		List:   map[domain.Side]engine.Lister{domain.WebCRM: w, domain.ERP: e},
		WebCRM: w,
		ERP:    e,
	}
}

// decode reads a record a change delivered, numbers as json.Number, as the
// clients read them.
func decode(raw json.RawMessage, label string) (map[string]any, error) {
	var rec map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("decode delivered %s record: %w (%w)", label, err, errInvalid)
	}
	return rec, nil
}

// errInvalid marks a record or argument the stores cannot use: a Validation
// error.
var errInvalid = errors.New("invalid record")

// Classify tells the engine the class of the clients' errors: a 429 is
// RateLimited (with the server's delay), a 5xx or a network failure
// Unavailable, an ERP write against a changed record Stale, a refused request
// Validation, a missing one NotFound; a broken answer and anything else is
// Transient.
func Classify(err error) engine.Classification {
	var wrl *webcrm.RateLimitError
	if errors.As(err, &wrl) {
		return engine.Classification{Class: engine.RateLimited, RetryAfter: wrl.RetryAfter}
	}
	var erl *customerp.RateLimitError
	if errors.As(err, &erl) {
		return engine.Classification{Class: engine.RateLimited, RetryAfter: erl.RetryAfter}
	}
	switch {
	case errors.Is(err, errInvalid):
		return engine.Classification{Class: engine.Validation}
	case customerp.IsStale(err):
		return engine.Classification{Class: engine.Stale}
	case webcrm.IsValidation(err), customerp.IsValidation(err):
		return engine.Classification{Class: engine.Validation}
	case webcrm.IsNotFound(err), customerp.IsNotFound(err):
		return engine.Classification{Class: engine.NotFound}
	case webcrm.IsServer(err), webcrm.IsNetwork(err), customerp.IsServer(err), customerp.IsNetwork(err):
		return engine.Classification{Class: engine.Unavailable}
	}
	var ce *webcrm.CorrelationError
	if errors.As(err, &ce) && len(ce.IDs) > 0 {
		// Several records carry one link's token: someone must merge them.
		return engine.Classification{Class: engine.Validation}
	}
	return engine.Classification{Class: engine.Transient}
}
