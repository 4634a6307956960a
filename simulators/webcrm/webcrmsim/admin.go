package webcrmsim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// serveAdmin serves the /_sim/ endpoints (no bearer, not counted):
//
//	GET  /_sim/health                       {"Status":"ok"}
//	POST /_sim/reset                        delete all records and hooks
//	POST /_sim/seed?seed=&size=             replace everything with generated data
//	GET  /_sim/stats                        Stats as JSON
//	POST /_sim/stats/reset                  zero the counters
//	GET  /_sim/faults, PUT /_sim/faults     FaultConfig as JSON (PUT replaces it)
//	GET  /_sim/records/{Entity}             all records, ordered by id
//	GET  /_sim/records/{Entity}/{id}        one record
//	POST|PUT /_sim/records/{Entity}         create (Put with id 0) -> {"Id": n}
//	PUT  /_sim/records/{Entity}/{id}        replace (Put) -> {"Id": n}
//	PATCH /_sim/records/{Entity}/{id}       change some properties (Patch)
//	DELETE /_sim/records/{Entity}/{id}      delete (Remove)
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/_sim"), "/")
	segs := strings.Split(path, "/")
	switch {
	case path == "health":
		writeJSON(w, http.StatusOK, map[string]string{"Status": "ok"})
	case path == "reset":
		if !adminMethod(w, r, http.MethodPost) {
			return
		}
		s.Reset()
		writeJSON(w, http.StatusOK, s.counts())
	case path == "seed":
		if !adminMethod(w, r, http.MethodPost) {
			return
		}
		seed, size := s.opts.Seed, s.opts.SeedSize
		if v, ok := queryParam(r, "seed"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				writeError(w, badRequest("seed %q is not an integer", v))
				return
			}
			seed = n
		}
		if v, ok := queryParam(r, "size"); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeError(w, badRequest("size %q is not a non-negative integer", v))
				return
			}
			size = n
		}
		if err := s.Seed(seed, size); err != nil {
			writeError(w, badRequest("%v", err))
			return
		}
		writeJSON(w, http.StatusOK, s.counts())
	case path == "stats":
		if !adminMethod(w, r, http.MethodGet) {
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
	case path == "stats/reset":
		if !adminMethod(w, r, http.MethodPost) {
			return
		}
		s.ResetStats()
		writeJSON(w, http.StatusOK, s.Stats())
	case path == "faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.faults.Config())
		case http.MethodPut:
			var cfg FaultConfig
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&cfg); err != nil {
				writeError(w, badRequest("Invalid FaultConfig: %v", err))
				return
			}
			if err := s.faults.Set(cfg); err != nil {
				writeError(w, badRequest("Invalid FaultConfig: %v", err))
				return
			}
			writeJSON(w, http.StatusOK, s.faults.Config())
		default:
			methodNotAllowed(w, []string{http.MethodGet, http.MethodPut})
		}
	case len(segs) >= 2 && len(segs) <= 3 && segs[0] == "records":
		s.adminRecords(w, r, segs[1:])
	default:
		writeError(w, notFound("No admin endpoint %s.", r.URL.Path))
	}
}

func adminMethod(w http.ResponseWriter, r *http.Request, m string) bool {
	if r.Method != m {
		methodNotAllowed(w, []string{m})
		return false
	}
	return true
}

func (s *Server) counts() map[string]int {
	out := map[string]int{}
	for _, e := range entities.list {
		out[e.Name] = s.Count(e.Name)
	}
	return out
}

// adminError maps direct-store errors to HTTP answers.
func adminError(w http.ResponseWriter, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeJSON(w, he.status, errorBody{Message: err.Error(), Type: he.typ})
		return
	}
	writeJSON(w, http.StatusBadRequest, errorBody{Message: err.Error(), Type: "BadRequestException"})
}

func (s *Server) adminRecords(w http.ResponseWriter, r *http.Request, segs []string) {
	ent, ok := entities.find(segs[0])
	if !ok {
		writeError(w, errEntity(segs[0]))
		return
	}
	id := 0
	if len(segs) == 2 {
		n, err := strconv.Atoi(segs[1])
		if err != nil || n <= 0 {
			writeError(w, badRequest("id %q is not a positive integer", segs[1]))
			return
		}
		id = n
	}
	readBody := func() (map[string]any, bool) {
		obj, err := readObject(r, s.opts.MaxBodyBytes)
		if err != nil {
			writeError(w, err)
			return nil, false
		}
		return obj, true
	}
	switch {
	case r.Method == http.MethodGet && id == 0:
		s.mu.RLock()
		t := s.tables[ent.Name]
		recs := t.records(0, len(t.ids))
		s.mu.RUnlock()
		writeRecords(w, ent.stored, recs, nil)
	case r.Method == http.MethodGet:
		s.mu.RLock()
		rec, ok := s.tables[ent.Name].recs[id]
		s.mu.RUnlock()
		if !ok {
			writeError(w, notFound("%s %d was not found.", ent.Table, id))
			return
		}
		writeRaw(w, http.StatusOK, appendRecord(nil, ent.stored, rec, nil))
	case (r.Method == http.MethodPost && id == 0) || r.Method == http.MethodPut:
		obj, ok := readBody()
		if !ok {
			return
		}
		if id != 0 {
			obj[ent.IDField] = id
		}
		newID, err := s.Put(ent.Name, obj)
		if err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"Id": newID})
	case r.Method == http.MethodPatch && id != 0:
		obj, ok := readBody()
		if !ok {
			return
		}
		if err := s.Patch(ent.Name, id, obj); err != nil {
			adminError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"Id": id})
	case r.Method == http.MethodDelete && id != 0:
		if err := s.Remove(ent.Name, id); err != nil {
			adminError(w, err)
			return
		}
		writeEmpty(w)
	default:
		methodNotAllowed(w, []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete})
	}
}
