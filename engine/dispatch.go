package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// Tally counts what a batch of dispatches did.
type Tally struct {
	mu          sync.Mutex
	Dispatched  int
	Failed      int
	FailedLinks []string // up to ten links whose change ended in error or blocked
	Actions     map[string]int
}

func (t *Tally) add(linkID string, out domain.Outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Dispatched++
	if t.Actions == nil {
		t.Actions = map[string]int{}
	}
	t.Actions[out.Action]++
	if out.State == domain.StateError || out.State == domain.StateBlocked {
		t.Failed++
		if len(t.FailedLinks) < 10 {
			t.FailedLinks = append(t.FailedLinks, linkID)
		}
	}
}

// Dispatch delivers every change to its link, at most the engine's
// concurrency at once, reporting progress as it goes. It fails when any
// delivery fails (Temporal unreachable, the context cancelled), so that a
// caller's watermark does not pass a change that was not delivered; a change
// that ended in a link state of error or blocked was delivered and is counted
// as failed.
//
// It routes every change first (to its link, or skipped as already seen), and
// only then does the first contacts of the records that have no link yet,
// with what they share (the merge index, the prefetched candidates) read once
// for all of them: a batch of records that are linked already costs no
// look-up at all.
func (e *Engine) Dispatch(ctx context.Context, pairing string, changes []domain.Change) (*Tally, error) {
	t := &Tally{}
	p, err := e.pairing(pairing)
	if err != nil {
		return t, err
	}
	unlinked := make([]bool, len(changes))
	err = e.each(ctx, changes, func(i int, ch domain.Change) error {
		out, first, err := e.route(ctx, p, ch)
		if err != nil {
			return err
		}
		if first {
			unlinked[i] = true
			return nil
		}
		t.add(domain.LinkWorkflowID(pairing, ch.Side, ch.ID), out)
		return nil
	})
	if err != nil {
		return t, err
	}
	var fresh []domain.Change
	for i, ch := range changes {
		if unlinked[i] {
			fresh = append(fresh, ch)
		}
	}
	if len(fresh) == 0 {
		return t, nil
	}
	sides := e.sides(p)
	b, err := e.prefetch(ctx, p, sides, fresh)
	if err != nil {
		return t, fmt.Errorf("%s: %w", pairing, err)
	}
	var mu sync.Mutex
	var pending []*run
	err = e.each(ctx, fresh, func(_ int, ch domain.Change) error {
		out, deferred, err := e.firstContact(ctx, pairing, ch, b)
		switch {
		case err != nil:
			return err
		case deferred != nil:
			mu.Lock()
			pending = append(pending, deferred)
			mu.Unlock()
		default:
			t.add(domain.LinkWorkflowID(pairing, ch.Side, ch.ID), out)
		}
		return nil
	})
	if err != nil {
		return t, err
	}
	if len(pending) > 0 {
		if err := e.createBatches(ctx, pairing, pending, t); err != nil {
			return t, err
		}
	}
	return t, nil
}

// each calls fn for every change, at most the engine's concurrency at once,
// reporting progress as it goes, and returns the first error in change order.
func (e *Engine) each(ctx context.Context, changes []domain.Change, fn func(i int, ch domain.Change) error) error {
	sem := make(chan struct{}, e.concurrency)
	var wg sync.WaitGroup
	errs := make([]error, len(changes))
	for i, ch := range changes {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if errs[i] = fn(i, ch); errs[i] == nil {
				e.beat(ctx, i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// route delivers a change whose record has a link (or an index entry, or
// carries the ID of the link that created it) to that link, or skips it when
// the link has already synced its version. first is true for a record no link
// holds yet: it needs its first contact.
func (e *Engine) route(ctx context.Context, p *mappings.Pairing, ch domain.Change) (out domain.Outcome, first bool, err error) {
	if ch.Deleted {
		// A deleted record cannot be read: its link is found by the record's
		// id, or by the token of its last state, when the change carries
		// it; the change is dropped when there is none.
		var last map[string]any
		_ = json.Unmarshal(ch.Record, &last)
		home, err := e.homeOf(ctx, p.Name, ch.Side, ch.ID, last)
		if err != nil || home == "" {
			return domain.Outcome{Action: domain.ActionSkipped}, false, err
		}
		out, err := e.links.ApplyTo(ctx, p.Name, home, ch)
		return out, false, err
	}
	// A record tandem created carries its link's ID as a token, and every
	// poll after a create reads it back (its own echo): when that link holds
	// this very record and has synced this version, one look skips it. It
	// comes first because a record created in webCRM has an index entry too,
	// through which a delivery would wake the link at rest.
	home, hinfo, err := e.tokenHome(ctx, p, ch)
	if err != nil {
		return domain.Outcome{}, false, err
	}
	if home != "" && hinfo.Kind == HomeLink && hinfo.idOf(ch.Side) == ch.ID && hinfo.Seen.Seen(ch) {
		return domain.Outcome{Action: domain.ActionSeen, State: domain.StateOK}, false, nil
	}
	info, err := e.links.Inspect(ctx, domain.LinkWorkflowID(p.Name, ch.Side, ch.ID))
	if err != nil {
		return domain.Outcome{}, false, err
	}
	if info.Kind == HomeLink && info.Seen.Seen(ch) {
		return domain.Outcome{Action: domain.ActionSeen, State: domain.StateOK}, false, nil
	}
	if info.Kind != NoLink {
		out, err := e.links.Apply(ctx, p.Name, ch)
		return out, false, err
	}
	// Without a link of its own, a record tandem created goes to the link
	// whose ID it carries (or is skipped, when that link has seen this
	// version), without an index entry of its own.
	if home == "" {
		return domain.Outcome{}, true, nil
	}
	if hinfo.Seen.Seen(ch) {
		return domain.Outcome{Action: domain.ActionSeen, State: domain.StateOK}, false, nil
	}
	out, err = e.links.ApplyTo(ctx, p.Name, home, ch)
	return out, false, err
}

// tokenHome returns the link whose ID the delivered record carries as its
// token, when that link runs and holds the record.
func (e *Engine) tokenHome(ctx context.Context, p *mappings.Pairing, ch domain.Change) (string, LinkInfo, error) {
	if len(ch.Record) == 0 {
		return "", LinkInfo{}, nil
	}
	var fields map[string]any
	if err := json.Unmarshal(ch.Record, &fields); err != nil {
		return "", LinkInfo{}, nil // the link reports a record it cannot read
	}
	tok := e.sides(p).Store[ch.Side].Token(fields)
	if tok == "" || tok == domain.LinkWorkflowID(p.Name, ch.Side, ch.ID) {
		return "", LinkInfo{}, nil
	}
	if tp, ts, _, err := domain.ParseLinkWorkflowID(tok); err != nil || tp != p.Name || ts == ch.Side {
		return "", LinkInfo{}, nil
	}
	info, err := e.links.Inspect(ctx, tok)
	if err != nil {
		return "", info, err
	}
	// The link that created the record owns it, also while it does not run
	// yet (see tokenOwner): the change goes there, and starts it.
	if info.Kind == NoLink || info.Holds(ch.Side, ch.ID) {
		return tok, info, nil
	}
	return "", info, nil
}

// firstContact does the first contact (match or create the counterpart) of a
// record that has no link yet right here, and starts its link with the
// resulting state: one workflow start instead of a start, an update and a
// round trip through the link, which is what bounds a backfill. A first
// contact that failed goes to the link as a change, so that the link records
// the error and retries it. One that would create a record on a side that
// takes batches is returned unfinished, for createBatches.
func (e *Engine) firstContact(ctx context.Context, pairing string, ch domain.Change, b *batch) (domain.Outcome, *run, error) {
	linkID := domain.LinkWorkflowID(pairing, ch.Side, ch.ID)
	in := domain.ApplyInput{Pairing: pairing, LinkID: linkID, State: domain.LinkState{State: domain.StatePending}, Change: ch}
	r, err := e.newRun(in, b)
	if err != nil {
		return domain.Outcome{}, nil, err
	}
	r.deferCreates = true
	res, err := r.run(ctx)
	if err == nil && r.pending != nil {
		return domain.Outcome{}, r, nil
	}
	res, err = e.finish(in, res, err)
	out, err := e.startWith(ctx, pairing, ch, res, err)
	return out, nil, err
}

// startWith starts the link of a first contact with its result, or hands the
// change to the link when the first contact failed, was forwarded, or a link
// appeared meanwhile.
func (e *Engine) startWith(ctx context.Context, pairing string, ch domain.Change, res domain.ApplyResult, applyErr error) (domain.Outcome, error) {
	if applyErr == nil && res.Outcome.Forward != "" && res.Outcome.Action != domain.ActionForwarded {
		// The pair moved to the link of its other record, which holds it now,
		// and this record is its index entry (see run.moveHome).
		out := res.Outcome
		out.State, out.Reason, out.CrmID, out.ErpID = res.State.State, res.State.Reason, res.State.CrmID, res.State.ErpID
		return out, nil
	}
	if applyErr == nil && res.Outcome.Forward != "" {
		// The record belongs to the link whose ID it carries: give it its
		// index entry now, so later changes find the link at once.
		err := e.links.RegisterAlias(ctx, pairing, ch.Side, ch.ID, res.Outcome.Forward)
		var claimed *ClaimedError
		if err != nil && !errors.As(err, &claimed) {
			return domain.Outcome{}, err
		}
		return e.links.Apply(ctx, pairing, ch)
	}
	if applyErr != nil {
		return e.links.Apply(ctx, pairing, ch)
	}
	started, err := e.links.Start(ctx, pairing, ch.Side, ch.ID, res.State, ch, res.Outcome.Action)
	if err != nil {
		return domain.Outcome{}, err
	}
	if !started {
		return e.links.Apply(ctx, pairing, ch)
	}
	out := res.Outcome
	out.State, out.Reason, out.CrmID, out.ErpID = res.State.State, res.State.Reason, res.State.CrmID, res.State.ErpID
	return out, nil
}

// createBatches writes deferred creates in batches (BatchStore.CreateBatch):
// one request for up to MaxBatch records, plus a look-up of their tokens
// before and after. Each body carries its link's correlation token, so neither
// a batch whose answer was lost nor a link that created the record meanwhile
// leads to a second record, and a record counts as created only when it is
// found by its token. The look-up before is left to the normalised merge
// index when it has one: brought up to date after the dispatch began (a
// refresh the dispatch's match look-ups share), it holds every record an
// earlier attempt created, and a batch none of whose tokens it holds is
// written at once. A record the batch did not create goes to its link one by
// one, which records the reason.
func (e *Engine) createBatches(ctx context.Context, pairing string, runs []*run, t *Tally) error {
	bySide := map[domain.Side][]*run{}
	for _, r := range runs {
		bySide[r.pending.side] = append(bySide[r.pending.side], r)
	}
	for _, side := range domain.Sides() {
		runs := bySide[side]
		if len(runs) == 0 {
			continue
		}
		bs := runs[0].store(side).(BatchStore)
		size := max(bs.MaxBatch(), 1)
		asked := runs[0].batch.askedAt(e.now)
		for start := 0; start < len(runs); start += size {
			chunk := runs[start:min(start+size, len(runs))]
			bodies := make(map[string]map[string]any, len(chunk))
			tokens := make([]string, 0, len(chunk))
			for _, r := range chunk {
				bodies[r.in.LinkID] = r.pending.body
				tokens = append(tokens, r.in.LinkID)
			}
			unseen := e.tokensUnseen(ctx, runs[0].p, runs[0].sides, side, tokens, asked)
			created, rejected, err := bs.CreateBatch(ctx, bodies, unseen)
			if err != nil {
				return fmt.Errorf("%s: create %d %s in one batch: %w", pairing, len(bodies), bs.Label(), err)
			}
			if rejected != "" {
				e.log.WarnContext(ctx, "a batch of creates was refused; each goes to its link", "pairing", pairing, "store", bs.Label(), "records", len(bodies), "error", rejected)
			}
			if err := e.finishBatch(ctx, pairing, side, chunk, created, t); err != nil {
				return err
			}
			e.beat(ctx, start)
		}
	}
	return nil
}

// finishBatch finishes the first contacts of one batch: each created record
// gets its link; one the batch did not create goes to its link, which creates
// it on its own or records why it cannot.
func (e *Engine) finishBatch(ctx context.Context, pairing string, side domain.Side, runs []*run, created map[string]CreatedRecord, t *Tally) error {
	sem := make(chan struct{}, e.concurrency)
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for i, r := range runs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ch := r.in.Change
			var out domain.Outcome
			var err error
			if c, ok := created[r.in.LinkID]; !ok || c.ID == "" {
				out, err = e.links.Apply(ctx, pairing, ch)
			} else {
				rec := c.Record
				rec.ReadBack = true
				cerr := r.created(ctx, side, c.ID, rec, r.pending.c)
				res, aerr := e.finish(r.in, r.res, cerr)
				out, err = e.startWith(ctx, pairing, ch, res, aerr)
			}
			if err != nil {
				errs[i] = err
				return
			}
			t.add(domain.LinkWorkflowID(pairing, ch.Side, ch.ID), out)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
