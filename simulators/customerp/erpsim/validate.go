package erpsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/apd/v3"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tandemsync/tandem/customerp"
)

// validator checks write bodies against the record schemas of openapi.yaml and turns them into
// the stored form: every writable property present (null when not given, or its default),
// decimals in canonical text.
type validator struct {
	schemas  map[customerp.Resource]*openapi3.Schema
	patterns map[string]*regexp.Regexp
}

func newValidator(doc *openapi3.T) (*validator, error) {
	v := &validator{schemas: map[customerp.Resource]*openapi3.Schema{}, patterns: map[string]*regexp.Regexp{}}
	for _, r := range customerp.Resources() {
		s, err := customerp.RecordSchema(doc, r)
		if err != nil {
			return nil, err
		}
		v.schemas[r] = s
		if err := v.compilePatterns(s); err != nil {
			return nil, fmt.Errorf("erpsim: schema of %s: %w", r, err)
		}
	}
	return v, nil
}

func (v *validator) compilePatterns(s *openapi3.Schema) error {
	if s.Pattern != "" {
		if _, ok := v.patterns[s.Pattern]; !ok {
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				return fmt.Errorf("pattern %q: %w", s.Pattern, err)
			}
			v.patterns[s.Pattern] = re
		}
	}
	for _, p := range s.Properties {
		if p.Value != nil {
			if err := v.compilePatterns(p.Value); err != nil {
				return err
			}
		}
	}
	if s.Items != nil && s.Items.Value != nil {
		return v.compilePatterns(s.Items.Value)
	}
	return nil
}

// normalize validates a write body for resource r and returns its stored form, or a 400 error
// naming every field at fault.
func (v *validator) normalize(r customerp.Resource, body map[string]any) (map[string]any, error) {
	var errs []customerp.FieldError
	out := v.object(v.schemas[r], body, "", &errs)
	if len(errs) > 0 {
		return nil, validationError(errs)
	}
	return out, nil
}

// writableKeys returns the top-level writable property names of r.
func (v *validator) writableKeys(r customerp.Resource) []string {
	var keys []string
	for name, p := range v.schemas[r].Properties {
		if !p.Value.ReadOnly {
			keys = append(keys, name)
		}
	}
	sort.Strings(keys)
	return keys
}

func (v *validator) object(s *openapi3.Schema, in map[string]any, prefix string, errs *[]customerp.FieldError) map[string]any {
	add := func(field, msg string) { *errs = append(*errs, customerp.FieldError{Field: field, Message: msg}) }
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := s.Properties[k]
		switch {
		case p == nil || p.Value == nil:
			add(prefix+k, "unknown field")
		case p.Value.ReadOnly:
			add(prefix+k, "is read-only")
		}
	}
	required := map[string]bool{}
	for _, k := range s.Required {
		required[k] = true
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]any, len(names))
	for _, name := range names {
		p := s.Properties[name].Value
		if p.ReadOnly {
			continue
		}
		field := prefix + name
		val, present := in[name]
		if val == nil {
			switch {
			case p.Default != nil && (p.Nullable || !present):
				out[name] = jsonDefault(p.Default)
			case required[name]:
				add(field, "is required")
			case present && !p.Nullable:
				add(field, "must not be null")
			default:
				out[name] = nil
			}
			continue
		}
		out[name] = v.value(p, val, field, errs)
	}
	return out
}

// jsonDefault turns a schema default (decoded by the YAML loader) into the stored JSON form.
func jsonDefault(d any) any {
	switch x := d.(type) {
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64))
	case int:
		return json.Number(strconv.Itoa(x))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	default:
		return d
	}
}

func (v *validator) value(p *openapi3.Schema, val any, field string, errs *[]customerp.FieldError) any {
	add := func(msg string) { *errs = append(*errs, customerp.FieldError{Field: field, Message: msg}) }
	switch {
	case p.Type.Is(openapi3.TypeString):
		s, ok := val.(string)
		if !ok {
			add("must be a string")
			return nil
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
			add("must be valid UTF-8")
			return nil
		}
		n := uint64(utf8.RuneCountInString(s))
		if p.MaxLength != nil && n > *p.MaxLength {
			add(fmt.Sprintf("must be at most %d characters", *p.MaxLength))
		}
		if n < p.MinLength {
			add(fmt.Sprintf("must be at least %d characters", p.MinLength))
		}
		if len(p.Enum) > 0 {
			okEnum := false
			var opts []string
			for _, e := range p.Enum {
				opts = append(opts, fmt.Sprint(e))
				if e == s {
					okEnum = true
				}
			}
			if !okEnum {
				add("must be one of: " + strings.Join(opts, ", "))
			}
		}
		if p.Pattern != "" && !v.patterns[p.Pattern].MatchString(s) {
			add(fmt.Sprintf("must match %s", p.Pattern))
		}
		switch p.Format {
		case "date":
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				add("must be a date (YYYY-MM-DD)")
			}
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				add("must be an RFC 3339 date-time")
			}
		case "email":
			if !looksLikeEmail(s) {
				add("must be an e-mail address")
			}
		}
		return s
	case p.Type.Is(openapi3.TypeNumber):
		n, ok := val.(json.Number)
		if !ok {
			add("must be a number")
			return nil
		}
		d, err := parseDecimal(n)
		if err != nil {
			add(err.Error())
			return nil
		}
		if p.Min != nil {
			if lim, err := new(apd.Decimal).SetFloat64(*p.Min); err == nil && d.Cmp(lim) < 0 {
				add(fmt.Sprintf("must be at least %s", decimalText(lim)))
			}
		}
		if p.Max != nil {
			if lim, err := new(apd.Decimal).SetFloat64(*p.Max); err == nil && d.Cmp(lim) > 0 {
				add(fmt.Sprintf("must be at most %s", decimalText(lim)))
			}
		}
		return json.Number(decimalText(d))
	case p.Type.Is(openapi3.TypeInteger):
		n, ok := val.(json.Number)
		if !ok {
			add("must be an integer")
			return nil
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			add("must be an integer")
			return nil
		}
		if p.Min != nil && float64(i) < *p.Min {
			add(fmt.Sprintf("must be at least %v", *p.Min))
		}
		if p.Max != nil && float64(i) > *p.Max {
			add(fmt.Sprintf("must be at most %v", *p.Max))
		}
		return json.Number(strconv.FormatInt(i, 10))
	case p.Type.Is(openapi3.TypeBoolean):
		b, ok := val.(bool)
		if !ok {
			add("must be true or false")
			return nil
		}
		return b
	case p.Type.Is(openapi3.TypeObject):
		m, ok := val.(map[string]any)
		if !ok {
			add("must be an object")
			return nil
		}
		return v.object(p, m, field+".", errs)
	}
	add("has a type this server does not know")
	return nil
}

// looksLikeEmail is a deliberately loose check: one @ with text on both sides, a dot in the
// domain and no white space.
func looksLikeEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	return strings.Contains(s[at+1:], ".")
}

// apiError is an error answer with RFC 9457 problem details.
type apiError struct {
	status  int
	kind    string // last part of the problem type URN
	detail  string
	fields  []customerp.FieldError
	current int64 // on 412
	retry   int   // on 429: Retry-After seconds
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.status, http.StatusText(e.status))
	if e.detail != "" {
		b.WriteString(": " + e.detail)
	}
	for _, f := range e.fields {
		fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
	}
	return b.String()
}

func validationError(fields []customerp.FieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, kind: "validation", detail: "the body does not follow the contract", fields: fields}
}

func unprocessable(detail string, fields ...customerp.FieldError) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, kind: "unprocessable", detail: detail, fields: fields}
}

func notFound(r customerp.Resource, id string) *apiError {
	return &apiError{status: http.StatusNotFound, kind: "not-found", detail: fmt.Sprintf("%s/%s does not exist", r, id)}
}

func badRequest(detail string, fields ...customerp.FieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, kind: "bad-request", detail: detail, fields: fields}
}
