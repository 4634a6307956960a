package erpsim

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/tandemsync/tandem/customerp"
)

// timeLayout is how updatedAt is written: RFC 3339, UTC, microseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z"

const schemaSQL = `
CREATE TABLE IF NOT EXISTS records (
	resource   TEXT NOT NULL,
	id         TEXT NOT NULL,
	n          INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	updated_at TEXT NOT NULL,
	data       TEXT NOT NULL,
	PRIMARY KEY (resource, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_n ON records (resource, n);
CREATE TABLE IF NOT EXISTS lookups (
	resource TEXT NOT NULL,
	name     TEXT NOT NULL,
	value    TEXT NOT NULL,
	id       TEXT NOT NULL,
	PRIMARY KEY (resource, name, value, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lookups_by_id ON lookups (resource, id);
CREATE TABLE IF NOT EXISTS changes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	resource TEXT NOT NULL,
	id       TEXT NOT NULL,
	version  INTEGER NOT NULL,
	deleted  INTEGER NOT NULL,
	at       TEXT NOT NULL,
	data     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_resource ON changes (resource, seq);
CREATE TABLE IF NOT EXISTS idempotency (
	key       TEXT PRIMARY KEY,
	resource  TEXT NOT NULL,
	body_hash TEXT NOT NULL,
	id        TEXT NOT NULL,
	at        TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
	resource TEXT PRIMARY KEY,
	n        INTEGER NOT NULL
) WITHOUT ROWID;
`

// store keeps the records, their change feed and the idempotency keys in SQLite. All writes go
// through write, one at a time on a single connection, so the order of commits is the order of
// change sequence numbers.
type store struct {
	w      *sql.DB // the one writer connection
	r      *sql.DB // readers (the same pool as w when in memory)
	mu     sync.Mutex
	now    func() time.Time
	lastAt time.Time // the last commit time handed out; commit times never go backwards
	// committed is closed (and replaced) at every commit, waking the feed's long polls.
	cmu       sync.Mutex
	committed chan struct{}
}

// commits returns a channel that is closed at the next commit.
func (s *store) commits() <-chan struct{} {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.committed == nil {
		s.committed = make(chan struct{})
	}
	return s.committed
}

// notifyCommit wakes every long poll waiting for a commit.
func (s *store) notifyCommit() {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.committed != nil {
		close(s.committed)
		s.committed = nil
	}
}

func openStore(ctx context.Context, path string, now func() time.Time) (*store, error) {
	s := &store{now: now}
	if path == "" {
		db, err := sql.Open("sqlite", "file::memory:?_pragma=foreign_keys(0)")
		if err != nil {
			return nil, fmt.Errorf("erpsim: open in-memory database: %w", err)
		}
		// One connection that never closes: it is the database.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.w, s.r = db, db
	} else {
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "busy_timeout(10000)")
		q.Set("_txlock", "immediate")
		w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("erpsim: open %s: %w", path, err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		rq := url.Values{}
		rq.Add("_pragma", "busy_timeout(10000)")
		rq.Add("_pragma", "query_only(1)")
		r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
		if err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("erpsim: open %s for reading: %w", path, err)
		}
		r.SetMaxOpenConns(8)
		r.SetMaxIdleConns(8)
		s.w, s.r = w, r
	}
	if _, err := s.w.ExecContext(ctx, schemaSQL); err != nil {
		_ = s.close()
		return nil, fmt.Errorf("erpsim: create tables: %w", err)
	}
	var last sql.NullString
	if err := s.w.QueryRowContext(ctx, `SELECT max(at) FROM changes`).Scan(&last); err != nil {
		_ = s.close()
		return nil, fmt.Errorf("erpsim: read last commit time: %w", err)
	}
	if last.Valid {
		if t, err := time.Parse(timeLayout, last.String); err == nil {
			s.lastAt = t
		}
	}
	return s, nil
}

func (s *store) close() error {
	var errs []error
	if s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// tx is one write transaction: every change it makes gets the same commit time.
type tx struct {
	tx      *sql.Tx
	ctx     context.Context
	at      time.Time
	written map[customerp.Resource]int // changes appended per resource
}

// write runs fn in a write transaction and commits it; fn's error rolls everything back.
func (s *store) write(ctx context.Context, fn func(t *tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("erpsim: begin: %w", err)
	}
	at := s.now().UTC().Truncate(time.Microsecond)
	if !at.After(s.lastAt) {
		at = s.lastAt.Add(time.Microsecond)
	}
	t := &tx{tx: sqlTx, ctx: ctx, at: at, written: map[customerp.Resource]int{}}
	if err := fn(t); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("erpsim: commit: %w", err)
	}
	s.lastAt = at
	s.notifyCommit()
	return nil
}

func (t *tx) atText() string { return t.at.Format(timeLayout) }

// get reads a live record.
func (t *tx) get(r customerp.Resource, id string) (map[string]any, bool, error) {
	return getRecord(t.ctx, t.tx, r, id)
}

// rowQuerier is what *sql.DB and *sql.Tx share.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getRecord reads a live record through q.
func getRecord(ctx context.Context, q rowQuerier, r customerp.Resource, id string) (map[string]any, bool, error) {
	var data string
	err := q.QueryRowContext(ctx, `SELECT data FROM records WHERE resource = ? AND id = ?`, string(r), id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("erpsim: read %s/%s: %w", r, id, err)
	}
	m, err := decodeStored(data)
	if err != nil {
		return nil, false, fmt.Errorf("erpsim: decode %s/%s: %w", r, id, err)
	}
	return m, true, nil
}

// exists reports whether a live record r/id exists.
func (t *tx) exists(r customerp.Resource, id string) (bool, error) {
	var one int
	err := t.tx.QueryRowContext(t.ctx, `SELECT 1 FROM records WHERE resource = ? AND id = ?`, string(r), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("erpsim: read %s/%s: %w", r, id, err)
	}
	return true, nil
}

// lookup returns the ids of live records of r whose look-up name equals value.
func (t *tx) lookup(r customerp.Resource, name, value string) ([]string, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id FROM lookups WHERE resource = ? AND name = ? AND value = ? ORDER BY id`, string(r), name, value)
	if err != nil {
		return nil, fmt.Errorf("erpsim: look up %s by %s: %w", r, name, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("erpsim: look up %s by %s: %w", r, name, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// newID allocates the next id of r; ids are never reused, not even after a reset.
func (t *tx) newID(r customerp.Resource) (string, int64, error) {
	var n int64
	err := t.tx.QueryRowContext(t.ctx,
		`INSERT INTO counters (resource, n) VALUES (?, 1001) ON CONFLICT (resource) DO UPDATE SET n = n + 1 RETURNING n`,
		string(r)).Scan(&n)
	if err != nil {
		return "", 0, fmt.Errorf("erpsim: allocate %s id: %w", r, err)
	}
	return idPrefix[r] + strconv.FormatInt(n, 10), n, nil
}

// idPrefix starts the ids of each resource, so that ids of different resources never collide.
var idPrefix = map[customerp.Resource]string{
	customerp.Customers:  "CU-",
	customerp.Contacts:   "CT-",
	customerp.Products:   "PR-",
	customerp.Orders:     "OR-",
	customerp.OrderLines: "OL-",
}

// idNumber is the numeric part of an id, its position in list order.
func idNumber(r customerp.Resource, id string) (int64, bool) {
	p := idPrefix[r]
	if len(id) <= len(p) || id[:len(p)] != p {
		return 0, false
	}
	n, err := strconv.ParseInt(id[len(p):], 10, 64)
	return n, err == nil
}

// save stores rec (which already carries id, version and updatedAt) as the live record, with
// its look-up keys, and appends a change to the feed.
func (t *tx) save(r customerp.Resource, rec map[string]any, keys map[string]string) error {
	id, _ := rec["id"].(string)
	version := mustInt(rec["version"])
	n, ok := idNumber(r, id)
	if !ok {
		return fmt.Errorf("erpsim: save %s/%s: malformed id", r, id)
	}
	data, err := encodeStored(rec)
	if err != nil {
		return fmt.Errorf("erpsim: encode %s/%s: %w", r, id, err)
	}
	if _, err := t.tx.ExecContext(t.ctx,
		`INSERT INTO records (resource, id, n, version, updated_at, data) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (resource, id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at, data = excluded.data`,
		string(r), id, n, version, t.atText(), data); err != nil {
		return fmt.Errorf("erpsim: store %s/%s: %w", r, id, err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM lookups WHERE resource = ? AND id = ?`, string(r), id); err != nil {
		return fmt.Errorf("erpsim: clear look-ups of %s/%s: %w", r, id, err)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if keys[name] == "" {
			continue
		}
		if _, err := t.tx.ExecContext(t.ctx, `INSERT OR IGNORE INTO lookups (resource, name, value, id) VALUES (?, ?, ?, ?)`,
			string(r), name, keys[name], id); err != nil {
			return fmt.Errorf("erpsim: index %s/%s by %s: %w", r, id, name, err)
		}
	}
	return t.appendChange(r, id, version, false, data)
}

// remove deletes the live record r/id (whose last state is last) and appends a tombstone with
// the next version.
func (t *tx) remove(r customerp.Resource, id string, last map[string]any) error {
	version := mustInt(last["version"]) + 1
	data, err := encodeStored(last)
	if err != nil {
		return fmt.Errorf("erpsim: encode %s/%s: %w", r, id, err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM records WHERE resource = ? AND id = ?`, string(r), id); err != nil {
		return fmt.Errorf("erpsim: delete %s/%s: %w", r, id, err)
	}
	if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM lookups WHERE resource = ? AND id = ?`, string(r), id); err != nil {
		return fmt.Errorf("erpsim: delete look-ups of %s/%s: %w", r, id, err)
	}
	return t.appendChange(r, id, version, true, data)
}

func (t *tx) appendChange(r customerp.Resource, id string, version int64, deleted bool, data string) error {
	del := 0
	if deleted {
		del = 1
	}
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO changes (resource, id, version, deleted, at, data) VALUES (?, ?, ?, ?, ?, ?)`,
		string(r), id, version, del, t.atText(), data); err != nil {
		return fmt.Errorf("erpsim: append change of %s/%s: %w", r, id, err)
	}
	t.written[r]++
	return nil
}

// idempotent returns what an earlier create with key stored, if any.
func (t *tx) idempotent(key string) (resource, hash, id string, found bool, err error) {
	err = t.tx.QueryRowContext(t.ctx, `SELECT resource, body_hash, id FROM idempotency WHERE key = ?`, key).Scan(&resource, &hash, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", "", false, nil
	}
	if err != nil {
		return "", "", "", false, fmt.Errorf("erpsim: read idempotency key: %w", err)
	}
	return resource, hash, id, true, nil
}

func (t *tx) rememberKey(key string, r customerp.Resource, hash, id string) error {
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO idempotency (key, resource, body_hash, id, at) VALUES (?, ?, ?, ?, ?)`,
		key, string(r), hash, id, t.atText()); err != nil {
		return fmt.Errorf("erpsim: store idempotency key for %s/%s: %w", r, id, err)
	}
	return nil
}

// reset removes every record, change and idempotency key. Id counters and the change
// sequence keep counting, so ids and feed tokens handed out before stay unambiguous.
func (s *store) reset(ctx context.Context) error {
	return s.write(ctx, func(t *tx) error {
		for _, q := range []string{`DELETE FROM records`, `DELETE FROM lookups`, `DELETE FROM changes`, `DELETE FROM idempotency`} {
			if _, err := t.tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("erpsim: reset: %w", err)
			}
		}
		return nil
	})
}

// --- reads (outside write transactions) ---

// get reads a live record.
func (s *store) get(ctx context.Context, r customerp.Resource, id string) (map[string]any, bool, error) {
	return getRecord(ctx, s.r, r, id)
}

// list returns up to limit live records of r after position after, matching every filter
// (look-up name -> normalised value), and whether more follow.
func (s *store) list(ctx context.Context, r customerp.Resource, filters map[string]string, after int64, limit int) ([]map[string]any, []int64, bool, error) {
	names := make([]string, 0, len(filters))
	for k := range filters {
		names = append(names, k)
	}
	sort.Strings(names)
	q := `SELECT r.n, r.data FROM records r WHERE r.resource = ? AND r.n > ?`
	args := []any{string(r), after}
	if len(names) > 0 {
		// A filtered list starts from the lookup index of its first filter
		// (CROSS JOIN fixes that order), not from a walk of every record in
		// n order that tests each one: a match lookup stays cheap however
		// many records there are.
		q = `SELECT r.n, r.data FROM lookups f CROSS JOIN records r ON r.resource = f.resource AND r.id = f.id
			WHERE f.resource = ? AND f.name = ? AND f.value = ? AND r.n > ?`
		args = []any{string(r), names[0], filters[names[0]], after}
		names = names[1:]
	}
	for _, name := range names {
		q += ` AND EXISTS (SELECT 1 FROM lookups l WHERE l.resource = r.resource AND l.id = r.id AND l.name = ? AND l.value = ?)`
		args = append(args, name, filters[name])
	}
	q += ` ORDER BY r.n LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, false, fmt.Errorf("erpsim: list %s: %w", r, err)
	}
	defer rows.Close()
	var recs []map[string]any
	var ns []int64
	for rows.Next() {
		var n int64
		var data string
		if err := rows.Scan(&n, &data); err != nil {
			return nil, nil, false, fmt.Errorf("erpsim: list %s: %w", r, err)
		}
		m, err := decodeStored(data)
		if err != nil {
			return nil, nil, false, fmt.Errorf("erpsim: list %s: decode: %w", r, err)
		}
		recs = append(recs, m)
		ns = append(ns, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("erpsim: list %s: %w", r, err)
	}
	more := len(recs) > limit
	if more {
		recs, ns = recs[:limit], ns[:limit]
	}
	return recs, ns, more, nil
}

// change is one row of the feed.
type change struct {
	Seq       int64
	ID        string
	Version   int64
	UpdatedAt string
	Deleted   bool
	Record    json.RawMessage
}

// changes returns up to limit changes of r with seq greater than since, in seq order.
func (s *store) changes(ctx context.Context, r customerp.Resource, since int64, limit int) ([]change, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT seq, id, version, deleted, at, data FROM changes WHERE resource = ? AND seq > ? ORDER BY seq LIMIT ?`,
		string(r), since, limit)
	if err != nil {
		return nil, fmt.Errorf("erpsim: read %s feed: %w", r, err)
	}
	defer rows.Close()
	var out []change
	for rows.Next() {
		var c change
		var data string
		if err := rows.Scan(&c.Seq, &c.ID, &c.Version, &c.Deleted, &c.UpdatedAt, &data); err != nil {
			return nil, fmt.Errorf("erpsim: read %s feed: %w", r, err)
		}
		c.Record = json.RawMessage(data)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("erpsim: read %s feed: %w", r, err)
	}
	return out, nil
}

// counts returns the number of live records and of feed entries per resource.
func (s *store) counts(ctx context.Context) (map[string]int64, map[string]int64, error) {
	recs, chs := map[string]int64{}, map[string]int64{}
	for _, q := range []struct {
		sql string
		dst map[string]int64
	}{
		{`SELECT resource, count(*) FROM records GROUP BY resource`, recs},
		{`SELECT resource, count(*) FROM changes GROUP BY resource`, chs},
	} {
		rows, err := s.r.QueryContext(ctx, q.sql)
		if err != nil {
			return nil, nil, fmt.Errorf("erpsim: count: %w", err)
		}
		for rows.Next() {
			var r string
			var n int64
			if err := rows.Scan(&r, &n); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("erpsim: count: %w", err)
			}
			q.dst[r] = n
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("erpsim: count: %w", err)
		}
	}
	return recs, chs, nil
}

func encodeStored(m map[string]any) (string, error) {
	b, err := json.Marshal(m)
	return string(b), err
}

func decodeStored(s string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// mustInt reads a stored integer (json.Number or int64); 0 when absent.
func mustInt(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		n, _ := strconv.ParseInt(string(x), 10, 64)
		return n
	case int64:
		return x
	case int:
		return int64(x)
	}
	return 0
}
