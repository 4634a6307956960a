package erpsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/tandemsync/tandem/customerp"
)

// readOnlyFields are stripped from records handed to Put and Patch, so a record read with
// Record can be edited and written back as it is.
var readOnlyFields = []string{"id", "version", "updatedAt", "lineId", "lines", "totalAmount"}

func parseResource(r string) (customerp.Resource, error) {
	res := customerp.Resource(r)
	if !res.Valid() {
		return "", &apiError{status: http.StatusNotFound, kind: "not-found", detail: fmt.Sprintf("unknown resource %q", r)}
	}
	return res, nil
}

// jsonRoundTrip turns a Go value into its JSON form with exact numbers (json.Number), as if it
// had arrived over HTTP.
func jsonRoundTrip(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, badRequest("the record cannot be encoded as JSON: " + err.Error())
	}
	return decodeBody(b)
}

// Put writes a record as a person in the ERP's own screens would: without "id" it creates
// one, with "id" it replaces that record's writable fields (read-only fields in rec are
// ignored). It goes through the same validation and commit path as the API, so the change
// feed sees it, but it is not counted in the API stats.
func (s *Server) Put(r string, rec map[string]any) (map[string]any, error) {
	res, err := parseResource(r)
	if err != nil {
		return nil, err
	}
	body, err := jsonRoundTrip(rec)
	if err != nil {
		return nil, err
	}
	id, _ := body["id"].(string)
	for _, k := range readOnlyFields {
		delete(body, k)
	}
	if id == "" {
		created, _, err := s.create(context.Background(), res, body, "")
		return created, err
	}
	return s.replace(context.Background(), res, id, body, noIfMatch)
}

// Patch changes some fields of a record (RFC 7396 merge patch: null clears a field), like an
// edit in the ERP's own screens. Read-only fields in fields are ignored.
func (s *Server) Patch(r string, id string, fields map[string]any) (map[string]any, error) {
	res, err := parseResource(r)
	if err != nil {
		return nil, err
	}
	body, err := jsonRoundTrip(fields)
	if err != nil {
		return nil, err
	}
	for _, k := range readOnlyFields {
		delete(body, k)
	}
	return s.patch(context.Background(), res, id, body)
}

// Remove deletes a record as a person in the ERP would (no version check); the feed gets a
// tombstone.
func (s *Server) Remove(r string, id string) error {
	res, err := parseResource(r)
	if err != nil {
		return err
	}
	return s.remove(context.Background(), res, id, noIfMatch)
}

// Record returns the live record r/id.
func (s *Server) Record(r, id string) (map[string]any, bool) {
	res, err := parseResource(r)
	if err != nil {
		return nil, false
	}
	rec, ok, err := s.store.get(context.Background(), res, id)
	if err != nil {
		s.log.Error("erpsim: read record", "resource", r, "id", id, "err", err)
		return nil, false
	}
	return rec, ok
}

// Records returns every live record of r in id order.
func (s *Server) Records(r string) []map[string]any {
	res, err := parseResource(r)
	if err != nil {
		return nil
	}
	recs, err := s.allRecords(context.Background(), res)
	if err != nil {
		s.log.Error("erpsim: list records", "resource", r, "err", err)
		return nil
	}
	return recs
}

func (s *Server) allRecords(ctx context.Context, res customerp.Resource) ([]map[string]any, error) {
	var out []map[string]any
	after := int64(0)
	for {
		recs, ns, more, err := s.store.list(ctx, res, nil, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if !more || len(ns) == 0 {
			return out, nil
		}
		after = ns[len(ns)-1]
	}
}

// serveAdmin handles /_sim/: reset, seed, stats, faults and direct record access. It needs
// no API key and is not counted in the stats.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)[1:]
	key := ""
	if len(parts) > 0 {
		key = parts[0]
	}
	ctx := r.Context()
	method := func(m ...string) bool {
		for _, x := range m {
			if r.Method == x {
				return true
			}
		}
		writeProblem(w, &apiError{status: http.StatusMethodNotAllowed, kind: "method-not-allowed", detail: r.Method + " is not allowed here"}, s.log)
		return false
	}
	switch {
	case key == "reset" && len(parts) == 1:
		if !method(http.MethodPost) {
			return
		}
		if err := s.Reset(ctx); err != nil {
			writeProblem(w, err, s.log)
			return
		}
		s.faults.Clear()
		s.stats.reset()
		w.WriteHeader(http.StatusNoContent)
	case key == "seed" && len(parts) == 1:
		if !method(http.MethodPost) {
			return
		}
		q := r.URL.Query()
		seed, err1 := strconv.ParseInt(firstOr(q.Get("seed"), strconv.FormatInt(s.opts.Seed, 10)), 10, 64)
		size, err2 := strconv.Atoi(firstOr(q.Get("size"), "10"))
		if err1 != nil || err2 != nil || size < 0 || size > 100000 {
			writeProblem(w, badRequest("seed must be an integer and size an integer from 0 to 100000"), s.log)
			return
		}
		if err := s.SeedData(ctx, seed, size); err != nil {
			writeProblem(w, err, s.log)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case key == "stats" && len(parts) == 1:
		if method(http.MethodGet) {
			writeJSON(w, http.StatusOK, s.Stats())
		}
	case key == "stats" && len(parts) == 2 && parts[1] == "reset":
		if method(http.MethodPost) {
			s.stats.reset()
			w.WriteHeader(http.StatusNoContent)
		}
	case key == "faults" && len(parts) == 1:
		if !method(http.MethodGet, http.MethodPut, http.MethodDelete) {
			return
		}
		switch r.Method {
		case http.MethodPut:
			raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
			if err != nil {
				writeProblem(w, badRequest("cannot read the body"), s.log)
				return
			}
			var cfg FaultConfig
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&cfg); err != nil {
				writeProblem(w, badRequest("the body is not a fault configuration: "+err.Error()), s.log)
				return
			}
			if err := s.faults.Set(cfg); err != nil {
				writeProblem(w, badRequest(err.Error()), s.log)
				return
			}
		case http.MethodDelete:
			s.faults.Clear()
		}
		writeJSON(w, http.StatusOK, s.faults.Config())
	case key == "records" && (len(parts) == 2 || len(parts) == 3):
		s.serveAdminRecords(w, r, parts[1:])
	default:
		writeProblem(w, &apiError{status: http.StatusNotFound, kind: "not-found", detail: "no such admin endpoint"}, s.log)
	}
}

func firstOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (s *Server) serveAdminRecords(w http.ResponseWriter, r *http.Request, parts []string) {
	res, err := parseResource(parts[0])
	if err != nil {
		writeProblem(w, err, s.log)
		return
	}
	id := ""
	if len(parts) == 2 {
		id = parts[1]
	}
	readBody := func() (map[string]any, bool) {
		body, err := s.readBody(w, r)
		if err != nil {
			writeProblem(w, err, s.log)
			return nil, false
		}
		return body, true
	}
	switch {
	case r.Method == http.MethodGet && id == "":
		recs, err := s.allRecords(r.Context(), res)
		if err != nil {
			writeProblem(w, err, s.log)
			return
		}
		if recs == nil {
			recs = []map[string]any{}
		}
		writeJSON(w, http.StatusOK, recs)
	case r.Method == http.MethodGet:
		s.handleGet(w, r, res, id)
	case r.Method == http.MethodPut || r.Method == http.MethodPost:
		body, ok := readBody()
		if !ok {
			return
		}
		if id != "" {
			body["id"] = id
		}
		rec, err := s.Put(string(res), body)
		if err != nil {
			writeProblem(w, err, s.log)
			return
		}
		writeRecord(w, http.StatusOK, rec)
	case r.Method == http.MethodPatch && id != "":
		body, ok := readBody()
		if !ok {
			return
		}
		rec, err := s.Patch(string(res), id, body)
		if err != nil {
			writeProblem(w, err, s.log)
			return
		}
		writeRecord(w, http.StatusOK, rec)
	case r.Method == http.MethodDelete && id != "":
		if err := s.Remove(string(res), id); err != nil {
			writeProblem(w, err, s.log)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeProblem(w, &apiError{status: http.StatusMethodNotAllowed, kind: "method-not-allowed", detail: r.Method + " is not allowed here"}, s.log)
	}
}
