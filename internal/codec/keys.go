package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables the keys come from. They are the only sources of
// key material: never a YAML file, never workflow input.
const (
	// EnvKeys holds the key list: comma-separated "id:base64key" entries,
	// each key 32 bytes (AES-256) in standard or URL base64.
	EnvKeys = "TANDEM_CODEC_KEYS"
	// EnvKeysFile names a file holding the same list (entries separated by
	// commas or new lines; blank lines and lines starting with # are
	// skipped). It is the alternative to EnvKeys for secret mounts.
	EnvKeysFile = "TANDEM_CODEC_KEYS_FILE"
	// EnvKeyID names the key that encrypts; default: the last listed.
	EnvKeyID = "TANDEM_CODEC_KEY_ID"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// maxKeyIDLen bounds a key id; ids travel in every payload's metadata.
const maxKeyIDLen = 64

// Keys is a key ring: every key decrypts, the current one encrypts. A Keys
// never prints its key material: String, GoString and LogValue (value
// receivers, so they apply to copies too) show the ids only, and the raw
// bytes are not kept after the ciphers are built.
type Keys struct {
	current string
	ids     []string
	aeads   map[string]cipher.AEAD
}

// Source says where Load finds the keys; the fields carry the values of
// EnvKeys, EnvKeysFile and EnvKeyID.
type Source struct {
	List    string // TANDEM_CODEC_KEYS
	File    string // TANDEM_CODEC_KEYS_FILE
	Current string // TANDEM_CODEC_KEY_ID
}

// Configured reports whether src names any keys.
func (src Source) Configured() bool {
	return strings.TrimSpace(src.List) != "" || strings.TrimSpace(src.File) != ""
}

// SourceFromEnv reads a Source through getenv (os.Getenv when nil).
func SourceFromEnv(getenv func(string) string) Source {
	if getenv == nil {
		getenv = os.Getenv
	}
	return Source{List: getenv(EnvKeys), File: getenv(EnvKeysFile), Current: getenv(EnvKeyID)}
}

// Load builds the key ring src names. It returns nil and no error when src
// names no keys (payloads then stay unencrypted). Errors name the variable
// (and the file) and the position of the bad entry, never key material.
func Load(src Source) (*Keys, error) {
	list, file := strings.TrimSpace(src.List), strings.TrimSpace(src.File)
	switch {
	case list == "" && file == "":
		return nil, nil
	case list != "" && file != "":
		return nil, fmt.Errorf("codec: set %s or %s, not both", EnvKeys, EnvKeysFile)
	case list != "":
		return parse(list, EnvKeys, src.Current)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("codec: read %s: %w", EnvKeysFile, err)
	}
	return parse(string(data), fmt.Sprintf("%s (%s)", EnvKeysFile, file), src.Current)
}

// ParseKeys parses a TANDEM_CODEC_KEYS value; current is the id that
// encrypts ("" = the last listed).
func ParseKeys(list, current string) (*Keys, error) {
	return parse(list, EnvKeys, current)
}

func parse(list, where, current string) (*Keys, error) {
	k := &Keys{aeads: map[string]cipher.AEAD{}}
	var errs []error
	pos := 0
	for line := range strings.SplitSeq(list, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for entry := range strings.SplitSeq(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			pos++
			id, aead, err := parseEntry(entry)
			if err != nil {
				errs = append(errs, fmt.Errorf("codec: %s entry %d: %w", where, pos, err))
				continue
			}
			if _, dup := k.aeads[id]; dup {
				errs = append(errs, fmt.Errorf("codec: %s entry %d: key id %q is listed twice", where, pos, id))
				continue
			}
			k.ids = append(k.ids, id)
			k.aeads[id] = aead
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(k.ids) == 0 {
		return nil, fmt.Errorf("codec: %s holds no keys; expected id:base64key[,id:base64key...]", where)
	}
	k.current = k.ids[len(k.ids)-1]
	if current = strings.TrimSpace(current); current != "" {
		if _, ok := k.aeads[current]; !ok {
			return nil, fmt.Errorf("codec: %s=%q names no key in %s (ids: %s)", EnvKeyID, current, where, strings.Join(k.ids, ", "))
		}
		k.current = current
	}
	return k, nil
}

// parseEntry parses "id:base64key". Errors never quote the entry: a
// malformed entry may be all key material.
func parseEntry(entry string) (string, cipher.AEAD, error) {
	id, enc, ok := strings.Cut(entry, ":")
	id, enc = strings.TrimSpace(id), strings.TrimSpace(enc)
	if !ok || id == "" {
		return "", nil, errors.New("expected id:base64key (no id before a colon)")
	}
	if err := checkID(id); err != nil {
		return "", nil, err
	}
	if b, err := decodeKey(id); err == nil && len(b) == KeySize {
		// "key:id" the wrong way round: do not echo the "id".
		return "", nil, errors.New("the key id looks like a key; expected id:base64key")
	}
	if enc == "" {
		return "", nil, fmt.Errorf("key id %q has no key after the colon", id)
	}
	key, err := decodeKey(enc)
	if err != nil {
		return "", nil, fmt.Errorf("key id %q: the key is not valid base64", id)
	}
	if len(key) != KeySize {
		return "", nil, fmt.Errorf("key id %q: the key is %d bytes, want %d (AES-256)", id, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return "", nil, fmt.Errorf("key id %q: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", nil, fmt.Errorf("key id %q: %w", id, err)
	}
	return id, aead, nil
}

// checkID accepts ids of letters, digits, '.', '_' and '-'.
func checkID(id string) error {
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("key id is longer than %d characters", maxKeyIDLen)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			// Quoting the id is safe only once it is known to be an id; a
			// key pasted without its id would be echoed otherwise.
			return errors.New("key id may hold only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

func decodeKey(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// CurrentID is the id of the key that encrypts.
func (k Keys) CurrentID() string { return k.current }

// IDs lists the key ids in the order they were given.
func (k Keys) IDs() []string { return append([]string(nil), k.ids...) }

// String shows the ids and the current id, never key material.
func (k Keys) String() string {
	return fmt.Sprintf("codec keys [%s], current %s", strings.Join(k.ids, " "), k.current)
}

// GoString is String, so %#v does not print the ciphers' state.
func (k Keys) GoString() string { return k.String() }

// LogValue implements slog.LogValuer with the ids only.
func (k Keys) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("ids", k.ids), slog.String("current", k.current))
}

// NewKeyEntry returns a fresh "id:base64key" entry with a random 32-byte
// key, for TANDEM_CODEC_KEYS or a key file.
func NewKeyEntry(id string) (string, error) {
	if id == "" {
		return "", errors.New("codec: a new key needs an id")
	}
	if err := checkID(id); err != nil {
		return "", fmt.Errorf("codec: new key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("codec: new key %q: %w", id, err)
	}
	defer clear(key)
	return id + ":" + base64.StdEncoding.EncodeToString(key), nil
}

// EnsureKeyFile creates a key file at path holding one new key named id,
// readable by the owner only (0600), unless the file exists already; it
// reports whether it created the file. The file appears atomically with its
// content, so two processes starting at once agree on one key.
func EnsureKeyFile(path, id string) (created bool, err error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("codec: key file %s: %w", path, err)
	}
	entry, err := NewKeyEntry(id)
	if err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".codec-key-*")
	if err != nil {
		return false, fmt.Errorf("codec: create key file next to %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return false, fmt.Errorf("codec: key file %s: %w", path, err)
	}
	_, werr := tmp.WriteString("# tandem payload key (" + EnvKeysFile + " format); losing it makes the histories it encrypted unreadable\n" + entry + "\n")
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		return false, fmt.Errorf("codec: write key file %s: %w", path, err)
	}
	// Link fails when path exists: the first process to get here wins.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("codec: create key file %s: %w", path, err)
	}
	return true, nil
}
