package codec_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/tandemsync/tandem/internal/codec"
)

// newEntry returns a fresh "id:base64key" entry and its key's base64 text.
func newEntry(t testing.TB, id string) (entry, material string) {
	t.Helper()
	e, err := codec.NewKeyEntry(id)
	require.NoError(t, err)
	_, material, _ = strings.Cut(e, ":")
	return e, material
}

func mustKeys(t testing.TB, list, current string) *codec.Keys {
	t.Helper()
	k, err := codec.ParseKeys(list, current)
	require.NoError(t, err)
	return k
}

func mustCodec(t testing.TB, k *codec.Keys) *codec.Codec {
	t.Helper()
	c, err := codec.NewCodec(k)
	require.NoError(t, err)
	return c
}

type person struct {
	Name  string
	Email string
	Phone string
	Notes string
}

func TestDataConverterRoundTrip(t *testing.T) {
	t.Parallel()
	entry, _ := newEntry(t, "k1")
	keys := mustKeys(t, entry, "")
	dc, err := codec.NewDataConverter(keys)
	require.NoError(t, err)

	small := person{Name: "Grete Hansen", Email: "grete@example.dk", Phone: "+45 20 30 40 50"}
	large := person{Name: "Bo Jensen", Email: "bo@example.dk", Notes: strings.Repeat("Bo Jensen called about the order. ", 200)}
	payloads, err := dc.ToPayloads(small, large, []byte("raw bytes Grete"), nil, 42)
	require.NoError(t, err)
	require.Len(t, payloads.Payloads, 5)
	for i, p := range payloads.Payloads {
		require.Equal(t, codec.EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]), "payload %d", i)
		require.Equal(t, "k1", string(p.Metadata[codec.MetadataKeyID]), "payload %d", i)
		require.Len(t, p.Metadata, 2, "payload %d: only encoding and key id are visible", i)
		for _, s := range []string{"Grete", "grete@example.dk", "+45 20 30 40 50", "Bo Jensen", "json/plain", "binary/null"} {
			require.NotContains(t, string(p.Data), s, "payload %d", i)
		}
	}
	// The large, repetitive payload was compressed before sealing.
	rawLarge, err := converter.GetDefaultDataConverter().ToPayload(large)
	require.NoError(t, err)
	require.Less(t, len(payloads.Payloads[1].Data), len(rawLarge.Data)/4)

	var gotSmall, gotLarge person
	var gotBytes []byte
	var gotNil *person
	var gotInt int
	require.NoError(t, dc.FromPayloads(payloads, &gotSmall, &gotLarge, &gotBytes, &gotNil, &gotInt))
	require.Equal(t, small, gotSmall)
	require.Equal(t, large, gotLarge)
	require.Equal(t, []byte("raw bytes Grete"), gotBytes)
	require.Nil(t, gotNil)
	require.Equal(t, 42, gotInt)
}

func TestCodecKeepsMetadataAndUsesFreshNonces(t *testing.T) {
	t.Parallel()
	entry, _ := newEntry(t, "k1")
	c := mustCodec(t, mustKeys(t, entry, ""))
	in := &commonpb.Payload{
		Metadata: map[string][]byte{converter.MetadataEncoding: []byte("json/plain"), "messageType": []byte("tandem.Person")},
		Data:     []byte(`{"Name":"Grete"}`),
	}
	a, err := c.Encode([]*commonpb.Payload{in, in, nil})
	require.NoError(t, err)
	require.Nil(t, a[2])
	require.NotEqual(t, a[0].Data, a[1].Data, "each payload gets its own nonce")
	require.NotEqual(t, a[0].Data[:12], a[1].Data[:12])
	out, err := c.Decode(a)
	require.NoError(t, err)
	require.True(t, proto.Equal(in, out[0]), "got %v", out[0])
	require.True(t, proto.Equal(in, out[1]))
	// Encoding an encrypted payload again leaves it alone.
	again, err := c.Encode(a[:1])
	require.NoError(t, err)
	require.Same(t, a[0], again[0])
}

func TestDecodePassesUnencryptedPayloadsThrough(t *testing.T) {
	t.Parallel()
	entry, _ := newEntry(t, "k1")
	keys := mustKeys(t, entry, "")
	dc, err := codec.NewDataConverter(keys)
	require.NoError(t, err)
	// A payload written before encryption was switched on.
	old, err := converter.GetDefaultDataConverter().ToPayloads(person{Name: "Old History"})
	require.NoError(t, err)
	var got person
	require.NoError(t, dc.FromPayloads(old, &got))
	require.Equal(t, "Old History", got.Name)

	zl, err := converter.NewZlibCodec(converter.ZlibCodecOptions{AlwaysEncode: true}).Encode(old.Payloads)
	require.NoError(t, err)
	out, err := mustCodec(t, keys).Decode(zl)
	require.NoError(t, err)
	require.Same(t, zl[0], out[0], "other encodings are not ours to touch")
}

func TestTamperedPayloadFails(t *testing.T) {
	t.Parallel()
	e1, _ := newEntry(t, "k1")
	e2, _ := newEntry(t, "k2")
	c := mustCodec(t, mustKeys(t, e1+","+e2, "k1"))
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"secret value"`)}})
	require.NoError(t, err)
	good := enc[0]
	n := len(good.Data)
	for _, pos := range []int{0, 11, 12, 13, n / 2, n - 17, n - 1} {
		bad := proto.Clone(good).(*commonpb.Payload)
		bad.Data[pos] ^= 0x01
		_, err := c.Decode([]*commonpb.Payload{bad})
		require.Error(t, err, "flipped byte %d of %d", pos, n)
		require.Contains(t, err.Error(), `key id "k1" does not authenticate`)
	}
	// Relabelling the payload with another known key id fails too.
	bad := proto.Clone(good).(*commonpb.Payload)
	bad.Metadata[codec.MetadataKeyID] = []byte("k2")
	_, err = c.Decode([]*commonpb.Payload{bad})
	require.ErrorContains(t, err, `key id "k2" does not authenticate`)
	// Truncated and unlabelled payloads are errors, not panics.
	short := proto.Clone(good).(*commonpb.Payload)
	short.Data = short.Data[:20]
	_, err = c.Decode([]*commonpb.Payload{short})
	require.ErrorContains(t, err, "too short")
	nolabel := proto.Clone(good).(*commonpb.Payload)
	delete(nolabel.Metadata, codec.MetadataKeyID)
	_, err = c.Decode([]*commonpb.Payload{nolabel})
	require.ErrorContains(t, err, "no encryption-key-id")
	// The untouched payload still decodes.
	_, err = c.Decode([]*commonpb.Payload{good})
	require.NoError(t, err)
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	oldEntry, oldKey := newEntry(t, "2025-01")
	newEntryS, newKey := newEntry(t, "2026-06")

	before := mustCodec(t, mustKeys(t, oldEntry, ""))
	oldPayloads, err := before.Encode([]*commonpb.Payload{{Data: []byte("written under the old key")}})
	require.NoError(t, err)
	require.Equal(t, "2025-01", string(oldPayloads[0].Metadata[codec.MetadataKeyID]))

	// The new key is listed last, so it becomes current; the old one still decrypts.
	after := mustCodec(t, mustKeys(t, oldEntry+","+newEntryS, ""))
	require.Equal(t, "2026-06", after.Keys().CurrentID())
	got, err := after.Decode(oldPayloads)
	require.NoError(t, err)
	require.Equal(t, "written under the old key", string(got[0].Data))
	newPayloads, err := after.Encode([]*commonpb.Payload{{Data: []byte("written under the new key")}})
	require.NoError(t, err)
	require.Equal(t, "2026-06", string(newPayloads[0].Metadata[codec.MetadataKeyID]))

	// TANDEM_CODEC_KEY_ID can keep the old key current while the new one is rolled out.
	staged := mustCodec(t, mustKeys(t, oldEntry+","+newEntryS, "2025-01"))
	p, err := staged.Encode([]*commonpb.Payload{{Data: []byte("x")}})
	require.NoError(t, err)
	require.Equal(t, "2025-01", string(p[0].Metadata[codec.MetadataKeyID]))
	_, err = staged.Decode(newPayloads)
	require.NoError(t, err)

	// Once the old key is dropped, its payloads fail with an error naming the id only.
	dropped := mustCodec(t, mustKeys(t, newEntryS, ""))
	_, err = dropped.Decode(oldPayloads)
	var uk *codec.UnknownKeyError
	require.ErrorAs(t, err, &uk)
	require.Equal(t, "2025-01", uk.KeyID)
	require.Equal(t, []string{"2026-06"}, uk.Known)
	require.Contains(t, err.Error(), `"2025-01"`)
	require.Contains(t, err.Error(), codec.EnvKeys)
	requireNoMaterial(t, err.Error(), oldKey, newKey)
}

// requireNoMaterial fails when text holds any key, in any base64 form or raw.
func requireNoMaterial(t *testing.T, text string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		raw, err := base64.StdEncoding.DecodeString(k)
		require.NoError(t, err)
		for _, form := range []string{k, strings.TrimRight(k, "="), base64.RawURLEncoding.EncodeToString(raw), string(raw), fmt.Sprintf("%x", raw)} {
			require.NotContains(t, text, form)
		}
		require.False(t, bytes.Contains([]byte(text), raw))
	}
}

func TestParseKeysErrors(t *testing.T) {
	t.Parallel()
	good, goodKey := newEntry(t, "good")
	_, bare := newEntry(t, "x")
	short := base64.StdEncoding.EncodeToString([]byte("only sixteen byt"))
	rawURL := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	tests := []struct {
		name, list, current string
		want                []string
		material            []string // must not appear
	}{
		{"empty", " , ,", "", []string{"TANDEM_CODEC_KEYS holds no keys"}, nil},
		{"no id", good + "," + bare, "", []string{"TANDEM_CODEC_KEYS entry 2", "expected id:base64key"}, []string{bare, goodKey}},
		{"empty id", ":" + bare, "", []string{"entry 1", "expected id:base64key"}, []string{bare}},
		{"no key", "k1:", "", []string{"entry 1", `key id "k1" has no key`}, nil},
		{"not base64", "k1:%%%not-base64%%%", "", []string{"entry 1", `key id "k1": the key is not valid base64`}, []string{"not-base64"}},
		{"short key", "k1:" + short, "", []string{"entry 1", "16 bytes, want 32"}, []string{short}},
		{"duplicate id", good + ", " + good, "", []string{"entry 2", `key id "good" is listed twice`}, []string{goodKey}},
		{"bad id", "bad id!:" + bare, "", []string{"entry 1", "letters, digits"}, []string{bare, "bad id!"}},
		{"reversed", rawURL + ":k1", "", []string{"entry 1", "looks like a key"}, []string{rawURL}},
		{"unknown current", good, "other", []string{`TANDEM_CODEC_KEY_ID="other" names no key`, "ids: good"}, []string{goodKey}},
		{"two errors", "k1:" + short + ",k2:", "", []string{"entry 1", "entry 2"}, []string{short}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := codec.ParseKeys(tc.list, tc.current)
			require.Error(t, err)
			require.Nil(t, k)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			for _, m := range tc.material {
				require.NotContains(t, err.Error(), m)
			}
		})
	}
}

func TestParseKeysForms(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xfe, 0xff, 0x3e}, 11)[:32]
	list := fmt.Sprintf(" std:%s , raw:%s,url:%s,rawurl:%s ",
		base64.StdEncoding.EncodeToString(key), base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key))
	k := mustKeys(t, list, "")
	require.Equal(t, []string{"std", "raw", "url", "rawurl"}, k.IDs())
	require.Equal(t, "rawurl", k.CurrentID())
}

func TestKeysNeverPrintMaterial(t *testing.T) {
	t.Parallel()
	e1, m1 := newEntry(t, "k1")
	e2, m2 := newEntry(t, "k2")
	k := mustKeys(t, e1+","+e2, "")
	c := mustCodec(t, k)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("keys", "keys", k)
	texts := []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprintf("%v", *k), buf.String()}
	for _, s := range texts {
		requireNoMaterial(t, s, m1, m2)
	}
	require.Contains(t, k.String(), "k1 k2")
	require.Contains(t, buf.String(), `"current":"k2"`)
	// A decode error about this ring does not carry it either.
	_, err := c.Decode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte(codec.EncodingEncrypted), codec.MetadataKeyID: []byte("gone")}, Data: make([]byte, 40)}})
	require.Error(t, err)
	requireNoMaterial(t, err.Error(), m1, m2)
}

func TestLoadFromEnvAndFile(t *testing.T) {
	t.Parallel()
	e1, m1 := newEntry(t, "k1")
	e2, _ := newEntry(t, "k2")

	k, err := codec.Load(codec.SourceFromEnv(func(name string) string {
		return map[string]string{codec.EnvKeys: e1 + "," + e2, codec.EnvKeyID: "k1"}[name]
	}))
	require.NoError(t, err)
	require.Equal(t, "k1", k.CurrentID())

	none, err := codec.Load(codec.SourceFromEnv(func(string) string { return "" }))
	require.NoError(t, err)
	require.Nil(t, none, "no keys configured: no encryption")

	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	require.NoError(t, os.WriteFile(path, []byte("# rotated 2026-06\n"+e1+"\n\n"+e2+"\n"), 0o600))
	k, err = codec.Load(codec.Source{File: path})
	require.NoError(t, err)
	require.Equal(t, []string{"k1", "k2"}, k.IDs())

	_, err = codec.Load(codec.Source{List: e1, File: path})
	require.ErrorContains(t, err, "not both")

	require.NoError(t, os.WriteFile(path, []byte(e1+"\nk2:"+m1[:10]+"\n"), 0o600))
	_, err = codec.Load(codec.Source{File: path})
	require.ErrorContains(t, err, "TANDEM_CODEC_KEYS_FILE ("+path+") entry 2")
	requireNoMaterial(t, err.Error(), m1)

	_, err = codec.Load(codec.Source{File: filepath.Join(dir, "missing")})
	require.ErrorContains(t, err, "read TANDEM_CODEC_KEYS_FILE")
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestEnsureKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "codec.key")
	created, err := codec.EnsureKeyFile(path, "dev")
	require.NoError(t, err)
	require.True(t, created)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	first, err := os.ReadFile(path)
	require.NoError(t, err)

	k1, err := codec.Load(codec.Source{File: path})
	require.NoError(t, err)
	enc, err := mustCodec(t, k1).Encode([]*commonpb.Payload{{Data: []byte("kept across restarts")}})
	require.NoError(t, err)

	// A second start keeps the key, so it still reads what the first wrote.
	created, err = codec.EnsureKeyFile(path, "dev")
	require.NoError(t, err)
	require.False(t, created)
	second, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, first, second)
	k2, err := codec.Load(codec.Source{File: path})
	require.NoError(t, err)
	dec, err := mustCodec(t, k2).Decode(enc)
	require.NoError(t, err)
	require.Equal(t, "kept across restarts", string(dec[0].Data))
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left behind")
}

func TestNewCodecNeedsKeys(t *testing.T) {
	t.Parallel()
	_, err := codec.NewCodec(nil)
	require.ErrorContains(t, err, "TANDEM_CODEC_KEYS")
	_, err = codec.NewDataConverter(nil)
	require.Error(t, err)
}

func BenchmarkEncodeDecode(b *testing.B) {
	entry, _ := newEntry(b, "k1")
	c := mustCodec(b, mustKeys(b, entry, ""))
	for _, size := range []int{200, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			rec := map[string]any{}
			for i := 0; len(fmt.Sprint(rec)) < size; i++ {
				rec[fmt.Sprintf("OrganisationCustom%d", i)] = fmt.Sprintf("value %d of a webCRM record, Grete Hansen", i*7919)
			}
			p, err := converter.GetDefaultDataConverter().ToPayload(rec)
			require.NoError(b, err)
			in := []*commonpb.Payload{p}
			var stored int
			b.SetBytes(int64(len(p.Data)))
			b.ResetTimer()
			for b.Loop() {
				enc, err := c.Encode(in)
				if err != nil {
					b.Fatal(err)
				}
				stored = len(enc[0].Data)
				if _, err := c.Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(stored)/float64(len(p.Data)), "stored/raw")
		})
	}
}
