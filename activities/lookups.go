package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
)

// lookups is what the first contacts of one dispatched batch share: the
// moment the batch began, so that the normalised merge index is brought up
// to date once for the batch rather than once per record, and the webCRM
// records the index names as match candidates of the batch's ERP records,
// read in bulk. A nil *lookups is valid: look-ups then refresh the index
// themselves and read candidates one by one.
type lookups struct {
	asOf time.Time
	mu   sync.Mutex
	recs map[string]webcrm.Record
}

func newLookups(asOf time.Time) *lookups {
	return &lookups{asOf: asOf, recs: map[string]webcrm.Record{}}
}

// askedAt is the moment a look-up counts as asked: the start of the batch,
// or now outside one. The index answers from a refresh begun after it.
func (l *lookups) askedAt() time.Time {
	if l == nil {
		return time.Now()
	}
	return l.asOf
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

// prefetch starts the lookups of a batch of changes: it brings the webCRM
// merge index up to date once and reads, in as few /Queries requests as the
// URL limit allows, the webCRM records it names as candidates of the ERP
// records among changes. A batch of new records (no candidates) costs one
// request when webCRM has not changed; a batch of twins a request per few
// dozen matches instead of one each. When the index gives a broken answer the batch goes
// on without prefetched records: each look-up falls back on its own.
func (a *Activities) prefetch(ctx context.Context, p *mappings.Pairing, changes []domain.Change) (*lookups, error) {
	l := newLookups(time.Now())
	if len(p.MergeCriteria) == 0 {
		return l, nil
	}
	k := p.MergeCriteria[0]
	f, ok := p.Field(k.Field)
	if !ok || f.WebCRM.Property == "" || f.ERP.Property == "" {
		return l, nil
	}
	var wants []string
	for _, ch := range changes {
		if ch.Side != domain.ERP || ch.Deleted || len(ch.Record) == 0 {
			continue
		}
		var rec map[string]any
		if json.Unmarshal(ch.Record, &rec) != nil {
			continue
		}
		if v := k.Apply(lookupPath(rec, f.ERP.Property)); v != "" {
			wants = append(wants, v)
		}
	}
	if len(wants) == 0 {
		return l, nil
	}
	ids, _, err := a.indexLookup(ctx, p, domain.WebCRM, wants, l.asOf)
	if err != nil {
		if unavailable(err) {
			return nil, err
		}
		a.Logger.WarnContext(ctx, "normalised merge index unavailable; each first contact looks on its own", "pairing", p.Name, "error", err)
		return l, nil
	}
	entity := webcrm.Entity(p.WebCRMEntity)
	nums := make([]int, 0, len(ids))
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err == nil && n > 0 {
			nums = append(nums, n)
		}
	}
	err = a.WebCRM.FindIDs(ctx, webcrm.Select(entity), nums, func(rows []webcrm.Record) error {
		for _, row := range rows {
			if id, err := row.ID(entity); err == nil {
				l.recs[strconv.Itoa(id)] = row
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prefetch %d webCRM %s match candidates: %w", len(nums), entity, err)
	}
	return l, nil
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
