package codec

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"go.temporal.io/sdk/converter"
)

// DefaultMaxBodyBytes bounds a request to the codec endpoint unless
// Options.MaxBodyBytes says otherwise.
const DefaultMaxBodyBytes = 8 << 20

// Options configure the codec endpoint.
//
// How callers authenticate:
//
//   - The temporal CLI sends a fixed header: `temporal workflow show
//     --codec-endpoint http://HOST:PORT --codec-auth "Bearer $TANDEM_CODEC_TOKEN"`.
//   - The Temporal UI calls the endpoint from the browser (so CORS applies
//     and only AllowedOrigin is answered). It adds "Authorization: Bearer
//     <the signed-in user's access token>" only when its codec setting "pass
//     access token" is on, and only to an https endpoint. That token is the
//     user's OIDC token, not a shared one: behind an SSO-enabled UI, put a
//     proxy that validates it in front of this endpoint (and give the proxy
//     Token), or leave the UI without a codec.
//   - Development (worker --dev): the dev server's UI sends no credentials,
//     so with an empty Token the endpoint accepts requests that carry the
//     allowed Origin header. That is no authentication against local
//     programs (any program can send that header), only against other web
//     pages; CheckListen therefore refuses an empty Token on an address
//     other than loopback. The temporal CLI gets in the same way:
//     --codec-header "Origin=http://127.0.0.1:8233".
type Options struct {
	// AllowedOrigin is the Temporal UI's origin, e.g. http://127.0.0.1:8233
	// (scheme, host and port; no path). Browser requests from any other
	// origin get 403. Empty: no browser may call (Token is then required).
	AllowedOrigin string
	// Token is the bearer token callers must send (Authorization: Bearer
	// <Token>); secret. Empty: development mode, see above.
	Token string
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes);
	// larger bodies get 413.
	MaxBodyBytes int64
}

// allowHeaders are the request headers a browser may send cross-origin.
const allowHeaders = "content-type, x-namespace, authorization"

type handler struct {
	origin string
	token  []byte
	max    int64
	next   http.Handler
}

// NewHTTPHandler serves the codec to the Temporal UI and CLI: POST
// <any path>/encode and POST <any path>/decode, with Payloads as protobuf
// JSON (the SDK's remote codec protocol), authenticated and with CORS for
// AllowedOrigin only (see Options). Answers: 401 for a missing or wrong
// token, 403 for another origin, 405 for other methods, 413 for an oversize
// body, 400 for a body or payload the codec cannot handle.
func NewHTTPHandler(c converter.PayloadCodec, opts Options) (http.Handler, error) {
	if c == nil {
		return nil, errors.New("codec endpoint: no codec")
	}
	origin := ""
	if opts.AllowedOrigin != "" {
		var err error
		if origin, err = normaliseOrigin(opts.AllowedOrigin); err != nil {
			return nil, err
		}
	}
	if origin == "" && opts.Token == "" {
		return nil, errors.New("codec endpoint: set a token (TANDEM_CODEC_TOKEN) or the UI origin (TANDEM_CODEC_ORIGIN); with neither nobody could call it")
	}
	h := &handler{origin: origin, max: opts.MaxBodyBytes, next: converter.NewPayloadCodecHTTPHandler(c)}
	if opts.Token != "" {
		h.token = []byte(opts.Token)
	}
	if h.max <= 0 {
		h.max = DefaultMaxBodyBytes
	}
	return h, nil
}

// normaliseOrigin turns "HTTP://Host:8233/" into "http://host:8233", the
// form browsers send in the Origin header.
func normaliseOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("codec endpoint: allowed origin %q (TANDEM_CODEC_ORIGIN) is not an origin such as http://127.0.0.1:8233", s)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host), nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	if origin != "" {
		if h.origin == "" || origin != h.origin {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions {
		if origin == "" {
			http.Error(w, "CORS preflight without an Origin", http.StatusForbidden)
			return
		}
		hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", allowHeaders)
		hdr.Set("Access-Control-Max-Age", "600")
		if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
			// A UI on a public host calling a codec on this machine.
			hdr.Set("Access-Control-Allow-Private-Network", "true")
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		hdr.Set("Allow", "POST, OPTIONS")
		http.Error(w, "use POST /encode or POST /decode", http.StatusMethodNotAllowed)
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/encode") && !strings.HasSuffix(r.URL.Path, "/decode") {
		http.NotFound(w, r)
		return
	}
	if !h.authorised(r, origin) {
		hdr.Set("WWW-Authenticate", `Bearer realm="tandem-codec"`)
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	if r.ContentLength > h.max {
		http.Error(w, fmt.Sprintf("body larger than %d bytes", h.max), http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.max+1))
	if err != nil {
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	if int64(len(body)) > h.max {
		http.Error(w, fmt.Sprintf("body larger than %d bytes", h.max), http.StatusRequestEntityTooLarge)
		return
	}
	r2 := r.WithContext(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	h.next.ServeHTTP(w, r2)
}

// authorised checks the bearer token, or (without a token configured) that
// the request comes from the allowed origin.
func (h *handler) authorised(r *http.Request, origin string) bool {
	if h.token == nil {
		return h.origin != "" && origin == h.origin
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), h.token) == 1
}

// CheckListen refuses to serve the endpoint without a token on an address
// other people can reach: without a token anybody who can connect could
// decrypt histories by sending the allowed Origin header.
func CheckListen(addr string, opts Options) error {
	if opts.Token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("codec endpoint address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("codec endpoint on %s needs TANDEM_CODEC_TOKEN: without a token it may listen on a loopback address only", addr)
}
