package stores

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/mappings"
)

// ERP is one pairing's ERP side: a store of one CustomERP resource, its
// change feed, its lister and its merge-value feed. Records of the resource
// that another pairing keeps (the ERP filter of the mapping) are not this
// pairing's.
type ERP struct {
	c        *customerp.Client
	resource customerp.Resource
	p        *mappings.Pairing
}

var (
	_ engine.Store     = ERP{}
	_ engine.IndexFeed = ERP{}
	_ engine.ERPFeed   = ERP{}
	_ engine.Lister    = ERP{}
)

// erpPage is the number of records or feed entries read per request.
const erpPage = 1000

// Label implements engine.Store.
func (s ERP) Label() string { return "ERP " + string(s.resource) }

func (s ERP) record(rec customerp.Record) (engine.Record, error) {
	v, err := erpVersion(rec)
	if err != nil {
		return engine.Record{}, fmt.Errorf("%s record: %w", s.Label(), err)
	}
	r := engine.Record{Fields: rec, Version: v}
	if at, ok := rec["updatedAt"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
			r.UpdatedAt = t.UTC()
		}
	}
	return r, nil
}

// erpVersion reads a record's version as a string.
func erpVersion(rec map[string]any) (string, error) {
	switch v := rec["version"].(type) {
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatInt(int64(v), 10), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	}
	return "", fmt.Errorf("no readable version (got %T)", rec["version"])
}

// Get implements engine.Store.
func (s ERP) Get(ctx context.Context, id string) (engine.Record, error) {
	rec, err := s.c.Get(ctx, s.resource, id)
	if customerp.IsNotFound(err) {
		return engine.Record{Gone: true}, nil
	}
	if err != nil {
		return engine.Record{}, err
	}
	return s.record(rec)
}

// Decode implements engine.Store.
func (s ERP) Decode(raw json.RawMessage) (engine.Record, error) {
	rec, err := decode(raw, s.Label())
	if err != nil {
		return engine.Record{}, err
	}
	r, err := s.record(rec)
	r.Delivered = true
	return r, err
}

// Find implements engine.Store.
func (s ERP) Find(ctx context.Context, property, value string) ([]string, error) {
	recs, err := s.c.Find(ctx, s.resource, property, value)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		id, _ := r["id"].(string)
		if id == "" {
			return nil, fmt.Errorf("%s look-up by %s returned a record without id", s.Label(), property)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Create implements engine.Store: the token is the Idempotency-Key and the
// record's externalRef. When the server answers that the key was used before
// with another body (an earlier attempt was carried out, the record has been
// edited on the other side since), Create returns the record that attempt made,
// found by its externalRef, as read back: the engine then writes the difference
// to it instead of failing the link.
func (s ERP) Create(ctx context.Context, body map[string]any, token string) (string, engine.Record, error) {
	body["externalRef"] = token
	rec, err := s.c.Create(ctx, s.resource, customerp.Record(body), token)
	if customerp.IsIdempotencyConflict(err) {
		rec, err = s.earlierCreate(ctx, token, err)
	}
	if err != nil {
		return "", engine.Record{}, err
	}
	r, err := s.record(rec)
	if err != nil {
		return "", engine.Record{}, err
	}
	id, _ := rec["id"].(string)
	if id == "" {
		return "", engine.Record{}, fmt.Errorf("%s create returned no id", s.Label())
	}
	r.ReadBack = true
	return id, r, nil
}

// earlierCreate reads the record an earlier attempt of a create made, found by
// the create's token in its externalRef; conflict is the server's answer, kept
// as the cause when no single such record exists.
func (s ERP) earlierCreate(ctx context.Context, token string, conflict error) (customerp.Record, error) {
	ids, err := s.Find(ctx, "externalRef", token)
	if err != nil {
		return nil, fmt.Errorf("%s create %s: looking up the earlier attempt: %w", s.Label(), token, err)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("%s create %s: the key was used before, and %d records carry it: %w", s.Label(), token, len(ids), conflict)
	}
	rec, err := s.c.Get(ctx, s.resource, ids[0])
	if err != nil {
		return nil, fmt.Errorf("%s create %s: reading %s, made by an earlier attempt: %w", s.Label(), token, ids[0], err)
	}
	return rec, nil
}

// readOnly are the fields the server maintains; a PUT leaves them out.
var readOnly = []string{"id", "version", "updatedAt", "createdAt", "totalAmount", "lines", "productId", "lineId"}

// Update implements engine.Store: a PUT with If-Match of the version current
// was read at (the store reads the record when current is empty).
func (s ERP) Update(ctx context.Context, id string, current engine.Record, changes map[string]any) (engine.Record, error) {
	if current.Fields == nil {
		fresh, err := s.Get(ctx, id)
		if err != nil {
			return engine.Record{}, err
		}
		if fresh.Gone {
			return engine.Record{}, fmt.Errorf("update %s %s: the record is gone", s.Label(), id)
		}
		current = fresh
	}
	body := make(map[string]any, len(current.Fields))
	for k, v := range current.Fields {
		body[k] = v
	}
	for _, k := range readOnly {
		delete(body, k)
	}
	deepMerge(body, changes)
	version, err := strconv.ParseInt(current.Version, 10, 64)
	if err != nil {
		return engine.Record{}, fmt.Errorf("update %s %s: version %q is not a number", s.Label(), id, current.Version)
	}
	rec, err := s.c.Update(ctx, s.resource, id, customerp.Record(body), version)
	if err != nil {
		return engine.Record{}, err
	}
	r, err := s.record(rec)
	r.ReadBack = err == nil
	return r, err
}

// deepMerge overlays src onto dst, merging nested objects key by key.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		sub, ok := v.(map[string]any)
		if !ok {
			dst[k] = v
			continue
		}
		cur := map[string]any{}
		if old, ok := dst[k].(map[string]any); ok {
			for ck, cv := range old {
				cur[ck] = cv
			}
		}
		deepMerge(cur, sub)
		dst[k] = cur
	}
}

// Remove implements engine.Store.
func (s ERP) Remove(ctx context.Context, id string) error {
	if err := s.c.Delete(ctx, s.resource, id); err != nil && !customerp.IsNotFound(err) {
		return err
	}
	return nil
}

// Token implements engine.Store: the externalRef of a record tandem created.
func (s ERP) Token(fields map[string]any) string {
	v, _ := fields["externalRef"].(string)
	if strings.HasPrefix(v, "link/") {
		return v
	}
	return ""
}

// CarriesToken implements engine.Store: every record tandem creates in the
// ERP carries its link's ID.
func (s ERP) CarriesToken() bool { return true }

// Changes implements engine.ERPFeed.
func (s ERP) Changes(ctx context.Context, token string, limit int) ([]engine.FeedItem, string, error) {
	items, next, err := s.c.Changes(ctx, s.resource, token, limit)
	if err != nil {
		return nil, "", err
	}
	return feedItems(items), next, nil
}

func feedItems(items []customerp.Change) []engine.FeedItem {
	out := make([]engine.FeedItem, len(items))
	for i, it := range items {
		out[i] = engine.FeedItem{ID: it.ID, Deleted: it.Deleted, Record: it.Record}
		if it.Version > 0 {
			out[i].Version = strconv.FormatInt(it.Version, 10)
		}
	}
	return out
}

// WaitChanges implements engine.WaitFeed with the feed's long poll
// (customerp.Client.WaitChanges, which keeps to interval when the adapter
// does not wait).
func (s ERP) WaitChanges(ctx context.Context, token string, limit int, wait, interval time.Duration) ([]engine.FeedItem, string, error) {
	items, next, _, err := s.c.WaitChanges(ctx, s.resource, token, limit, wait, interval)
	if err != nil {
		return nil, "", err
	}
	return feedItems(items), next, nil
}

// Mark implements engine.Lister: the token at the end of the change feed
// (none for an empty feed), reading it to its end: the feed has no cheaper way
// there, and the pages cost no webCRM budget.
func (s ERP) Mark(ctx context.Context, progress func(page int)) (domain.Positions, error) {
	token := ""
	for page := 0; ; page++ {
		items, next, err := s.c.Changes(ctx, s.resource, token, erpPage)
		if err != nil {
			return domain.Positions{}, err
		}
		if next != "" {
			token = next
		}
		if len(items) < erpPage {
			return domain.Positions{ERPToken: token}, nil
		}
		progress(page)
	}
}

// Page implements engine.Lister with the ERP's list cursor; records of the
// resource that are not this pairing's are left out. since does not apply.
func (s ERP) Page(ctx context.Context, cursor string, _ time.Time, size int) ([]domain.Change, string, bool, error) {
	recs, next, err := s.c.List(ctx, s.resource, cursor, max(size, 1))
	if err != nil {
		return nil, cursor, false, err
	}
	var out []domain.Change
	for _, rec := range recs {
		if !s.p.Accepts(rec) {
			continue
		}
		id, _ := rec["id"].(string)
		version, _ := erpVersion(rec)
		raw, err := json.Marshal(rec)
		if err != nil {
			return nil, cursor, false, fmt.Errorf("encode %s %s: %w", s.Label(), id, err)
		}
		out = append(out, domain.Change{Side: domain.ERP, ID: id, Version: version, Record: raw, Source: domain.SourceBackfill})
	}
	return out, next, next == "" || len(recs) == 0, nil
}

// each calls fn with every page of the resource's records.
func (s ERP) each(ctx context.Context, fn func([]customerp.Record)) error {
	after := ""
	for {
		recs, next, err := s.c.List(ctx, s.resource, after, erpPage)
		if err != nil {
			return err
		}
		fn(recs)
		if next == "" || len(recs) == 0 {
			return nil
		}
		after = next
	}
}

// Count implements engine.Lister.
func (s ERP) Count(ctx context.Context, _ time.Time) (int, error) {
	n := 0
	err := s.each(ctx, func(recs []customerp.Record) {
		for _, rec := range recs {
			if s.p.Accepts(rec) {
				n++
			}
		}
	})
	return n, err
}

// IDs implements engine.Lister: every record of the resource, of any
// pairing that shares it (ids are unique within a resource).
func (s ERP) IDs(ctx context.Context, progress func(n int)) (map[string]bool, error) {
	present := map[string]bool{}
	err := s.each(ctx, func(recs []customerp.Record) {
		for _, rec := range recs {
			if id, _ := rec["id"].(string); id != "" {
				present[id] = true
			}
		}
		progress(len(present))
	})
	return present, err
}

// ReadIndex implements engine.IndexFeed from the change feed: the cursor is
// its token. A record that is not this pairing's counts as gone.
func (s ERP) ReadIndex(ctx context.Context, path, cursor string, put func(engine.IndexEntry)) (string, error) {
	token := cursor
	for {
		items, next, err := s.c.Changes(ctx, s.resource, token, erpPage)
		if err != nil {
			return token, err
		}
		for _, it := range items {
			if it.Deleted || !s.p.Accepts(it.Record) {
				put(engine.IndexEntry{ID: it.ID, Gone: true})
				continue
			}
			put(engine.IndexEntry{ID: it.ID, Value: mappings.Path(it.Record, path), Token: s.Token(it.Record)})
		}
		if next != "" {
			token = next
		}
		if len(items) < erpPage || next == "" {
			return token, nil
		}
	}
}
