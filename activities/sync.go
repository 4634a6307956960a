package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// tally counts what a batch of dispatches did.
type tally struct {
	mu          sync.Mutex
	dispatched  int
	failed      int
	failedLinks []string
	actions     map[string]int
}

func (t *tally) add(linkID string, out domain.Outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dispatched++
	if t.actions == nil {
		t.actions = map[string]int{}
	}
	t.actions[out.Action]++
	if out.State == domain.StateError || out.State == domain.StateBlocked {
		t.failed++
		if len(t.failedLinks) < 10 {
			t.failedLinks = append(t.failedLinks, linkID)
		}
	}
}

// dispatchAll delivers every change to its link, at most a.concurrency() at
// once, heartbeating as it goes. It fails when any delivery fails (Temporal
// unreachable, the activity cancelled), so the caller's watermark does not
// pass a change that was not delivered; a change that ended in a link state
// of error or blocked was delivered and is counted as failed.
//
// It routes every change first (to its link, or skipped as already seen),
// and only then does the first contacts of the records that have no link
// yet, with what they share (the merge index, the prefetched candidates)
// read once for all of them: a batch of records that are linked already
// costs no look-up at all.
func (a *Activities) dispatchAll(ctx context.Context, pairing string, changes []domain.Change) (*tally, error) {
	t := &tally{}
	p, err := a.pairing(pairing)
	if err != nil {
		return t, err
	}
	unlinked := make([]bool, len(changes))
	err = a.each(ctx, changes, func(i int, ch domain.Change) error {
		out, first, err := a.route(ctx, pairing, ch)
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
	cache, err := a.prefetch(ctx, p, fresh)
	if err != nil {
		return t, classify(fmt.Errorf("%s: %w", pairing, err))
	}
	var mu sync.Mutex
	var pending []*applyRun
	err = a.each(ctx, fresh, func(_ int, ch domain.Change) error {
		out, deferred, err := a.firstContact(ctx, pairing, ch, cache)
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
		if err := a.bulkCreate(ctx, pairing, pending, t); err != nil {
			return t, err
		}
	}
	return t, nil
}

// each calls fn for every change, at most a.concurrency() at once,
// heartbeating as it goes, and returns the first error in change order.
func (a *Activities) each(ctx context.Context, changes []domain.Change, fn func(i int, ch domain.Change) error) error {
	sem := make(chan struct{}, a.concurrency())
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
			if errs[i] = fn(i, ch); errs[i] == nil && activity.IsActivity(ctx) {
				activity.RecordHeartbeat(ctx, i)
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
// carries the ID of the link that created it) to that link, or skips it
// when the link has already synced its version. first is true for a record
// no link holds yet: it needs its first contact.
func (a *Activities) route(ctx context.Context, pairing string, ch domain.Change) (out domain.Outcome, first bool, err error) {
	if ch.Deleted {
		// A deleted record can no longer say which link holds it: find the
		// link by the record's id, and drop the change when there is none.
		home, err := links.FindHome(ctx, a.Temporal, pairing, ch.Side, ch.ID)
		if err != nil || home == "" {
			return domain.Outcome{Action: domain.ActionSkipped}, false, err
		}
		out, err := a.dispatcher.ApplyTo(ctx, pairing, home, ch)
		return out, false, err
	}
	kind, seen, err := links.DescribeMemo(ctx, a.Temporal, domain.LinkWorkflowID(pairing, ch.Side, ch.ID))
	if err != nil {
		return domain.Outcome{}, false, err
	}
	if kind == links.KindLink && seen.Seen(ch) {
		return domain.Outcome{Action: domain.ActionSeen, State: domain.StateOK}, false, nil
	}
	if kind != links.KindNone {
		out, err := a.dispatcher.Apply(ctx, pairing, ch)
		return out, false, err
	}
	// A record tandem created carries its link's ID: send the change there
	// (or skip it, when the link has seen this version) without an index
	// entry of its own.
	home, info, err := a.tokenHome(ctx, pairing, ch)
	if err != nil {
		return domain.Outcome{}, false, err
	}
	if home == "" {
		return domain.Outcome{}, true, nil
	}
	if info.Seen.Seen(ch) {
		return domain.Outcome{Action: domain.ActionSeen, State: domain.StateOK}, false, nil
	}
	out, err = a.dispatcher.ApplyTo(ctx, pairing, home, ch)
	return out, false, err
}

// firstContact does the first contact (match or create the counterpart) of
// a record that has no link yet right here, and starts its link with the
// resulting state: one workflow start instead of a start, an update and a
// round trip through the link, which is what bounds a backfill. A first
// contact that failed goes to the link as an update, so that the link
// records the error and retries it. One that would create a webCRM record
// is returned unfinished, for bulkCreate; cache holds what the batch's
// first contacts share (or is nil).
func (a *Activities) firstContact(ctx context.Context, pairing string, ch domain.Change, cache *lookups) (domain.Outcome, *applyRun, error) {
	linkID := domain.LinkWorkflowID(pairing, ch.Side, ch.ID)
	in := domain.ApplyInput{Pairing: pairing, LinkID: linkID, State: domain.LinkState{State: domain.StatePending}, Change: ch}
	r, err := a.newApplyRun(in, cache)
	if err != nil {
		return domain.Outcome{}, nil, err
	}
	// Bulk creates need the correlation token to find a record again after
	// a lost answer; entities without one are created one by one.
	r.deferWebCRMCreate = r.p.CorrelationField != ""
	res, err := r.run(ctx)
	if err == nil && r.pending != nil {
		return domain.Outcome{}, r, nil
	}
	res, err = a.finishApply(in, res, err)
	out, err := a.startWith(ctx, pairing, ch, res, err)
	return out, nil, err
}

// tokenHome returns the link whose ID the delivered record carries as its
// token, when that link runs and holds the record.
func (a *Activities) tokenHome(ctx context.Context, pairing string, ch domain.Change) (string, links.Info, error) {
	if len(ch.Record) == 0 {
		return "", links.Info{}, nil
	}
	p, err := a.pairing(pairing)
	if err != nil {
		return "", links.Info{}, err
	}
	ws, es := a.stores(p, nil)
	var st store = es
	if ch.Side == domain.WebCRM {
		st = ws
	}
	var fields map[string]any
	if err := json.Unmarshal(ch.Record, &fields); err != nil {
		return "", links.Info{}, nil // the apply step reports a record it cannot read
	}
	tok := st.token(fields)
	if tok == "" || tok == domain.LinkWorkflowID(pairing, ch.Side, ch.ID) {
		return "", links.Info{}, nil
	}
	if tp, _, _, err := domain.ParseLinkWorkflowID(tok); err != nil || tp != pairing {
		return "", links.Info{}, nil
	}
	info, err := links.Inspect(ctx, a.Temporal, tok)
	if err != nil || !info.Holds(ch.Side, ch.ID) {
		return "", info, err
	}
	return tok, info, nil
}

// startWith starts the link of a first contact with its result, or hands
// the change to the link as an update when the first contact failed, was
// forwarded, or a link appeared meanwhile.
func (a *Activities) startWith(ctx context.Context, pairing string, ch domain.Change, res domain.ApplyResult, applyErr error) (domain.Outcome, error) {
	if applyErr == nil && res.Outcome.Forward != "" {
		// The record belongs to the link whose ID it carries: give it its
		// index entry now, so later changes find the link at once.
		err := links.RegisterAlias(ctx, a.Temporal, a.TaskQueue, pairing, ch.Side, ch.ID, res.Outcome.Forward)
		var claimed *links.ClaimedError
		if err != nil && !errors.As(err, &claimed) {
			return domain.Outcome{}, err
		}
		return a.dispatcher.Apply(ctx, pairing, ch)
	}
	if applyErr != nil {
		return a.dispatcher.Apply(ctx, pairing, ch)
	}
	started, err := links.StartLink(ctx, a.Temporal, a.TaskQueue, pairing, ch.Side, ch.ID, res.State, ch, res.Outcome.Action)
	if err != nil {
		return domain.Outcome{}, err
	}
	if !started {
		return a.dispatcher.Apply(ctx, pairing, ch)
	}
	out := res.Outcome
	out.State, out.Reason, out.CrmID, out.ErpID = res.State.State, res.State.Reason, res.State.CrmID, res.State.ErpID
	return out, nil
}

// bulkCreate writes deferred webCRM creates in PATCH batches
// (webcrm.CreateBatch): one request of the token's budget for up to
// webcrm.MaxBatch records, plus a look-up of their tokens before and after.
// Each body carries its link's correlation token, so neither a batch whose
// answer was lost nor a link that created the record meanwhile leads to a
// second record, and a record counts as created only when it is found by its
// token. A record the batch did not create goes to its link one by one,
// which records the reason.
func (a *Activities) bulkCreate(ctx context.Context, pairing string, runs []*applyRun, t *tally) error {
	p := runs[0].p
	entity := webcrm.Entity(p.WebCRMEntity)
	for start := 0; start < len(runs); start += webcrm.MaxBatch {
		chunk := runs[start:min(start+webcrm.MaxBatch, len(runs))]
		bodies := make(map[string]webcrm.Record, len(chunk))
		for _, r := range chunk {
			bodies[r.in.LinkID] = webcrm.Record(r.pending.body)
		}
		res, err := a.WebCRM.CreateBatch(ctx, entity, bodies)
		if err != nil {
			return classify(fmt.Errorf("%s: create %d webCRM %s in one batch: %w", pairing, len(bodies), entity, err))
		}
		if res.Rejected != "" {
			a.Logger.WarnContext(ctx, "webCRM refused a batch of creates; each goes to its link", "pairing", pairing, "entity", string(entity), "records", len(bodies), "error", res.Rejected)
		}
		if err := a.finishBulk(ctx, pairing, chunk, res, t); err != nil {
			return err
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, start)
		}
	}
	return nil
}

// finishBulk finishes the first contacts of one batch: each created record
// gets its link; one the batch did not create goes to its link, which
// creates it on its own or records why it cannot.
func (a *Activities) finishBulk(ctx context.Context, pairing string, runs []*applyRun, res webcrm.BatchResult, t *tally) error {
	entity := webcrm.Entity(runs[0].p.WebCRMEntity)
	sem := make(chan struct{}, a.concurrency())
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
			stored, ok := res.Created[r.in.LinkID]
			id, idErr := stored.ID(entity)
			if !ok || idErr != nil {
				out, err = a.dispatcher.Apply(ctx, pairing, ch)
			} else {
				rec, cerr := r.store[domain.WebCRM].(webcrmStore).toRecord(stored)
				rec.readBack = true
				if cerr == nil {
					cerr = r.created(ctx, domain.WebCRM, strconv.Itoa(id), rec, r.pending.c)
				}
				res, aerr := a.finishApply(r.in, r.res, cerr)
				out, err = a.startWith(ctx, pairing, ch, res, aerr)
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

// SyncWebCRM reads the pairing's webCRM records changed since the watermark
// (minus the overlap window), skips those already dispatched inside the
// window, dispatches the rest and returns the new watermark.
func (a *Activities) SyncWebCRM(ctx context.Context, in domain.SyncInput) (domain.SyncResult, error) {
	defer keepAlive(ctx)()
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return domain.SyncResult{}, err
	}
	entity := webcrm.Entity(p.WebCRMEntity)
	limit := in.Limit
	if limit <= 0 {
		limit = domain.DefaultBatchSize
	}
	var recs []webcrm.Record
	if in.ReadWindow && in.Overlap > 0 && !in.Since.IsZero() {
		// Records committed late with an UpdatedAt just before the
		// watermark: read the window once, apart from the new records, so
		// that it never eats into the batch limit.
		if recs, err = a.window(ctx, entity, in.Since.Add(-in.Overlap), in.Since); err != nil {
			return domain.SyncResult{}, classify(fmt.Errorf("%s: read webCRM %s overlap window: %w", in.Pairing, entity, err))
		}
	}
	fresh, next, err := a.WebCRM.ChangedSince(ctx, entity, in.Since, limit)
	if err != nil {
		return domain.SyncResult{}, classify(fmt.Errorf("%s: read webCRM %s changed since %s: %w", in.Pairing, entity, in.Since.Format(time.RFC3339), err))
	}
	recs = append(recs, fresh...)
	recent := map[string]time.Time{}
	for _, key := range in.Recent {
		if at, ok := parseRecentKey(key); ok {
			recent[key] = at
		}
	}
	res := domain.SyncResult{Seen: len(recs), More: len(fresh) >= limit}
	var changes []domain.Change
	for _, rec := range recs {
		ch, err := webcrmChange(entity, rec, domain.SourcePoll)
		if err != nil {
			// A row tandem cannot read does not stop the others: its link
			// reads the record itself and records why it cannot sync.
			id, idErr := rec.ID(entity)
			if idErr != nil || id <= 0 {
				a.Logger.Warn("webCRM row without a usable id passed over", "pairing", in.Pairing, "entity", string(entity), "error", err)
				res.Skipped++
				continue
			}
			changes = append(changes, domain.Change{Side: domain.WebCRM, ID: strconv.Itoa(id), Source: domain.SourcePoll})
			continue
		}
		key := ch.ID + "@" + ch.Version
		if _, ok := recent[key]; ok {
			res.Skipped++
			continue
		}
		at, _ := parseRecentKey(key)
		recent[key] = at
		changes = append(changes, ch)
	}
	t, err := a.dispatchAll(ctx, in.Pairing, changes)
	if err != nil {
		return res, classify(fmt.Errorf("%s: dispatch webCRM changes: %w", in.Pairing, err))
	}
	res.Dispatched, res.Failed, res.FailedLinks = t.dispatched, t.failed, t.failedLinks
	res.Next = in.Since
	if next.After(res.Next) {
		res.Next = next
	}
	res.Recent = trimRecent(recent, res.Next.Add(-in.Overlap))
	a.Metrics.recordPoll(in.Pairing, "webcrm", len(recs), res.Next)
	return res, nil
}

// window reads every record of entity updated in [from, to).
func (a *Activities) window(ctx context.Context, entity webcrm.Entity, from, to time.Time) ([]webcrm.Record, error) {
	return a.WebCRM.ChangedBetween(ctx, entity, from, to)
}

func parseRecentKey(key string) (time.Time, bool) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '@' {
			t, err := time.Parse(time.RFC3339Nano, key[i+1:])
			return t, err == nil
		}
	}
	return time.Time{}, false
}

// maxRecent bounds the keys a webCRM poll carries to the next: a burst of
// records inside the overlap window (a bulk import) would otherwise grow
// the pairing's input and history with every record of it.
const maxRecent = 2000

// trimRecent keeps the keys at or after cutoff, sorted for a stable result;
// none when there are more than maxRecent, so that the next poll checks the
// window's records against their links instead (one Describe each, no
// write) until the pairing stops reading the settled window.
func trimRecent(recent map[string]time.Time, cutoff time.Time) []string {
	var out []string
	for k, at := range recent {
		if !at.Before(cutoff) {
			out = append(out, k)
		}
	}
	if len(out) > maxRecent {
		return nil
	}
	sort.Strings(out)
	return out
}

// SyncERP reads the pairing's ERP change feed from its token, dispatches
// every change that belongs to the pairing and returns the next token.
// Tombstones reach only records that have a link. More tombstones in one
// batch than the mass-delete guard allows stop the poll.
func (a *Activities) SyncERP(ctx context.Context, in domain.SyncInput) (domain.SyncResult, error) {
	defer keepAlive(ctx)()
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return domain.SyncResult{}, err
	}
	resource := customerp.Resource(p.ERPResource)
	limit := in.Limit
	if limit <= 0 {
		limit = domain.DefaultBatchSize
	}
	items, next, err := a.ERP.Changes(ctx, resource, in.Token, limit)
	if err != nil {
		return domain.SyncResult{}, classify(fmt.Errorf("%s: read ERP %s feed from %q: %w", in.Pairing, resource, in.Token, err))
	}
	res := domain.SyncResult{Seen: len(items), More: len(items) >= limit, NextToken: next}
	if next == "" {
		res.NextToken = in.Token
	}
	// The feed may name a record more than once; the last entry wins.
	last := map[string]int{}
	for i, it := range items {
		last[it.ID] = i
	}
	var changes []domain.Change
	var deletes []string
	for i, it := range items {
		if last[it.ID] != i {
			res.Skipped++
			continue
		}
		ch := domain.Change{Side: domain.ERP, ID: it.ID, Source: domain.SourcePoll}
		if it.Version > 0 {
			ch.Version = strconv.FormatInt(it.Version, 10)
		}
		if it.Deleted {
			home, err := links.FindHome(ctx, a.Temporal, in.Pairing, domain.ERP, it.ID)
			if err != nil {
				return res, classify(err)
			}
			if home == "" {
				res.Skipped++
				continue
			}
			ch.Deleted = true
			deletes = append(deletes, it.ID)
		} else if it.Record != nil {
			if !p.Accepts(it.Record) {
				res.Skipped++
				continue
			}
			raw, err := json.Marshal(it.Record)
			if err != nil {
				return res, fmt.Errorf("%s: encode ERP %s %s: %w", in.Pairing, resource, it.ID, err)
			}
			ch.Record = raw
		}
		changes = append(changes, ch)
	}
	if err := a.guardDeletes(ctx, in, deletes); err != nil {
		return res, err
	}
	t, err := a.dispatchAll(ctx, in.Pairing, changes)
	if err != nil {
		return res, classify(fmt.Errorf("%s: dispatch ERP changes: %w", in.Pairing, err))
	}
	res.Dispatched, res.Failed, res.FailedLinks = t.dispatched, t.failed, t.failedLinks
	a.Metrics.recordPoll(in.Pairing, "erp", len(items), time.Time{})
	return res, nil
}

// massDeleteFloor is the number of deletes in one batch below which the
// guard never trips, so small pairings can delete a few records.
const massDeleteFloor = 10

// guardDeletes fails with ErrTypeMassDelete when the deletes of one batch, but
// those an operator released (in.AllowDeletes), are more than a tenth of the
// pairing's links (and more than massDeleteFloor). The error's details are the
// workflows.HeldDeletes, which the pairing keeps until an operator releases them.
func (a *Activities) guardDeletes(ctx context.Context, in domain.SyncInput, deletes []string) error {
	held := slices.DeleteFunc(slices.Clone(deletes), func(id string) bool { return slices.Contains(in.AllowDeletes, id) })
	if n := len(deletes) - len(held); n > 0 {
		a.Logger.InfoContext(ctx, "deletes released by an operator pass the mass-delete guard", "pairing", in.Pairing, "released", n)
	}
	if len(held) <= massDeleteFloor {
		return nil
	}
	n, err := a.countLinks(ctx, in.Pairing)
	if err != nil {
		return classify(err)
	}
	if float64(len(held)) > 0.1*float64(n) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: %d ERP deletes in one batch is more than 10%% of its %d links; check the ERP, then let them through with `starter resume --allow-deletes %s`", in.Pairing, len(held), n, in.Pairing),
			workflows.ErrTypeMassDelete, nil, domain.HeldDeletes{Token: in.Token, IDs: held, Links: n})
	}
	return nil
}

// countLinks counts the running home links of a pairing.
func (a *Activities) countLinks(ctx context.Context, pairing string) (int, error) {
	resp, err := a.Temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: linksQuery(pairing)})
	if err != nil {
		return 0, fmt.Errorf("count %s links: %w", pairing, err)
	}
	return int(resp.GetCount()), nil
}

// linksQuery is the visibility query of a pairing's running home links.
func linksQuery(pairing string) string {
	return fmt.Sprintf("WorkflowType = 'LinkWorkflow' AND ExecutionStatus = 'Running' AND %s = '%s'", workflows.PairingKey.GetName(), pairing)
}
