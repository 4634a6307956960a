package activities

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
)

// normIndexes keeps, per pairing and side, every record's first merge value
// normalised ("DK 12.34-56 78" and "dk12345678" are one key), so that
// records written differently on the two sides still match. An equality
// query cannot find those. An index is read in full once per process, then
// kept up to date from the change feed (ERP) or /Queries by UpdatedAt
// (webCRM) before it answers.
type normIndexes struct {
	mu sync.Mutex
	m  map[string]*normIndex
}

type normIndex struct {
	mu    sync.Mutex
	ready bool
	since time.Time // webCRM: the UpdatedAt read up to
	token string    // ERP: the change-feed token read up to
	// refreshed is when the last refresh began: a look-up asked before it
	// is answered without another.
	refreshed time.Time
	ids       map[string]map[string]bool // normalised value → ids
	valueOf   map[string]string          // id → normalised value
}

func (x *normIndexes) get(key string) *normIndex {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[string]*normIndex{}
	}
	idx, ok := x.m[key]
	if !ok {
		idx = &normIndex{ids: map[string]map[string]bool{}, valueOf: map[string]string{}}
		x.m[key] = idx
	}
	return idx
}

func (idx *normIndex) put(id, value string) {
	if old, ok := idx.valueOf[id]; ok {
		delete(idx.ids[old], id)
		delete(idx.valueOf, id)
	}
	if value == "" {
		return
	}
	if idx.ids[value] == nil {
		idx.ids[value] = map[string]bool{}
	}
	idx.ids[value][id] = true
	idx.valueOf[id] = value
}

// indexCandidates returns the ids of side's records whose normalised first
// merge value equals c's. answered is false when the pairing has no such
// value to match by (or c has none): the index has nothing to say.
func (a *Activities) indexCandidates(ctx context.Context, p *mappings.Pairing, side domain.Side, c mappings.Canonical, asked time.Time) (ids []string, answered bool, err error) {
	if len(p.MergeCriteria) == 0 {
		return nil, false, nil
	}
	k := p.MergeCriteria[0]
	return a.indexLookup(ctx, p, side, []string{k.Apply(c[k.Field])}, asked)
}

// indexLookup returns the ids of side's records whose normalised first
// merge value is one of wants, sorted, from an index brought up to date
// after asked. answered is false when the pairing has no merge value on
// side or wants holds none.
func (a *Activities) indexLookup(ctx context.Context, p *mappings.Pairing, side domain.Side, wants []string, asked time.Time) (ids []string, answered bool, err error) {
	if a.indexes == nil || len(p.MergeCriteria) == 0 {
		return nil, false, nil
	}
	k := p.MergeCriteria[0]
	f, ok := p.Field(k.Field)
	if !ok {
		return nil, false, nil
	}
	prop := f.Side(domain.Side(side)).Property
	if prop == "" || !slices.ContainsFunc(wants, func(w string) bool { return w != "" }) {
		return nil, false, nil
	}
	idx := a.indexes.get(p.Name + "/" + string(side))
	idx.mu.Lock()
	defer idx.mu.Unlock()
	// Bring the index up to date unless a refresh began after this look-up
	// was asked: concurrent first contacts (and the first contacts of one
	// batch, asked at its start) share one refresh (one request when nothing
	// changed), and none misses a record created before it was asked.
	if !idx.ready || idx.refreshed.Before(asked) {
		var err error
		if side == domain.WebCRM {
			err = a.refreshWebCRMIndex(ctx, idx, webcrm.Entity(p.WebCRMEntity), prop, k)
		} else {
			err = a.refreshERPIndex(ctx, idx, p, customerp.Resource(p.ERPResource), prop, k)
		}
		if err != nil {
			return nil, false, fmt.Errorf("index %s %s merge values: %w", p.Name, side, err)
		}
	}
	seen := map[string]bool{}
	for _, want := range wants {
		for id := range idx.ids[want] { // put keeps no "" value
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids, true, nil
}

func (a *Activities) refreshWebCRMIndex(ctx context.Context, idx *normIndex, entity webcrm.Entity, prop string, k mappings.MergeKey) error {
	began := time.Now()
	add := func(row webcrm.Record) {
		id, err := row.ID(entity)
		if err != nil {
			return
		}
		v, _ := row[prop].(string)
		idx.put(strconv.Itoa(id), k.Apply(v))
		if at, err := row.UpdatedAt(entity); err == nil && at.After(idx.since) {
			idx.since = at
		}
	}
	if !idx.ready {
		err := a.WebCRM.Scan(ctx, webcrm.Select(entity, entity.IDField(), prop, entity.UpdatedAtField()), webcrmMaxPage, func(rows []webcrm.Record) error {
			for _, row := range rows {
				add(row)
			}
			return nil
		})
		if err != nil {
			return err
		}
		idx.ready = true
	} else {
		for {
			rows, next, err := a.WebCRM.ChangedSince(ctx, entity, idx.since, webcrmMaxPage)
			if err != nil {
				return err
			}
			for _, row := range rows {
				add(row)
			}
			if len(rows) < webcrmMaxPage || !next.After(idx.since) {
				break
			}
		}
	}
	idx.refreshed = began
	return nil
}

func (a *Activities) refreshERPIndex(ctx context.Context, idx *normIndex, p *mappings.Pairing, resource customerp.Resource, prop string, k mappings.MergeKey) error {
	began := time.Now()
	for {
		items, next, err := a.ERP.Changes(ctx, resource, idx.token, 1000)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.Deleted || !p.Accepts(it.Record) {
				idx.put(it.ID, "")
				continue
			}
			v, _ := lookupPath(it.Record, prop).(string)
			idx.put(it.ID, k.Apply(v))
		}
		if next != "" {
			idx.token = next
		}
		if len(items) < 1000 || next == "" {
			break
		}
	}
	idx.ready = true
	idx.refreshed = began
	return nil
}
