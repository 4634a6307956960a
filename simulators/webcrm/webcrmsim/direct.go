package webcrmsim

import (
	"fmt"
)

// Put creates (id 0 or absent) or replaces a record directly in the store,
// like a person editing in webCRM's UI: the same types and business rules
// as the API apply (except that a person may change organisation), the
// UpdatedAt timestamp advances, hooks fire, and the API stats do not count
// it. Properties whose value is nil are left out. It returns the id.
// e is the resource name ("Organisations") or table name ("Organisation").
func (s *Server) Put(e string, rec map[string]any) (int, error) {
	ent, ok := entities.find(e)
	if !ok {
		return 0, fmt.Errorf("put: %w", errEntity(e))
	}
	fields, id, err := ent.directFields(rec)
	if err != nil {
		return 0, fmt.Errorf("put %s %d: %w", ent.Name, id, err)
	}
	for k, v := range fields {
		if v == nil {
			delete(fields, k)
		}
	}
	c, err := s.commit(false, func() (change, error) {
		if id == 0 {
			return s.createLocked(ent, fields, actorUI, false)
		}
		return s.replaceLocked(ent, id, fields, actorUI, false)
	})
	if err != nil {
		return 0, fmt.Errorf("put %s %d: %w", ent.Name, id, err)
	}
	return c.id, nil
}

// Patch changes some properties of a record directly in the store (a nil
// value clears one); UpdatedAt advances and hooks fire.
func (s *Server) Patch(e string, id int, fields map[string]any) error {
	ent, ok := entities.find(e)
	if !ok {
		return fmt.Errorf("patch: %w", errEntity(e))
	}
	norm, bodyID, err := ent.directFields(fields)
	if err != nil {
		return fmt.Errorf("patch %s %d: %w", ent.Name, id, err)
	}
	if bodyID != 0 && bodyID != id {
		return fmt.Errorf("patch %s %d: %w", ent.Name, id, badRequest("%s %d does not match %d", ent.IDField, bodyID, id))
	}
	if _, err := s.commit(false, func() (change, error) { return s.mergeLocked(ent, id, norm, actorUI) }); err != nil {
		return fmt.Errorf("patch %s %d: %w", ent.Name, id, err)
	}
	return nil
}

// Remove deletes a record directly in the store (any entity, as a user in
// the UI could; nothing cascades) and fires Delete hooks.
func (s *Server) Remove(e string, id int) error {
	ent, ok := entities.find(e)
	if !ok {
		return fmt.Errorf("remove: %w", errEntity(e))
	}
	if _, err := s.commit(false, func() (change, error) { return s.deleteLocked(ent, id) }); err != nil {
		return fmt.Errorf("remove %s %d: %w", ent.Name, id, err)
	}
	return nil
}

// Record returns a copy of a stored record (ints as int64, doubles as
// float64, date-times as TimeLayout strings), or false.
func (s *Server) Record(e string, id int) (map[string]any, bool) {
	ent, ok := entities.find(e)
	if !ok {
		return nil, false
	}
	s.mu.RLock()
	rec, ok := s.tables[ent.Name].recs[id]
	s.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return copyRecord(rec), true
}

// Records returns copies of all records of an entity ordered by id.
func (s *Server) Records(e string) []map[string]any {
	ent, ok := entities.find(e)
	if !ok {
		return nil
	}
	s.mu.RLock()
	t := s.tables[ent.Name]
	recs := t.records(0, len(t.ids))
	s.mu.RUnlock()
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		out[i] = copyRecord(r)
	}
	return out
}

// Count returns the number of records of an entity.
func (s *Server) Count(e string) int {
	ent, ok := entities.find(e)
	if !ok {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tables[ent.Name].ids)
}

// Reset deletes every record and hook (ids start at 1 again). Issued
// tokens stay valid. No hooks fire.
func (s *Server) Reset() {
	s.mu.Lock()
	s.resetStoreLocked()
	s.mu.Unlock()
	if s.persist != nil {
		s.persist.notify()
	}
}

// Seed replaces all records and hooks with generated demo data: size
// organisations and their persons, opportunities and quotation lines, plus
// users and products. The same seed and size give the same data.
func (s *Server) Seed(seed int64, size int) error {
	if size < 0 {
		return fmt.Errorf("seed: size %d is negative", size)
	}
	s.mu.Lock()
	s.resetStoreLocked()
	s.seedLocked(seed, size)
	s.mu.Unlock()
	if s.persist != nil {
		s.persist.notify()
	}
	return nil
}
