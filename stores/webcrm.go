package stores

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/webcrm"
)

// WebCRM is one pairing's webCRM side: a store of one entity (a batch store
// when the pairing has a correlation field), its feed of changes, its lister
// and its merge-value feed.
type WebCRM struct {
	c           *webcrm.Client
	entity      webcrm.Entity
	correlation string
	log         *slog.Logger
}

var (
	_ engine.Store      = WebCRM{}
	_ engine.IndexFeed  = WebCRM{}
	_ engine.WebCRMFeed = WebCRM{}
	_ engine.Lister     = WebCRM{}
)

// pageMax is the largest page webCRM serves.
const pageMax = webcrm.MaxPageSize

// Label implements engine.Store.
func (s WebCRM) Label() string { return "webCRM " + string(s.entity) }

func (s WebCRM) id(id string) (int, error) {
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s id %q is not a positive whole number: %w", s.Label(), id, errInvalid)
	}
	return n, nil
}

func (s WebCRM) record(rec webcrm.Record) (engine.Record, error) {
	at, err := rec.UpdatedAt(s.entity)
	if err != nil {
		return engine.Record{}, fmt.Errorf("%s record has no readable %s: %w (%w)", s.Label(), s.entity.UpdatedAtField(), err, errInvalid)
	}
	return engine.Record{Fields: rec, Version: Version(at), UpdatedAt: at}, nil
}

// Version is the version string of a webCRM record: its UpdatedAt.
func Version(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Get implements engine.Store.
func (s WebCRM) Get(ctx context.Context, id string) (engine.Record, error) {
	n, err := s.id(id)
	if err != nil {
		return engine.Record{}, err
	}
	rec, err := s.c.Get(ctx, s.entity, n)
	if webcrm.IsNotFound(err) {
		return engine.Record{Gone: true}, nil
	}
	if err != nil {
		return engine.Record{}, err
	}
	return s.record(rec)
}

// GetMany implements engine.BatchStore.
func (s WebCRM) GetMany(ctx context.Context, ids []string) (map[string]engine.Record, error) {
	nums := make([]int, 0, len(ids))
	for _, id := range ids {
		if n, err := strconv.Atoi(id); err == nil && n > 0 {
			nums = append(nums, n)
		}
	}
	out := make(map[string]engine.Record, len(nums))
	err := s.c.FindIDs(ctx, webcrm.Select(s.entity), nums, func(rows []webcrm.Record) error {
		for _, row := range rows {
			id, err := row.ID(s.entity)
			if err != nil {
				continue
			}
			if r, err := s.record(row); err == nil {
				r.Delivered = true
				out[strconv.Itoa(id)] = r
			}
		}
		return nil
	})
	return out, err
}

// Decode implements engine.Store.
func (s WebCRM) Decode(raw json.RawMessage) (engine.Record, error) {
	rec, err := decode(raw, s.Label())
	if err != nil {
		return engine.Record{}, err
	}
	r, err := s.record(rec)
	r.Delivered = true
	return r, err
}

// Find implements engine.Store.
func (s WebCRM) Find(ctx context.Context, property, value string) ([]string, error) {
	recs, err := s.c.FindBy(ctx, s.entity, property, value)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		id, err := r.ID(s.entity)
		if err != nil {
			return nil, fmt.Errorf("%s look-up by %s returned a record without id: %w", s.Label(), property, err)
		}
		ids = append(ids, strconv.Itoa(id))
	}
	return ids, nil
}

// Create implements engine.Store.
func (s WebCRM) Create(ctx context.Context, body map[string]any, token string) (string, engine.Record, error) {
	stored, err := s.c.CreateRecord(ctx, s.entity, webcrm.Record(body), token)
	if err != nil {
		return "", engine.Record{}, err
	}
	id, err := stored.ID(s.entity)
	if err != nil {
		return "", engine.Record{}, fmt.Errorf("%s created, but read back without an id: %w", s.Label(), err)
	}
	rec, err := s.record(stored)
	if err != nil {
		return "", engine.Record{}, err
	}
	rec.ReadBack = true
	return strconv.Itoa(id), rec, nil
}

// Update implements engine.Store: a PUT of the whole record (on top of
// current when it was read just now), then a read of it, for its new
// UpdatedAt and for what webCRM made of the values.
func (s WebCRM) Update(ctx context.Context, id string, current engine.Record, changes map[string]any) (engine.Record, error) {
	n, err := s.id(id)
	if err != nil {
		return engine.Record{}, err
	}
	var rec webcrm.Record
	if current.Fields != nil && !current.Delivered && !current.Gone {
		rec, err = s.c.Replace(ctx, s.entity, n, webcrm.Record(current.Fields), webcrm.Record(changes))
	} else {
		rec, err = s.c.Update(ctx, s.entity, n, webcrm.Record(changes))
	}
	if err != nil {
		return engine.Record{}, err
	}
	// When the read fails the write still stands; the poll that sees it
	// reads it.
	stored, err := s.c.Get(ctx, s.entity, n)
	if err != nil {
		return engine.Record{Fields: rec}, nil
	}
	r, err := s.record(stored)
	if err != nil {
		return engine.Record{Fields: rec}, nil
	}
	r.ReadBack = true
	return r, nil
}

// Remove implements engine.Store.
func (s WebCRM) Remove(ctx context.Context, id string) error {
	n, err := s.id(id)
	if err != nil {
		return err
	}
	if err := s.c.Delete(ctx, s.entity, n); err != nil && !webcrm.IsNotFound(err) {
		return err
	}
	return nil
}

// Token implements engine.Store.
func (s WebCRM) Token(fields map[string]any) string {
	if s.correlation == "" {
		return ""
	}
	v, _ := fields[s.correlation].(string)
	return v
}

// CarriesToken implements engine.Store.
func (s WebCRM) CarriesToken() bool { return s.correlation != "" }

// change turns a webCRM record into a change that carries it.
func (s WebCRM) change(rec webcrm.Record, source string) (domain.Change, error) {
	id, err := rec.ID(s.entity)
	if err != nil {
		return domain.Change{}, fmt.Errorf("%s record without a usable id: %w", s.Label(), err)
	}
	at, err := rec.UpdatedAt(s.entity)
	if err != nil {
		return domain.Change{Side: domain.WebCRM, ID: strconv.Itoa(id), Source: source}, fmt.Errorf("%s %d: %w", s.Label(), id, err)
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return domain.Change{}, fmt.Errorf("encode %s %d: %w", s.Label(), id, err)
	}
	return domain.Change{Side: domain.WebCRM, ID: strconv.Itoa(id), Version: Version(at), Record: raw, Source: source}, nil
}

// changes turns poll rows into changes. A row without a usable UpdatedAt
// becomes a change without the record, which its link reads itself and
// records why it cannot sync; one without a usable id is passed over and
// counted.
func (s WebCRM) changes(rows []webcrm.Record) (out []domain.Change, skipped int) {
	for _, rec := range rows {
		ch, err := s.change(rec, domain.SourcePoll)
		switch {
		case err == nil:
			out = append(out, ch)
		case ch.ID != "":
			out = append(out, ch)
		default:
			s.log.Warn("webCRM row without a usable id passed over", "entity", string(s.entity), "error", err)
			skipped++
		}
	}
	return out, skipped
}

// ChangedSince implements engine.WebCRMFeed.
func (s WebCRM) ChangedSince(ctx context.Context, since time.Time, limit int) ([]domain.Change, time.Time, int, error) {
	rows, next, err := s.c.ChangedSince(ctx, s.entity, since, limit)
	if err != nil {
		return nil, since, 0, err
	}
	out, skipped := s.changes(rows)
	return out, next, skipped, nil
}

// ChangedBetween implements engine.WebCRMFeed.
func (s WebCRM) ChangedBetween(ctx context.Context, from, to time.Time) ([]domain.Change, error) {
	rows, err := s.c.ChangedBetween(ctx, s.entity, from, to)
	if err != nil {
		return nil, err
	}
	out, _ := s.changes(rows)
	return out, nil
}

// script selects the records a backfill visits: all of them, or those
// changed at or after since.
func (s WebCRM) script(since time.Time, columns ...string) webcrm.Script {
	q := webcrm.Select(s.entity, columns...)
	if !since.IsZero() {
		q = q.Where(webcrm.AtOrAfter(s.entity.UpdatedAtField(), since))
	}
	return q
}

// A webCRM page cursor is "after:<id>": the page that follows starts after
// that id. A bare number is the page number older backfills handed on; such a
// backfill starts again from the first id, which is slower (the records it
// visited are skipped as seen), never wrong.
const cursorAfter = "after:"

func pageCursor(cursor string) (int, error) {
	rest, ok := strings.CutPrefix(cursor, cursorAfter)
	if !ok {
		if _, err := strconv.Atoi(cursor); cursor == "" || err == nil {
			return 0, nil
		}
		return 0, fmt.Errorf("backfill cursor %q is neither %q<id> nor a page number: %w", cursor, cursorAfter, errInvalid)
	}
	id, err := strconv.Atoi(rest)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("backfill cursor %q: %q is not an id: %w", cursor, rest, errInvalid)
	}
	return id, nil
}

// Page implements engine.Lister: keyset paging by id, so that records
// written meanwhile and a server that orders an unordered result differently
// each time never make it skip a record.
func (s WebCRM) Page(ctx context.Context, cursor string, since time.Time, size int) ([]domain.Change, string, bool, error) {
	after, err := pageCursor(cursor)
	if err != nil {
		return nil, cursor, false, err
	}
	size = min(max(size, 1), pageMax)
	q := s.script(since).Where(webcrm.Gt(s.entity.IDField(), after)).OrderBy(s.entity.IDField() + " ASC")
	rows, err := s.c.Run(ctx, q, 1, size)
	if err != nil {
		return nil, cursor, false, err
	}
	last := after
	out := make([]domain.Change, 0, len(rows))
	for _, rec := range rows {
		ch, err := s.change(rec, domain.SourceBackfill)
		if err != nil {
			return nil, cursor, false, fmt.Errorf("%w (%w)", err, errInvalid)
		}
		id, _ := strconv.Atoi(ch.ID)
		if id <= last {
			return nil, cursor, false, fmt.Errorf("%s after id %d: id %d is out of order: the server ignored ORDER BY", s.Label(), after, id)
		}
		last = id
		out = append(out, ch)
	}
	return out, cursorAfter + strconv.Itoa(last), len(rows) < size, nil
}

// Count implements engine.Lister.
func (s WebCRM) Count(ctx context.Context, since time.Time) (int, error) {
	n := 0
	err := s.c.Scan(ctx, s.script(since, s.entity.IDField()), pageMax, func(rows []webcrm.Record) error {
		n += len(rows)
		return nil
	})
	return n, err
}

// IDs implements engine.Lister.
func (s WebCRM) IDs(ctx context.Context, progress func(n int)) (map[string]bool, error) {
	present := map[string]bool{}
	err := s.c.Scan(ctx, webcrm.Select(s.entity, s.entity.IDField()), pageMax, func(rows []webcrm.Record) error {
		for _, row := range rows {
			id, _ := row.ID(s.entity) // Scan has checked every id
			present[strconv.Itoa(id)] = true
		}
		progress(len(present))
		return nil
	})
	return present, err
}

// Mark implements engine.Lister: the UpdatedAt of the newest record (one
// request). A record whose stamp cannot be read gives no mark: the pairing
// then reads from its own position, slower, never wrong.
func (s WebCRM) Mark(ctx context.Context, _ func(int)) (domain.Positions, error) {
	q := webcrm.Select(s.entity, s.entity.IDField(), s.entity.UpdatedAtField()).OrderBy(s.entity.UpdatedAtField() + " DESC")
	rows, err := s.c.Run(ctx, q, 1, 1)
	if err != nil || len(rows) == 0 {
		return domain.Positions{}, err
	}
	at, err := rows[0].UpdatedAt(s.entity)
	if err != nil {
		s.log.WarnContext(ctx, "newest webCRM record has no readable change time; the backfill hands no webCRM position over",
			"entity", string(s.entity), "error", err)
		return domain.Positions{}, nil
	}
	return domain.Positions{WebCRMSince: at}, nil
}

// ReadIndex implements engine.IndexFeed: every record's value of the
// property and its correlation token from the cursor "", else those changed
// since the UpdatedAt the cursor holds.
func (s WebCRM) ReadIndex(ctx context.Context, path, cursor string, put func(engine.IndexEntry)) (string, error) {
	since := time.Time{}
	add := func(row webcrm.Record) {
		id, err := row.ID(s.entity)
		if err != nil {
			return
		}
		put(engine.IndexEntry{ID: strconv.Itoa(id), Value: row[path], Token: s.Token(row)})
		if at, err := row.UpdatedAt(s.entity); err == nil && at.After(since) {
			since = at
		}
	}
	if cursor == "" {
		cols := []string{s.entity.IDField(), path, s.entity.UpdatedAtField()}
		if s.correlation != "" && s.correlation != path {
			cols = append(cols, s.correlation)
		}
		err := s.c.Scan(ctx, webcrm.Select(s.entity, cols...), pageMax, func(rows []webcrm.Record) error {
			for _, row := range rows {
				add(row)
			}
			return nil
		})
		return Version(since), err
	}
	var err error
	if since, err = time.Parse(time.RFC3339Nano, cursor); err != nil {
		return cursor, fmt.Errorf("index cursor %q: %w", cursor, err)
	}
	for {
		from := since
		rows, next, err := s.c.ChangedSince(ctx, s.entity, from, pageMax)
		if err != nil {
			return Version(from), err
		}
		for _, row := range rows {
			add(row)
		}
		if len(rows) < pageMax || !next.After(from) {
			return Version(since), nil
		}
	}
}

// BatchWebCRM is the webCRM store of a pairing with a correlation field,
// which creates records in batches.
type BatchWebCRM struct{ WebCRM }

var _ engine.BatchStore = BatchWebCRM{}

// MaxBatch implements engine.BatchStore.
func (s BatchWebCRM) MaxBatch() int { return webcrm.MaxBatch }

// CreateBatch implements engine.BatchStore with webcrm.CreateBatch.
func (s BatchWebCRM) CreateBatch(ctx context.Context, bodies map[string]map[string]any, unseen bool) (map[string]engine.CreatedRecord, string, error) {
	recs := make(map[string]webcrm.Record, len(bodies))
	for tok, b := range bodies {
		recs[tok] = webcrm.Record(b)
	}
	res, err := s.c.CreateBatch(ctx, s.entity, recs, webcrm.BatchOptions{Unseen: unseen})
	if err != nil {
		return nil, "", err
	}
	out := make(map[string]engine.CreatedRecord, len(res.Created))
	for tok, rec := range res.Created {
		id, err := rec.ID(s.entity)
		if err != nil {
			continue
		}
		r, err := s.record(rec)
		if err != nil {
			continue
		}
		out[tok] = engine.CreatedRecord{ID: strconv.Itoa(id), Record: r}
	}
	for tok, err := range res.Duplicates {
		s.log.WarnContext(ctx, "several webCRM records carry one link's token; its link reports them", "entity", string(s.entity), "token", tok, "error", err)
	}
	return out, res.Rejected, nil
}
