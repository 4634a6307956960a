package webcrm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

//go:generate go run ./internal/contractgen -out contract/webcrm-contract.json
//go:generate go run ./internal/gen -out dtos_gen.go

// DTO is implemented by the generated typed DTOs (Organisation, Person, User, Product,
// Opportunity, QuotationLine, QuotationLineUpdate).
type DTO interface {
	Entity() Entity
	ToRecord() (Record, error)
	FromRecord(Record) error
}

// Time is a webCRM timestamp in a typed DTO. It decodes every format ParseTime accepts
// and encodes as WireTimeLayout (UTC, seven fraction digits).
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + FormatTime(t.Time) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler; null leaves t unchanged.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp must be a JSON string: %w", err)
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

func toRecord(d any) (Record, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("webcrm: encoding %T: %w", d, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("webcrm: encoding %T: %w", d, err)
	}
	return r, nil
}

func fromRecord(r Record, d any) error {
	b, err := json.Marshal(normalise(r))
	if err != nil {
		return fmt.Errorf("webcrm: decoding record into %T: %w", d, err)
	}
	if err := json.Unmarshal(b, d); err != nil {
		return fmt.Errorf("webcrm: decoding record into %T: %w", d, err)
	}
	return nil
}

// dtoTypes returns the typed DTOs describing entity e: the read shape and, for
// QuotationLines, the write shape too.
func dtoTypes(e Entity) []reflect.Type {
	switch e {
	case Organisations:
		return []reflect.Type{reflect.TypeFor[Organisation]()}
	case Persons:
		return []reflect.Type{reflect.TypeFor[Person]()}
	case Users:
		return []reflect.Type{reflect.TypeFor[User]()}
	case Products:
		return []reflect.Type{reflect.TypeFor[Product]()}
	case Opportunities:
		return []reflect.Type{reflect.TypeFor[Opportunity]()}
	case QuotationLines:
		return []reflect.Type{reflect.TypeFor[QuotationLine](), reflect.TypeFor[QuotationLineUpdate]()}
	}
	return nil
}

// Properties lists every DTO property name of entity e (from the typed DTOs' json tags,
// in swagger order), for validating mapping files. For QuotationLines it is the read
// shape plus the write-only QuotationLineLinkedDataId. Unknown entities yield nil.
func Properties(e Entity) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range dtoTypes(e) {
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	return out
}

// HasProperty reports whether property is one of Properties(e).
func HasProperty(e Entity, property string) bool {
	for _, p := range Properties(e) {
		if p == property {
			return true
		}
	}
	return false
}
