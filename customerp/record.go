package customerp

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Record is one CustomERP record as a JSON object. Every property the server sent is kept, and
// numbers are json.Number (never float64), so money and quantities keep every digit.
type Record map[string]any

// ID returns the record's id.
func (r Record) ID() (string, error) {
	v, ok := r["id"].(string)
	if !ok || v == "" {
		return "", fmt.Errorf("customerp: record has no string id (got %T)", r["id"])
	}
	return v, nil
}

// Version returns the record's version.
func (r Record) Version() (int64, error) {
	return int64Of(r["version"])
}

// UpdatedAt returns the time of the record's last change, in UTC.
func (r Record) UpdatedAt() (time.Time, error) {
	s, ok := r["updatedAt"].(string)
	if !ok {
		return time.Time{}, fmt.Errorf("customerp: record has no updatedAt string (got %T)", r["updatedAt"])
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("customerp: record updatedAt %q: %w", s, err)
	}
	return t.UTC(), nil
}

// ExternalRef returns the record's externalRef, or "" when it has none.
func (r Record) ExternalRef() string {
	s, _ := r["externalRef"].(string)
	return s
}

// String returns the string at a dotted path ("postalAddress.city"); "" when absent or not a
// string.
func (r Record) String(path string) string {
	s, _ := r.Lookup(path).(string)
	return s
}

// Lookup returns the value at a dotted path ("postalAddress.city"), or nil.
func (r Record) Lookup(path string) any {
	var cur any = map[string]any(r)
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			if rec, isRec := cur.(Record); isRec {
				m = rec
			} else {
				return nil
			}
		}
		cur = m[path[start:i]]
		start = i + 1
	}
	return cur
}

// Clone returns a deep copy of the record.
func (r Record) Clone() Record {
	if r == nil {
		return nil
	}
	return Record(cloneValue(map[string]any(r)).(map[string]any))
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case Record:
		return cloneValue(map[string]any(x))
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneValue(e)
		}
		return s
	default:
		return v
	}
}

func int64Of(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("customerp: version %q is not an integer: %w", x, err)
		}
		return n, nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("customerp: version %v is not an integer", x)
		}
		return int64(x), nil
	default:
		return 0, fmt.Errorf("customerp: record has no integer version (got %T)", v)
	}
}
