package webcrmsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// record is one stored DTO: property name -> string, int64, float64, bool or
// canonical date-time string. Only set properties are present. Stored
// records are never modified in place (every write stores a new map), so a
// reference taken under the lock stays valid after it is released.
type record = map[string]any

// table holds the records of one entity.
type table struct {
	ent    *entity
	recs   map[int]record
	ids    []int // ascending
	nextID int
}

func newTable(e *entity) *table {
	return &table{ent: e, recs: map[int]record{}, nextID: 1}
}

func (t *table) insert(id int, rec record) {
	t.recs[id] = rec
	if n := len(t.ids); n == 0 || t.ids[n-1] < id {
		t.ids = append(t.ids, id)
	} else {
		i := sort.SearchInts(t.ids, id)
		if i < len(t.ids) && t.ids[i] == id {
			return
		}
		t.ids = append(t.ids, 0)
		copy(t.ids[i+1:], t.ids[i:])
		t.ids[i] = id
	}
	if id >= t.nextID {
		t.nextID = id + 1
	}
}

// records returns the records at positions [lo, hi) of the id order.
// Caller holds the server lock; the records themselves are immutable.
func (t *table) records(lo, hi int) []record {
	out := make([]record, hi-lo)
	for i, id := range t.ids[lo:hi] {
		out[i] = t.recs[id]
	}
	return out
}

func (t *table) remove(id int) {
	delete(t.recs, id)
	i := sort.SearchInts(t.ids, id)
	if i < len(t.ids) && t.ids[i] == id {
		t.ids = append(t.ids[:i], t.ids[i+1:]...)
	}
}

// change is one committed write, for hooks and stats.
type change struct {
	ent  *entity
	id   int
	kind string // "Create", "Update" or "Delete"
	at   string // the write's timestamp
}

// resetStoreLocked empties all tables and hooks. Caller holds s.mu (or is
// New, before the server is shared).
func (s *Server) resetStoreLocked() {
	s.tables = map[string]*table{}
	for _, e := range entities.list {
		s.tables[e.Name] = newTable(e)
	}
	s.hooks = map[int64]*hook{}
	s.nextHook = 1
	s.version++
}

// stampLocked returns the timestamp of a write: the clock truncated to
// 100 ns, never earlier than any previous write (so /Queries watermarks
// never miss a record) and strictly after prev, the record's previous
// UpdatedAt, when given. Writes in one clock tick share a timestamp.
func (s *Server) stampLocked(prev any) string {
	t := s.now().UTC().Truncate(100 * time.Nanosecond)
	if t.Before(s.lastStamp) {
		t = s.lastStamp
	}
	if ps, ok := prev.(string); ok {
		if pt, err := time.Parse(TimeLayout, ps); err == nil && !t.After(pt) {
			t = pt.Add(100 * time.Nanosecond)
		}
	}
	s.lastStamp = t
	return FormatTime(t)
}

// decodeFields validates a DTO object against the entity's write shape. It
// returns the normalised properties (without the id and the server-maintained
// properties) and the id given in the body (0 when absent or null). Unknown
// properties, wrong JSON types, unknown enum values and over-long strings are
// errors naming the property. Property names match case-insensitively.
// rules (nil: strict, UTC) may rewrite strings instead (RewriteOnWrite) and
// read date-times without an offset in another zone.
func (e *entity) decodeFields(obj map[string]any, rules *writeRules) (record, int, error) {
	fields := make(record, len(obj))
	id := 0
	for _, k := range sortedKeys(obj) {
		p, ok := e.write[strings.ToLower(k)]
		if !ok {
			return nil, 0, badRequest("Unknown property %q for %s.", k, e.WriteDTO)
		}
		in := obj[k]
		if str, isStr := in.(string); isStr && rules != nil {
			switch {
			case p.Kind == kindString && rules.rewrite:
				if out := rewriteString(p, str); out != str {
					in = out
					rules.rewritten++
				}
			case p.Kind == kindDateTime && rules.zone != nil && rules.zone != time.UTC:
				t, err := parseTimeIn(str, rules.zone)
				if err != nil {
					return nil, 0, badRequest("Invalid %s: property %s: %v", e.WriteDTO, p.Name, err)
				}
				in = t
			}
		}
		v, err := p.normalize(in)
		if err != nil {
			return nil, 0, badRequest("Invalid %s: %v", e.WriteDTO, err)
		}
		switch {
		case p.Name == e.IDField:
			if v != nil {
				id = int(v.(int64))
			}
		case e.serverMaintained(p.Name):
			// Server-maintained; values sent by clients are ignored.
		case v != nil:
			fields[p.Name] = v
		}
	}
	return fields, id, nil
}

// intValue returns an integer property as int (0 when unset).
func intValue(rec record, name string) int {
	if v, ok := rec[name].(int64); ok {
		return int(v)
	}
	return 0
}

// checkLocked applies webCRM's business rules to a record about to be
// stored; old is the current record (nil on create).
func (s *Server) checkLocked(e *entity, old, rec record, api bool) error {
	switch e.Name {
	case "Persons":
		if ln, _ := rec["PersonLastName"].(string); strings.TrimSpace(ln) == "" {
			return badRequest("PersonLastName is required.")
		}
		if api && old != nil && intValue(old, "PersonOrganisationId") != intValue(rec, "PersonOrganisationId") {
			return badRequest("It is not allowed to change the organisation of a person (PersonOrganisationId %d -> %d).",
				intValue(old, "PersonOrganisationId"), intValue(rec, "PersonOrganisationId"))
		}
	case "QuotationLines":
		if intValue(rec, "QuotationLineOpportunityId") == 0 {
			return badRequest("QuotationLineOpportunityId is required.")
		}
	}
	for _, prop := range sortedKeys(e.refs) {
		ref := intValue(rec, prop)
		if ref == 0 || (old != nil && intValue(old, prop) == ref) {
			continue
		}
		target := e.refs[prop]
		if _, ok := s.tables[target].recs[ref]; !ok {
			return badRequest("%s %d refers to a missing record in %s.", prop, ref, target)
		}
	}
	return nil
}

// createLocked stores a new record; fields come from decodeFields.
func (s *Server) createLocked(e *entity, fields record, actor string, api bool) (change, error) {
	if err := s.checkLocked(e, nil, fields, api); err != nil {
		return change{}, err
	}
	t := s.tables[e.Name]
	id := t.nextID
	rec := make(record, len(fields)+5)
	for k, v := range fields {
		rec[k] = v
	}
	rec[e.IDField] = int64(id)
	stamp := s.stampLocked(nil)
	rec[e.createdAt], rec[e.updatedAt] = stamp, stamp
	rec[e.createdBy], rec[e.updatedBy] = actor, actor
	t.insert(id, rec)
	s.version++
	return change{ent: e, id: id, kind: "Create", at: stamp}, nil
}

// replaceLocked replaces every client-writable property of record id (PUT
// semantics: properties not given are cleared).
func (s *Server) replaceLocked(e *entity, id int, fields record, actor string, api bool) (change, error) {
	t := s.tables[e.Name]
	old, ok := t.recs[id]
	if !ok {
		return change{}, notFound("%s %d was not found.", e.Table, id)
	}
	rec := make(record, len(fields)+5)
	for k, v := range fields {
		rec[k] = v
	}
	return s.storeLocked(e, t, id, old, rec, actor, api)
}

// mergeLocked overlays fields on record id; a nil value clears a property.
func (s *Server) mergeLocked(e *entity, id int, fields record, actor string) (change, error) {
	t := s.tables[e.Name]
	old, ok := t.recs[id]
	if !ok {
		return change{}, notFound("%s %d was not found.", e.Table, id)
	}
	rec := make(record, len(old)+len(fields))
	for k, v := range old {
		if !e.serverMaintained(k) && k != e.IDField {
			rec[k] = v
		}
	}
	for k, v := range fields {
		if v == nil {
			delete(rec, k)
		} else {
			rec[k] = v
		}
	}
	return s.storeLocked(e, t, id, old, rec, actor, false)
}

func (s *Server) storeLocked(e *entity, t *table, id int, old, rec record, actor string, api bool) (change, error) {
	if err := s.checkLocked(e, old, rec, api); err != nil {
		return change{}, err
	}
	rec[e.IDField] = int64(id)
	if v, ok := old[e.createdAt]; ok {
		rec[e.createdAt] = v
	}
	if v, ok := old[e.createdBy]; ok {
		rec[e.createdBy] = v
	}
	stamp := s.stampLocked(old[e.updatedAt])
	rec[e.updatedAt] = stamp
	rec[e.updatedBy] = actor
	t.recs[id] = rec
	s.version++
	return change{ent: e, id: id, kind: "Update", at: stamp}, nil
}

func (s *Server) deleteLocked(e *entity, id int) (change, error) {
	t := s.tables[e.Name]
	if _, ok := t.recs[id]; !ok {
		return change{}, notFound("%s %d was not found.", e.Table, id)
	}
	t.remove(id)
	stamp := s.stampLocked(nil)
	s.version++
	return change{ent: e, id: id, kind: "Delete", at: stamp}, nil
}

// commit runs one write under the lock, collects the hook deliveries it
// triggers and, after unlocking, runs afterWrite. api marks writes made
// through the API (counted in Stats.Writes).
func (s *Server) commit(api bool, write func() (change, error)) (change, error) {
	s.mu.Lock()
	c, err := write()
	var ds []delivery
	if err == nil {
		ds = s.matchHooksLocked(c)
	}
	s.mu.Unlock()
	if err != nil {
		return change{}, err
	}
	s.afterWrite([]change{c}, ds, api)
	return c, nil
}

// afterWrite runs after the lock is released: it counts API writes, queues
// hook deliveries and schedules persistence.
func (s *Server) afterWrite(changes []change, deliveries []delivery, api bool) {
	if len(changes) == 0 {
		return
	}
	if api {
		for _, c := range changes {
			s.stats.write(c.ent.Name, c.kind)
		}
	}
	for _, d := range deliveries {
		s.hooksOut.enqueue(d)
	}
	if s.persist != nil {
		s.persist.notify()
	}
}

// copyRecord returns a caller-owned copy of a stored record.
func copyRecord(r record) map[string]any {
	out := make(map[string]any, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}

// Actors written to *CreatedBy / *UpdatedBy.
const (
	actorAPI = "REST API"
	actorUI  = "webCRM UI"
)

// errEntity is returned for an unknown entity name.
func errEntity(name string) error {
	return notFound("Unknown entity %q; use one of %s.", name, strings.Join(Entities(), ", "))
}

// directFields normalises a caller-given record for the direct-store
// methods: like decodeFields, but nil values are kept (they clear).
func (e *entity) directFields(in map[string]any) (record, int, error) {
	fields := make(record, len(in))
	id := 0
	for _, k := range sortedKeys(in) {
		p, ok := e.write[strings.ToLower(k)]
		if !ok {
			return nil, 0, fmt.Errorf("unknown property %q for %s", k, e.Name)
		}
		v, err := p.normalize(in[k])
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", e.Name, err)
		}
		switch {
		case p.Name == e.IDField:
			if v != nil {
				id = int(v.(int64))
			}
		case e.serverMaintained(p.Name):
		default:
			fields[p.Name] = v
		}
	}
	return fields, id, nil
}
