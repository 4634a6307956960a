package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// lookupChunk is the number of values one prefetch query asks for.
const lookupChunk = 40

// lookups holds webCRM records fetched in bulk before a batch of first
// contacts, so that matching ERP records against webCRM by their merge
// criteria costs one /Queries request per lookupChunk records instead of
// one each. It only answers for values it was asked to fetch.
type lookups struct {
	mu      sync.Mutex
	fetched map[string]bool     // property + "\x00" + value key
	ids     map[string][]string // same key → ids
	recs    map[string]webcrm.Record
}

func lookupKey(property, value string) string {
	return property + "\x00" + strings.ToLower(strings.TrimSpace(value))
}

// find answers a look-up from the prefetched rows; ok is false when the
// value was not prefetched.
func (l *lookups) find(property, value string) (ids []string, ok bool) {
	if l == nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := lookupKey(property, value)
	if !l.fetched[k] {
		return nil, false
	}
	return l.ids[k], true
}

// record returns a prefetched row by id.
func (l *lookups) record(id string) (webcrm.Record, bool) {
	if l == nil {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.recs[id]
	return r, ok
}

// prefetch reads, in a few /Queries requests, the webCRM records that the
// ERP records among changes could match by the pairing's first merge
// criterion. It returns nil when there is nothing to fetch.
func (a *Activities) prefetch(ctx context.Context, p *mappings.Pairing, changes []workflows.Change) (*lookups, error) {
	if len(p.MergeCriteria) == 0 {
		return nil, nil
	}
	k := p.MergeCriteria[0]
	f, ok := p.Field(k.Field)
	if !ok || f.WebCRM.Property == "" || f.ERP.Property == "" {
		return nil, nil
	}
	prop := f.WebCRM.Property
	seen := map[string]bool{}
	var values []string
	for _, ch := range changes {
		if ch.Side != workflows.ERP || ch.Deleted || len(ch.Record) == 0 {
			continue
		}
		var rec map[string]any
		if json.Unmarshal(ch.Record, &rec) != nil {
			continue
		}
		raw, _ := lookupPath(rec, f.ERP.Property).(string)
		for _, v := range []string{strings.TrimSpace(raw), k.Apply(raw)} {
			if v != "" && !seen[strings.ToLower(v)] {
				seen[strings.ToLower(v)] = true
				values = append(values, v)
			}
		}
	}
	if len(values) == 0 {
		return nil, nil
	}
	entity := webcrm.Entity(p.WebCRMEntity)
	l := &lookups{fetched: map[string]bool{}, ids: map[string][]string{}, recs: map[string]webcrm.Record{}}
	for start := 0; start < len(values); start += lookupChunk {
		chunk := values[start:min(start+lookupChunk, len(values))]
		conds := make([]string, len(chunk))
		for i, v := range chunk {
			conds[i] = fmt.Sprintf("%s = '%s'", prop, strings.ReplaceAll(v, "'", "''"))
		}
		script := fmt.Sprintf("SELECT * FROM %s WHERE %s", entity.Table(), strings.Join(conds, " OR "))
		for page := 1; ; page++ {
			rows, err := a.WebCRM.Query(ctx, script, page, webcrmMaxPage)
			if err != nil {
				return nil, fmt.Errorf("prefetch webCRM %s by %s: %w", entity, prop, err)
			}
			for _, row := range rows {
				id, err := row.ID(entity)
				if err != nil {
					continue
				}
				sid := strconv.Itoa(id)
				l.recs[sid] = row
				v, _ := row[prop].(string)
				for _, key := range uniq(lookupKey(prop, v), lookupKey(prop, k.Apply(v))) {
					l.ids[key] = append(l.ids[key], sid)
				}
			}
			if len(rows) < webcrmMaxPage {
				break
			}
		}
		for _, v := range chunk {
			l.fetched[lookupKey(prop, v)] = true
		}
	}
	return l, nil
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// lookupPath reads a dotted path of a nested record.
func lookupPath(rec map[string]any, path string) any {
	var cur any = rec
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}
