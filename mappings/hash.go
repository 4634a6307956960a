package mappings

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// Hash returns a stable SHA-256 (hex) of a canonical record. It does not depend on key
// order, ignores empty values (so a missing key and nil hash the same), and hashes a whole
// number the same whether it is an int64 or went through JSON as a float64.
func Hash(c Canonical) string {
	keys := make([]string, 0, len(c))
	for k, v := range c {
		if canonKey(v) != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	put := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	for _, k := range keys {
		put(k)
		put(canonKey(c[k]))
	}
	return hex.EncodeToString(h.Sum(nil))
}
