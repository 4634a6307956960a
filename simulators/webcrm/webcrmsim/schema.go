package webcrmsim

//go:generate go run ./internal/schemagen -out schema_gen.go

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// propKind is the JSON type of one DTO property as the swagger declares it.
type propKind uint8

const (
	kindString propKind = iota
	kindInt32
	kindInt64
	kindDouble
	kindBool
	kindDateTime
	kindEnum
)

func (k propKind) String() string {
	switch k {
	case kindInt32:
		return "int32"
	case kindInt64:
		return "int64"
	case kindDouble:
		return "number"
	case kindBool:
		return "boolean"
	case kindDateTime:
		return "date-time string"
	case kindEnum:
		return "enum string"
	default:
		return "string"
	}
}

// genProp describes one DTO property (generated from the swagger).
type genProp struct {
	Name      string
	Kind      propKind
	MaxLength int
	Enum      []string
}

// genEntity describes one API resource (generated from the swagger).
type genEntity struct {
	Name, Table, IDField       string
	ReadDTO, WriteDTO, HookDTO string
	PostReturnsID              bool
	HookFilters                []string
	// Methods maps a path suffix ("", "/{id}", "/Hooks", "/Hooks/{id}") to
	// the HTTP methods the API offers on it.
	Methods map[string][]string
}

// entity is the simulator's view of one resource: its properties indexed for
// validation, encoding and queries. Built once from the generated tables and
// never modified afterwards.
type entity struct {
	genEntity
	read   []*genProp          // read DTO properties in output order
	stored []*genProp          // union of write and read DTO properties
	write  map[string]*genProp // lower-case name -> write DTO property
	column map[string]*genProp // lower-case name -> read DTO property (query columns)
	byName map[string]*genProp // exact name -> stored property

	createdAt, updatedAt, createdBy, updatedBy string
	// refs maps a foreign-key property to the entity it points at.
	refs map[string]string
}

// entitySet is the immutable registry of the six entities.
type entitySet struct {
	list   []*entity
	lookup map[string]*entity // lower-case resource name, table name and plural forms
}

// entities is built once at package initialisation and only read afterwards.
var entities = buildEntities()

// foreignKeys lists, per entity, the integer properties that reference
// another entity's id. Values 0 and null mean "no reference".
var foreignKeys = map[string]map[string]string{
	"Organisations":  {"OrganisationOwner": "Users", "OrganisationOwner2": "Users"},
	"Persons":        {"PersonOrganisationId": "Organisations"},
	"Products":       {"ProductOrganisationId": "Organisations", "ProductPersonId": "Persons"},
	"Opportunities":  {"OpportunityOrganisationId": "Organisations", "OpportunityPersonId": "Persons", "OpportunityAssignedTo": "Users", "OpportunityAssignedTo2": "Users"},
	"QuotationLines": {"QuotationLineOpportunityId": "Opportunities", "QuotationLineOrganisationId": "Organisations", "QuotationLinePersonId": "Persons"},
}

func buildEntities() *entitySet {
	set := &entitySet{lookup: map[string]*entity{}}
	for _, g := range genEntities {
		e := &entity{
			genEntity: g,
			write:     map[string]*genProp{},
			column:    map[string]*genProp{},
			byName:    map[string]*genProp{},
			refs:      foreignKeys[g.Name],
		}
		prefix := strings.TrimSuffix(g.IDField, "Id")
		e.createdAt, e.updatedAt = prefix+"CreatedAt", prefix+"UpdatedAt"
		e.createdBy, e.updatedBy = prefix+"CreatedBy", prefix+"UpdatedBy"
		readProps := genDTOs[g.ReadDTO]
		for i := range readProps {
			p := &readProps[i]
			e.read = append(e.read, p)
			e.column[strings.ToLower(p.Name)] = p
		}
		writeProps := genDTOs[g.WriteDTO]
		for i := range writeProps {
			p := &writeProps[i]
			e.write[strings.ToLower(p.Name)] = p
			e.byName[p.Name] = p
			e.stored = append(e.stored, p)
		}
		for _, p := range e.read {
			if _, ok := e.byName[p.Name]; !ok {
				e.byName[p.Name] = p
				e.stored = append(e.stored, p)
			}
		}
		set.list = append(set.list, e)
		for _, n := range []string{g.Name, g.Table, g.Table + "s"} {
			set.lookup[strings.ToLower(n)] = e
		}
	}
	return set
}

// find returns the entity named by its resource name ("Organisations"), its
// /Queries table name ("Organisation") or a plural of that, case-insensitively.
func (s *entitySet) find(name string) (*entity, bool) {
	e, ok := s.lookup[strings.ToLower(name)]
	return e, ok
}

// allows reports whether the API offers method on the path suffix.
func (e *entity) allows(suffix, method string) bool {
	for _, m := range e.Methods[suffix] {
		if m == method {
			return true
		}
	}
	return false
}

// serverMaintained reports whether the server owns the property's value.
func (e *entity) serverMaintained(name string) bool {
	return name == e.createdAt || name == e.updatedAt || name == e.createdBy || name == e.updatedBy
}

// TimeLayout is how the simulator writes date-time values: UTC with seven
// fraction digits, like .NET's round-trip format.
const TimeLayout = "2006-01-02T15:04:05.0000000Z"

// FormatTime renders t in TimeLayout, truncated to 100 ns (the .NET tick).
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(100 * time.Nanosecond).Format(TimeLayout)
}

var parseLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTime accepts ISO-8601 date-times with or without fraction and offset;
// a value without an offset is UTC.
func ParseTime(s string) (time.Time, error) { return parseTimeIn(s, time.UTC) }

// parseTimeIn is ParseTime with values without an offset read as wall time
// in zone; the result is UTC.
func parseTimeIn(s string, zone *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range parseLayouts {
		if t, err := time.ParseInLocation(l, s, zone); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO-8601 date-time", s)
}

// normalize converts a decoded JSON value (or a Go value given to the
// direct-store methods) to the stored representation of the property:
// string, int64, float64, bool, or the canonical date-time string. nil means
// "no value". Errors name the property and the expected type.
func (p *genProp) normalize(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func() error {
		return fmt.Errorf("property %s: expected %s, got %s", p.Name, p.Kind, jsonTypeName(v))
	}
	switch p.Kind {
	case kindString:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if p.MaxLength > 0 && utf8.RuneCountInString(s) > p.MaxLength {
			return nil, fmt.Errorf("property %s: longer than %d characters", p.Name, p.MaxLength)
		}
		return s, nil
	case kindInt32, kindInt64:
		n, ok := toInt(v)
		if !ok {
			return nil, bad()
		}
		if p.Kind == kindInt32 && (n < math.MinInt32 || n > math.MaxInt32) {
			return nil, fmt.Errorf("property %s: %d is out of the int32 range", p.Name, n)
		}
		return n, nil
	case kindDouble:
		f, ok := toFloat(v)
		if !ok {
			return nil, bad()
		}
		return f, nil
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, bad()
		}
		return b, nil
	case kindDateTime:
		switch t := v.(type) {
		case string:
			tt, err := ParseTime(t)
			if err != nil {
				return nil, fmt.Errorf("property %s: %w", p.Name, err)
			}
			return FormatTime(tt), nil
		case time.Time:
			return FormatTime(t), nil
		}
		return nil, bad()
	case kindEnum:
		if s, ok := v.(string); ok {
			for _, e := range p.Enum {
				if strings.EqualFold(e, s) {
					return e, nil
				}
			}
			return nil, fmt.Errorf("property %s: %q is not one of %s", p.Name, s, strings.Join(p.Enum, ", "))
		}
		// Like .NET's string enum converter, accept the 0-based ordinal.
		if n, ok := toInt(v); ok && n >= 0 && n < int64(len(p.Enum)) {
			return p.Enum[n], nil
		}
		return nil, bad()
	}
	return nil, bad()
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i, true
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return 0, false
		}
		f = x
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int32:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, float32, int, int32, int64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// Properties returns the DTO property names of an entity (read shape), in the
// order the simulator writes them; nil for an unknown entity.
func Properties(entityName string) []string {
	e, ok := entities.find(entityName)
	if !ok {
		return nil
	}
	out := make([]string, len(e.read))
	for i, p := range e.read {
		out[i] = p.Name
	}
	return out
}

// Entities returns the resource names the simulator serves.
func Entities() []string {
	out := make([]string, len(entities.list))
	for i, e := range entities.list {
		out[i] = e.Name
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
