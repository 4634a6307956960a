package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// resolver translates references through the referenced pairing's links. A
// record that is not linked yet is synced first (Links.Ensure); when that does
// not link it, the reference stays unresolved and the caller blocks with the
// reason remembered here.
type resolver struct {
	links   Links
	mu      sync.Mutex
	reasons map[string]string
	// final holds the links that are settled without a counterpart by design
	// (the pairing does not create on that side): a record that references
	// one is not synced, rather than blocked forever.
	final map[string]bool
}

var _ mappings.Resolver = (*resolver)(nil)

// resolveError is a failure to reach a referenced record's link (Temporal
// unreachable, the worker stopping, a timeout). Unlike a record that cannot be
// mapped, it is worth retrying: see mappingError.
type resolveError struct{ err error }

func (e *resolveError) Error() string { return e.err.Error() }
func (e *resolveError) Unwrap() error { return e.err }

// lookLinked looks for the link that holds a record, without waking it, and
// returns the id of the record's counterpart it knows ("" when none). A link
// that holds both records answers from its search attributes (one look),
// which leaves a link at rest asleep: a backfill of persons would otherwise
// wake every organisation's link. A record tandem created has no link of its
// own, only its creator's token: its creator's link holds it. Found by the
// search attributes, it resolves without waking that link or starting one
// for the record (a look-up that does not find it yet, moments after the
// create, leaves it to the caller).
func lookLinked(ctx context.Context, links Links, pairing string, side domain.Side, id string) (string, LinkInfo, error) {
	info, err := links.Inspect(ctx, domain.LinkWorkflowID(pairing, side, id))
	if err == nil && info.Kind == NoLink {
		var home string
		if home, err = links.FindHome(ctx, pairing, side, id); err == nil && home != "" {
			info, err = links.Inspect(ctx, home)
		}
	}
	if err != nil {
		return "", info, err
	}
	if side == domain.ERP {
		return info.CrmID, info, nil
	}
	return info.ErpID, info, nil
}

// Resolve implements mappings.Resolver.
func (r *resolver) Resolve(ctx context.Context, pairing string, side domain.Side, id string) (string, bool, error) {
	other, info, err := lookLinked(ctx, r.links, pairing, side, id)
	if err != nil {
		return "", false, &resolveError{fmt.Errorf("resolve %s %s record %s: %w", pairing, side, id, err)}
	}
	if info.Kind == HomeLink && other != "" && info.State != "" && info.State != domain.StateDeleted {
		return other, true, nil
	}
	out, err := r.links.Ensure(ctx, pairing, domain.Change{Side: side, ID: id, Source: domain.SourceDependency})
	if err != nil {
		return "", false, &resolveError{fmt.Errorf("resolve %s %s record %s: %w", pairing, side, id, err)}
	}
	other = out.ErpID
	if side == domain.ERP {
		other = out.CrmID
	}
	// A linked record resolves whatever its link's state: a later change of it
	// that failed (a poison value) must not hold back the records that merely
	// refer to it.
	if other != "" && out.State != domain.StateDeleted {
		return other, true, nil
	}
	reason := "its link is " + out.State
	if out.Reason != "" {
		reason += ": " + out.Reason
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reasons == nil {
		r.reasons, r.final = map[string]string{}, map[string]bool{}
	}
	linkID := domain.LinkWorkflowID(pairing, side, id)
	r.reasons[linkID] = reason
	r.final[linkID] = out.State == domain.StateOK && other == ""
	return "", false, nil
}

// settled reports whether the link with the given ID is settled without a
// counterpart, so waiting for it is pointless.
func (r *resolver) settled(linkID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.final[linkID]
}

// reasonFor returns why the link with the given ID did not resolve.
func (r *resolver) reasonFor(linkID string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reasons[linkID]
}
