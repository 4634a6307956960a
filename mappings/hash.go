package mappings

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
)

// Hash returns a stable SHA-256 (hex) of a canonical record. It does not depend on key
// order, ignores empty values (so a missing key and nil hash the same), and hashes a whole
// number the same whether it is an int64 or went through JSON as a float64.
func Hash(c Canonical) string {
	var keyBuf [24]string
	keys := keyBuf[:0]
	for k, v := range c {
		if !emptyCanon(v) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	buf := make([]byte, 0, 512)
	for _, k := range keys {
		buf = binary.AppendUvarint(buf, uint64(len(k)))
		buf = append(buf, k...)
		buf = appendCanon(buf, c[k])
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// emptyCanon reports a canonical "no value".
func emptyCanon(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	}
	return canonKey(v) == ""
}

// appendCanon appends a value's type tag and length-prefixed comparable form.
func appendCanon(buf []byte, v any) []byte {
	var tag byte
	var text string
	switch x := v.(type) {
	case string:
		tag, text = 's', x
	case bool:
		tag, text = 'b', strconv.FormatBool(x)
	case int64:
		var nb [20]byte
		return appendTagged(buf, 'i', strconv.AppendInt(nb[:0], x, 10))
	default:
		k := canonKey(v)
		if k == "" {
			return buf
		}
		tag, text = k[0], k[1:]
	}
	buf = append(buf, tag)
	buf = binary.AppendUvarint(buf, uint64(len(text)))
	return append(buf, text...)
}

func appendTagged(buf []byte, tag byte, text []byte) []byte {
	buf = append(buf, tag)
	buf = binary.AppendUvarint(buf, uint64(len(text)))
	return append(buf, text...)
}
