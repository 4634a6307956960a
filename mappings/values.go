package mappings

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
)

// Limits on decimals: money and quantities never need more, and the limits keep hostile
// input ("1e999999") from turning into a million digits.
const (
	maxDecimalInput    = 100 // characters of decimal text accepted
	maxDecimalExponent = 40  // |exponent| after reduction
)

var errNotNumber = errors.New("not a number")

// isEmpty reports whether v is one of the "no value" forms: nil, "" or whitespace only.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case json.Number:
		return strings.TrimSpace(string(x)) == ""
	}
	return false
}

// numberText returns the text of a number-like value; floats are rounded to 15 significant
// digits, the precision a float64 holds faithfully, so 0.1+0.2 reads as 0.3.
func numberText(v any) (string, error) {
	switch x := v.(type) {
	case json.Number:
		return strings.TrimSpace(string(x)), nil
	case string:
		return strings.TrimSpace(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", errNotNumber
		}
		return strconv.FormatFloat(x, 'g', 15, 64), nil
	case float32:
		return numberText(float64(x))
	case int:
		return strconv.FormatInt(int64(x), 10), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	}
	return "", fmt.Errorf("%w: %T", errNotNumber, v)
}

// parseDecimal reads decimal text exactly.
func parseDecimal(s string) (*apd.Decimal, error) {
	if len(s) > maxDecimalInput {
		return nil, fmt.Errorf("decimal %.20q… is too long", s)
	}
	d, _, err := apd.NewFromString(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a decimal number", s)
	}
	if d.Form != apd.Finite {
		return nil, fmt.Errorf("%q is not a finite number", s)
	}
	d.Reduce(d)
	if d.IsZero() {
		d.Negative = false
		d.Exponent = 0
	}
	if d.Exponent > maxDecimalExponent || d.Exponent < -maxDecimalExponent {
		return nil, fmt.Errorf("%q is out of range", s)
	}
	return d, nil
}

// normDecimal returns the canonical decimal text of v: exact, without exponent and without
// trailing zeros ("1.50" → "1.5", "1E+2" → "100", "-0" → "0").
func normDecimal(v any) (any, error) {
	if isEmpty(v) {
		return nil, nil
	}
	s, err := numberText(v)
	if err != nil {
		return nil, err
	}
	d, err := parseDecimal(s)
	if err != nil {
		return nil, err
	}
	return d.Text('f'), nil
}

// normInt returns v as int64. Whole-valued decimals ("12.0") are accepted; fractions are not.
func normInt(v any) (any, error) {
	if isEmpty(v) {
		return nil, nil
	}
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	}
	s, err := numberText(v)
	if err != nil {
		return nil, err
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	d, err := parseDecimal(s)
	if err != nil {
		return nil, err
	}
	n, err := d.Int64()
	if err != nil || d.Exponent < 0 {
		return nil, fmt.Errorf("%q is not a whole number", s)
	}
	return n, nil
}

// normBool reads true/false, "true"/"false", "yes"/"no", "1"/"0" and 1/0.
func normBool(v any) (any, error) {
	if isEmpty(v) {
		return nil, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "1", "y":
			return true, nil
		case "false", "no", "0", "n":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", x)
	}
	s, err := numberText(v)
	if err != nil {
		return nil, fmt.Errorf("%T is not true or false", v)
	}
	switch s {
	case "1":
		return true, nil
	case "0":
		return false, nil
	}
	return nil, fmt.Errorf("%s is not true or false", s)
}

// Layouts accepted for dates and times. A time without offset is UTC. Fractions of seconds
// are accepted after the seconds in every layout.
var timeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseTime reads a date or time, refusing years outside 1 to 9999, which
// no system on either side can hold.
func parseTime(v any) (time.Time, error) {
	t, err := parseAnyTime(v)
	if err == nil && (t.Year() < 1 || t.Year() > 9999) {
		return time.Time{}, fmt.Errorf("%v: year %d is out of range", v, t.Year())
	}
	return t, err
}

func parseAnyTime(v any) (time.Time, error) {
	if t, ok := v.(time.Time); ok {
		return t, nil
	}
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("%T is not a date", v)
	}
	s = strings.TrimSpace(s)
	// The common shapes first, so that most values parse at the first try.
	switch {
	case len(s) == len(time.DateOnly):
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t, nil
		}
	case len(s) > 19 && (s[len(s)-1] == 'Z' || s[len(s)-6] == '+' || s[len(s)-6] == '-'):
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t, nil
		}
	case len(s) >= 19 && s[10] == 'T':
		if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
			return t, nil
		}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date or time", s)
}

// normDate returns "2006-01-02". A time's date is taken as written, in its own offset.
func normDate(v any) (any, error) {
	if isEmpty(v) {
		return nil, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return nil, err
	}
	return t.Format(time.DateOnly), nil
}

// normDateTime returns RFC 3339 in UTC, with fractions of seconds only when present.
func normDateTime(v any) (any, error) {
	if isEmpty(v) {
		return nil, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return nil, err
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

// normString returns text; numbers and booleans become their text. Line breaks are
// normalised to "\n".
func normString(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if strings.Contains(x, "\r") {
			x = strings.ReplaceAll(strings.ReplaceAll(x, "\r\n", "\n"), "\r", "\n")
		}
		if x == "" {
			return nil, nil
		}
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case json.Number:
		if d, err := parseDecimal(strings.TrimSpace(string(x))); err == nil {
			return d.Text('f'), nil
		}
		return normString(string(x))
	case float64, float32, int, int32, int64:
		s, err := numberText(x)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, nil
		}
		if d, err := parseDecimal(s); err == nil {
			return d.Text('f'), nil
		}
		return s, nil
	}
	return nil, fmt.Errorf("%T is not text", v)
}

// normID returns a record id as decimal text; 0 and negative ids mean "no record".
func normID(v any) (any, error) {
	if isEmpty(v) {
		return nil, nil
	}
	n, err := normInt(v)
	if err != nil {
		return nil, err
	}
	if n.(int64) <= 0 {
		return nil, nil
	}
	return strconv.FormatInt(n.(int64), 10), nil
}

// normERPID returns an ERP id as text.
func normERPID(v any) (any, error) {
	s, err := normString(v)
	if s == nil || err != nil {
		return nil, err
	}
	t := strings.TrimSpace(s.(string))
	if t == "" {
		return nil, nil
	}
	return t, nil
}

// normalise turns a raw value into the canonical form of type t.
func normalise(t Type, v any) (any, error) {
	switch t {
	case TypeString, TypeEnum:
		return normString(v)
	case TypeInt:
		return normInt(v)
	case TypeDecimal:
		return normDecimal(v)
	case TypeBool:
		return normBool(v)
	case TypeDate:
		return normDate(v)
	case TypeDateTime:
		return normDateTime(v)
	case TypeID:
		return normID(v)
	}
	return nil, fmt.Errorf("unknown type %q", t)
}

// canonKey reduces a canonical value to a comparable form, so that values that went
// through JSON (int64 → float64) still compare equal. It returns "" for empty values.
func canonKey(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x == "" {
			return ""
		}
		return "s" + x
	case bool:
		if x {
			return "bt"
		}
		return "bf"
	case int64:
		return "i" + strconv.FormatInt(x, 10)
	case int:
		return "i" + strconv.Itoa(x)
	case int32:
		return "i" + strconv.FormatInt(int64(x), 10)
	case float64, float32, json.Number:
		s, err := numberText(x)
		if err != nil || s == "" {
			return "x" + fmt.Sprint(x)
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return "i" + strconv.FormatInt(n, 10)
		}
		if d, err := parseDecimal(s); err == nil {
			if n, err := d.Int64(); err == nil && d.Exponent >= 0 {
				return "i" + strconv.FormatInt(n, 10)
			}
			return "n" + d.Text('f')
		}
		return "x" + s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "x" + fmt.Sprintf("%#v", v)
	}
	return "j" + string(b)
}

// same reports whether two canonical values are equal (empty equals empty).
func same(a, b any) bool { return canonKey(a) == canonKey(b) }
