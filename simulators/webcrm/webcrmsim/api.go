package webcrmsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// handleList answers GET /X?Page&Size with a bare JSON array ordered by id.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, e *entity) {
	page, size, err := paging(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.RLock()
	t := s.tables[e.Name]
	recs := t.records(pageBounds(len(t.ids), page, size))
	s.mu.RUnlock()
	writeRecords(w, e.read, recs)
}

// writeRecords answers 200 with a JSON array of records.
func writeRecords(w http.ResponseWriter, props []*genProp, recs []record) {
	buf := getBuf()
	defer putBuf(buf)
	b := append(*buf, '[')
	for i, rec := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRecord(b, props, rec)
	}
	b = append(b, ']')
	*buf = b
	writeRaw(w, http.StatusOK, b)
}

// handleGet answers GET /X/{id}.
func (s *Server) handleGet(w http.ResponseWriter, _ *http.Request, e *entity, id int) {
	s.mu.RLock()
	rec, ok := s.tables[e.Name].recs[id]
	s.mu.RUnlock()
	if !ok {
		writeError(w, notFound("%s %d was not found.", e.Table, id))
		return
	}
	writeRaw(w, http.StatusOK, appendRecord(nil, e.read, rec))
}

// handleCreate answers POST /X: the new id as a bare JSON integer, or an
// empty 200 for the entities whose swagger POST has no response schema
// (Organisations, Users).
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, e *entity) {
	obj, err := readObject(r, s.opts.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	fields, id, err := e.decodeFields(obj)
	if err != nil {
		writeError(w, err)
		return
	}
	if id != 0 {
		writeError(w, badRequest("%s must be 0 on create (got %d); use PUT /%s/%d to update.", e.IDField, id, e.Name, id))
		return
	}
	c, err := s.commit(true, func() (change, error) { return s.createLocked(e, fields, actorAPI, true) })
	if err != nil {
		writeError(w, err)
		return
	}
	if !e.PostReturnsID {
		writeEmpty(w)
		return
	}
	writeRaw(w, http.StatusOK, strconv.AppendInt(nil, int64(c.id), 10))
}

// handlePut answers PUT /X/{id}: full replacement; the body's id must be
// the path id or 0.
func (s *Server) handlePut(w http.ResponseWriter, r *http.Request, e *entity, id int) {
	obj, err := readObject(r, s.opts.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	fields, bodyID, err := e.decodeFields(obj)
	if err != nil {
		writeError(w, err)
		return
	}
	if bodyID != 0 && bodyID != id {
		writeError(w, badRequest("%s %d in the body does not match the id %d in the path.", e.IDField, bodyID, id))
		return
	}
	if _, err := s.commit(true, func() (change, error) { return s.replaceLocked(e, id, fields, actorAPI, true) }); err != nil {
		writeError(w, err)
		return
	}
	writeEmpty(w)
}

// handleDelete answers DELETE /X/{id} (only QuotationLines and Products).
func (s *Server) handleDelete(w http.ResponseWriter, _ *http.Request, e *entity, id int) {
	if _, err := s.commit(true, func() (change, error) { return s.deleteLocked(e, id) }); err != nil {
		writeError(w, err)
		return
	}
	writeEmpty(w)
}

// PatchErrorPrefix starts every error string in a bulk PATCH answer; the
// other strings are the decimal id of the inserted or updated record.
const PatchErrorPrefix = "Error: "

// handleBulk answers PATCH /X: an array of DTOs, each inserted (id 0 or
// absent) or replaced like PUT (id > 0). The answer has one string per
// item, in order: the record's id, or PatchErrorPrefix and the reason.
// Items are independent; one failing item does not undo the others.
func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request, e *entity) {
	v, err := readJSON(r, s.opts.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	items, ok := v.([]any)
	if !ok {
		writeError(w, badRequest("The request body must be a JSON array of %s, got %s.", e.WriteDTO, jsonTypeName(v)))
		return
	}
	if len(items) > MaxPatchItems {
		writeError(w, badRequest("At most %d items can be sent in one PATCH, got %d.", MaxPatchItems, len(items)))
		return
	}
	results := make([]string, len(items))
	var changes []change
	var ds []delivery
	s.mu.Lock()
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			results[i] = fmt.Sprintf("%sitem %d: expected a JSON object, got %s", PatchErrorPrefix, i, jsonTypeName(it))
			continue
		}
		fields, id, err := e.decodeFields(obj)
		if err != nil {
			results[i] = fmt.Sprintf("%sitem %d: %v", PatchErrorPrefix, i, err)
			continue
		}
		var c change
		if id == 0 {
			c, err = s.createLocked(e, fields, actorAPI, true)
		} else {
			c, err = s.replaceLocked(e, id, fields, actorAPI, true)
		}
		if err != nil {
			results[i] = fmt.Sprintf("%sitem %d (%s %d): %v", PatchErrorPrefix, i, e.IDField, id, err)
			continue
		}
		results[i] = strconv.Itoa(c.id)
		changes = append(changes, c)
		ds = append(ds, s.matchHooksLocked(c)...)
	}
	s.mu.Unlock()
	s.afterWrite(changes, ds, true)
	writeJSON(w, http.StatusOK, results)
}

// IsPatchError reports whether a bulk PATCH result string is an error.
func IsPatchError(result string) bool { return strings.HasPrefix(result, PatchErrorPrefix) }
