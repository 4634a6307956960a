package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// This file holds in-memory fakes of everything the engine depends on (a
// store, feeds and a lister per side, the link workflows, metrics, a
// classifier of client errors and a clock) and env, which wires them into an
// Engine the way the activities wire the real ones.

// ---------------------------------------------------------------- clock

// fakeClock is a deterministic clock: every reading is one millisecond after
// the one before, so time moves on (as the merge index's refresh rule needs)
// without depending on the machine.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

var epoch = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func newClock() *fakeClock { return &fakeClock{t: epoch} }

// Now returns the next reading.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// ---------------------------------------------------------------- errors

// apiError is an error of a system's client, of a class fakeClassify tells.
type apiError struct {
	class Class
	msg   string
	retry time.Duration
}

func (e *apiError) Error() string { return e.msg }

// clientErr returns a client error of the given class.
func clientErr(class Class, format string, args ...any) error {
	return &apiError{class: class, msg: fmt.Sprintf(format, args...)}
}

// fakeClassify is the Classifier of the fakes' client errors; any other error
// is Transient, as stores.Classify has it.
func fakeClassify(err error) Classification {
	var a *apiError
	if errors.As(err, &a) {
		return Classification{Class: a.class, RetryAfter: a.retry}
	}
	return Classification{Class: Transient}
}

// ---------------------------------------------------------------- records

// fakeDB holds one webCRM entity's or one ERP resource's records as the
// system's API shapes them (webCRM: DTO properties with an OrganisationId and
// an OrganisationUpdatedAt; ERP: JSON with id, version and updatedAt), and a
// log of every write, which the ERP change feed and the index feeds read. It
// can be told to fail, to rewrite the values tandem writes, and counts calls.
type fakeDB struct {
	mu      sync.Mutex
	side    domain.Side
	name    string // entity or resource
	idProp  string // "OrganisationId" or "id"
	atProp  string // "OrganisationUpdatedAt" or "updatedAt"
	tokProp string // the correlation property ("" for none); externalRef on the ERP
	prefix  string // ERP id prefix
	clock   *fakeClock
	next    int
	recs    map[string]map[string]any
	log     []logEntry
	// waits records the (wait, interval) of each WaitChanges call.
	waits [][2]time.Duration

	// fails fails every call of an operation; fault, when set, decides per
	// operation and key (the record id, or the token of a create).
	fails map[string]error
	fault func(op, key string) error
	// rewrite changes a value tandem writes, as a server that reformats
	// values does.
	rewrite func(prop string, v any) any
	// between is a person's edit made after tandem's write and before its
	// read-back (webCRM reads a record back after a PUT).
	between func(rec map[string]any)
	// noReadBack makes an update answer without the stored record.
	noReadBack bool
	// rejectBatch refuses a whole batch create with this reason.
	rejectBatch string
	// lostBatchAnswer, when set, is the error a batch create returns after
	// writing its records: the answer was lost.
	lostBatchAnswer error
	// unlisted are ids listings (IDs, Find) miss, though a read by id finds them.
	unlisted map[string]bool
	// badRows are rows of the webCRM change feed it could not read.
	badRows  int
	maxBatch int
	calls    map[string]int
	// changed holds the properties of each update's changes, in order.
	changed [][]string
}

type logEntry struct {
	id   string
	rec  map[string]any // nil: deleted
	last map[string]any // a deleted record's last state
}

func newDB(side domain.Side, name, tokProp string, clock *fakeClock) *fakeDB {
	db := &fakeDB{side: side, name: name, tokProp: tokProp, clock: clock, recs: map[string]map[string]any{},
		fails: map[string]error{}, unlisted: map[string]bool{}, calls: map[string]int{}, maxBatch: 100}
	if side == domain.WebCRM {
		table := strings.TrimSuffix(name, "s")
		if strings.HasSuffix(name, "ies") {
			table = strings.TrimSuffix(name, "ies") + "y"
		}
		db.idProp, db.atProp = table+"Id", table+"UpdatedAt"
	} else {
		db.idProp, db.atProp = "id", "updatedAt"
		db.prefix = map[string]string{"customers": "CU-", "contacts": "CO-", "products": "PR-", "orders": "OR-", "order-lines": "OL-"}[name]
	}
	return db
}

// jsonCopy is a deep copy of m as a client decodes it (numbers as
// json.Number).
func jsonCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		panic(err)
	}
	return out
}

// hit counts a call and returns the failure it was told to give. The caller
// holds db.mu.
func (db *fakeDB) hit(op, key string) error {
	db.calls[op]++
	if err := db.fails[op]; err != nil {
		return err
	}
	if db.fault != nil {
		return db.fault(op, key)
	}
	return nil
}

// count returns how many calls of op the store has had.
func (db *fakeDB) count(op string) int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.calls[op]
}

// writes counts the writes tandem made.
func (db *fakeDB) writes() int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.calls["create"] + db.calls["update"] + db.calls["remove"] + db.calls["batch-created"]
}

func (db *fakeDB) label() string {
	if db.side == domain.WebCRM {
		return "webCRM " + db.name
	}
	return "ERP " + db.name
}

func (db *fakeDB) newID() string {
	db.next++
	if db.side == domain.WebCRM {
		return strconv.Itoa(db.next)
	}
	return db.prefix + strconv.Itoa(1000+db.next)
}

// stamp gives rec a new change time (and, on the ERP, a new version) and logs
// the write. The caller holds db.mu.
func (db *fakeDB) stamp(id string, rec map[string]any) {
	now := db.clock.Now()
	if db.side == domain.WebCRM {
		rec[db.atProp] = now.Format(time.RFC3339Nano)
	} else {
		v, _ := strconv.ParseInt(fmt.Sprint(rec["version"]), 10, 64)
		rec["version"] = json.Number(strconv.FormatInt(v+1, 10))
		rec["updatedAt"] = now.Format(time.RFC3339Nano)
	}
	db.recs[id] = rec
	db.log = append(db.log, logEntry{id: id, rec: jsonCopy(rec)})
}

// record turns a stored record into what a store returns.
func (db *fakeDB) record(rec map[string]any) (Record, error) {
	out := Record{Fields: jsonCopy(rec)}
	at, _ := rec[db.atProp].(string)
	t, err := time.Parse(time.RFC3339Nano, at)
	if db.side == domain.WebCRM {
		if err != nil {
			return Record{}, clientErr(Validation, "%s record has no readable %s", db.label(), db.atProp)
		}
		out.Version, out.UpdatedAt = t.UTC().Format(time.RFC3339Nano), t.UTC()
		return out, nil
	}
	v, ok := rec["version"].(json.Number)
	if !ok {
		return Record{}, clientErr(Validation, "%s record has no readable version", db.label())
	}
	out.Version = v.String()
	if err == nil {
		out.UpdatedAt = t.UTC()
	}
	return out, nil
}

// add creates a record as a person does in the system's UI and returns its
// id.
func (db *fakeDB) add(fields map[string]any) string {
	db.mu.Lock()
	defer db.mu.Unlock()
	id := db.newID()
	rec := jsonCopy(fields)
	if db.side == domain.WebCRM {
		rec[db.idProp] = json.Number(id)
	} else {
		rec["id"] = id
	}
	db.stamp(id, rec)
	return id
}

// edit changes a record as a person does.
func (db *fakeDB) edit(id string, changes map[string]any) {
	db.mu.Lock()
	defer db.mu.Unlock()
	rec := db.recs[id]
	if rec == nil {
		panic("edit of a missing record " + id)
	}
	deepMerge(rec, jsonCopy(changes))
	db.stamp(id, rec)
}

// drop deletes a record as a person does (the ERP feed gets a tombstone).
func (db *fakeDB) drop(id string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	last := db.recs[id]
	delete(db.recs, id)
	db.log = append(db.log, logEntry{id: id, last: jsonCopy(last)})
}

// setStamp sets a webCRM record's change time.
func (db *fakeDB) setStamp(id string, at time.Time) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.recs[id][db.atProp] = at.UTC().Format(time.RFC3339Nano)
}

// setField sets a property of a stored record without a new change time.
func (db *fakeDB) setField(id, prop string, v any) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.recs[id][prop] = v
}

// get returns a copy of a stored record, nil when there is none.
func (db *fakeDB) get(id string) map[string]any {
	db.mu.Lock()
	defer db.mu.Unlock()
	return jsonCopy(db.recs[id])
}

// size is the number of records.
func (db *fakeDB) size() int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return len(db.recs)
}

// findToken returns the id of the record carrying a correlation token. The
// caller holds db.mu.
func (db *fakeDB) findToken(tok string) string {
	if db.tokProp == "" || tok == "" {
		return ""
	}
	for _, id := range db.sortedIDs() {
		if v, _ := db.recs[id][db.tokProp].(string); v == tok {
			return id
		}
	}
	return ""
}

// change is the change a poll delivers of a record as it is now.
func (db *fakeDB) change(id string) domain.Change {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.changeOf(id, db.recs[id], domain.SourcePoll)
}

func (db *fakeDB) changeOf(id string, rec map[string]any, source string) domain.Change {
	ch := domain.Change{Side: db.side, ID: id, Source: source}
	r, err := db.record(rec)
	if err != nil {
		return ch // a row the feed could not read: its link reads the record
	}
	ch.Version = r.Version
	ch.Record, _ = json.Marshal(rec)
	return ch
}

// sortedIDs lists the ids in their numeric order. The caller holds db.mu.
func (db *fakeDB) sortedIDs() []string {
	ids := make([]string, 0, len(db.recs))
	for id := range db.recs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	return ids
}

// idLess orders ids of one system: by length, then by text (numbers and
// prefixed numbers of equal width).
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// deepMerge overlays src onto dst, nested objects key by key.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		sub, ok := v.(map[string]any)
		if !ok {
			dst[k] = v
			continue
		}
		cur, _ := dst[k].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		}
		deepMerge(cur, sub)
		dst[k] = cur
	}
}

// written is body as the server stores it: rewritten where it rewrites.
func (db *fakeDB) written(body map[string]any) map[string]any {
	out := jsonCopy(body)
	if db.rewrite != nil {
		for k, v := range out {
			out[k] = db.rewrite(k, v)
		}
	}
	return out
}

// ---- Store, shared by both sides

// Label implements Store.
func (db *fakeDB) Label() string { return db.label() }

// Get implements Store.
func (db *fakeDB) Get(_ context.Context, id string) (Record, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("get", id); err != nil {
		return Record{}, err
	}
	rec, ok := db.recs[id]
	if !ok {
		return Record{Gone: true}, nil
	}
	return db.record(rec)
}

// Decode implements Store.
func (db *fakeDB) Decode(raw json.RawMessage) (Record, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		return Record{}, clientErr(Validation, "decode delivered %s record: %v", db.label(), err)
	}
	r, err := db.record(rec)
	r.Delivered = true
	return r, err
}

// Find implements Store: the records whose property equals value; webCRM,
// SQL-backed, compares text without regard to case.
func (db *fakeDB) Find(_ context.Context, property, value string) ([]string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("find", value); err != nil {
		return nil, err
	}
	var out []string
	for _, id := range db.sortedIDs() {
		if db.unlisted[id] {
			continue
		}
		v := lookupPath(db.recs[id], property)
		if v == nil {
			continue
		}
		if s := fmt.Sprint(v); s == value || (db.side == domain.WebCRM && strings.EqualFold(s, value)) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Create implements Store. A create that finds a record carrying its token
// returns it instead of creating another.
func (db *fakeDB) Create(_ context.Context, body map[string]any, token string) (string, Record, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("create", token); err != nil {
		return "", Record{}, err
	}
	id, err := db.create(body, token)
	if err != nil {
		return "", Record{}, err
	}
	r, err := db.record(db.recs[id])
	r.ReadBack = true
	return id, r, err
}

// create stores a new record carrying token, or finds the one that does. The
// caller holds db.mu.
func (db *fakeDB) create(body map[string]any, token string) (string, error) {
	return db.createAs(body, token, true)
}

// createAs is create; lookUp false writes a new record even when one
// carries the token already.
func (db *fakeDB) createAs(body map[string]any, token string, lookUp bool) (string, error) {
	if id := db.findToken(token); lookUp && id != "" {
		return id, nil
	}
	id := db.newID()
	rec := db.written(body)
	if db.tokProp != "" && token != "" {
		rec[db.tokProp] = token
	}
	if db.side == domain.WebCRM {
		rec[db.idProp] = json.Number(id)
	} else {
		rec["id"] = id
		delete(rec, "version")
	}
	db.stamp(id, rec)
	return id, nil
}

// erpReadOnly are the ERP properties a PUT leaves out.
var erpReadOnly = []string{"id", "version", "updatedAt"}

// Update implements Store. webCRM: a PUT of the whole record (current, when
// it was read just now, else the stored one) with the changes, then a read
// back. ERP: a PUT with If-Match of current's version, answered with the
// stored record.
func (db *fakeDB) Update(_ context.Context, id string, current Record, changes map[string]any) (Record, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("update", id); err != nil {
		return Record{}, err
	}
	stored, ok := db.recs[id]
	if !ok {
		return Record{}, clientErr(NotFound, "%s %s: 404", db.label(), id)
	}
	base := jsonCopy(stored)
	if db.side == domain.ERP {
		if current.Fields == nil {
			current, _ = db.record(stored)
		}
		if current.Version != fmt.Sprint(stored["version"]) {
			return Record{}, clientErr(Stale, "%s %s: 412: version %s is not %v", db.label(), id, current.Version, stored["version"])
		}
		base = jsonCopy(current.Fields)
		for _, k := range erpReadOnly {
			delete(base, k)
		}
		base["id"], base["version"] = id, stored["version"]
	} else if current.Fields != nil && !current.Delivered && !current.Gone {
		base = jsonCopy(current.Fields)
	}
	db.changed = append(db.changed, slices.Sorted(maps.Keys(changes)))
	deepMerge(base, db.written(changes))
	db.stamp(id, base)
	answer := jsonCopy(base)
	if db.between != nil {
		db.between(base)
		db.stamp(id, base)
		if db.side == domain.WebCRM {
			answer = jsonCopy(base) // webCRM's read-back sees the edit
		}
	}
	if db.noReadBack {
		r := Record{Fields: answer}
		if db.side == domain.ERP {
			r.Version = fmt.Sprint(answer["version"]) // the ERP answers its new version
		}
		return r, nil
	}
	r, err := db.record(answer)
	r.ReadBack = true
	return r, err
}

// Remove implements Store.
func (db *fakeDB) Remove(_ context.Context, id string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("remove", id); err != nil {
		return err
	}
	if _, ok := db.recs[id]; ok {
		delete(db.recs, id)
		db.log = append(db.log, logEntry{id: id})
	}
	return nil
}

// Token implements Store.
func (db *fakeDB) Token(fields map[string]any) string {
	if db.tokProp == "" {
		return ""
	}
	v, _ := fields[db.tokProp].(string)
	if db.side == domain.ERP && !strings.HasPrefix(v, "link/") {
		return ""
	}
	return v
}

// CarriesToken implements Store.
func (db *fakeDB) CarriesToken() bool { return db.tokProp != "" }

// ---- feeds and listers, shared

// readIndex implements IndexFeed from the log: every record from "", the
// writes since the cursor (a log position) after it.
func (db *fakeDB) readIndex(path, cursor string, accepts func(map[string]any) bool, put func(IndexEntry)) (string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("index", cursor); err != nil {
		return cursor, err
	}
	give := func(id string, rec map[string]any) {
		if rec == nil || (accepts != nil && !accepts(rec)) {
			put(IndexEntry{ID: id, Gone: true})
			return
		}
		tok := ""
		if db.tokProp != "" {
			tok, _ = rec[db.tokProp].(string)
		}
		put(IndexEntry{ID: id, Value: lookupPath(rec, path), Token: tok})
	}
	if cursor == "" {
		for _, id := range db.sortedIDs() {
			give(id, db.recs[id])
		}
		return strconv.Itoa(len(db.log)), nil
	}
	from, err := strconv.Atoi(cursor)
	if err != nil {
		return cursor, clientErr(Validation, "index cursor %q", cursor)
	}
	for _, e := range db.log[from:] {
		give(e.id, e.rec)
	}
	return strconv.Itoa(len(db.log)), nil
}

// page implements Lister.Page: records after the cursor (the last id of the
// page before), in id order.
func (db *fakeDB) page(cursor string, since time.Time, size int, accepts func(map[string]any) bool) ([]domain.Change, string, bool, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("page", cursor); err != nil {
		return nil, cursor, false, err
	}
	var todo []string
	for _, id := range db.sortedIDs() {
		rec := db.recs[id]
		if cursor != "" && !idLess(cursor, id) {
			continue
		}
		if accepts != nil && !accepts(rec) {
			continue
		}
		if !since.IsZero() {
			if r, err := db.record(rec); err != nil || r.UpdatedAt.Before(since) {
				continue
			}
		}
		todo = append(todo, id)
	}
	n := min(size, len(todo))
	out := make([]domain.Change, 0, n)
	for _, id := range todo[:n] {
		out = append(out, db.changeOf(id, db.recs[id], domain.SourceBackfill))
	}
	next := cursor
	if n > 0 {
		next = todo[n-1]
	}
	return out, next, n == len(todo), nil
}

func (db *fakeDB) countRecs(since time.Time, accepts func(map[string]any) bool) (int, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("count", ""); err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range db.recs {
		if accepts != nil && !accepts(rec) {
			continue
		}
		if r, err := db.record(rec); !since.IsZero() && (err != nil || r.UpdatedAt.Before(since)) {
			continue
		}
		n++
	}
	return n, nil
}

// IDs implements Lister: every id but those the listing misses.
func (db *fakeDB) IDs(_ context.Context, progress func(n int)) (map[string]bool, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.hit("ids", ""); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for id := range db.recs {
		if !db.unlisted[id] {
			out[id] = true
		}
	}
	progress(len(out))
	return out, nil
}

// ---------------------------------------------------------------- webCRM side

// crmStore is a webCRM entity: a BatchStore, its IndexFeed, WebCRMFeed and
// Lister.
type crmStore struct{ *fakeDB }

var (
	_ BatchStore = crmStore{}
	_ IndexFeed  = crmStore{}
	_ WebCRMFeed = crmStore{}
	_ Lister     = crmStore{}
)

// MaxBatch implements BatchStore.
func (s crmStore) MaxBatch() int { return s.maxBatch }

// CreateBatch implements BatchStore: each body becomes a record carrying its
// token (or the record that carries it already); a token the fault refuses is
// left out.
func (s crmStore) CreateBatch(_ context.Context, bodies map[string]map[string]any, unseen bool) (map[string]CreatedRecord, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !unseen {
		s.calls["batch-lookup"]++
	}
	if err := s.hit("batch", ""); err != nil {
		return nil, "", err
	}
	if s.rejectBatch != "" {
		return nil, s.rejectBatch, nil
	}
	tokens := make([]string, 0, len(bodies))
	for tok := range bodies {
		tokens = append(tokens, tok)
	}
	sort.Strings(tokens)
	out := map[string]CreatedRecord{}
	for _, tok := range tokens {
		if s.fault != nil && s.fault("batch", tok) != nil {
			continue
		}
		// Without the look-up (unseen) the write does not know a record
		// that carries the token already: it makes a second one.
		id, err := s.createAs(bodies[tok], tok, !unseen)
		if err != nil {
			return nil, "", err
		}
		s.calls["batch-created"]++
		r, _ := s.record(s.recs[id])
		out[tok] = CreatedRecord{ID: id, Record: r}
	}
	if err := s.lostBatchAnswer; err != nil {
		return nil, "", err
	}
	return out, "", nil
}

// GetMany implements BatchStore.
func (s crmStore) GetMany(_ context.Context, ids []string) (map[string]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.hit("getmany", strings.Join(ids, ",")); err != nil {
		return nil, err
	}
	out := map[string]Record{}
	for _, id := range ids {
		if rec, ok := s.recs[id]; ok {
			if r, err := s.record(rec); err == nil {
				r.Delivered = true
				out[id] = r
			}
		}
	}
	return out, nil
}

// ReadIndex implements IndexFeed.
func (s crmStore) ReadIndex(_ context.Context, path, cursor string, put func(IndexEntry)) (string, error) {
	return s.readIndex(path, cursor, nil, put)
}

// stamped lists the records with their change times, in (time, id) order.
// The caller holds s.mu.
func (s crmStore) stamped() ([]string, map[string]time.Time) {
	at := map[string]time.Time{}
	var ids []string
	for _, id := range s.sortedIDs() {
		if r, err := s.record(s.recs[id]); err == nil {
			at[id] = r.UpdatedAt
			ids = append(ids, id)
		}
	}
	sort.SliceStable(ids, func(i, j int) bool { return at[ids[i]].Before(at[ids[j]]) })
	return ids, at
}

// ChangedSince implements WebCRMFeed.
func (s crmStore) ChangedSince(_ context.Context, since time.Time, limit int) ([]domain.Change, time.Time, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.hit("since", ""); err != nil {
		return nil, since, 0, err
	}
	ids, at := s.stamped()
	var out []domain.Change
	next := since
	for _, id := range ids {
		if at[id].Before(since) {
			continue
		}
		if len(out) >= limit && at[id].After(next) {
			break
		}
		out = append(out, s.changeOf(id, s.recs[id], domain.SourcePoll))
		next = at[id]
	}
	// A row whose UpdatedAt cannot be read becomes a change without the
	// record, which its link reads.
	for _, id := range s.sortedIDs() {
		if _, ok := at[id]; !ok {
			out = append(out, s.changeOf(id, s.recs[id], domain.SourcePoll))
		}
	}
	return out, next, s.badRows, nil
}

// ChangedBetween implements WebCRMFeed.
func (s crmStore) ChangedBetween(_ context.Context, from, to time.Time) ([]domain.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.hit("between", ""); err != nil {
		return nil, err
	}
	ids, at := s.stamped()
	var out []domain.Change
	for _, id := range ids {
		if !at[id].Before(from) && at[id].Before(to) {
			out = append(out, s.changeOf(id, s.recs[id], domain.SourcePoll))
		}
	}
	return out, nil
}

// Page implements Lister.
func (s crmStore) Page(_ context.Context, cursor string, since time.Time, size int) ([]domain.Change, string, bool, error) {
	return s.page(cursor, since, size, nil)
}

// Count implements Lister.
func (s crmStore) Count(_ context.Context, since time.Time) (int, error) {
	return s.countRecs(since, nil)
}

// Mark implements Lister: the newest change time.
func (s crmStore) Mark(_ context.Context, progress func(int)) (domain.Positions, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.hit("mark", ""); err != nil {
		return domain.Positions{}, err
	}
	ids, at := s.stamped()
	progress(len(ids))
	if len(ids) == 0 {
		return domain.Positions{}, nil
	}
	return domain.Positions{WebCRMSince: at[ids[len(ids)-1]]}, nil
}

// plainStore is a webCRM store of an entity without a correlation field: it
// creates records one by one, and they carry no token.
type plainStore struct{ Store }

// ---------------------------------------------------------------- ERP side

// erpStore is one pairing's view of an ERP resource: a Store (not a batch
// one), its IndexFeed, ERPFeed and Lister; records the pairing's filter does
// not accept are not in its listings or its index.
type erpStore struct {
	*fakeDB
	accepts func(map[string]any) bool
}

var (
	_ Store     = erpStore{}
	_ IndexFeed = erpStore{}
	_ ERPFeed   = erpStore{}
	_ WaitFeed  = erpStore{}
	_ Lister    = erpStore{}
)

// WaitChanges implements WaitFeed: it records the wait and reads at once
// (the feed's log changes only between calls).
func (s erpStore) WaitChanges(ctx context.Context, token string, limit int, wait, interval time.Duration) ([]FeedItem, string, error) {
	s.mu.Lock()
	s.waits = append(s.waits, [2]time.Duration{wait, interval})
	s.mu.Unlock()
	return s.Changes(ctx, token, limit)
}

// Changes implements ERPFeed: the log's entries after the token (a log
// position).
func (s erpStore) Changes(_ context.Context, token string, limit int) ([]FeedItem, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.hit("changes", token); err != nil {
		return nil, "", err
	}
	from := 0
	if token != "" {
		var err error
		if from, err = strconv.Atoi(token); err != nil {
			return nil, "", clientErr(Validation, "feed token %q", token)
		}
	}
	end := min(from+limit, len(s.log))
	if end <= from {
		return nil, "", nil
	}
	var out []FeedItem
	for _, e := range s.log[from:end] {
		it := FeedItem{ID: e.id, Deleted: e.rec == nil, Record: jsonCopy(e.rec)}
		if e.rec == nil {
			it.Record = jsonCopy(e.last) // a tombstone carries the record's last state
		}
		if e.rec != nil {
			it.Version = fmt.Sprint(e.rec["version"])
		}
		out = append(out, it)
	}
	return out, strconv.Itoa(end), nil
}

// ReadIndex implements IndexFeed.
func (s erpStore) ReadIndex(_ context.Context, path, cursor string, put func(IndexEntry)) (string, error) {
	return s.readIndex(path, cursor, s.accepts, put)
}

// Page implements Lister.
func (s erpStore) Page(_ context.Context, cursor string, since time.Time, size int) ([]domain.Change, string, bool, error) {
	return s.page(cursor, time.Time{}, size, s.accepts)
}

// Count implements Lister.
func (s erpStore) Count(_ context.Context, _ time.Time) (int, error) {
	return s.countRecs(time.Time{}, s.accepts)
}

// Mark implements Lister: the head of the feed.
func (s erpStore) Mark(_ context.Context, _ func(int)) (domain.Positions, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.hit("mark", ""); err != nil {
		return domain.Positions{}, err
	}
	if len(s.log) == 0 {
		return domain.Positions{}, nil
	}
	return domain.Positions{ERPToken: strconv.Itoa(len(s.log))}, nil
}

// ---------------------------------------------------------------- links

// fakeLinks behaves like the link workflows in memory: a registry of link
// workflow IDs holding either a link (its state) or an index entry (its home).
// A change delivered to a link is applied with the engine's own Apply on the
// link's state, and the result stored, as LinkWorkflow does; deliveries follow
// index entries and Outcome.Forward as links.Client.send does.
type fakeLinks struct {
	eng *Engine

	mu      sync.Mutex
	wf      map[string]*fakeWF
	locks   map[string]*sync.Mutex
	calls   map[string]int
	fails   map[string]error // every call of an operation
	failID  map[string]error // "op workflowID": one workflow ID
	errs    map[string]error // the error each link's last apply ended in
	results map[string]domain.ApplyResult
	started []string
	ensured []string // the targets of Ensure, in order
	// countShort holds, for the next counts, how many links visibility
	// misses (it trails the links).
	countShort []int
	pageSize   int
}

type fakeWF struct {
	alias string // the home, for an index entry
	state domain.LinkState
}

func newFakeLinks() *fakeLinks {
	return &fakeLinks{wf: map[string]*fakeWF{}, locks: map[string]*sync.Mutex{}, calls: map[string]int{},
		fails: map[string]error{}, failID: map[string]error{}, errs: map[string]error{},
		results: map[string]domain.ApplyResult{}, pageSize: 100}
}

var _ Links = (*fakeLinks)(nil)

// hit counts a call and returns the failure it was told to give. The caller
// holds l.mu.
func (l *fakeLinks) hit(op, id string) error {
	l.calls[op]++
	if err := l.fails[op]; err != nil {
		return err
	}
	return l.failID[op+" "+id]
}

// count returns how many calls of op there were.
func (l *fakeLinks) count(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[op]
}

// seed puts a link with the given state in the registry.
func (l *fakeLinks) seed(linkID string, st domain.LinkState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.wf[linkID] = &fakeWF{state: st}
}

// state returns the state of the link with the given ID; ok is false when no
// link (but maybe an index entry) is there.
func (l *fakeLinks) state(linkID string) (domain.LinkState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.wf[linkID]
	if w == nil || w.alias != "" {
		return domain.LinkState{}, false
	}
	return w.state, true
}

// aliasOf returns the home of an index entry ("" when the ID is none).
func (l *fakeLinks) aliasOf(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.wf[id]; w != nil {
		return w.alias
	}
	return ""
}

// lastErr is the error the last apply of a link ended in.
func (l *fakeLinks) lastErr(linkID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs[linkID]
}

// result is the last ApplyResult of a link.
func (l *fakeLinks) result(linkID string) domain.ApplyResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.results[linkID]
}

// Inspect implements Links; like a client's call, it fails once the context
// is done.
func (l *fakeLinks) Inspect(ctx context.Context, linkID string) (LinkInfo, error) {
	if err := ctx.Err(); err != nil {
		return LinkInfo{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.hit("inspect", linkID); err != nil {
		return LinkInfo{}, err
	}
	w := l.wf[linkID]
	switch {
	case w == nil:
		return LinkInfo{}, nil
	case w.alias != "":
		return LinkInfo{Kind: AliasLink}, nil
	}
	info := LinkInfo{Kind: HomeLink, CrmID: w.state.CrmID, ErpID: w.state.ErpID, State: w.state.State}
	if w.state.State == domain.StateOK {
		info.Seen = domain.LinkMemo{CrmVersion: w.state.CrmVersion, ErpVersion: w.state.ErpVersion}
	}
	return info, nil
}

// FindHome implements Links: the record's own ID when a link runs there, the
// home of its index entry, else a link holding the record (the visibility
// look-up by id).
func (l *fakeLinks) FindHome(_ context.Context, pairing string, side domain.Side, id string) (string, error) {
	own := domain.LinkWorkflowID(pairing, side, id)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.hit("findhome", own); err != nil {
		return "", err
	}
	if w := l.wf[own]; w != nil {
		if w.alias != "" {
			return w.alias, nil
		}
		return own, nil
	}
	for _, lid := range l.linkIDs(pairing) {
		if l.wf[lid].state.ID(side) == id {
			return lid, nil
		}
	}
	return "", nil
}

// linkIDs lists a pairing's links (not index entries) in ID order. The caller
// holds l.mu.
func (l *fakeLinks) linkIDs(pairing string) []string {
	var out []string
	for id, w := range l.wf {
		if w.alias == "" && strings.HasPrefix(id, "link/"+pairing+"/") {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Apply implements Links.
func (l *fakeLinks) Apply(ctx context.Context, pairing string, ch domain.Change) (domain.Outcome, error) {
	return l.send(ctx, "apply", pairing, domain.LinkWorkflowID(pairing, ch.Side, ch.ID), ch)
}

// ApplyTo implements Links.
func (l *fakeLinks) ApplyTo(ctx context.Context, pairing, linkID string, ch domain.Change) (domain.Outcome, error) {
	return l.send(ctx, "applyto", pairing, linkID, ch)
}

// Ensure implements Links.
func (l *fakeLinks) Ensure(ctx context.Context, pairing string, ch domain.Change) (domain.Outcome, error) {
	l.mu.Lock()
	l.ensured = append(l.ensured, domain.LinkWorkflowID(pairing, ch.Side, ch.ID))
	l.mu.Unlock()
	return l.send(ctx, "ensure", pairing, domain.LinkWorkflowID(pairing, ch.Side, ch.ID), ch)
}

func (l *fakeLinks) send(ctx context.Context, op, pairing, target string, ch domain.Change) (domain.Outcome, error) {
	l.mu.Lock()
	err := l.hit(op, target)
	l.mu.Unlock()
	if err != nil {
		return domain.Outcome{}, err
	}
	for range 4 {
		out, next, err := l.deliver(ctx, op, pairing, target, ch)
		if err != nil || next == "" {
			return out, err
		}
		target = next
	}
	return domain.Outcome{}, fmt.Errorf("deliver %s change of %s record %s: more than 4 forwards", pairing, ch.Side, ch.ID)
}

func (l *fakeLinks) lockOf(id string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.locks[id]
	if m == nil {
		m = &sync.Mutex{}
		l.locks[id] = m
	}
	return m
}

// deliver hands a change to one workflow ID, starting a link there when
// nothing runs; next is where the change goes on to (an index entry's home,
// a forward).
func (l *fakeLinks) deliver(ctx context.Context, op, pairing, target string, ch domain.Change) (out domain.Outcome, next string, err error) {
	lock := l.lockOf(target)
	lock.Lock()
	defer lock.Unlock()
	l.mu.Lock()
	w := l.wf[target]
	if w == nil {
		_, side, id, err := domain.ParseLinkWorkflowID(target)
		if err != nil {
			l.mu.Unlock()
			return domain.Outcome{}, "", err
		}
		w = &fakeWF{state: domain.LinkState{State: domain.StatePending}}
		w.state.SetID(side, id)
		l.wf[target] = w
	}
	if w.alias != "" {
		l.mu.Unlock()
		return domain.Outcome{}, w.alias, nil
	}
	st := w.state
	l.mu.Unlock()
	if op == "ensure" {
		if st.CrmID != "" && st.ErpID != "" && st.State != domain.StatePending {
			return outcomeOf(domain.ActionSeen, st), "", nil
		}
		ch.Source = domain.SourceDependency
	}
	if !ch.Deleted && ch.Version != "" && st.State == domain.StateOK && ch.ID == st.ID(ch.Side) && ch.Version == st.Version(ch.Side) {
		return outcomeOf(domain.ActionSeen, st), "", nil
	}
	res, aerr := l.eng.Apply(ctx, domain.ApplyInput{Pairing: pairing, LinkID: target, State: st, Change: ch})
	l.mu.Lock()
	defer l.mu.Unlock()
	if aerr != nil {
		// The link records the error and its reason; the update answers.
		st.State, st.Reason = domain.StateError, aerr.Error()
		w.state = st
		l.errs[target] = aerr
		return outcomeOf(domain.ActionError, st), "", nil
	}
	delete(l.errs, target)
	l.results[target] = res
	w.state = res.State
	out = res.Outcome
	out.State, out.Reason, out.CrmID, out.ErpID = res.State.State, res.State.Reason, res.State.CrmID, res.State.ErpID
	if f := res.Outcome.Forward; f != "" && f != target {
		w.alias = f // the link retires into the index entry of f
		if res.Outcome.Action == domain.ActionForwarded {
			return out, f, nil
		}
	}
	return out, "", nil
}

func outcomeOf(action string, st domain.LinkState) domain.Outcome {
	return domain.Outcome{Action: action, State: st.State, Reason: st.Reason, CrmID: st.CrmID, ErpID: st.ErpID}
}

// Start implements Links: it refuses when anything runs under the ID.
func (l *fakeLinks) Start(_ context.Context, pairing string, side domain.Side, id string, st domain.LinkState, _ domain.Change, _ string) (bool, error) {
	linkID := domain.LinkWorkflowID(pairing, side, id)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.hit("start", linkID); err != nil {
		return false, err
	}
	if l.wf[linkID] != nil {
		return false, nil
	}
	l.wf[linkID] = &fakeWF{state: st}
	l.started = append(l.started, linkID)
	return true, nil
}

// RegisterAlias implements Links with links.Client's rule: an index entry
// already there is fine; a link there with a smaller ID than home stays the
// home (*ClaimedError), one with a larger ID retires into home.
func (l *fakeLinks) RegisterAlias(_ context.Context, pairing string, side domain.Side, id, home string) error {
	aliasID := domain.LinkWorkflowID(pairing, side, id)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.hit("alias", aliasID); err != nil {
		return err
	}
	if aliasID == home {
		return nil
	}
	if h := l.wf[home]; h != nil && h.alias != "" {
		return &ClaimedError{Home: h.alias}
	}
	w := l.wf[aliasID]
	switch {
	case w == nil:
		l.wf[aliasID] = &fakeWF{alias: home}
	case w.alias != "":
	case aliasID < home:
		return &ClaimedError{Home: aliasID}
	default:
		w.alias = home
	}
	return nil
}

// Count implements Links.
func (l *fakeLinks) Count(_ context.Context, pairing string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.hit("count", pairing); err != nil {
		return 0, err
	}
	n := len(l.linkIDs(pairing))
	if len(l.countShort) > 0 {
		// Visibility trails the links: the next counts miss some.
		n -= l.countShort[0]
		l.countShort = l.countShort[1:]
	}
	return n, nil
}

// List implements Links, in pages of pageSize.
func (l *fakeLinks) List(_ context.Context, pairing string, fn func([]LinkRef) error) error {
	l.mu.Lock()
	if err := l.hit("list", pairing); err != nil {
		l.mu.Unlock()
		return err
	}
	var refs []LinkRef
	for _, id := range l.linkIDs(pairing) {
		st := l.wf[id].state
		refs = append(refs, LinkRef{CrmID: st.CrmID, ErpID: st.ErpID, State: st.State})
	}
	l.mu.Unlock()
	for len(refs) > 0 {
		n := min(l.pageSize, len(refs))
		if err := fn(refs[:n]); err != nil {
			return err
		}
		refs = refs[n:]
	}
	return nil
}

// ---------------------------------------------------------------- metrics

// fakeMetrics counts what the engine reports.
type fakeMetrics struct {
	mu        sync.Mutex
	applied   map[string]int // "pairing side action"
	conflicts map[string]int
	polled    []polled
}

type polled struct {
	pairing   string
	side      domain.Side
	n         int
	watermark time.Time
}

func (m *fakeMetrics) Applied(pairing string, from domain.Side, action string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied[pairing+" "+string(from)+" "+action]++
}

func (m *fakeMetrics) Conflicts(pairing string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conflicts[pairing] += n
}

func (m *fakeMetrics) Polled(pairing string, side domain.Side, n int, watermark time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.polled = append(m.polled, polled{pairing, side, n, watermark})
}

func (m *fakeMetrics) appliedN(pairing string, from domain.Side, action string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied[pairing+" "+string(from)+" "+action]
}

// ---------------------------------------------------------------- env

// logBuffer collects the engine's logs, for tests of its warnings.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is an Engine wired to fakes: a fakeDB per webCRM entity and per ERP
// resource (persons and users share the ERP contacts), fake links, metrics
// and a clock.
type env struct {
	t       *testing.T
	set     *mappings.Set
	clock   *fakeClock
	links   *fakeLinks
	metrics *fakeMetrics
	logs    *logBuffer
	eng     *Engine
	crm     map[string]*fakeDB // by entity
	erp     map[string]*fakeDB // by resource
	// plain names the webCRM entities whose store takes no batches and sets
	// no token; noIndex and noList the "pairing/side" without an index feed
	// or a lister.
	plain   map[string]bool
	noIndex map[string]bool
	noList  map[string]bool
	beats   atomic.Int64
}

var (
	defaultOnce sync.Once
	defaultSet  *mappings.Set
	defaultErr  error
)

// defaults returns the built-in mappings.
func defaults(t *testing.T) *mappings.Set {
	t.Helper()
	defaultOnce.Do(func() { defaultSet, defaultErr = mappings.Default() })
	if defaultErr != nil {
		t.Fatal(defaultErr)
	}
	return defaultSet
}

// editedSet loads the built-in mappings with one file's text replaced.
func editedSet(t *testing.T, file, old, replacement string) *mappings.Set {
	t.Helper()
	files := fstest.MapFS{}
	err := fs.WalkDir(mappings.DefaultFiles(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(mappings.DefaultFiles(), path)
		if err != nil {
			return err
		}
		if path == file {
			if !strings.Contains(string(data), old) {
				return fmt.Errorf("%s has no %q", file, old)
			}
			data = []byte(strings.Replace(string(data), old, replacement, 1))
		}
		files[path] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := mappings.LoadFS(files, mappings.Schemas{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func newEnv(t *testing.T) *env { return newEnvWith(t, defaults(t)) }

func newEnvWith(t *testing.T, set *mappings.Set) *env {
	e := &env{t: t, set: set, clock: newClock(), links: newFakeLinks(), logs: &logBuffer{},
		metrics: &fakeMetrics{applied: map[string]int{}, conflicts: map[string]int{}},
		crm:     map[string]*fakeDB{}, erp: map[string]*fakeDB{}, plain: map[string]bool{}, noIndex: map[string]bool{}, noList: map[string]bool{}}
	for _, p := range set.Pairings() {
		if e.crm[p.WebCRMEntity] == nil {
			e.crm[p.WebCRMEntity] = newDB(domain.WebCRM, p.WebCRMEntity, p.CorrelationField, e.clock)
		}
		if e.erp[p.ERPResource] == nil {
			e.erp[p.ERPResource] = newDB(domain.ERP, p.ERPResource, "externalRef", e.clock)
		}
	}
	e.eng = New(Options{
		Pairings: set, Sides: e.sides, Links: e.links, Classify: fakeClassify,
		Logger:  slog.New(slog.NewTextHandler(e.logs, nil)),
		Metrics: e.metrics, Now: e.clock.Now, Concurrency: 1,
		Heartbeat: func(context.Context, ...any) { e.beats.Add(1) },
	})
	e.links.eng = e.eng
	return e
}

// sides is the Options.Sides of the env.
func (e *env) sides(p *mappings.Pairing) Sides {
	crm := crmStore{e.crm[p.WebCRMEntity]}
	erp := erpStore{e.erp[p.ERPResource], p.Accepts}
	var ws Store = crm
	if e.plain[p.WebCRMEntity] {
		ws = plainStore{crm}
	}
	s := Sides{
		Store:  map[domain.Side]Store{domain.WebCRM: ws, domain.ERP: erp},
		Index:  map[domain.Side]IndexFeed{},
		List:   map[domain.Side]Lister{domain.WebCRM: crm, domain.ERP: erp},
		WebCRM: crm,
		ERP:    erp,
	}
	if !e.noIndex[p.Name+"/webcrm"] {
		s.Index[domain.WebCRM] = crm
	}
	if !e.noIndex[p.Name+"/erp"] {
		s.Index[domain.ERP] = erp
	}
	if e.noList[p.Name+"/erp"] {
		delete(s.List, domain.ERP)
	}
	return s
}

// makePlain makes a webCRM entity one without a correlation field.
func (e *env) makePlain(entity string) {
	e.plain[entity] = true
	e.crm[entity].tokProp = ""
}

// dispatch dispatches changes and fails the test on an error.
func (e *env) dispatch(pairing string, changes ...domain.Change) *Tally {
	e.t.Helper()
	t, err := e.eng.Dispatch(context.Background(), pairing, changes)
	if err != nil {
		e.t.Fatalf("dispatch %s: %v", pairing, err)
	}
	return t
}

// link returns the state of a link, failing the test when there is none.
func (e *env) link(linkID string) domain.LinkState {
	e.t.Helper()
	st, ok := e.links.state(linkID)
	if !ok {
		e.t.Fatalf("no link %s (index entry of %q)", linkID, e.links.aliasOf(linkID))
	}
	return st
}

// ---------------------------------------------------------------- records

// crmOrg is a webCRM organisation numbered n.
func crmOrg(n int) map[string]any {
	return map[string]any{
		"OrganisationName":      fmt.Sprintf("Fjord Tech %d A/S", n),
		"OrganisationVatNumber": fmt.Sprintf("DK%08d", 31000000+n),
		"OrganisationAddress":   fmt.Sprintf("Havnegade %d\n2. th.", n),
		"OrganisationPostCode":  "8000",
		"OrganisationCity":      "Aarhus",
		"OrganisationCountry":   "Danmark",
		"OrganisationTelephone": fmt.Sprintf("+45 11 22 33 %02d", n%100),
	}
}

// erpCustomer is an ERP customer numbered n.
func erpCustomer(n int) map[string]any {
	return map[string]any{
		"name":               fmt.Sprintf("Nordlys %d ApS", n),
		"organisationNumber": fmt.Sprintf("DK%08d", 42000000+n),
		"phone":              fmt.Sprintf("+45 20 30 40 %02d", n%100),
		"postalAddress": map[string]any{
			"line1": fmt.Sprintf("Strandvejen %d", n), "postalCode": "2900", "city": "Hellerup", "countryCode": "DK",
		},
	}
}

// crmPerson is a webCRM person numbered n at the organisation org.
func crmPerson(n int, org string) map[string]any {
	rec := map[string]any{
		"PersonFirstName": "Bo",
		"PersonLastName":  fmt.Sprintf("Berg%d", n),
		"PersonEmail":     fmt.Sprintf("Bo.Berg%d@Fjord.example", n),
		"PersonTitle":     "CFO",
		"PersonStatus":    "Active",
	}
	if org != "" {
		rec["PersonOrganisationId"] = json.Number(org)
	}
	return rec
}

// erpContact is an ERP contact of the given type numbered n.
func erpContact(n int, contactType, customer string) map[string]any {
	rec := map[string]any{
		"contactType": contactType,
		"firstName":   "Ida",
		"lastName":    fmt.Sprintf("Holm%d", n),
		"email":       fmt.Sprintf("ida.holm%d@nordlys.example", n),
		"active":      true,
	}
	if customer != "" {
		rec["customerId"] = customer
	}
	return rec
}

// crmProduct is a webCRM product with the given number.
func crmProduct(number string) map[string]any {
	return map[string]any{
		"ProductCustom1":   number,
		"ProductCustom2":   "Widget " + number,
		"ProductCustom3":   "stk",
		"ProductPrice":     99.5,
		"ProductCostPrice": 40.25,
		"ProductVatCode":   "25",
	}
}

// crmOpp is a webCRM opportunity numbered n of the organisation org.
func crmOpp(n int, org string) map[string]any {
	return map[string]any{
		"OpportunityOrganisationId": json.Number(org),
		"OpportunityNumber":         fmt.Sprintf("T-%06d", n),
		"OpportunityDescription":    fmt.Sprintf("Widgets for Fjord %d", n),
		"OpportunityCurrencyName":   "DKK",
		"OpportunityOrderDate":      "2025-03-01T00:00:00.0000000Z",
		"OpportunityWinYesNo":       false,
	}
}

// crmLine is a webCRM quotation line of the opportunity opp.
func crmLine(opp, product string, qty float64) map[string]any {
	return map[string]any{
		"QuotationLineOpportunityId": json.Number(opp),
		"QuotationLineData1":         product,
		"QuotationLineQuantity":      qty,
		"QuotationLinePrice":         99.5,
		"QuotationLineDiscount":      0.0,
		"QuotationLineVatPercentage": 25.0,
		"QuotationLineComment":       "Widgets",
		"QuotationLineSortOrder":     1,
	}
}

// orgLink is the link ID of webCRM organisation id.
func orgLink(id string) string { return domain.LinkWorkflowID("organisations", domain.WebCRM, id) }

// linkedOrg makes a webCRM organisation numbered n and syncs it: its ERP
// customer is created and its link started. It returns both ids.
func (e *env) linkedOrg(n int) (crmID, erpID string) {
	e.t.Helper()
	crmID = e.crm["Organisations"].add(crmOrg(n))
	e.dispatch("organisations", e.crm["Organisations"].change(crmID))
	st := e.link(orgLink(crmID))
	if st.State != domain.StateOK || st.ErpID == "" {
		e.t.Fatalf("organisation %s not linked: %+v", crmID, st)
	}
	return crmID, st.ErpID
}
