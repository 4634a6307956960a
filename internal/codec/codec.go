// Package codec keeps personal data out of Temporal's histories: a payload
// codec encrypts every payload with AES-256-GCM under a key from the
// environment, and an HTTP handler serves the codec to the Temporal UI (and
// the temporal CLI) so people who may see the data read histories in clear.
//
// An encrypted payload has metadata "encoding" = "binary/encrypted" and
// "encryption-key-id" = the id of the key that sealed it; its data is a
// random 12-byte nonce followed by the GCM ciphertext of the original
// payload (metadata and data, protobuf-encoded, zlib-compressed when that
// makes it smaller). The key id is bound into the ciphertext as additional
// data. Decoding passes payloads that are not encrypted through unchanged,
// so histories written before encryption was switched on still read.
//
// Keys rotate by listing: every key in TANDEM_CODEC_KEYS decrypts, only
// TANDEM_CODEC_KEY_ID (default: the last listed) encrypts. Keep a retired
// key listed for as long as histories it encrypted are retained.
package codec

import (
	"bytes"
	"compress/zlib"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata keys and values of an encrypted payload.
const (
	// EncodingEncrypted is the "encoding" metadata value of an encrypted payload.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID is the metadata key naming the key that encrypted a payload.
	MetadataKeyID = "encryption-key-id"
)

// Sealed plaintext starts with one format byte.
const (
	formatProto byte = 0 // protobuf-encoded payload
	formatZlib  byte = 1 // zlib-compressed protobuf-encoded payload
)

const (
	nonceSize = 12
	tagSize   = 16
	// compressMin is the smallest encoded payload worth compressing.
	compressMin = 512
	// maxPlain bounds a decompressed payload (Temporal refuses blobs far
	// smaller than this anyway).
	maxPlain = 64 << 20
	// aadPrefix versions the additional data bound into every ciphertext.
	aadPrefix = "tandem-codec/v1:"
)

// Codec is a converter.PayloadCodec that encrypts with the current key of a
// key ring and decrypts with any of its keys. It is safe for concurrent use.
type Codec struct {
	keys    *Keys
	writers sync.Pool // *zlib.Writer
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns the codec for keys, which must not be nil.
func NewCodec(keys *Keys) (*Codec, error) {
	if keys == nil || len(keys.ids) == 0 {
		return nil, fmt.Errorf("codec: no keys; set %s or %s", EnvKeys, EnvKeysFile)
	}
	return &Codec{keys: keys}, nil
}

// Keys returns the codec's key ring.
func (c *Codec) Keys() *Keys { return c.keys }

// NewDataConverter returns the default data converter with every payload
// passing through the codec of keys.
func NewDataConverter(keys *Keys) (converter.DataConverter, error) {
	c, err := NewCodec(keys)
	if err != nil {
		return nil, err
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c), nil
}

// NewFailureConverter returns a failure converter that moves each failure's
// message and stack trace into an encoded payload, so error texts (which may
// quote record values) are encrypted by dc too. Use it with the data
// converter from NewDataConverter.
func NewFailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
}

// Encode encrypts each payload with the current key. Payloads that are
// already encrypted are kept as they are.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.keys.current
	aead := c.keys.aeads[id]
	aad := []byte(aadPrefix + id)
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || isEncrypted(p) {
			out[i] = p
			continue
		}
		plain, err := c.plaintext(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: encode payload %d: %w", i, err)
		}
		buf := make([]byte, nonceSize, nonceSize+len(plain)+tagSize)
		if _, err := rand.Read(buf); err != nil {
			return payloads, fmt.Errorf("codec: encode payload %d: nonce: %w", i, err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(id),
			},
			Data: aead.Seal(buf, buf, plain, aad),
		}
	}
	return out, nil
}

// plaintext is the format byte and the encoded payload, compressed when
// that makes it smaller.
func (c *Codec) plaintext(p *commonpb.Payload) ([]byte, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		return nil, err
	}
	if len(raw) >= compressMin {
		var buf bytes.Buffer
		buf.Grow(len(raw)/2 + 64)
		buf.WriteByte(formatZlib)
		w, _ := c.writers.Get().(*zlib.Writer)
		if w == nil {
			w, _ = zlib.NewWriterLevel(&buf, zlib.BestSpeed)
		} else {
			w.Reset(&buf)
		}
		_, werr := w.Write(raw)
		cerr := w.Close()
		w.Reset(io.Discard) // do not keep buf alive in the pool
		c.writers.Put(w)
		if err := errors.Join(werr, cerr); err != nil {
			return nil, fmt.Errorf("compress: %w", err)
		}
		if buf.Len() < len(raw)+1 {
			return buf.Bytes(), nil
		}
	}
	plain := make([]byte, 1+len(raw))
	plain[0] = formatProto
	copy(plain[1:], raw)
	return plain, nil
}

// Decode decrypts encrypted payloads and passes the others through. A
// payload sealed with a key that is not in the ring, or that does not
// authenticate, is an error naming the key id (never the key).
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil || !isEncrypted(p) {
			out[i] = p
			continue
		}
		dp, err := c.open(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: decode payload %d: %w", i, err)
		}
		out[i] = dp
	}
	return out, nil
}

func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	idb, ok := p.Metadata[MetadataKeyID]
	if !ok || len(idb) == 0 {
		return nil, fmt.Errorf("encrypted payload has no %s metadata", MetadataKeyID)
	}
	id := string(idb)
	aead, ok := c.keys.aeads[id]
	if !ok {
		return nil, &UnknownKeyError{KeyID: printable(id), Known: c.keys.IDs()}
	}
	if len(p.Data) < nonceSize+tagSize {
		return nil, fmt.Errorf("payload encrypted with key id %q is too short (%d bytes)", id, len(p.Data))
	}
	plain, err := aead.Open(nil, p.Data[:nonceSize], p.Data[nonceSize:], []byte(aadPrefix+id))
	if err != nil {
		return nil, fmt.Errorf("payload encrypted with key id %q does not authenticate (corrupted or tampered)", id)
	}
	if len(plain) == 0 {
		return nil, fmt.Errorf("payload encrypted with key id %q is empty", id)
	}
	raw := plain[1:]
	switch plain[0] {
	case formatProto:
	case formatZlib:
		if raw, err = inflate(raw); err != nil {
			return nil, fmt.Errorf("payload encrypted with key id %q: decompress: %w", id, err)
		}
	default:
		return nil, fmt.Errorf("payload encrypted with key id %q has unknown format %d", id, plain[0])
	}
	var out commonpb.Payload
	if err := proto.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("payload encrypted with key id %q: %w", id, err)
	}
	return &out, nil
}

func inflate(b []byte) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	out, err := io.ReadAll(io.LimitReader(r, maxPlain+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxPlain {
		return nil, fmt.Errorf("larger than %d bytes", maxPlain)
	}
	return out, nil
}

func isEncrypted(p *commonpb.Payload) bool {
	return string(p.Metadata[converter.MetadataEncoding]) == EncodingEncrypted
}

// printable keeps an id from a payload readable in an error text.
func printable(id string) string {
	if len(id) > maxKeyIDLen {
		id = id[:maxKeyIDLen] + "…"
	}
	return strings.ToValidUTF8(id, "?")
}

// UnknownKeyError is returned for a payload encrypted with a key id the key
// ring does not hold (a retired key removed too early, or another
// deployment's key).
type UnknownKeyError struct {
	KeyID string   // the id in the payload's metadata
	Known []string // the ids the ring holds
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("payload encrypted with key id %q, which is not in %s (known ids: %s); add that key to the list to read it",
		e.KeyID, EnvKeys, strings.Join(e.Known, ", "))
}
