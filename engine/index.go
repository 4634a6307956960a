package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// normIndexes keeps, per pairing and side, every record's first merge value
// normalised ("DK 12.34-56 78" and "dk12345678" are one key), so that records
// written differently on the two sides still match, which an equality look-up
// cannot find. An index is read in full once per process (IndexFeed from ""),
// then kept up to date from where the last read ended before it answers.
type normIndexes struct {
	mu sync.Mutex
	m  map[string]*normIndex
}

type normIndex struct {
	mu     sync.Mutex
	ready  bool
	cursor string // where the feed reads on from
	// refreshed is when the last refresh began: a look-up asked before it is
	// answered without another.
	refreshed time.Time
	values    keyIndex // normalised merge value ↔ ids
	// tokens holds the correlation tokens the records carry: a create whose
	// tokens no record carries in a refresh begun after every earlier
	// attempt need not look them up.
	tokens tokenSet
}

// keyIndex is a two-way index of keys (normalised values) and the ids of
// the records that have them. Nearly every key has one id, so a key's ids
// are a slice rather than a set (BenchmarkNormIndexMemory: with a set per
// key, and the tokens kept the same way, the index held 751 bytes a record;
// with slices 327, and with tokenSet 222).
type keyIndex struct {
	byKey map[string][]string
	keyOf map[string]string
}

func newKeyIndex() keyIndex {
	return keyIndex{byKey: map[string][]string{}, keyOf: map[string]string{}}
}

// set gives id the key; an empty key removes id.
func (x keyIndex) set(id, key string) {
	if old, ok := x.keyOf[id]; ok {
		if old == key {
			return
		}
		rest := slices.DeleteFunc(x.byKey[old], func(have string) bool { return have == id })
		if len(rest) == 0 {
			delete(x.byKey, old)
		} else {
			x.byKey[old] = rest
		}
		delete(x.keyOf, id)
	}
	if key == "" {
		return
	}
	x.byKey[key] = append(x.byKey[key], id)
	x.keyOf[id] = key
}

// ids returns the ids that have key; the caller must not change them.
func (x keyIndex) ids(key string) []string { return x.byKey[key] }

// tokenSet tells whether some record carries a token. It keeps a 64-bit
// hash of each token, not the token (a link ID, some 30 bytes): the only
// question asked of it is whether a token is carried, and a collision makes
// a token look carried, which costs a look-up, never a duplicate. Tokens are
// compared without case: a server that changes a custom field's case makes a
// token look carried too.
type tokenSet struct {
	seed    maphash.Seed
	hashOf  map[string]uint64 // id → hash of the token it carries
	holders map[uint64]int32  // hash → how many records carry it
}

func newTokenSet() tokenSet {
	return tokenSet{seed: maphash.MakeSeed(), hashOf: map[string]uint64{}, holders: map[uint64]int32{}}
}

func (t tokenSet) hash(token string) uint64 {
	return maphash.String(t.seed, strings.ToLower(token))
}

// set records the token id carries; an empty token records none.
func (t tokenSet) set(id, token string) {
	if old, ok := t.hashOf[id]; ok {
		if t.holders[old]--; t.holders[old] <= 0 {
			delete(t.holders, old)
		}
		delete(t.hashOf, id)
	}
	if token == "" {
		return
	}
	h := t.hash(token)
	t.hashOf[id] = h
	t.holders[h]++
}

// carried reports whether some record carries token (or one whose hash is
// the same).
func (t tokenSet) carried(token string) bool { return t.holders[t.hash(token)] > 0 }

func (x *normIndexes) get(key string) *normIndex {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]*normIndex{}
	}
	idx, ok := x.m[key]
	if !ok {
		idx = newNormIndex()
		x.m[key] = idx
	}
	return idx
}

func newNormIndex() *normIndex {
	return &normIndex{values: newKeyIndex(), tokens: newTokenSet()}
}

// put records a record's normalised value and token; "" removes them.
func (idx *normIndex) put(id, value, token string) {
	idx.values.set(id, value)
	idx.tokens.set(id, token)
}

// indexCandidates returns the ids of side's records whose normalised first
// merge value equals c's. answered is false when the pairing has no such value
// to match by (or c has none): the index has nothing to say.
func (e *Engine) indexCandidates(ctx context.Context, p *mappings.Pairing, s Sides, side domain.Side, c mappings.Canonical, asked time.Time) (ids []string, answered bool, err error) {
	if len(p.MergeCriteria) == 0 {
		return nil, false, nil
	}
	k := p.MergeCriteria[0]
	return e.indexLookup(ctx, p, s, side, []string{k.Apply(c[k.Field])}, asked)
}

// indexLookup returns the ids of side's records whose normalised first merge
// value is one of wants, sorted, from an index brought up to date after asked.
// answered is false when the pairing has no merge value on side, side has no
// index feed, or wants holds none.
func (e *Engine) indexLookup(ctx context.Context, p *mappings.Pairing, s Sides, side domain.Side, wants []string, asked time.Time) (ids []string, answered bool, err error) {
	feed := s.Index[side]
	if feed == nil || len(p.MergeCriteria) == 0 {
		return nil, false, nil
	}
	k := p.MergeCriteria[0]
	f, ok := p.Field(k.Field)
	if !ok {
		return nil, false, nil
	}
	prop := f.Side(side).Property
	if prop == "" || !slices.ContainsFunc(wants, func(w string) bool { return w != "" }) {
		return nil, false, nil
	}
	idx := e.indexes.get(p.Name + "/" + string(side))
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if err := e.refresh(ctx, idx, feed, prop, k, asked); err != nil {
		return nil, false, fmt.Errorf("index %s %s merge values: %w", p.Name, side, err)
	}
	seen := map[string]bool{}
	for _, want := range wants {
		for _, id := range idx.values.ids(want) { // put keeps no "" value
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids, true, nil
}

// refresh brings idx up to date unless a refresh began after asked:
// concurrent first contacts (and the first contacts of one batch, asked at
// its start) share one refresh (one request when nothing changed), and none
// misses a record created before it was asked. The caller holds idx.mu.
func (e *Engine) refresh(ctx context.Context, idx *normIndex, feed IndexFeed, prop string, k mappings.MergeKey, asked time.Time) error {
	if idx.ready && !idx.refreshed.Before(asked) {
		return nil
	}
	began := e.now()
	next, err := feed.ReadIndex(ctx, prop, idx.cursor, func(r IndexEntry) {
		if r.Gone {
			idx.put(r.ID, "", "")
			return
		}
		idx.put(r.ID, k.Apply(r.Value), r.Token)
	})
	if err != nil {
		return err
	}
	idx.cursor, idx.ready, idx.refreshed = next, true, began
	return nil
}

// tokensUnseen reports whether no record of side carries any of tokens in
// the normalised merge index brought up to date after asked, which then
// stands in for a look-up of the tokens before they are created (see
// BatchStore.CreateBatch). A pairing without that index, or an index that
// cannot be read, answers false: the store looks the tokens up itself.
func (e *Engine) tokensUnseen(ctx context.Context, p *mappings.Pairing, s Sides, side domain.Side, tokens []string, asked time.Time) bool {
	feed := s.Index[side]
	if feed == nil || len(p.MergeCriteria) == 0 || !s.Store[side].CarriesToken() {
		return false
	}
	k := p.MergeCriteria[0]
	f, ok := p.Field(k.Field)
	if !ok || f.Side(side).Property == "" {
		return false
	}
	idx := e.indexes.get(p.Name + "/" + string(side))
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if err := e.refresh(ctx, idx, feed, f.Side(side).Property, k, asked); err != nil {
		e.log.WarnContext(ctx, "normalised merge index unavailable; the batch's tokens are looked up", "pairing", p.Name, "side", string(side), "error", err)
		return false
	}
	for _, tok := range tokens {
		if idx.tokens.carried(tok) {
			return false
		}
	}
	return true
}

// batch is what the first contacts of one dispatched batch share: the moment
// the batch began, so that the normalised merge index is brought up to date
// once for the batch rather than once per record, and the records the index
// names as match candidates of the batch's records, read in bulk. A nil *batch
// is valid: look-ups then refresh the index themselves and read candidates one
// by one.
type batch struct {
	asOf time.Time
	mu   sync.Mutex
	recs map[domain.Side]map[string]Record
}

// askedAt is the moment a look-up counts as asked: the start of the batch, or
// now outside one. The index answers from a refresh begun after it.
func (b *batch) askedAt(now func() time.Time) time.Time {
	if b == nil {
		return now()
	}
	return b.asOf
}

// record returns a record the batch read in bulk.
func (b *batch) record(side domain.Side, id string) (Record, bool) {
	if b == nil {
		return Record{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.recs[side][id]
	return r, ok
}

// prefetch starts the first contacts of a batch of changes: for each side
// whose store reads in bulk it brings the merge index up to date once and
// reads, in as few requests as it can, the records the index names as
// candidates of the other side's records among changes. A batch of new
// records (no candidates) costs one request when nothing changed; a batch of
// twins a request per few dozen matches instead of one each. When an index
// gives a broken answer the batch goes on without prefetched records: each
// look-up falls back on its own.
func (e *Engine) prefetch(ctx context.Context, p *mappings.Pairing, s Sides, changes []domain.Change) (*batch, error) {
	b := &batch{asOf: e.now(), recs: map[domain.Side]map[string]Record{}}
	if len(p.MergeCriteria) == 0 {
		return b, nil
	}
	k := p.MergeCriteria[0]
	f, ok := p.Field(k.Field)
	if !ok {
		return b, nil
	}
	for _, side := range domain.Sides() {
		bulk, ok := s.Store[side].(BatchStore)
		from := side.Other()
		if !ok || f.Side(side).Property == "" || f.Side(from).Property == "" {
			continue
		}
		var wants []string
		for _, ch := range changes {
			if ch.Side != from || ch.Deleted || len(ch.Record) == 0 {
				continue
			}
			var rec map[string]any
			if json.Unmarshal(ch.Record, &rec) != nil {
				continue
			}
			if v := k.Apply(lookupPath(rec, f.Side(from).Property)); v != "" {
				wants = append(wants, v)
			}
		}
		if len(wants) == 0 {
			continue
		}
		ids, _, err := e.indexLookup(ctx, p, s, side, wants, b.asOf)
		if err != nil {
			if e.unavailable(err) {
				return nil, err
			}
			e.log.WarnContext(ctx, "normalised merge index unavailable; each first contact looks on its own", "pairing", p.Name, "side", string(side), "error", err)
			continue
		}
		recs, err := bulk.GetMany(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("prefetch %d %s match candidates: %w", len(ids), strings.TrimSpace(bulk.Label()), err)
		}
		b.recs[side] = recs
	}
	return b, nil
}
