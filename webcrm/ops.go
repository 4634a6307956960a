package webcrm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	return recs, nil
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

// ListAll pages through every record of e with the given page size (0 means 1000) and
// calls fn with each non-empty page, stopping after the first short page. An error from
// fn stops the walk and is returned as is.
func (c *Client) ListAll(ctx context.Context, e Entity, size int, fn func(page []Record) error) error {
	if size == 0 {
		size = MaxPageSize
	}
	var prevFirst, prevLast string
	for page := 1; ; page++ {
		recs, err := c.List(ctx, e, page, size)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		first, last := fingerprint(e, recs[0]), fingerprint(e, recs[len(recs)-1])
		if page > 1 && first == prevFirst && last == prevLast {
			return &APIError{Op: "List", Entity: e, ID: "page " + strconv.Itoa(page), Status: http.StatusOK, Malformed: true,
				Message: "server returned the previous page again (paging ignored?)"}
		}
		prevFirst, prevLast = first, last
		if err := fn(recs); err != nil {
			return err
		}
		if len(recs) < size {
			return nil
		}
	}
}

func fingerprint(e Entity, r Record) string {
	if id, err := r.ID(e); err == nil {
		return strconv.Itoa(id)
	}
	b, _ := json.Marshal(r)
	return string(b)
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
// /Queries). property must be a plain property name. Rows whose property is present but
// differs (webCRM warns that filters on some custom field types are imprecise) are
// dropped.
func (c *Client) FindBy(ctx context.Context, e Entity, property, value string) ([]Record, error) {
	if err := checkEntity("FindBy", e); err != nil {
		return nil, err
	}
	if !identRe.MatchString(property) {
		return nil, fmt.Errorf("webcrm: FindBy %s: %w: %q is not a property name", e, ErrInvalidArgument, property)
	}
	script := fmt.Sprintf("SELECT * FROM %s WHERE %s = %s", e.Table(), property, quote(value))
	var out []Record
	seen := map[int]bool{}
	for page := 1; ; page++ {
		rows, err := c.query(ctx, "FindBy", e, script, page, MaxPageSize)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if v, ok := r[property]; ok && !strings.EqualFold(scalarString(v), value) {
				continue
			}
			if id, err := r.ID(e); err == nil {
				if seen[id] {
					continue
				}
				seen[id] = true
			}
			out = append(out, r)
		}
		if len(rows) < MaxPageSize || page == maxPage {
			return out, nil
		}
	}
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
// It pages /Queries `SELECT * FROM <Table> WHERE <X>UpdatedAt >= '<t>' ORDER BY
// <X>UpdatedAt ASC` with Size up to 1000. After each full page it restarts the query at
// the last timestamp seen (keyset paging), so records whose UpdatedAt moves while the walk
// runs are never skipped; only inside one run of equal timestamps longer than a page does
// it advance by Page. Rows are de-duplicated by id (the newest version wins).
//
// At most limit records are returned, more when needed to finish a run of equal
// timestamps, and at least the records up to the first timestamp after since, so
// repeated calls always make progress. limit <= 0 means no limit. next is the greatest
// UpdatedAt returned (since itself when nothing was). The watermark is inclusive: records
// stamped exactly next are returned again by the next call, so callers de-duplicate by
// id and UpdatedAt; this is what guarantees that a record written in the same tick as
// the watermark is never skipped.
func (c *Client) ChangedSince(ctx context.Context, e Entity, since time.Time, limit int) (recs []Record, next time.Time, err error) {
	if err := checkEntity("ChangedSince", e); err != nil {
		return nil, since, err
	}
	// The wire format has 100ns resolution; a finer since would make rows at the
	// truncated instant look older than the query.
	since = since.UTC().Truncate(wireResolution)
	size := MaxPageSize
	if limit > 0 && limit < size {
		size = limit
	}
	type row struct {
		rec Record
		id  int
		at  time.Time
	}
	byID := map[int]row{}
	unstamped := map[int]Record{}
	var maxSeen time.Time
	cursor := since
	page := 1
	var cut time.Time
	haveCut := false
	computeCut := func() {
		if limit <= 0 || len(byID) < limit {
			return
		}
		times := make([]time.Time, 0, len(byID))
		for _, r := range byID {
			times = append(times, r.at)
		}
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		t := times[limit-1]
		if !t.After(since) {
			// The first limit records all sit at since: include the next run too, or the
			// caller would get the same page forever.
			i := sort.Search(len(times), func(i int) bool { return times[i].After(since) })
			if i == len(times) {
				return
			}
			t = times[i]
		}
		cut, haveCut = t, true
	}
	for {
		script := fmt.Sprintf("SELECT * FROM %s WHERE %s >= %s ORDER BY %s ASC",
			e.Table(), e.UpdatedAtField(), quote(FormatTime(cursor)), e.UpdatedAtField())
		rows, err := c.query(ctx, "ChangedSince", e, script, page, size)
		if err != nil {
			return nil, since, err
		}
		var last time.Time
		for i, r := range rows {
			// A row without a usable id or UpdatedAt cannot be synced, but
			// must not stop every other record: it is reported and passed over.
			id, err := r.ID(e)
			if err == nil && id <= 0 {
				err = fmt.Errorf("%s %d is not a positive id", e.IDField(), id)
			}
			if err != nil {
				c.log.WarnContext(ctx, "webcrm: ChangedSince passes over a row without a usable "+e.IDField(), "entity", string(e), "page", page, "row", i+1, "error", err)
				continue
			}
			at, err := r.UpdatedAt(e)
			if err != nil {
				// Returned after the others, outside the watermark, so the
				// caller can have the record read and its error recorded.
				c.log.WarnContext(ctx, "webcrm: ChangedSince row without a usable UpdatedAt", "entity", string(e), "id", id, "error", err)
				unstamped[id] = r
				continue
			}
			if at.Before(cursor) {
				return nil, since, &APIError{Op: "ChangedSince", Entity: e, ID: strconv.Itoa(id), Status: http.StatusOK, Malformed: true,
					Message: fmt.Sprintf("row stamped %s is before the query's %s", FormatTime(at), FormatTime(cursor))}
			}
			if old, ok := byID[id]; !ok || at.After(old.at) {
				byID[id] = row{rec: r, id: id, at: at}
			}
			if at.After(maxSeen) {
				maxSeen = at
			}
			last = at
		}
		if len(rows) < size {
			break // the end
		}
		if !haveCut {
			computeCut()
		}
		if haveCut && maxSeen.After(cut) {
			break // the run at cut is complete
		}
		if last.After(cursor) {
			cursor, page = last.Truncate(wireResolution), 1 // keyset step: restart at the last timestamp seen
		} else {
			page++ // a whole page at one timestamp: walk that run by page number
			if page > maxPage {
				return nil, since, &APIError{Op: "ChangedSince", Entity: e, Status: http.StatusOK, Malformed: true, Message: "more than a million pages at one timestamp"}
			}
		}
	}
	if !haveCut {
		computeCut()
	}
	all := make([]row, 0, len(byID))
	for _, r := range byID {
		if haveCut && r.at.After(cut) {
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
	next = since
	recs = make([]Record, len(all), len(all)+len(unstamped))
	for i, r := range all {
		recs[i] = r.rec
		if r.at.After(next) {
			next = r.at
		}
	}
	ids := make([]int, 0, len(unstamped))
	for id := range unstamped {
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Ints(ids)
	for _, id := range ids {
		recs = append(recs, unstamped[id])
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

// findByToken returns the ids of records carrying token in field.
func (c *Client) findByToken(ctx context.Context, e Entity, field, token string) ([]int, error) {
	recs, err := c.FindBy(ctx, e, field, token)
	if err != nil {
		return nil, err
	}
	ids := make([]int, 0, len(recs))
	for _, r := range recs {
		id, err := r.ID(e)
		if err != nil {
			return nil, &APIError{Op: "FindBy", Entity: e, Status: http.StatusOK, Malformed: true, Err: err}
		}
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids, nil
}

// Create creates the record and returns its id. `token` is tandem's correlation token
// (the home link id); it is written into the entity's correlation field when one is
// configured. In that case Create first looks the token up and returns the existing
// record's id if there is one, so a retried create never makes a second record. For
// Organisations and Users (POST returns no id) the new record is found again by the
// token, so both a correlation field and a token are required for them.
func (c *Client) Create(ctx context.Context, e Entity, rec Record, token string) (int, error) {
	if err := checkEntity("Create", e); err != nil {
		return 0, err
	}
	field := c.correlation[e]
	if !e.postReturnsID() && (field == "" || token == "") {
		return 0, fmt.Errorf("webcrm: Create %s: %w: webCRM does not return the new id; a correlation field and token are required", e, ErrInvalidArgument)
	}
	body := normalise(rec)
	body[e.IDField()] = 0
	if field != "" && token != "" {
		body[field] = token
		ids, err := c.findByToken(ctx, e, field, token)
		if err != nil {
			return 0, err
		}
		switch len(ids) {
		case 0:
		case 1:
			c.log.DebugContext(ctx, "webcrm: create found existing record by correlation token", "entity", string(e), "id", ids[0])
			return ids[0], nil
		default:
			return 0, &CorrelationError{Entity: e, Field: field, Token: token, IDs: ids}
		}
	}
	k := call{op: "Create", entity: e, method: http.MethodPost, path: "/" + string(e), body: body}
	resp, err := c.do(ctx, k)
	if err != nil {
		return 0, err
	}
	id, ok, err := c.createdID(k, resp)
	if err != nil {
		return 0, err
	}
	if ok {
		c.recent.note(e, id)
		return id, nil
	}
	if field == "" || token == "" {
		return 0, &APIError{Op: "Create", Entity: e, Status: resp.status, Malformed: true, Message: "answer carries no id"}
	}
	ids, err := c.findByToken(ctx, e, field, token)
	if err != nil {
		return 0, fmt.Errorf("webcrm: Create %s: looking up the new record: %w", e, err)
	}
	if len(ids) != 1 {
		return 0, &CorrelationError{Entity: e, Field: field, Token: token, IDs: ids}
	}
	c.recent.note(e, ids[0])
	return ids[0], nil
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

// serverMaintained are the properties webCRM sets itself; Update leaves them out only if
// webCRM rejects a full record that carries them.
var serverMaintained = []string{"CreatedAt", "CreatedBy", "UpdatedAt", "UpdatedBy", "History"}

// Update does GET-modify-PUT: it reads the full record, overlays changes, PUTs the whole
// DTO (every property it read, mapped or not) and returns the record as written. The
// read and the write are not atomic: webCRM has no conditional PUT, so a change made in
// between by someone else to a property in changes is overwritten, and to any other
// property is overwritten with the value read a moment before.
func (c *Client) Update(ctx context.Context, e Entity, id int, changes Record) (Record, error) {
	if err := checkWrite(e, id, "changes", changes); err != nil {
		return nil, err
	}
	cur, err := c.get(ctx, "Update", e, id)
	if err != nil {
		return nil, err
	}
	return c.put(ctx, e, id, cur, changes)
}

// Replace is Update without the read: it overlays changes on current, a
// record the caller has just read (Get, or a ChangedSince/FindBy row), and PUTs the
// whole DTO. current must be the full record: properties it lacks are sent as absent,
// which webCRM may take as cleared. A current or changes carrying another id is refused. Use it
// only with a fresh read, since webCRM has no conditional PUT; it saves one
// request of the token's budget per write.
func (c *Client) Replace(ctx context.Context, e Entity, id int, current, changes Record) (Record, error) {
	if err := checkWrite(e, id, "changes", changes); err != nil {
		return nil, err
	}
	if err := checkWrite(e, id, "current", current); err != nil {
		return nil, err
	}
	return c.put(ctx, e, id, current, changes)
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

// put overlays changes on cur and PUTs the whole record. Columns of cur that cannot
// be DTO properties (every property starts with the entity's Table name) are left out:
// they are extra /Queries columns such as RowNumber or o_lastUpdatedById, present when
// cur is a ChangedSince or FindBy row.
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
	body[e.IDField()] = id
	k := call{op: "Update", entity: e, id: strconv.Itoa(id), method: http.MethodPut, path: "/" + string(e) + "/" + strconv.Itoa(id), body: body}
	resp, err := c.do(ctx, k)
	if err == nil {
		err = c.checkEmptyAnswer(k, resp)
	}
	var ae *APIError
	if err != nil && errors.As(err, &ae) && ae.Status == http.StatusBadRequest && mentionsServerField(e, ae.Message) {
		trimmed := body.Clone()
		for _, s := range serverMaintained {
			if _, changed := changes[e.Table()+s]; !changed {
				delete(trimmed, e.Table()+s)
			}
		}
		c.log.InfoContext(ctx, "webcrm: update rejected a server-maintained field; retrying without them", "entity", string(e), "id", id)
		k.body = trimmed
		body = trimmed
		if resp, err = c.do(ctx, k); err == nil {
			err = c.checkEmptyAnswer(k, resp)
		}
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

func mentionsServerField(e Entity, msg string) bool {
	for _, s := range serverMaintained {
		if strings.Contains(msg, e.Table()+s) {
			return true
		}
	}
	return false
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

// BulkUpsert sends the records as one PATCH /<Entity> (records with id 0 are inserted,
// others updated) and returns webCRM's per-record result strings: the assigned id for an
// insert, or an error message. The records must be complete DTOs: PATCH replaces like PUT.
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
	// Remember the records written: the updated ones by their ids, the
	// inserted ones by the ids the answer assigns.
	written := make([]int, 0, len(recs))
	for i, r := range body {
		if id, err := strconv.Atoi(fmt.Sprint(r[e.IDField()])); err == nil && id > 0 {
			written = append(written, id)
		} else if i < len(out) {
			if id, err := strconv.Atoi(strings.TrimSpace(out[i])); err == nil {
				written = append(written, id)
			}
		}
	}
	c.recent.note(e, written...)
	return out, nil
}
