package webcrm

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Entity names a webCRM resource by its REST path segment, e.g. "Organisations".
type Entity string

// The webCRM resources tandem synchronises.
const (
	Organisations  Entity = "Organisations"
	Persons        Entity = "Persons"
	Users          Entity = "Users"
	Products       Entity = "Products"
	Opportunities  Entity = "Opportunities"
	QuotationLines Entity = "QuotationLines"
)

// Entities lists every supported entity in dependency order (users and organisations
// before the records that point at them).
func Entities() []Entity {
	return []Entity{Users, Organisations, Persons, Products, Opportunities, QuotationLines}
}

// Valid reports whether e is one of the supported entities.
func (e Entity) Valid() bool {
	return e.Table() != ""
}

// Table is the singular name webCRM uses for the entity in /Queries scripts and as the
// prefix of every DTO property, e.g. "Organisation". It is "" for an unknown entity.
func (e Entity) Table() string {
	switch e {
	case Organisations:
		return "Organisation"
	case Persons:
		return "Person"
	case Users:
		return "User"
	case Products:
		return "Product"
	case Opportunities:
		return "Opportunity"
	case QuotationLines:
		return "QuotationLine"
	}
	return ""
}

// IDField is the DTO property holding the record id, e.g. "OrganisationId".
func (e Entity) IDField() string {
	if t := e.Table(); t != "" {
		return t + "Id"
	}
	return ""
}

// UpdatedAtField is the server-maintained last-change timestamp property, e.g.
// "OrganisationUpdatedAt".
func (e Entity) UpdatedAtField() string {
	if t := e.Table(); t != "" {
		return t + "UpdatedAt"
	}
	return ""
}

// hasDelete reports whether the published API has DELETE /<Entity>/{id}.
func (e Entity) hasDelete() bool {
	return e == Products || e == QuotationLines
}

// postReturnsID reports whether POST /<Entity> answers with the new id. For
// Organisations and Users the published API returns no body.
func (e Entity) postReturnsID() bool {
	return e != Organisations && e != Users
}

// Record is one webCRM DTO as a JSON object. Every property the server sent is kept,
// so GET-modify-PUT never clears an unmapped field. Numbers decode as json.Number.
type Record map[string]any

// Clone returns a shallow copy of r (values are JSON scalars, so this is a full copy for
// records read from the API).
func (r Record) Clone() Record {
	out := make(Record, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}

// ID returns the record's id property for entity e.
func (r Record) ID(e Entity) (int, error) {
	f := e.IDField()
	if f == "" {
		return 0, fmt.Errorf("webcrm: unknown entity %q", string(e))
	}
	v, ok := r[f]
	if !ok || v == nil {
		return 0, fmt.Errorf("webcrm: %s record has no %s", e, f)
	}
	id, err := toInt(v)
	if err != nil {
		return 0, fmt.Errorf("webcrm: %s record: %s: %w", e, f, err)
	}
	return id, nil
}

// UpdatedAt returns the record's last-change timestamp in UTC.
func (r Record) UpdatedAt(e Entity) (time.Time, error) {
	f := e.UpdatedAtField()
	if f == "" {
		return time.Time{}, fmt.Errorf("webcrm: unknown entity %q", string(e))
	}
	v, ok := r[f]
	if !ok || v == nil {
		return time.Time{}, fmt.Errorf("webcrm: %s record has no %s", e, f)
	}
	var t time.Time
	var err error
	switch x := v.(type) {
	case string:
		t, err = ParseTime(x)
	case time.Time:
		t = x.UTC()
	default:
		err = fmt.Errorf("unexpected type %T", v)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("webcrm: %s record: %s: %w", e, f, err)
	}
	return t, nil
}

// toInt converts a decoded JSON id (json.Number, float64, string or Go integer) to int.
func toInt(v any) (int, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			f, ferr := x.Float64()
			if ferr != nil || f != math.Trunc(f) {
				return 0, fmt.Errorf("not an integer: %q", string(x))
			}
			n = int64(f)
		}
		return int(n), nil
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("not an integer: %v", x)
		}
		return int(x), nil
	case int:
		return x, nil
	case int32:
		return int(x), nil
	case int64:
		return int(x), nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("not an integer: %q", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("unexpected type %T", v)
}
