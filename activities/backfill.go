package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// webcrmMaxPage is the largest page webCRM serves.
const webcrmMaxPage = 1000

// BackfillCount counts the records a backfill of one side will visit.
func (a *Activities) BackfillCount(ctx context.Context, in domain.BackfillCountInput) (int, error) {
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return 0, err
	}
	switch in.Side {
	case workflows.BackfillWebCRM:
		entity := webcrm.Entity(p.WebCRMEntity)
		n := 0
		err := a.WebCRM.Scan(ctx, backfillScript(entity, in.Since, entity.IDField()), webcrmMaxPage, func(rows []webcrm.Record) error {
			n += len(rows)
			return nil
		})
		if err != nil {
			return n, classify(fmt.Errorf("%s: count webCRM %s: %w", in.Pairing, entity, err))
		}
		return n, nil
	case workflows.BackfillERP:
		n := 0
		after := ""
		for {
			recs, next, err := a.ERP.List(ctx, customerp.Resource(p.ERPResource), after, 1000)
			if err != nil {
				return n, classify(fmt.Errorf("%s: count ERP %s: %w", in.Pairing, p.ERPResource, err))
			}
			for _, rec := range recs {
				if p.Accepts(rec) {
					n++
				}
			}
			if next == "" || len(recs) == 0 {
				return n, nil
			}
			after = next
		}
	}
	return 0, permanent(fmt.Errorf("backfill side %q is not webcrm or erp", in.Side), errTypeValidation)
}

// BackfillPage reads one page of one side and dispatches every record of it
// to its link. The cursor is the webCRM page number or the ERP list cursor.
func (a *Activities) BackfillPage(ctx context.Context, in domain.BackfillPageInput) (domain.BackfillPageResult, error) {
	p, err := a.pairing(in.Pairing)
	if err != nil {
		return domain.BackfillPageResult{}, err
	}
	size := in.PageSize
	var changes []domain.Change
	var res domain.BackfillPageResult
	switch in.Side {
	case workflows.BackfillWebCRM:
		size = min(max(size, 1), webcrmMaxPage)
		entity := webcrm.Entity(p.WebCRMEntity)
		after, err := webcrmCursor(in.Cursor)
		if err != nil {
			return res, permanent(err, errTypeValidation)
		}
		// Keyset paging by id: a page is the records after the last id of the
		// one before, so records written meanwhile and a server that orders an
		// unordered result differently each time never make it skip a record.
		script := backfillScript(entity, in.Since).Where(webcrm.Gt(entity.IDField(), after)).OrderBy(entity.IDField() + " ASC")
		recs, err := a.WebCRM.Run(ctx, script, 1, size)
		if err != nil {
			return res, classify(fmt.Errorf("%s: read webCRM %s after id %d: %w", in.Pairing, entity, after, err))
		}
		last := after
		for _, rec := range recs {
			ch, err := webcrmChange(entity, rec, domain.SourceBackfill)
			if err != nil {
				return res, permanent(fmt.Errorf("%s: %w", in.Pairing, err), errTypeValidation)
			}
			id, _ := strconv.Atoi(ch.ID)
			if id <= last {
				return res, classify(fmt.Errorf("%s: read webCRM %s after id %d: id %d is out of order: the server ignored ORDER BY", in.Pairing, entity, after, id))
			}
			last = id
			changes = append(changes, ch)
		}
		res.Seen = len(recs)
		res.Last = len(recs) < size
		res.Next = webcrmCursorAfter(last)
	case workflows.BackfillERP:
		resource := customerp.Resource(p.ERPResource)
		recs, next, err := a.ERP.List(ctx, resource, in.Cursor, max(size, 1))
		if err != nil {
			return res, classify(fmt.Errorf("%s: read ERP %s after %q: %w", in.Pairing, resource, in.Cursor, err))
		}
		for _, rec := range recs {
			if !p.Accepts(rec) {
				continue
			}
			id, _ := rec["id"].(string)
			version, _ := erpVersion(rec)
			raw, err := json.Marshal(rec)
			if err != nil {
				return res, fmt.Errorf("%s: encode ERP %s %s: %w", in.Pairing, resource, id, err)
			}
			changes = append(changes, domain.Change{Side: domain.ERP, ID: id, Version: version, Record: raw, Source: domain.SourceBackfill})
		}
		res.Seen = len(changes)
		res.Last = next == "" || len(recs) == 0
		res.Next = next
	default:
		return res, permanent(fmt.Errorf("backfill side %q is not webcrm or erp", in.Side), errTypeValidation)
	}
	if in.Concurrency > 0 {
		a = a.withConcurrency(in.Concurrency)
	}
	t, err := a.dispatchAll(ctx, in.Pairing, changes)
	if err != nil {
		return res, classify(fmt.Errorf("%s: dispatch backfill page: %w", in.Pairing, err))
	}
	res.Failed = t.failed
	res.Actions = t.actions
	return res, nil
}

// backfillScript selects the webCRM records a backfill visits: all of them, or
// those changed at or after since.
func backfillScript(entity webcrm.Entity, since time.Time, columns ...string) webcrm.Script {
	s := webcrm.Select(entity, columns...)
	if !since.IsZero() {
		s = s.Where(webcrm.AtOrAfter(entity.UpdatedAtField(), since))
	}
	return s
}

// A webCRM backfill cursor is "after:<id>": the page that follows starts after
// that id. A bare number is the page number older backfills handed on; such a
// backfill starts again from the first id, which is slower (the records it
// visited are skipped as seen), never wrong.
const cursorAfter = "after:"

func webcrmCursor(cursor string) (int, error) {
	rest, ok := strings.CutPrefix(cursor, cursorAfter)
	if !ok {
		if _, err := strconv.Atoi(cursor); cursor == "" || err == nil {
			return 0, nil
		}
		return 0, fmt.Errorf("backfill cursor %q is neither %q<id> nor a page number", cursor, cursorAfter)
	}
	id, err := strconv.Atoi(rest)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("backfill cursor %q: %q is not an id", cursor, rest)
	}
	return id, nil
}

func webcrmCursorAfter(id int) string { return cursorAfter + strconv.Itoa(id) }

// withConcurrency returns a shallow copy of a that dispatches n at once.
func (a *Activities) withConcurrency(n int) *Activities {
	c := *a
	c.Concurrency = n
	return &c
}

// webcrmChange turns a webCRM record into a change that carries it.
func webcrmChange(entity webcrm.Entity, rec webcrm.Record, source string) (domain.Change, error) {
	id, err := rec.ID(entity)
	if err != nil {
		return domain.Change{}, fmt.Errorf("webCRM %s record without a usable id: %w", entity, err)
	}
	at, err := rec.UpdatedAt(entity)
	if err != nil {
		return domain.Change{}, fmt.Errorf("webCRM %s %d: %w", entity, id, err)
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return domain.Change{}, fmt.Errorf("encode webCRM %s %d: %w", entity, id, err)
	}
	return domain.Change{Side: domain.WebCRM, ID: strconv.Itoa(id), Version: webcrmVersion(at), Record: raw, Source: source}, nil
}
