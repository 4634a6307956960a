package codec_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tandemsync/tandem/internal/codec"
)

const uiOrigin = "http://127.0.0.1:8233"

// codecServer serves the codec endpoint for a fresh key on a real
// 127.0.0.1 port.
func codecServer(t *testing.T, opts codec.Options) (*httptest.Server, *codec.Codec, string) {
	t.Helper()
	entry, material := newEntry(t, "k1")
	c := mustCodec(t, mustKeys(t, entry, ""))
	h, err := codec.NewHTTPHandler(c, opts)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, c, material
}

// remote is the SDK's own codec-server client, as the temporal CLI uses it.
func remote(endpoint string, header http.Header) converter.PayloadCodec {
	return converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
		Endpoint: endpoint,
		ModifyRequest: func(r *http.Request) error {
			for k, v := range header {
				r.Header[k] = v
			}
			return nil
		},
	})
}

func plainPayloads(t *testing.T, values ...any) []*commonpb.Payload {
	t.Helper()
	ps, err := converter.GetDefaultDataConverter().ToPayloads(values...)
	require.NoError(t, err)
	return ps.Payloads
}

func post(t *testing.T, url string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func payloadsJSON(t *testing.T, ps []*commonpb.Payload) string {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	require.NoError(t, err)
	return string(b)
}

// decodedPayloads parses an endpoint answer (protobuf JSON Payloads).
func decodedPayloads(t *testing.T, body string) []*commonpb.Payload {
	t.Helper()
	var ps commonpb.Payloads
	require.NoError(t, protojson.Unmarshal([]byte(body), &ps), body)
	return ps.Payloads
}

func decodedPerson(t *testing.T, body string) person {
	t.Helper()
	var p person
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(decodedPayloads(t, body)[0], &p))
	return p
}

func decodedString(t *testing.T, body string) string {
	t.Helper()
	var s string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(decodedPayloads(t, body)[0], &s))
	return s
}

func TestHTTPDecodeWithTokenAndOrigin(t *testing.T) {
	t.Parallel()
	srv, c, _ := codecServer(t, codec.Options{AllowedOrigin: uiOrigin, Token: "s3cret-codec-token"})
	in := plainPayloads(t, person{Name: "Grete Hansen", Email: "grete@example.dk"}, "second")
	enc, err := c.Encode(in)
	require.NoError(t, err)

	// The SDK's remote codec client (what the temporal CLI uses) with the token.
	rc := remote(srv.URL, http.Header{"Authorization": {"Bearer s3cret-codec-token"}, "X-Namespace": {"default"}})
	dec, err := rc.Decode(enc)
	require.NoError(t, err)
	var got person
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(dec[0], &got))
	require.Equal(t, "Grete Hansen", got.Name)

	// Encode through the endpoint, decode locally: same keys on both ends.
	viaHTTP, err := rc.Encode(in)
	require.NoError(t, err)
	require.Equal(t, codec.EncodingEncrypted, string(viaHTTP[0].Metadata["encoding"]))
	back, err := c.Decode(viaHTTP)
	require.NoError(t, err)
	require.Equal(t, in[1].Data, back[1].Data)

	// A browser call from the UI: token and Origin; the answer carries CORS headers.
	resp, body := post(t, srv.URL+"/decode", http.Header{
		"Authorization": {"Bearer s3cret-codec-token"}, "Origin": {uiOrigin}, "X-Namespace": {"default"},
	}, payloadsJSON(t, enc))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "Grete Hansen", decodedPerson(t, body).Name)
	// The endpoint may sit under a path prefix (one per namespace, say).
	resp, body = post(t, srv.URL+"/default/decode", http.Header{"Authorization": {"Bearer s3cret-codec-token"}}, payloadsJSON(t, enc))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
}

func TestHTTPRejectsMissingOrWrongToken(t *testing.T) {
	t.Parallel()
	srv, c, _ := codecServer(t, codec.Options{AllowedOrigin: uiOrigin, Token: "s3cret-codec-token"})
	enc, err := c.Encode(plainPayloads(t, "Grete Hansen"))
	require.NoError(t, err)
	body := payloadsJSON(t, enc)
	for name, h := range map[string]http.Header{
		"missing":                 {},
		"missing, right origin":   {"Origin": {uiOrigin}},
		"wrong":                   {"Authorization": {"Bearer s3cret-codec-tokeN"}},
		"prefix of the token":     {"Authorization": {"Bearer s3cret"}},
		"not bearer":              {"Authorization": {"Basic s3cret-codec-token"}},
		"bare token":              {"Authorization": {"s3cret-codec-token"}},
		"wrong with right origin": {"Authorization": {"Bearer nope"}, "Origin": {uiOrigin}},
	} {
		for _, path := range []string{"/decode", "/encode"} {
			resp, text := post(t, srv.URL+path, h, body)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s %s: %s", name, path, text)
			require.NotContains(t, text, "Grete")
			require.NotContains(t, text, "s3cret-codec-token")
			require.Equal(t, `Bearer realm="tandem-codec"`, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// The SDK client surfaces the refusal as an error.
	_, err = remote(srv.URL, nil).Decode(enc)
	require.ErrorContains(t, err, "Unauthorized")
}

func TestHTTPOtherOriginIsForbidden(t *testing.T) {
	t.Parallel()
	srv, c, _ := codecServer(t, codec.Options{AllowedOrigin: uiOrigin + "/", Token: "s3cret-codec-token"})
	enc, err := c.Encode(plainPayloads(t, "Grete Hansen"))
	require.NoError(t, err)
	for _, origin := range []string{"http://evil.example", "http://localhost:8233", "https://127.0.0.1:8233", "http://127.0.0.1:8234", "null"} {
		resp, text := post(t, srv.URL+"/decode", http.Header{"Authorization": {"Bearer s3cret-codec-token"}, "Origin": {origin}}, payloadsJSON(t, enc))
		require.Equal(t, http.StatusForbidden, resp.StatusCode, origin)
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), origin)
		require.NotContains(t, text, "Grete")
	}
}

func TestHTTPPreflightOnlyForAllowedOrigin(t *testing.T) {
	t.Parallel()
	srv, _, _ := codecServer(t, codec.Options{AllowedOrigin: uiOrigin, Token: "s3cret-codec-token"})
	preflight := func(origin string, extra http.Header) *http.Response {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodOptions, srv.URL+"/decode", nil)
		require.NoError(t, err)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace,authorization")
		for k, v := range extra {
			req.Header[k] = v
		}
		resp, _ := do(t, req)
		return resp
	}
	// Preflights carry no credentials; the allowed origin is answered without a token.
	resp := preflight(uiOrigin, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "content-type, x-namespace, authorization", resp.Header.Get("Access-Control-Allow-Headers"))
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
	require.Contains(t, resp.Header.Values("Vary"), "Origin")
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Private-Network"))

	resp = preflight(uiOrigin, http.Header{"Access-Control-Request-Private-Network": {"true"}})
	require.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Private-Network"))

	for _, origin := range []string{"http://evil.example", ""} {
		resp = preflight(origin, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, origin)
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Headers"))
	}
}

func TestHTTPDevModeWithoutToken(t *testing.T) {
	t.Parallel()
	srv, c, _ := codecServer(t, codec.Options{AllowedOrigin: uiOrigin})
	enc, err := c.Encode(plainPayloads(t, "Grete Hansen"))
	require.NoError(t, err)
	body := payloadsJSON(t, enc)

	// The dev server's UI sends no credentials, only its Origin.
	resp, text := post(t, srv.URL+"/decode", http.Header{"Origin": {uiOrigin}, "X-Namespace": {"default"}}, body)
	require.Equal(t, http.StatusOK, resp.StatusCode, text)
	require.Equal(t, "Grete Hansen", decodedString(t, text))
	// No Origin and no token: refused; another origin: forbidden.
	resp, _ = post(t, srv.URL+"/decode", nil, body)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = post(t, srv.URL+"/decode", http.Header{"Origin": {"http://evil.example"}}, body)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestHTTPTokenOnlyRefusesBrowsers(t *testing.T) {
	t.Parallel()
	srv, c, _ := codecServer(t, codec.Options{Token: "s3cret-codec-token"})
	enc, err := c.Encode(plainPayloads(t, "x"))
	require.NoError(t, err)
	resp, _ := post(t, srv.URL+"/decode", http.Header{"Authorization": {"Bearer s3cret-codec-token"}}, payloadsJSON(t, enc))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = post(t, srv.URL+"/decode", http.Header{"Authorization": {"Bearer s3cret-codec-token"}, "Origin": {uiOrigin}}, payloadsJSON(t, enc))
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestHTTPRejectsOversizeBodies(t *testing.T) {
	t.Parallel()
	srv, c, _ := codecServer(t, codec.Options{AllowedOrigin: uiOrigin, Token: "tok", MaxBodyBytes: 4 << 10})
	auth := http.Header{"Authorization": {"Bearer tok"}}
	big := payloadsJSON(t, plainPayloads(t, strings.Repeat("x", 8<<10)))

	resp, text := post(t, srv.URL+"/encode", auth, big)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, text)

	// Without a Content-Length (chunked), the limit holds while reading.
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, big)
		_ = pw.Close()
	}()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/encode", pr)
	require.NoError(t, err)
	req.Header = auth.Clone()
	resp, text = do(t, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, text)

	// Just under the limit is fine.
	enc, err := c.Encode(plainPayloads(t, strings.Repeat("y", 2<<10)))
	require.NoError(t, err)
	resp, text = post(t, srv.URL+"/decode", auth, payloadsJSON(t, enc))
	require.Equal(t, http.StatusOK, resp.StatusCode, text)
}

func TestHTTPMethodsPathsAndBadBodies(t *testing.T) {
	t.Parallel()
	srv, _, material := codecServer(t, codec.Options{AllowedOrigin: uiOrigin, Token: "tok"})
	auth := http.Header{"Authorization": {"Bearer tok"}}

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/decode", nil)
	require.NoError(t, err)
	resp, _ := do(t, req)
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	resp, _ = post(t, srv.URL+"/other", auth, "{}")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	resp, _ = post(t, srv.URL+"/decode", auth, "{not json")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A payload under a key this endpoint does not hold: 400 naming the id, not a key.
	otherEntry, otherKey := newEntry(t, "other-deployment")
	enc, err := mustCodec(t, mustKeys(t, otherEntry, "")).Encode(plainPayloads(t, "Grete"))
	require.NoError(t, err)
	resp, text := post(t, srv.URL+"/decode", auth, payloadsJSON(t, enc))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, text, `key id "other-deployment"`)
	requireNoMaterial(t, text, otherKey, material)
}

func TestNewHTTPHandlerChecksOptions(t *testing.T) {
	t.Parallel()
	entry, _ := newEntry(t, "k1")
	c := mustCodec(t, mustKeys(t, entry, ""))
	_, err := codec.NewHTTPHandler(c, codec.Options{})
	require.ErrorContains(t, err, "TANDEM_CODEC_TOKEN")
	for _, bad := range []string{"127.0.0.1:8233", "http://127.0.0.1:8233/namespaces", "ftp://x", "http://", "http://u:p@host"} {
		_, err = codec.NewHTTPHandler(c, codec.Options{AllowedOrigin: bad, Token: "t"})
		require.ErrorContains(t, err, "TANDEM_CODEC_ORIGIN", bad)
	}
	_, err = codec.NewHTTPHandler(nil, codec.Options{Token: "t"})
	require.Error(t, err)
}

func TestCheckListen(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"127.0.0.1:8088": true, "[::1]:8088": true, "localhost:8088": true,
		"0.0.0.0:8088": false, ":8088": false, "10.1.2.3:8088": false, "codec.internal:8088": false,
	} {
		err := codec.CheckListen(addr, codec.Options{AllowedOrigin: uiOrigin})
		if ok {
			require.NoError(t, err, addr)
		} else {
			require.ErrorContains(t, err, "TANDEM_CODEC_TOKEN", addr)
		}
		require.NoError(t, codec.CheckListen(addr, codec.Options{Token: "t"}), addr)
	}
	require.Error(t, codec.CheckListen("no-port", codec.Options{}))
}
