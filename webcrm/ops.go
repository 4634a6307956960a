package webcrm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxPage is the largest Page value the API accepts.
const maxPage = 1_000_000

func checkEntity(op string, e Entity) error {
	if !e.Valid() {
		return fmt.Errorf("webcrm: %s: %w: unknown entity %q", op, ErrInvalidArgument, string(e))
	}
	return nil
}

func checkPage(op string, e Entity, page, size int) error {
	if page < 1 || page > maxPage {
		return fmt.Errorf("webcrm: %s %s: %w: page %d outside 1..%d", op, e, ErrInvalidArgument, page, maxPage)
	}
	if size < 1 || size > MaxPageSize {
		return fmt.Errorf("webcrm: %s %s: %w: size %d outside 1..%d", op, e, ErrInvalidArgument, size, MaxPageSize)
	}
	return nil
}

func pageQuery(page, size int) url.Values {
	return url.Values{"Page": {strconv.Itoa(page)}, "Size": {strconv.Itoa(size)}}
}

// decodeRecords decodes a JSON array of objects; a null element is malformed.
func (c *Client) decodeRecords(k call, r *response) ([]Record, error) {
	var recs []Record
	if err := c.decodeJSON(k, r, &recs); err != nil {
		return nil, err
	}
	if recs == nil && !bytes.HasPrefix(bytes.TrimSpace(r.body), []byte("[")) {
		return nil, &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: r.status, Malformed: true, Message: "expected a JSON array, got null"}
	}
	for i, rec := range recs {
		if rec == nil {
			return nil, &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: r.status, Malformed: true, Message: fmt.Sprintf("array element %d is null", i)}
		}
	}
	if recs == nil {
		recs = []Record{}
	}
	if k.entity != "" {
		for _, rec := range recs {
			c.normaliseStamps(k.entity, rec)
		}
	}
	return recs, nil
}

// normaliseStamps rewrites a record's server-maintained timestamps (created, updated)
// in the wire format, in UTC, whatever form the server wrote them in (an offset, or
// local time without one; see Config.TimeZone), so versions and watermarks compare as
// instants. A stamp that cannot be read is left as it is, for the caller to report.
func (c *Client) normaliseStamps(e Entity, rec Record) {
	for _, f := range []string{e.UpdatedAtField(), e.Table() + "CreatedAt"} {
		if s, ok := rec[f].(string); ok {
			if t, err := ParseTimeIn(s, c.loc); err == nil {
				rec[f] = FormatTime(t)
			}
		}
	}
}

// List returns one page of an entity's records (GET /<Entity>?Page=&Size=). Page starts at
// 1; size is 1..1000. A page shorter than size is the last one.
func (c *Client) List(ctx context.Context, e Entity, page, size int) ([]Record, error) {
	if err := checkEntity("List", e); err != nil {
		return nil, err
	}
	if err := checkPage("List", e, page, size); err != nil {
		return nil, err
	}
	k := call{op: "List", entity: e, id: "page " + strconv.Itoa(page), method: http.MethodGet, path: "/" + string(e), query: pageQuery(page, size)}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	return c.decodeRecords(k, resp)
}

// ListAll reads every record of e, size records a request (0 means 1000), and calls
// fn with each non-empty page. It reads /Queries ordered by id with keyset paging
// (Scan): the list endpoint promises no order, so paging it by page number can skip
// and repeat records. An error from fn stops the walk and is returned as it is.
func (c *Client) ListAll(ctx context.Context, e Entity, size int, fn func(page []Record) error) error {
	if err := checkEntity("ListAll", e); err != nil {
		return err
	}
	return c.Scan(ctx, Select(e), size, fn)
}

// Get returns one record (GET /<Entity>/{id}). A missing record is an error for which
// IsNotFound is true.
func (c *Client) Get(ctx context.Context, e Entity, id int) (Record, error) {
	return c.get(ctx, "Get", e, id)
}

func (c *Client) get(ctx context.Context, op string, e Entity, id int) (Record, error) {
	if err := checkEntity(op, e); err != nil {
		return nil, err
	}
	k := call{op: op, entity: e, id: strconv.Itoa(id), method: http.MethodGet, path: "/" + string(e) + "/" + strconv.Itoa(id)}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := c.decodeJSON(k, resp, &rec); err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, &APIError{Op: op, Entity: e, ID: k.id, Status: resp.status, Malformed: true, Message: "expected a JSON object, got null"}
	}
	if got, err := rec.ID(e); err != nil || got != id {
		return nil, &APIError{Op: op, Entity: e, ID: k.id, Status: resp.status, Malformed: true,
			Message: fmt.Sprintf("answer does not carry %s %d", e.IDField(), id)}
	}
	c.normaliseStamps(e, rec)
	return rec, nil
}

// Query runs a /Queries script and returns one page of rows (flat objects keyed by DTO
// property names, plus extra raw columns such as RowNumber). Custom fields are formatted
// like the regular endpoints (formatCustomFields=true).
func (c *Client) Query(ctx context.Context, script string, page, size int) ([]Record, error) {
	return c.query(ctx, "Query", "", script, page, size)
}

func (c *Client) query(ctx context.Context, op string, e Entity, script string, page, size int) ([]Record, error) {
	if strings.TrimSpace(script) == "" {
		return nil, fmt.Errorf("webcrm: %s %s: %w: empty script", op, e, ErrInvalidArgument)
	}
	if err := checkPage(op, e, page, size); err != nil {
		return nil, err
	}
	q := pageQuery(page, size)
	q.Set("script", script)
	q.Set("formatCustomFields", "true")
	k := call{op: op, entity: e, id: "page " + strconv.Itoa(page), method: http.MethodGet, path: "/Queries", query: q}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	return c.decodeRecords(k, resp)
}

// quote renders s as a /Queries string literal: single quotes, quotes doubled.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// FindBy returns every record of e whose property equals value (case-insensitive, via
// /Queries, read whole with Scan). property must be a plain property name. Rows whose
// property is present but differs (webCRM warns that filters on some custom field types
// are imprecise) are dropped.
func (c *Client) FindBy(ctx context.Context, e Entity, property, value string) ([]Record, error) {
	if err := checkEntity("FindBy", e); err != nil {
		return nil, err
	}
	if !identRe.MatchString(property) {
		return nil, fmt.Errorf("webcrm: FindBy %s: %w: %q is not a property name", e, ErrInvalidArgument, property)
	}
	var out []Record
	err := c.Scan(ctx, Select(e).Where(Eq(property, value)), MaxPageSize, func(rows []Record) error {
		for _, r := range rows {
			if v, ok := r[property]; ok && !strings.EqualFold(scalarString(v), value) {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, relabel(err, "FindBy")
	}
	return out, nil
}

// relabel names op in an *APIError of a helper the operation used.
func relabel(err error, op string) error {
	if ae, ok := asAPIError(err); ok && (ae.Op == "Scan" || ae.Op == "Query") {
		cp := *ae
		cp.Op = op
		return &cp
	}
	return err
}

func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// ChangedSince returns records of e changed at or after since, ordered by UpdatedAt then
// id, and the watermark to pass next time.
//
// It pages /Queries ordered by <X>UpdatedAt and <X>Id, a total order, by keyset: each
// request asks for the rows after the last (UpdatedAt, id) seen, always page 1, so
// neither records that change while the walk runs nor a server that returns equal
// timestamps in any order make it skip a record. Rows are de-duplicated by id (the
// newest version wins).
//
// At most limit records are returned, more when needed to finish a run of equal
// timestamps, and at least the records up to the first timestamp after since, so
// repeated calls always make progress. limit <= 0 means no limit. next is the greatest
// UpdatedAt returned (since itself when nothing was). The watermark is inclusive: records
// stamped exactly next are returned again by the next call, so callers de-duplicate by
// id and UpdatedAt; this is what guarantees that a record written in the same tick as
// the watermark is never skipped.
//
// A row stamped more than MaxClockSkew after this machine's clock fails the call: its
// time stamp is read in the wrong zone (set Config.TimeZone), and a watermark taken from
// it would skip every change made until the clock catches up.
func (c *Client) ChangedSince(ctx context.Context, e Entity, since time.Time, limit int) (recs []Record, next time.Time, err error) {
	if err := checkEntity("ChangedSince", e); err != nil {
		return nil, since, err
	}
	w := changeWalk{c: c, e: e, op: "ChangedSince", limit: limit, byID: map[int]stampedRow{}, unstamped: map[int]Record{}}
	// The wire format has 100ns resolution; a finer since would make rows at the
	// truncated instant look older than the query.
	since = since.UTC().Truncate(wireResolution)
	if err := w.walk(ctx, since, time.Time{}); err != nil {
		return nil, since, err
	}
	return w.result(since)
}

// ChangedBetween returns every record of e stamped in [from, to), ordered by UpdatedAt
// then id, read like ChangedSince.
func (c *Client) ChangedBetween(ctx context.Context, e Entity, from, to time.Time) ([]Record, error) {
	if err := checkEntity("ChangedBetween", e); err != nil {
		return nil, err
	}
	w := changeWalk{c: c, e: e, op: "ChangedBetween", byID: map[int]stampedRow{}, unstamped: map[int]Record{}}
	from = from.UTC().Truncate(wireResolution)
	if err := w.walk(ctx, from, to.UTC()); err != nil {
		return nil, err
	}
	recs, _, err := w.result(from)
	return recs, err
}

// MaxClockSkew is how far ahead of this machine's clock a webCRM time stamp may be
// before ChangedSince takes it for one read in the wrong time zone.
const MaxClockSkew = 15 * time.Minute

type stampedRow struct {
	rec Record
	id  int
	at  time.Time
}

// changeWalk is one ChangedSince or ChangedBetween.
type changeWalk struct {
	c         *Client
	e         Entity
	op        string
	limit     int
	byID      map[int]stampedRow
	unstamped map[int]Record
	count     int // rows kept, in walk order
	cut       time.Time
	haveCut   bool
}

// walk reads rows stamped at or after from (and before to, unless to is zero).
func (w *changeWalk) walk(ctx context.Context, from, to time.Time) error {
	e := w.e
	size := MaxPageSize
	if w.limit > 0 && w.limit < size {
		size = w.limit
	}
	base := Select(e).OrderBy(e.UpdatedAtField()+" ASC", e.IDField()+" ASC")
	if !to.IsZero() {
		base = base.Where(Before(e.UpdatedAtField(), to))
	}
	cond := AtOrAfter(e.UpdatedAtField(), from)
	var lastAt time.Time
	lastID := 0
	started := false
	horizon := time.Now().Add(MaxClockSkew)
	for {
		rows, err := w.c.query(ctx, w.op, e, w.c.script(base.Where(cond)), 1, size)
		if err != nil {
			return err
		}
		stamped := 0
		for i, r := range rows {
			// A row without a usable id or UpdatedAt cannot be synced, but
			// must not stop every other record: it is reported and passed over.
			id, err := r.ID(e)
			if err == nil && id <= 0 {
				err = fmt.Errorf("%s %d is not a positive id", e.IDField(), id)
			}
			if err != nil {
				w.c.log.WarnContext(ctx, "webcrm: "+w.op+" passes over a row without a usable "+e.IDField(), "entity", string(e), "row", i+1, "error", err)
				continue
			}
			at, err := r.UpdatedAt(e)
			if err != nil {
				// Returned after the others, outside the watermark, so the
				// caller can have the record read and its error recorded.
				w.c.log.WarnContext(ctx, "webcrm: "+w.op+" row without a usable UpdatedAt", "entity", string(e), "id", id, "error", err)
				w.unstamped[id] = r
				continue
			}
			if old, ok := w.byID[id]; ok && old.at.Equal(at) {
				// The same row twice (a join, a server's glitch): one is enough.
				continue
			}
			switch {
			case at.Before(from) || (!to.IsZero() && !at.Before(to)):
				return &APIError{Op: w.op, Entity: e, ID: strconv.Itoa(id), Status: http.StatusOK, Malformed: true,
					Message: fmt.Sprintf("row stamped %s is outside the query's range from %s", FormatTime(at), FormatTime(from))}
			case started && (at.Before(lastAt) || (at.Equal(lastAt) && id <= lastID)):
				return &APIError{Op: w.op, Entity: e, ID: strconv.Itoa(id), Status: http.StatusOK, Malformed: true,
					Message: fmt.Sprintf("row %d (%s) is not after %d (%s): the server ignored ORDER BY or the keyset condition", id, FormatTime(at), lastID, FormatTime(lastAt))}
			case at.After(horizon):
				return &APIError{Op: w.op, Entity: e, ID: strconv.Itoa(id), Status: http.StatusOK, Malformed: true,
					Message: fmt.Sprintf("row stamped %s is %s ahead of this machine's clock: if webCRM writes local time without an offset, set its time zone (WEBCRM_TIME_ZONE)",
						FormatTime(at), time.Until(at).Round(time.Minute))}
			}
			started, lastAt, lastID = true, at, id
			stamped++
			if old, ok := w.byID[id]; !ok || at.After(old.at) {
				w.byID[id] = stampedRow{rec: r, id: id, at: at}
			}
			w.count++
			// The cut is the time stamp of the limit-th row, or of the first row after
			// it stamped later than from: when the first limit rows all sit at from,
			// the next run comes too, or the caller would get the same rows forever.
			if !w.haveCut && w.limit > 0 && w.count >= w.limit && at.After(from) {
				w.cut, w.haveCut = at, true
			}
		}
		if len(rows) < size || stamped == 0 {
			return nil
		}
		if w.haveCut && lastAt.After(w.cut) {
			return nil // the run at the cut is complete
		}
		cond = AnyOf(After(e.UpdatedAtField(), lastAt), AllOf(AtTime(e.UpdatedAtField(), lastAt), Gt(e.IDField(), lastID)))
	}
}

// result returns the rows kept, ordered by UpdatedAt then id and up to the cut, the
// unstamped rows after them, and the greatest UpdatedAt returned.
func (w *changeWalk) result(since time.Time) ([]Record, time.Time, error) {
	all := make([]stampedRow, 0, len(w.byID))
	for _, r := range w.byID {
		if w.haveCut && r.at.After(w.cut) {
			continue
		}
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].at.Equal(all[j].at) {
			return all[i].at.Before(all[j].at)
		}
		return all[i].id < all[j].id
	})
	next := since
	recs := make([]Record, len(all), len(all)+len(w.unstamped))
	for i, r := range all {
		recs[i] = r.rec
		if r.at.After(next) {
			next = r.at
		}
	}
	ids := make([]int, 0, len(w.unstamped))
	for id := range w.unstamped {
		if _, ok := w.byID[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	for _, id := range ids {
		recs = append(recs, w.unstamped[id])
	}
	return recs, next, nil
}

// CorrelationError reports that the correlation token did not identify exactly one
// record: IDs is empty when no record carries it (after a create whose answer had no
// id), or lists the records that all carry it.
type CorrelationError struct {
	Entity Entity
	Field  string
	Token  string
	IDs    []int
}

// Error implements error.
func (e *CorrelationError) Error() string {
	if len(e.IDs) == 0 {
		return fmt.Sprintf("webcrm: Create %s: created, but no record has %s = %q (search not yet up to date?)", e.Entity, e.Field, e.Token)
	}
	return fmt.Sprintf("webcrm: Create %s: %d records have %s = %q (ids %v); resolve the duplicates in webCRM", e.Entity, len(e.IDs), e.Field, e.Token, e.IDs)
}

// CorrelationField returns the property holding tandem's correlation token for e, or "".
func (c *Client) CorrelationField(e Entity) string { return c.correlation[e] }

// findByToken returns the records carrying token in field, ordered by id.
func (c *Client) findByToken(ctx context.Context, e Entity, field, token string) ([]Record, error) {
	recs, err := c.FindBy(ctx, e, field, token)
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// recordIDs returns the ids of recs.
func recordIDs(e Entity, recs []Record) ([]int, error) {
	ids := make([]int, 0, len(recs))
	for _, r := range recs {
		id, err := r.ID(e)
		if err != nil {
			return nil, &APIError{Op: "FindBy", Entity: e, Status: http.StatusOK, Malformed: true, Err: err}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// oneByToken returns the one record among found (the records carrying token), nil
// when there is none, or a *CorrelationError when there are several.
func oneByToken(e Entity, field, token string, found []Record) (Record, error) {
	ids, err := recordIDs(e, found)
	if err != nil {
		return nil, err
	}
	switch len(ids) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	return nil, &CorrelationError{Entity: e, Field: field, Token: token, IDs: ids}
}

// Create creates the record and returns its id; see CreateRecord.
func (c *Client) Create(ctx context.Context, e Entity, rec Record, token string) (int, error) {
	got, err := c.CreateRecord(ctx, e, rec, token)
	if err != nil {
		return 0, err
	}
	return got.ID(e)
}

// CreateRecord creates the record and returns it as webCRM stored it, read back after
// the create (the server may have cut or reformatted values). `token` is tandem's
// correlation token (the home link id); it is written into the entity's correlation
// field when one is configured. In that case CreateRecord first looks the token up and
// returns the existing record if there is one, and looks it up again when the answer
// to the POST is lost (the POST itself is never sent twice), so a retried create never
// makes a second record. For Organisations and Users (POST returns no id) the new
// record is found again by the token, so both a correlation field and a token are
// required for them.
func (c *Client) CreateRecord(ctx context.Context, e Entity, rec Record, token string) (Record, error) {
	if err := checkEntity("Create", e); err != nil {
		return nil, err
	}
	field := c.correlation[e]
	byToken := field != "" && token != ""
	if !e.postReturnsID() && !byToken {
		return nil, fmt.Errorf("webcrm: Create %s: %w: webCRM does not return the new id; a correlation field and token are required", e, ErrInvalidArgument)
	}
	body := c.writable(e, normalise(rec))
	body[e.IDField()] = 0
	if byToken {
		body[field] = token
		found, err := c.findByToken(ctx, e, field, token)
		if err != nil {
			return nil, err
		}
		if got, err := oneByToken(e, field, token, found); err != nil || got != nil {
			if got != nil {
				c.log.DebugContext(ctx, "webcrm: create found existing record by correlation token", "entity", string(e))
			}
			return got, err
		}
	}
	k := call{op: "Create", entity: e, method: http.MethodPost, path: "/" + string(e), body: body}
	resp, err := c.do(ctx, k)
	if err != nil {
		if byToken && (IsServer(err) || IsNetwork(err)) {
			// webCRM may have created the record before the answer was lost: find
			// out, rather than leave the caller to guess.
			found, ferr := c.findByToken(ctx, e, field, token)
			if got, _ := oneByToken(e, field, token, found); ferr == nil && got != nil {
				c.noteRecord(e, got)
				return got, nil
			}
		}
		return nil, err
	}
	id, ok, err := c.createdID(k, resp)
	if err != nil {
		return nil, err
	}
	if byToken {
		found, err := c.findByToken(ctx, e, field, token)
		if err != nil {
			return nil, fmt.Errorf("webcrm: Create %s: looking up the new record: %w", e, err)
		}
		got, err := oneByToken(e, field, token, found)
		if err == nil && got == nil {
			err = &CorrelationError{Entity: e, Field: field, Token: token}
		}
		if err != nil {
			return nil, err
		}
		if gid, _ := got.ID(e); ok && gid != id {
			return nil, &APIError{Op: "Create", Entity: e, ID: strconv.Itoa(id), Status: resp.status, Malformed: true,
				Message: fmt.Sprintf("answer names id %d, but the record carrying the token is %d", id, gid)}
		}
		c.noteRecord(e, got)
		return got, nil
	}
	if !ok {
		return nil, &APIError{Op: "Create", Entity: e, Status: resp.status, Malformed: true, Message: "answer carries no id"}
	}
	c.recent.note(e, id)
	got, err := c.get(ctx, "Create", e, id)
	if err != nil {
		return nil, fmt.Errorf("webcrm: Create %s: reading back new record %d: %w", e, id, err)
	}
	return got, nil
}

// noteRecord remembers a record the client wrote, for WroteRecently.
func (c *Client) noteRecord(e Entity, r Record) {
	if id, err := r.ID(e); err == nil {
		c.recent.note(e, id)
	}
}

// createdID reads the id from a POST answer: a bare integer (documented), or for
// Organisations/Users possibly nothing at all, or an object with the id property.
func (c *Client) createdID(k call, resp *response) (int, bool, error) {
	if len(bytes.TrimSpace(resp.body)) == 0 && !k.entity.postReturnsID() {
		return 0, false, nil
	}
	var v any
	if err := c.decodeJSON(k, resp, &v); err != nil {
		return 0, false, err
	}
	if obj, ok := v.(map[string]any); ok {
		v = obj[k.entity.IDField()]
	}
	id, err := toInt(v)
	if err != nil || id <= 0 {
		if !k.entity.postReturnsID() && v == nil {
			return 0, false, nil
		}
		return 0, false, &APIError{Op: k.op, Entity: k.entity, Status: resp.status, Malformed: true,
			Message: "answer is not a positive id: " + c.auth.redact(excerpt(resp.body, 80))}
	}
	return id, true, nil
}

// writable returns body without the properties a write must never carry
// (WriteExcluded): credentials, which a GET may return masked, so that writing them back
// would overwrite the real ones, and properties the server maintains.
func (c *Client) writable(e Entity, body Record) Record {
	for _, p := range e.WriteExcluded() {
		delete(body, p)
	}
	return body
}

// Update does GET-modify-PUT: it reads the full record, overlays changes, PUTs the whole
// DTO (every property it read, mapped or not, but those WriteExcluded names) and returns
// the record as written. The read and the write are not atomic: webCRM has no
// conditional PUT, so a change made in between by someone else to a property in changes
// is overwritten, and to any other property is overwritten with the value read a moment
// before. That moment is kept to the read's round trip: the PUT's turn of the budget is
// taken before the read, and a PUT that fails (a 5xx, a lost connection) is sent again
// only on a new read.
func (c *Client) Update(ctx context.Context, e Entity, id int, changes Record) (Record, error) {
	if err := checkWrite(e, id, "changes", changes); err != nil {
		return nil, err
	}
	return c.putFresh(ctx, e, id, nil, changes)
}

// Replace is Update without the read: it overlays changes on current, a
// record the caller has just read (Get, or a ChangedSince/FindBy row), and PUTs the
// whole DTO. current must be the full record: properties it lacks are sent as absent,
// which webCRM may take as cleared. A current or changes carrying another id is refused. Use it
// only with a fresh read, since webCRM has no conditional PUT; it saves one
// request of the token's budget per write. When the PUT has to wait for its turn
// of the budget longer than FreshFor, or fails and is sent again, Replace reads the
// record again first, as Update does.
func (c *Client) Replace(ctx context.Context, e Entity, id int, current, changes Record) (Record, error) {
	if err := checkWrite(e, id, "changes", changes); err != nil {
		return nil, err
	}
	if err := checkWrite(e, id, "current", current); err != nil {
		return nil, err
	}
	if current == nil {
		return nil, fmt.Errorf("webcrm: Update %s %d: %w: no current record to replace", e, id, ErrInvalidArgument)
	}
	return c.putFresh(ctx, e, id, current, changes)
}

// FreshFor is how long a read may wait for the turn of the PUT built on it
// (Replace): past it, the record is read again.
const FreshFor = 100 * time.Millisecond

// putFresh PUTs changes over cur, or over a read made just before the PUT when cur is
// nil or the PUT waited longer than FreshFor for its turn. A PUT that fails with a 5xx
// or a lost connection is tried again (RetryMax times, with the client's backoff) on a
// new read: webCRM may have carried it out, and a person may have edited the record since.
func (c *Client) putFresh(ctx context.Context, e Entity, id int, cur, changes Record) (Record, error) {
	wait := c.retryWait[0]
	for attempt := 0; ; attempt++ {
		turn, waited, err := c.reserve(ctx)
		if err != nil {
			return nil, err
		}
		if cur == nil || waited > FreshFor {
			if cur, err = c.get(ctx, "Update", e, id); err != nil {
				return nil, err
			}
		}
		rec, err := c.put(turn, e, id, cur, changes)
		if err == nil || attempt >= c.retryMax || !(IsServer(err) || IsNetwork(err)) {
			return rec, err
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "webcrm: PUT failed; reading the record again before the next attempt",
			slog.String("entity", string(e)), slog.Int("id", id), slog.Int("attempt", attempt+1), slog.String("error", err.Error()))
		cur = nil
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, c.retryWait[1])
	}
}

// checkWrite validates the entity and that rec (named what) does not carry another
// record's id.
func checkWrite(e Entity, id int, what string, rec Record) error {
	if err := checkEntity("Update", e); err != nil {
		return err
	}
	if v, ok := rec[e.IDField()]; ok {
		if got, err := toInt(v); err != nil || got != id {
			return fmt.Errorf("webcrm: Update %s %d: %w: %s has %s %v", e, id, ErrInvalidArgument, what, e.IDField(), v)
		}
	}
	return nil
}

// put overlays changes on cur and PUTs the whole record, leaving out what
// WriteExcluded names. Columns of cur that cannot be DTO properties (every property
// starts with the entity's Table name) are left out too: they are extra /Queries
// columns such as RowNumber or o_lastUpdatedById, present when cur is a ChangedSince or
// FindBy row.
func (c *Client) put(ctx context.Context, e Entity, id int, cur, changes Record) (Record, error) {
	body := make(Record, len(cur)+len(changes))
	for k, v := range cur {
		if strings.HasPrefix(k, e.Table()) {
			body[k] = v
		}
	}
	for k, v := range normalise(changes) {
		body[k] = v
	}
	body = c.writable(e, body)
	body[e.IDField()] = id
	k := call{op: "Update", entity: e, id: strconv.Itoa(id), method: http.MethodPut, path: "/" + string(e) + "/" + strconv.Itoa(id), body: body}
	resp, err := c.do(ctx, k)
	if err == nil {
		err = c.checkEmptyAnswer(k, resp)
	}
	if err != nil {
		return nil, err
	}
	c.recent.note(e, id)
	// Return it in the same form a read produces (numbers as json.Number, times as text).
	written, err := toRecord(body)
	if err != nil {
		return nil, fmt.Errorf("webcrm: Update %s %d: %w", e, id, err)
	}
	return written, nil
}

// checkEmptyAnswer reports a write whose 200 answer is a page (a proxy's
// or maintenance page) rather than the empty body webCRM sends: the write
// cannot be taken as done.
func (c *Client) checkEmptyAnswer(k call, r *response) error {
	ct := strings.ToLower(r.header.Get("Content-Type"))
	if strings.Contains(ct, "html") || looksLikeHTML(r.body) {
		return &APIError{Op: k.op, Entity: k.entity, ID: k.id, Status: r.status, Malformed: true,
			Message: "HTML instead of an empty answer: " + c.auth.redact(excerpt(htmlTitle(r.body), maxExcerpt))}
	}
	return nil
}

// normalise copies a record for sending: time.Time values become wire timestamps.
func normalise(r Record) Record {
	out := make(Record, len(r))
	for k, v := range r {
		switch t := v.(type) {
		case time.Time:
			out[k] = FormatTime(t)
		case *time.Time:
			if t == nil {
				out[k] = nil
			} else {
				out[k] = FormatTime(*t)
			}
		default:
			out[k] = v
		}
	}
	return out
}

// Delete removes a record (DELETE /<Entity>/{id}). Only Products and QuotationLines can
// be deleted through the API; for the others Delete sends nothing and returns an
// *APIError with Status 405 wrapping ErrMethodNotAllowed.
func (c *Client) Delete(ctx context.Context, e Entity, id int) error {
	if err := checkEntity("Delete", e); err != nil {
		return err
	}
	if !e.hasDelete() {
		return &APIError{Op: "Delete", Entity: e, ID: strconv.Itoa(id), Status: http.StatusMethodNotAllowed,
			Message: "webCRM has no DELETE for " + string(e), Err: ErrMethodNotAllowed}
	}
	k := call{op: "Delete", entity: e, id: strconv.Itoa(id), method: http.MethodDelete, path: "/" + string(e) + "/" + strconv.Itoa(id)}
	resp, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	if err := c.checkEmptyAnswer(k, resp); err != nil {
		return err
	}
	c.recent.note(e, id)
	return nil
}

// BatchResult is what CreateBatch did: the records that carry each token afterwards,
// as webCRM stored them, and the tokens several records carry.
type BatchResult struct {
	// Created maps a token to the one record that carries it (created now, or by an
	// earlier attempt whose answer was lost).
	Created map[string]Record
	// Duplicates maps a token several records carry to a *CorrelationError listing them.
	Duplicates map[string]error
	// Rejected is webCRM's text when it refused the batch as a whole (a 4xx); the
	// records not in Created were not written.
	Rejected string
}

// CreateBatch creates records in one PATCH /<Entity> (webCRM's bulk upsert; at most
// MaxBatch records). recs maps each record's correlation token (its home link id) to its
// body; the token is written into the entity's correlation field, which must be
// configured. The tokens are looked up first, so a record an earlier attempt created
// (whose answer was lost) is not created again, and read back after the PATCH: a record
// is taken as created only when a record carrying its token is found, never by its
// position in webCRM's answer, whose order and length are not promised. Tokens missing
// from the result were not created (webCRM rejected them, one by one or as a batch).
// A 429, 5xx or network failure of the PATCH is returned as an error: nothing is
// known about what it did, so the caller must call CreateBatch again (whose look-up
// finds what it did), not create the records some other way.
func (c *Client) CreateBatch(ctx context.Context, e Entity, recs map[string]Record, opts BatchOptions) (BatchResult, error) {
	res := BatchResult{Created: map[string]Record{}, Duplicates: map[string]error{}}
	if err := checkEntity("CreateBatch", e); err != nil {
		return res, err
	}
	field := c.correlation[e]
	if field == "" {
		return res, fmt.Errorf("webcrm: CreateBatch %s: %w: no correlation field", e, ErrInvalidArgument)
	}
	if len(recs) > MaxBatch {
		return res, fmt.Errorf("webcrm: CreateBatch %s: %w: %d records, at most %d", e, ErrInvalidArgument, len(recs), MaxBatch)
	}
	tokens := make([]string, 0, len(recs))
	for tok := range recs {
		if tok == "" {
			return res, fmt.Errorf("webcrm: CreateBatch %s: %w: a record without a token", e, ErrInvalidArgument)
		}
		tokens = append(tokens, tok)
	}
	sort.Strings(tokens)
	existing := map[string][]Record{}
	if !opts.Unseen {
		var err error
		if existing, err = c.RecordsByToken(ctx, e, tokens); err != nil {
			return res, err
		}
	}
	var bodies []Record
	for _, tok := range tokens {
		if len(existing[tok]) > 0 {
			continue
		}
		body := c.writable(e, normalise(recs[tok]))
		body[field] = tok
		body[e.IDField()] = 0
		bodies = append(bodies, body)
	}
	var answer []string
	if len(bodies) > 0 {
		var err error
		answer, err = c.BulkUpsert(ctx, e, bodies)
		switch {
		case err == nil:
		case IsMalformed(err):
			// A 2xx whose body is not the list of strings: the read-back below
			// tells what was created, which the answer could not anyway.
			c.log.WarnContext(ctx, "webcrm: CreateBatch: unusable PATCH answer; reading the records back", "entity", string(e), "error", err)
		case IsValidation(err):
			res.Rejected = err.Error()
		default:
			return res, err
		}
	}
	after := existing
	if len(bodies) > 0 && res.Rejected == "" {
		var err error
		if after, err = c.readBack(ctx, e, tokens, existing, answer); err != nil {
			return res, fmt.Errorf("webcrm: CreateBatch %s: reading back %d records: %w", e, len(tokens), err)
		}
	}
	for _, tok := range tokens {
		got, err := oneByToken(e, field, tok, after[tok])
		switch {
		case err != nil:
			res.Duplicates[tok] = err
		case got != nil:
			res.Created[tok] = got
			c.noteRecord(e, got)
		}
	}
	return res, nil
}

// readBack returns, for each token, the records that carry it after a bulk
// PATCH whose answer was answer, given those that carried it before. The
// ids the answer names are read first, as one range of ids when they lie
// close together (one request for a batch, where a look-up by 100 tokens
// needs several to fit the URL limit); a record counts only by the token it
// carries, whatever the answer said. Tokens still without a record (the
// answer left them out, named other ids, or was no list of ids) are looked
// up by token.
func (c *Client) readBack(ctx context.Context, e Entity, tokens []string, before map[string][]Record, answer []string) (map[string][]Record, error) {
	field := c.correlation[e]
	want := make(map[string]string, len(tokens))
	for _, t := range tokens {
		want[strings.ToLower(t)] = t
	}
	var ids []int
	for _, a := range answer {
		if id, err := strconv.Atoi(strings.TrimSpace(a)); err == nil && id > 0 {
			ids = append(ids, id)
		}
	}
	out := make(map[string][]Record, len(tokens))
	for tok, recs := range before {
		out[tok] = append(out[tok], recs...)
	}
	seen := map[int]bool{}
	keep := func(rows []Record) error {
		for _, r := range rows {
			tok, ok := want[strings.ToLower(scalarString(r[field]))]
			id, err := r.ID(e)
			if !ok || err != nil || seen[id] {
				continue
			}
			seen[id] = true
			out[tok] = append(out[tok], r)
		}
		return nil
	}
	for _, recs := range before {
		for _, r := range recs {
			if id, err := r.ID(e); err == nil {
				seen[id] = true
			}
		}
	}
	if len(ids) > 0 {
		lo, hi := slices.Min(ids), slices.Max(ids)
		var err error
		if hi-lo < 2*len(tokens) {
			err = c.Scan(ctx, Select(e).Where(AllOf(Gt(e.IDField(), lo-1), Lt(e.IDField(), hi+1))), MaxPageSize, keep)
		} else {
			err = c.FindIDs(ctx, Select(e), ids, keep)
		}
		if err != nil {
			return nil, fmt.Errorf("by the ids the answer named: %w", err)
		}
	}
	var missing []string
	for _, t := range tokens {
		if len(out[t]) == 0 {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	more, err := c.RecordsByToken(ctx, e, missing)
	if err != nil {
		return nil, fmt.Errorf("by the tokens of %d records the answer did not name: %w", len(missing), err)
	}
	for tok, recs := range more {
		for _, r := range recs {
			if id, err := r.ID(e); err == nil && !seen[id] {
				seen[id] = true
				out[tok] = append(out[tok], r)
			}
		}
	}
	return out, nil
}

// BatchOptions are a CreateBatch's options.
type BatchOptions struct {
	// Unseen says that the caller read the entity after every earlier attempt
	// to create these records ended (a feed of its changes, say) and found no
	// record carrying any of the tokens: CreateBatch then writes without
	// looking them up first, one request fewer. When in doubt, leave it false.
	Unseen bool
}

// MaxBatch is the largest number of records CreateBatch sends in one PATCH.
const MaxBatch = 100

// RecordsByToken returns, for each token, the records of e that carry it in the
// entity's correlation field (whole records, ordered by id), in as few requests as the
// URL limit allows. Tokens no record carries are absent.
func (c *Client) RecordsByToken(ctx context.Context, e Entity, tokens []string) (map[string][]Record, error) {
	field := c.correlation[e]
	if field == "" {
		return nil, fmt.Errorf("webcrm: RecordsByToken %s: %w: no correlation field", e, ErrInvalidArgument)
	}
	want := make(map[string]string, len(tokens))
	for _, t := range tokens {
		want[strings.ToLower(t)] = t
	}
	out := map[string][]Record{}
	err := c.FindAny(ctx, Select(e), field, tokens, func(rows []Record) error {
		for _, r := range rows {
			// Filters on custom fields may be imprecise: keep exact carriers only.
			if tok, ok := want[strings.ToLower(scalarString(r[field]))]; ok {
				out[tok] = append(out[tok], r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, relabel(err, "RecordsByToken")
	}
	return out, nil
}

// BulkUpsert sends the records as one PATCH /<Entity> (records with id 0 are inserted,
// others updated) and returns webCRM's result strings: assigned ids for inserts, error
// messages for records it refused. Their order and number are not promised: to learn
// which records were created, read them back (CreateBatch does). The records must be
// complete DTOs: PATCH replaces like PUT. The PATCH is never sent twice.
func (c *Client) BulkUpsert(ctx context.Context, e Entity, recs []Record) ([]string, error) {
	if err := checkEntity("BulkUpsert", e); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return []string{}, nil
	}
	body := make([]Record, len(recs))
	for i, r := range recs {
		body[i] = normalise(r)
	}
	k := call{op: "BulkUpsert", entity: e, id: fmt.Sprintf("%d records", len(recs)), method: http.MethodPatch, path: "/" + string(e), body: body}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var out []string
	if err := c.decodeJSON(k, resp, &out); err != nil {
		return nil, err
	}
	// Remember the records written: the updated ones by their ids. Inserted
	// ones are known only by reading them back (CreateBatch): the answer's
	// order is not promised.
	written := make([]int, 0, len(recs))
	for _, r := range body {
		if id, err := strconv.Atoi(fmt.Sprint(r[e.IDField()])); err == nil && id > 0 {
			written = append(written, id)
		}
	}
	c.recent.note(e, written...)
	return out, nil
}
