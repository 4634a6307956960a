package webcrmsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// handleList answers GET /X?Page&Size with a bare JSON array ordered by id
// (with UnorderedPages: a page of a fresh random order of all records).
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, e *entity, bh *behaviour) {
	page, size, err := paging(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.RLock()
	t := s.tables[e.Name]
	lo, hi := pageBounds(len(t.ids), page, size)
	var recs []record
	if bh != nil && bh.unordered {
		ids := slices.Clone(t.ids)
		s.faults.shuffle(len(ids), hi, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		recs = make([]record, 0, hi-lo)
		for _, id := range ids[lo:hi] {
			recs = append(recs, t.recs[id])
		}
	} else {
		recs = t.records(lo, hi)
	}
	s.mu.RUnlock()
	writeRecords(w, e.read, recs, bh.view())
}

// writeRecords answers 200 with a JSON array of records, rendered through
// out (nil: as stored).
func writeRecords(w http.ResponseWriter, props []*genProp, recs []record, out *outView) {
	buf := getBuf()
	defer putBuf(buf)
	b := append(*buf, '[')
	for i, rec := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRecord(b, props, rec, out)
	}
	b = append(b, ']')
	*buf = b
	writeRaw(w, http.StatusOK, b)
}

// handleGet answers GET /X/{id}.
func (s *Server) handleGet(w http.ResponseWriter, _ *http.Request, e *entity, id int, bh *behaviour) {
	s.mu.RLock()
	rec, ok := s.tables[e.Name].recs[id]
	s.mu.RUnlock()
	if !ok {
		writeError(w, notFound("%s %d was not found.", e.Table, id))
		return
	}
	writeRaw(w, http.StatusOK, appendRecord(nil, e.read, rec, bh.view()))
}

// handleCreate answers POST /X: the new id as a bare JSON integer, or an
// empty 200 for the entities whose swagger POST has no response schema
// (Organisations, Users).
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, e *entity, bh *behaviour) {
	obj, err := readObject(r, s.opts.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	rules := bh.writeRules()
	fields, id, err := e.decodeFields(obj, rules)
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
	s.countWrite(rules, maskedSecrets(e, fields))
	if !e.PostReturnsID {
		writeEmpty(w)
		return
	}
	writeRaw(w, http.StatusOK, strconv.AppendInt(nil, int64(c.id), 10))
}

// handlePut answers PUT /X/{id}: full replacement; the body's id must be
// the path id or 0.
func (s *Server) handlePut(w http.ResponseWriter, r *http.Request, e *entity, id int, bh *behaviour) {
	obj, err := readObject(r, s.opts.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	rules := bh.writeRules()
	fields, bodyID, err := e.decodeFields(obj, rules)
	if err != nil {
		writeError(w, err)
		return
	}
	if bodyID != 0 && bodyID != id {
		writeError(w, badRequest("%s %d in the body does not match the id %d in the path.", e.IDField, bodyID, id))
		return
	}
	masked := maskedSecrets(e, fields)
	_, err = s.commit(true, func() (change, error) {
		if bh != nil && bh.mask {
			s.keepSecretsLocked(e, id, fields)
		}
		return s.replaceLocked(e, id, fields, actorAPI, true)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	s.countWrite(rules, masked)
	writeEmpty(w)
}

// countWrite adds a committed API write's rewritten values and credentials
// set to SecretMask to the stats.
func (s *Server) countWrite(rules *writeRules, masked int) {
	rewritten := 0
	if rules != nil {
		rewritten = rules.rewritten
	}
	if rewritten == 0 && masked == 0 {
		return
	}
	s.stats.add(func(st *Stats) {
		st.ValuesRewritten += int64(rewritten)
		st.SecretsOverwritten += int64(masked)
	})
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
// PatchItemErrorRate refuses items, PatchShuffle and PatchShortRate change
// the answer (see FaultConfig).
func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request, e *entity, bh *behaviour) {
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
	plan := s.faults.planPatch(len(items), bh)
	results := make([]string, len(items))
	var changes []change
	var ds []delivery
	var rewritten, masked, rejected int
	s.mu.Lock()
	for i, it := range items {
		if plan.reject != nil && plan.reject[i] {
			results[i] = PatchItemErrorMessage
			rejected++
			continue
		}
		obj, ok := it.(map[string]any)
		if !ok {
			results[i] = fmt.Sprintf("%sitem %d: expected a JSON object, got %s", PatchErrorPrefix, i, jsonTypeName(it))
			continue
		}
		rules := bh.writeRules()
		fields, id, err := e.decodeFields(obj, rules)
		if err != nil {
			results[i] = fmt.Sprintf("%sitem %d: %v", PatchErrorPrefix, i, err)
			continue
		}
		m := maskedSecrets(e, fields)
		var c change
		if id == 0 {
			c, err = s.createLocked(e, fields, actorAPI, true)
		} else {
			if bh != nil && bh.mask {
				s.keepSecretsLocked(e, id, fields)
			}
			c, err = s.replaceLocked(e, id, fields, actorAPI, true)
		}
		if err != nil {
			results[i] = fmt.Sprintf("%sitem %d (%s %d): %v", PatchErrorPrefix, i, e.IDField, id, err)
			continue
		}
		if rules != nil {
			rewritten += rules.rewritten
		}
		masked += m
		results[i] = strconv.Itoa(c.id)
		changes = append(changes, c)
		ds = append(ds, s.matchHooksLocked(c)...)
	}
	s.mu.Unlock()
	s.afterWrite(changes, ds, true)
	s.countWrite(&writeRules{rewritten: rewritten}, masked)
	if rejected > 0 || plan.perm != nil || plan.omit != nil {
		s.stats.add(func(st *Stats) {
			st.PatchItemErrors += int64(rejected)
			if plan.perm != nil {
				st.PatchShuffled++
			}
			if plan.omit != nil {
				st.PatchShortened++
			}
		})
	}
	writeJSON(w, http.StatusOK, plan.apply(results))
}

// IsPatchError reports whether a bulk PATCH result string is an error.
func IsPatchError(result string) bool { return strings.HasPrefix(result, PatchErrorPrefix) }
