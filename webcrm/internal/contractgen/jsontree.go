package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// value is a JSON value that remembers the order of object keys.
type value struct {
	obj    *object         // an object, or nil
	arr    []value         // an array (when isArr)
	isArr  bool            //
	scalar json.RawMessage // a string, number, true, false or null, compactly encoded
}

// member is one key of an object.
type member struct {
	key string
	val value
}

// object is a JSON object in document order.
type object struct{ members []member }

func (o *object) get(key string) (value, bool) {
	for _, m := range o.members {
		if m.key == key {
			return m.val, true
		}
	}
	return value{}, false
}

func (o *object) set(key string, v value) {
	for i := range o.members {
		if o.members[i].key == key {
			o.members[i].val = v
			return
		}
	}
	o.members = append(o.members, member{key, v})
}

// sortKeys orders the members by key.
func (o *object) sortKeys() {
	sort.Slice(o.members, func(i, j int) bool { return o.members[i].key < o.members[j].key })
}

func objectValue(o *object) value { return value{obj: o} }

func stringValue(s string) value {
	raw, _ := encodeString(s) // a Go string always encodes
	return value{scalar: raw}
}

// str returns v's text when v is a JSON string.
func (v value) str() (string, bool) {
	if len(v.scalar) == 0 || v.scalar[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(v.scalar, &s); err != nil {
		return "", false
	}
	return s, true
}

// parse reads one JSON document, keeping key order; duplicate keys are an error.
func parse(raw []byte) (value, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return value{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return value{}, errors.New("trailing data after the JSON document")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (value, error) {
	tok, err := dec.Token()
	if err != nil {
		return value{}, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return value{}, err
				}
				k := kt.(string) // object keys are always strings
				if seen[k] {
					return value{}, fmt.Errorf("duplicate key %q", k)
				}
				seen[k] = true
				v, err := parseValue(dec)
				if err != nil {
					return value{}, fmt.Errorf("%s: %w", k, err)
				}
				o.members = append(o.members, member{k, v})
			}
			if _, err := dec.Token(); err != nil { // }
				return value{}, err
			}
			return value{obj: o}, nil
		case '[':
			out := value{isArr: true, arr: []value{}}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return value{}, fmt.Errorf("[%d]: %w", len(out.arr), err)
				}
				out.arr = append(out.arr, v)
			}
			if _, err := dec.Token(); err != nil { // ]
				return value{}, err
			}
			return out, nil
		}
		return value{}, fmt.Errorf("unexpected %v", t)
	case string:
		raw, err := encodeString(t)
		return value{scalar: raw}, err
	case json.Number:
		return value{scalar: json.RawMessage(t)}, nil
	case bool:
		if t {
			return value{scalar: json.RawMessage("true")}, nil
		}
		return value{scalar: json.RawMessage("false")}, nil
	case nil:
		return value{scalar: json.RawMessage("null")}, nil
	}
	return value{}, fmt.Errorf("unexpected token %v", tok)
}

// encodeString encodes s as a JSON string without HTML escaping.
func encodeString(s string) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// writeCompact writes v without whitespace, members in their stored order.
func writeCompact(b *bytes.Buffer, v value) {
	switch {
	case v.obj != nil:
		b.WriteByte('{')
		for i, m := range v.obj.members {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := encodeString(m.key)
			b.Write(k)
			b.WriteByte(':')
			writeCompact(b, m.val)
		}
		b.WriteByte('}')
	case v.isArr:
		b.WriteByte('[')
		for i, e := range v.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCompact(b, e)
		}
		b.WriteByte(']')
	default:
		b.Write(v.scalar)
	}
}

// encode renders v indented by two spaces, with a final newline.
func encode(v value) ([]byte, error) {
	var compact bytes.Buffer
	writeCompact(&compact, v)
	var out bytes.Buffer
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("indenting the contract: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
