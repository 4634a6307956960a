package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tandemsync/tandem/domain"
)

// PollWebCRM reads the pairing's webCRM records changed since the watermark
// (and, when asked, the overlap window before it), skips those already
// dispatched inside the window, dispatches the rest and returns the new
// watermark.
func (e *Engine) PollWebCRM(ctx context.Context, in domain.SyncInput) (domain.SyncResult, error) {
	p, err := e.pairing(in.Pairing)
	if err != nil {
		return domain.SyncResult{}, err
	}
	feed := e.sides(p).WebCRM
	limit := in.Limit
	if limit <= 0 {
		limit = domain.DefaultBatchSize
	}
	var changes []domain.Change
	if in.ReadWindow && in.Overlap > 0 && !in.Since.IsZero() {
		// Records committed late with an UpdatedAt just before the watermark:
		// read the window once, apart from the new records, so that it never
		// eats into the batch limit.
		if changes, err = feed.ChangedBetween(ctx, in.Since.Add(-in.Overlap), in.Since); err != nil {
			return domain.SyncResult{}, fmt.Errorf("%s: read webCRM overlap window: %w", in.Pairing, err)
		}
	}
	fresh, next, skipped, err := feed.ChangedSince(ctx, in.Since, limit)
	if err != nil {
		return domain.SyncResult{}, fmt.Errorf("%s: read webCRM changed since %s: %w", in.Pairing, in.Since.Format(time.RFC3339), err)
	}
	changes = append(changes, fresh...)
	res := domain.SyncResult{Seen: len(changes) + skipped, Skipped: skipped, More: len(fresh)+skipped >= limit}
	recent := map[string]time.Time{}
	for _, key := range in.Recent {
		if at, ok := parseRecentKey(key); ok {
			recent[key] = at
		}
	}
	var todo []domain.Change
	for _, ch := range changes {
		if ch.Version == "" {
			todo = append(todo, ch) // a row tandem could not read: its link reads the record
			continue
		}
		key := ch.ID + "@" + ch.Version
		if _, ok := recent[key]; ok {
			res.Skipped++
			continue
		}
		recent[key], _ = parseRecentKey(key)
		todo = append(todo, ch)
	}
	t, err := e.Dispatch(ctx, in.Pairing, todo)
	if err != nil {
		return res, fmt.Errorf("%s: dispatch webCRM changes: %w", in.Pairing, err)
	}
	res.Dispatched, res.Failed, res.FailedLinks = t.Dispatched, t.Failed, t.FailedLinks
	kids, err := e.compareChildren(ctx, in.Pairing, todo)
	if err != nil {
		return res, fmt.Errorf("%s: %w", in.Pairing, err)
	}
	res.Dispatched, res.Failed = res.Dispatched+kids.Dispatched, res.Failed+kids.Failed
	res.FailedLinks = append(res.FailedLinks, kids.FailedLinks...)[:min(10, len(res.FailedLinks)+len(kids.FailedLinks))]
	res.Next = in.Since
	if next.After(res.Next) {
		res.Next = next
	}
	res.Recent = trimRecent(recent, res.Next.Add(-in.Overlap))
	e.metrics.Polled(in.Pairing, domain.WebCRM, res.Seen, res.Next)
	return res, nil
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
// records inside the overlap window (a bulk import) would otherwise grow the
// pairing's input and history with every record of it.
const maxRecent = 2000

// trimRecent keeps the keys at or after cutoff, sorted for a stable result;
// none when there are more than maxRecent, so that the next poll checks the
// window's records against their links instead (one look each, no write)
// until the pairing stops reading the settled window.
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

// PollERP reads the pairing's ERP change feed from its token, dispatches every
// change that belongs to the pairing and returns the next token. Tombstones
// reach only records that have a link. More tombstones in one batch than the
// mass-delete guard allows stop the poll (a MassDelete error).
func (e *Engine) PollERP(ctx context.Context, in domain.SyncInput) (domain.SyncResult, error) {
	p, err := e.pairing(in.Pairing)
	if err != nil {
		return domain.SyncResult{}, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = domain.DefaultBatchSize
	}
	feed := e.sides(p).ERP
	var items []FeedItem
	var next string
	if wf, ok := feed.(WaitFeed); ok && in.Wait > 0 {
		items, next, err = wf.WaitChanges(ctx, in.Token, limit, in.Wait, in.Interval)
	} else {
		items, next, err = feed.Changes(ctx, in.Token, limit)
	}
	if err != nil {
		return domain.SyncResult{}, fmt.Errorf("%s: read the ERP feed from %q: %w", in.Pairing, in.Token, err)
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
		ch := domain.Change{Side: domain.ERP, ID: it.ID, Version: it.Version, Source: domain.SourcePoll}
		switch {
		case it.Deleted:
			home, err := e.homeOf(ctx, p.Name, domain.ERP, it.ID, it.Record)
			if err != nil {
				return res, err
			}
			if home == "" {
				res.Skipped++
				continue
			}
			ch.Deleted = true
			deletes = append(deletes, it.ID)
			if it.Record != nil {
				// The record's last state, whose token finds its link again.
				if ch.Record, err = json.Marshal(it.Record); err != nil {
					return res, fmt.Errorf("%s: encode ERP record %s: %w", in.Pairing, it.ID, err)
				}
			}
		case it.Record != nil:
			if !p.Accepts(it.Record) {
				res.Skipped++
				continue
			}
			raw, err := json.Marshal(it.Record)
			if err != nil {
				return res, fmt.Errorf("%s: encode ERP record %s: %w", in.Pairing, it.ID, err)
			}
			ch.Record = raw
		}
		changes = append(changes, ch)
	}
	if err := e.guardDeletes(ctx, in, deletes); err != nil {
		return res, err
	}
	t, err := e.Dispatch(ctx, in.Pairing, changes)
	if err != nil {
		return res, fmt.Errorf("%s: dispatch ERP changes: %w", in.Pairing, err)
	}
	res.Dispatched, res.Failed, res.FailedLinks = t.Dispatched, t.Failed, t.FailedLinks
	e.metrics.Polled(in.Pairing, domain.ERP, len(items), time.Time{})
	return res, nil
}

// homeOf returns the ID of the link that holds a record (side, id), or "":
// its own link, or the home of its index entry; else the link whose token the
// record carries (its last state, for a tombstone), which holds it without an
// index entry; else the link the search attributes name. Only that last
// look-up goes through visibility, which trails the links by seconds.
func (e *Engine) homeOf(ctx context.Context, pairing string, side domain.Side, id string, fields map[string]any) (string, error) {
	p, err := e.pairing(pairing)
	if err != nil {
		return "", err
	}
	own := domain.LinkWorkflowID(pairing, side, id)
	info, err := e.links.Inspect(ctx, own)
	if err != nil {
		return "", err
	}
	switch info.Kind {
	case HomeLink:
		return own, nil
	case AliasLink:
		return e.links.FindHome(ctx, pairing, side, id)
	}
	if tok := e.sides(p).Store[side].Token(fields); tok != "" {
		if ti, err := e.links.Inspect(ctx, tok); err != nil {
			return "", err
		} else if ti.Kind == HomeLink && ti.Holds(side, id) {
			return tok, nil
		}
	}
	return e.links.FindHome(ctx, pairing, side, id)
}

// MassDeleteFloor is the number of deletes below which the mass-delete guards
// never trip, so that small pairings can delete a few records.
const MassDeleteFloor = 10

// MassDeleteShare is the share of a pairing's ERP records that the ERP feed's
// deletes of one batch may reach before the guard stops the poll.
const MassDeleteShare = 0.1

// guardDeletes fails with a MassDelete error when the deletes of one batch,
// but those an operator released (in.AllowDeletes), are more than
// MassDeleteShare of the pairing's ERP records before them (and more than
// MassDeleteFloor). Its details are the domain.HeldDeletes, which the pairing
// keeps until an operator releases them.
//
// The ERP counts its records itself, as it stands now: the number of links
// would come from visibility, which trails the links by seconds, and a count
// short of the links made moments ago would stop deletes the guard should let
// through (one that still counts links gone, let through deletes it should
// stop).
func (e *Engine) guardDeletes(ctx context.Context, in domain.SyncInput, deletes []string) error {
	held := slices.DeleteFunc(slices.Clone(deletes), func(id string) bool { return slices.Contains(in.AllowDeletes, id) })
	if n := len(deletes) - len(held); n > 0 {
		e.log.InfoContext(ctx, "deletes released by an operator pass the mass-delete guard", "pairing", in.Pairing, "released", n)
	}
	if len(held) <= MassDeleteFloor {
		return nil
	}
	l, err := e.lister(in.Pairing, domain.ERP)
	if err != nil {
		return err
	}
	left, err := l.Count(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("count %s ERP records for the mass-delete guard: %w", in.Pairing, err)
	}
	before := left + len(deletes)
	if float64(len(held)) <= MassDeleteShare*float64(before) {
		return nil
	}
	return &Error{Class: MassDelete, Details: domain.HeldDeletes{Token: in.Token, IDs: held, Records: before},
		Err: fmt.Errorf("%s: %d ERP deletes in one batch is more than %.0f%% of the %d records the ERP had; check the ERP, then let them through with `starter resume --allow-deletes %s`",
			in.Pairing, len(held), MassDeleteShare*100, before, in.Pairing)}
}
