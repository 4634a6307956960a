package mappings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tandemsync/tandem/domain"
)

// FieldError is a problem mapping one field of one record.
type FieldError struct {
	Pairing string
	Side    domain.Side
	Record  string // the record's id when known
	Field   string
	Err     error
}

// Error says which pairing, side, record and field failed, and why.
func (e *FieldError) Error() string {
	rec := ""
	if e.Record != "" {
		rec = " record " + e.Record
	}
	return fmt.Sprintf("%s: %s%s: field %s: %v", e.Pairing, e.Side.Label(), rec, e.Field, e.Err)
}

// Unwrap returns the cause (for errors.As with *UnresolvedReference).
func (e *FieldError) Unwrap() error { return e.Err }

// Unresolved returns every unresolved reference in err (which may join several).
func Unresolved(err error) []*UnresolvedReference {
	var out []*UnresolvedReference
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if u, ok := e.(*UnresolvedReference); ok {
			out = append(out, u)
			return
		}
		switch x := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}

// FromWebCRM maps a webCRM record to the pairing's canonical form.
func (p *Pairing) FromWebCRM(ctx context.Context, rec map[string]any, r Resolver) (Canonical, []Warning, error) {
	return p.from(ctx, domain.WebCRM, rec, r)
}

// FromERP maps an ERP record to the pairing's canonical form. Ids of other pairings'
// records are translated to webCRM ids through r; an id without a link yet gives an
// *UnresolvedReference error (see [Unresolved]).
func (p *Pairing) FromERP(ctx context.Context, rec map[string]any, r Resolver) (Canonical, []Warning, error) {
	return p.from(ctx, domain.ERP, rec, r)
}

// ToWebCRM builds a partial webCRM record holding the named canonical fields (and the
// pairing's webCRM constants). A field missing from c is written as empty.
func (p *Pairing) ToWebCRM(ctx context.Context, c Canonical, fields []string, r Resolver) (map[string]any, []Warning, error) {
	return p.to(ctx, domain.WebCRM, c, fields, r)
}

// ToERP builds a partial ERP record holding the named canonical fields (and the pairing's
// ERP constants), nested objects rebuilt from dotted paths. Ids of other pairings' records
// are translated to ERP ids through r.
func (p *Pairing) ToERP(ctx context.Context, c Canonical, fields []string, r Resolver) (map[string]any, []Warning, error) {
	return p.to(ctx, domain.ERP, c, fields, r)
}

// recordID returns the record's id for messages.
func (p *Pairing) recordID(side domain.Side, rec map[string]any) string {
	key := "id"
	if side == domain.WebCRM {
		key = webcrmIDField(p.WebCRMEntity)
	}
	v, ok := rec[key]
	if !ok || v == nil {
		return ""
	}
	if s, err := normString(v); err == nil && s != nil {
		return s.(string)
	}
	return ""
}

// webcrmIDField derives webCRM's id property from the entity name: "Opportunities" →
// "OpportunityId", "Persons" → "PersonId".
func webcrmIDField(entity string) string {
	switch {
	case strings.HasSuffix(entity, "ies"):
		return strings.TrimSuffix(entity, "ies") + "yId"
	case strings.HasSuffix(entity, "s"):
		return strings.TrimSuffix(entity, "s") + "Id"
	}
	return entity + "Id"
}

func (p *Pairing) from(ctx context.Context, side domain.Side, rec map[string]any, r Resolver) (Canonical, []Warning, error) {
	out := make(Canonical, len(p.Fields))
	var warns []Warning
	var errs []error
	for i := range p.Fields {
		f := &p.Fields[i]
		v, w, err := p.read(ctx, f, side, rec, r)
		if w != "" {
			warns = append(warns, Warning{Pairing: p.Name, Field: f.Name, Side: side, Message: w})
		}
		if err != nil {
			errs = append(errs, &FieldError{Pairing: p.Name, Side: side, Record: p.recordID(side, rec), Field: f.Name, Err: err})
			continue
		}
		if v != nil {
			out[f.Name] = v
		}
	}
	if len(errs) > 0 {
		return nil, warns, errors.Join(errs...)
	}
	return out, warns, nil
}

// read maps one field of rec. It returns the canonical value, an optional warning text
// and an error.
func (p *Pairing) read(ctx context.Context, f *Field, side domain.Side, rec map[string]any, r Resolver) (any, string, error) {
	spec := f.Side(side)
	if len(spec.Derived) > 0 {
		return derive(spec.Derived, rec)
	}
	raw, err := readRaw(spec, rec)
	if err != nil {
		return nil, "", err
	}
	if spec.Empty != nil && raw != nil && enumKey(raw) == enumKey(spec.Empty) {
		raw = nil
	}
	var v any
	switch f.Type {
	case TypeString:
		str, ok := raw.(string)
		if !ok {
			n, err := normString(raw)
			if err != nil || n == nil {
				return nil, "", err
			}
			str = n.(string)
		} else if strings.Contains(str, "\r") {
			str = strings.ReplaceAll(strings.ReplaceAll(str, "\r\n", "\n"), "\r", "\n")
		}
		if t, ok := f.transformString(str); ok {
			return t, "", nil
		}
		return nil, "", nil
	case TypeEnum:
		if isEmpty(raw) {
			return nil, "", nil
		}
		c, ok := f.enumFromSide(side, raw)
		if !ok {
			msg := fmt.Sprintf("value %s is not in the field's value table", describe(raw))
			if f.Unmapped == UnmappedWarn {
				return nil, msg + "; treated as no value", nil
			}
			return nil, "", errors.New(msg)
		}
		return c, "", nil
	case TypeID:
		if side == domain.WebCRM {
			v, err := normID(raw)
			return v, "", err
		}
		id, err := normERPID(raw)
		if id == nil || err != nil {
			return nil, "", err
		}
		if r == nil {
			return nil, "", fmt.Errorf("no resolver to translate %s id %q", f.References, id)
		}
		other, ok, err := r.Resolve(ctx, f.References, domain.ERP, id.(string))
		if err != nil {
			return nil, "", fmt.Errorf("translate %s id %q: %w", f.References, id, err)
		}
		if !ok {
			return nil, "", &UnresolvedReference{Pairing: f.References, Side: domain.ERP, ID: id.(string)}
		}
		v, err := normID(other)
		if err != nil {
			return nil, "", fmt.Errorf("resolver gave %s webCRM id %q: %w", f.References, other, err)
		}
		return v, "", nil
	default:
		v, err = normalise(f.Type, raw)
		if err != nil {
			return nil, "", err
		}
	}
	if s, ok := v.(string); ok {
		v = f.transform(s)
	}
	return v, "", nil
}

// transform applies the field's transforms; an empty result is no value.
func (f *Field) transform(s string) any {
	if t, ok := f.transformString(s); ok {
		return t
	}
	return nil
}

// transformString applies the field's transforms; ok is false for an empty result.
func (f *Field) transformString(s string) (string, bool) {
	for _, t := range f.Transforms {
		switch t {
		case "trim":
			s = strings.TrimSpace(s)
		case "lower":
			s = strings.ToLower(s)
		case "upper":
			s = strings.ToUpper(s)
		}
	}
	return s, s != ""
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// readRaw reads the side's property or properties from rec.
func readRaw(spec *SideSpec, rec map[string]any) (any, error) {
	switch {
	case spec.Property != "":
		if err := checkPath(rec, spec.Property); err != nil {
			return nil, err
		}
		v, _ := getPath(rec, spec.Property)
		return v, nil
	case len(spec.Lines) > 0:
		parts := make([]string, len(spec.Lines))
		last := -1
		for i, path := range spec.Lines {
			if err := checkPath(rec, path); err != nil {
				return nil, err
			}
			v, _ := getPath(rec, path)
			s, err := normString(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			if s != nil {
				parts[i] = s.(string)
				if strings.TrimSpace(parts[i]) != "" {
					last = i
				}
			}
		}
		if last < 0 {
			return nil, nil
		}
		return strings.Join(parts[:last+1], "\n"), nil
	case spec.Name != nil:
		get := func(path string) (string, error) {
			if path == "" {
				return "", nil
			}
			v, _ := getPath(rec, path)
			s, err := normString(v)
			if err != nil || s == nil {
				return "", err
			}
			return strings.TrimSpace(s.(string)), nil
		}
		full, err := get(spec.Name.Full)
		if err != nil || full != "" {
			return full, err
		}
		first, err := get(spec.Name.First)
		if err != nil {
			return nil, err
		}
		last, err := get(spec.Name.Last)
		if err != nil {
			return nil, err
		}
		return strings.TrimSpace(first + " " + last), nil
	}
	return nil, nil
}

// derive evaluates derived-value rules.
func derive(rules []Rule, rec map[string]any) (any, string, error) {
	for _, r := range rules {
		if r.Property == "" {
			return r.Then, "", nil
		}
		v, _ := getPath(rec, r.Property)
		switch {
		case r.IsSet != nil:
			set := !isEmpty(v)
			if b, ok := v.(bool); ok && !b {
				set = false
			}
			if set == *r.IsSet {
				return r.Then, "", nil
			}
		default:
			if _, wantBool := r.Equals.(bool); wantBool && v != nil {
				if _, isBool := v.(bool); !isBool {
					return nil, "", fmt.Errorf("%s is %s, not true or false", r.Property, describe(v))
				}
			}
			if v != nil && enumKey(v) == enumKey(r.Equals) {
				return r.Then, "", nil
			}
			if b, ok := r.Equals.(bool); ok {
				if got, err := normBool(v); err == nil && got == b {
					return r.Then, "", nil
				}
			}
		}
	}
	return nil, "", nil
}

// enumKey compares enum values: text case-insensitively and trimmed, numbers by value.
func enumKey(v any) string {
	if s, ok := v.(string); ok {
		return "s" + strings.ToLower(strings.TrimSpace(s))
	}
	return canonKey(v)
}

// enumFromSide finds the canonical value of a side's raw enum value.
func (f *Field) enumFromSide(side domain.Side, raw any) (string, bool) {
	k := enumKey(raw)
	if f.enumIndex != nil {
		c, ok := f.enumIndex[side][k]
		return c, ok
	}
	for _, ev := range f.Values {
		main, also := ev.WebCRM, ev.AlsoWebCRM
		if side == domain.ERP {
			main, also = ev.ERP, ev.AlsoERP
		}
		if main != nil && enumKey(main) == k {
			return ev.Canonical, true
		}
		for _, a := range also {
			if enumKey(a) == k {
				return ev.Canonical, true
			}
		}
	}
	return "", false
}

// enumToSide returns the side value written for a canonical enum value.
func (f *Field) enumToSide(side domain.Side, c string) (any, bool) {
	for _, ev := range f.Values {
		if ev.Canonical == c {
			if side == domain.WebCRM {
				return ev.WebCRM, ev.WebCRM != nil
			}
			return ev.ERP, ev.ERP != nil
		}
	}
	return nil, false
}

func (p *Pairing) to(ctx context.Context, side domain.Side, c Canonical, fields []string, r Resolver) (map[string]any, []Warning, error) {
	out := map[string]any{}
	if len(fields) == 0 {
		return out, nil, nil
	}
	var warns []Warning
	var errs []error
	for _, name := range fields {
		f, ok := p.Field(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no field %q", p.Name, name))
			continue
		}
		if !f.canWrite(side, false) {
			errs = append(errs, fmt.Errorf("%s: field %s is never written to %s", p.Name, name, side.Label()))
			continue
		}
		w, err := p.write(ctx, f, side, c[name], out, r)
		if w != "" {
			warns = append(warns, Warning{Pairing: p.Name, Field: name, Side: side, Message: w})
		}
		if err != nil {
			errs = append(errs, &FieldError{Pairing: p.Name, Side: side, Field: name, Err: err})
		}
	}
	if len(errs) > 0 {
		return nil, warns, errors.Join(errs...)
	}
	consts := p.ERPConstants
	if side == domain.WebCRM {
		consts = p.WebCRMConstants
	}
	for k, v := range consts {
		setPath(out, k, v)
	}
	return out, warns, nil
}

// write puts one canonical value into out in the side's shape.
func (p *Pairing) write(ctx context.Context, f *Field, side domain.Side, v any, out map[string]any, r Resolver) (string, error) {
	spec := f.Side(side)
	var raw any
	var warn string
	if !isEmpty(v) {
		switch f.Type {
		case TypeString:
			s, err := normString(v)
			if err != nil {
				return "", err
			}
			str, _ := s.(string)
			if spec.MaxLength > 0 && utf8.RuneCountInString(str) > spec.MaxLength {
				warn = fmt.Sprintf("cut from %d to %d characters (%s's limit)", utf8.RuneCountInString(str), spec.MaxLength, side.Label())
				str = truncate(str, spec.MaxLength)
			}
			raw = str
		case TypeInt:
			n, err := normInt(v)
			if err != nil {
				return "", err
			}
			raw = n
		case TypeDecimal:
			d, err := normDecimal(v)
			if err != nil {
				return "", err
			}
			raw = json.Number(d.(string))
		case TypeBool:
			b, err := normBool(v)
			if err != nil {
				return "", err
			}
			raw = b
		case TypeDate:
			d, err := normDate(v)
			if err != nil {
				return "", err
			}
			raw = d
			if side == domain.WebCRM {
				// webCRM has date-time properties only: a date is sent as its midnight.
				raw = d.(string) + "T00:00:00"
			}
		case TypeDateTime:
			d, err := normDateTime(v)
			if err != nil {
				return "", err
			}
			raw = d
		case TypeEnum:
			s, _ := v.(string)
			sv, ok := f.enumToSide(side, s)
			if !ok {
				return "", fmt.Errorf("value %s is not in the field's value table", describe(v))
			}
			raw = sv
		case TypeID:
			id, err := normID(v)
			if err != nil {
				return "", fmt.Errorf("canonical id: %w", err)
			}
			if id == nil {
				break
			}
			if side == domain.WebCRM {
				n, _ := strconv.ParseInt(id.(string), 10, 64)
				raw = n
				break
			}
			if r == nil {
				return "", fmt.Errorf("no resolver to translate %s id %q", f.References, id)
			}
			other, ok, err := r.Resolve(ctx, f.References, domain.WebCRM, id.(string))
			if err != nil {
				return "", fmt.Errorf("translate %s id %q: %w", f.References, id, err)
			}
			if !ok {
				return "", &UnresolvedReference{Pairing: f.References, Side: domain.WebCRM, ID: id.(string)}
			}
			raw = other
		}
	}
	if raw == nil && spec.Empty != nil {
		raw = spec.Empty
	}
	switch {
	case spec.Property != "":
		setPath(out, spec.Property, raw)
	case len(spec.Lines) > 0:
		var lines []string
		if s, ok := raw.(string); ok {
			lines = strings.SplitN(s, "\n", len(spec.Lines))
		}
		for i, path := range spec.Lines {
			if i < len(lines) && lines[i] != "" {
				setPath(out, path, lines[i])
			} else {
				setPath(out, path, nil)
			}
		}
	case spec.Name != nil:
		s, _ := raw.(string)
		first, last := splitName(s)
		if spec.Name.Full != "" {
			setPath(out, spec.Name.Full, nilIfEmpty(s))
		}
		if spec.Name.First != "" {
			setPath(out, spec.Name.First, nilIfEmpty(first))
		}
		if spec.Name.Last != "" {
			setPath(out, spec.Name.Last, nilIfEmpty(last))
		}
	}
	return warn, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// splitName splits a full name at its last space: "Søren Åge Østergård" → "Søren Åge",
// "Østergård". A single word is a last name.
func splitName(s string) (first, last string) {
	s = strings.TrimSpace(s)
	i := strings.LastIndexAny(s, " \t")
	if i < 0 {
		return "", s
	}
	return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	if n <= 0 {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}

// getPath reads a dotted path from nested objects.
// Path returns the value at a dotted path of a nested record
// ("postalAddress.city"), or nil when it has none.
func Path(rec map[string]any, path string) any {
	v, _ := getPath(rec, path)
	return v
}

func getPath(rec map[string]any, path string) (any, bool) {
	var cur any = rec
	for {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		key, rest, nested := strings.Cut(path, ".")
		v, ok := m[key]
		if !ok {
			return nil, false
		}
		if !nested {
			return v, true
		}
		cur, path = v, rest
	}
}

// checkPath reports an error when a value on the way to a dotted path is
// there but is not an object (an address sent as text, say), which would
// otherwise read as "no value" and could clear the other side.
func checkPath(rec map[string]any, path string) error {
	var cur any = rec
	walked := ""
	for {
		key, rest, nested := strings.Cut(path, ".")
		if !nested {
			return nil
		}
		m, _ := cur.(map[string]any)
		v, ok := m[key]
		walked += key
		if !ok || v == nil {
			return nil
		}
		if _, isObj := v.(map[string]any); !isObj {
			return fmt.Errorf("%s is %s, not an object", walked, describe(v))
		}
		cur, path, walked = v, rest, walked+"."
	}
}

// setPath writes a dotted path, creating nested objects on the way.
func setPath(rec map[string]any, path string, v any) {
	for {
		key, rest, nested := strings.Cut(path, ".")
		if !nested {
			rec[key] = v
			return
		}
		next, ok := rec[key].(map[string]any)
		if !ok {
			next = map[string]any{}
			rec[key] = next
		}
		rec, path = next, rest
	}
}
