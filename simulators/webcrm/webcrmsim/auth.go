package webcrmsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// authState holds the issued access and refresh tokens (in memory only: a
// restarted simulator answers 401 and clients log in again).
type authState struct {
	mu      sync.Mutex
	key     []byte
	access  map[string]grant
	refresh map[string]grant
}

// grant records which application token a token was issued for and until
// when it is valid.
type grant struct {
	appToken string
	expires  time.Time
}

func newAuthState() *authState {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &authState{key: key, access: map[string]grant{}, refresh: map[string]grant{}}
}

// tokenResponse is the swagger's TokenResponseDto.
type tokenResponse struct {
	AccessToken      string `json:"AccessToken,omitempty"`
	RefreshToken     string `json:"RefreshToken,omitempty"`
	Error            string `json:"Error,omitempty"`
	ErrorDescription string `json:"ErrorDescription,omitempty"`
	IsError          bool   `json:"IsError"`
	ExpiresIn        int64  `json:"ExpiresIn"`
	TokenType        string `json:"TokenType,omitempty"`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// newAccessToken returns a JWT-shaped bearer token (HS256 over a random
// per-server key) carrying iat, exp and a random jti. The simulator checks
// tokens by lookup, the JWT shape is for clients that peek at exp.
func (a *authState) newAccessToken(now, exp time.Time) string {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	header := b64([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"iss": "webcrmsim", "iat": now.Unix(), "exp": exp.Unix(), "jti": b64(jti)})
	unsigned := header + "." + b64(claims)
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(unsigned))
	return unsigned + "." + b64(mac.Sum(nil))
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b64(b)
}

// issue creates an access and a refresh token for appToken.
func (s *Server) issue(appToken string) tokenResponse {
	now := s.now()
	a := s.auth
	access := a.newAccessToken(now, now.Add(s.opts.TokenTTL))
	refresh := randomToken()
	a.mu.Lock()
	if len(a.access) > 1024 {
		for k, g := range a.access {
			if !now.Before(g.expires) {
				delete(a.access, k)
			}
		}
		for k, g := range a.refresh {
			if !now.Before(g.expires) {
				delete(a.refresh, k)
			}
		}
	}
	a.access[access] = grant{appToken: appToken, expires: now.Add(s.opts.TokenTTL)}
	a.refresh[refresh] = grant{appToken: appToken, expires: now.Add(s.opts.RefreshTokenTTL)}
	a.mu.Unlock()
	return tokenResponse{
		AccessToken:  access,
		RefreshToken: refresh,
		ExpiresIn:    int64(s.opts.TokenTTL / time.Second),
		TokenType:    "Bearer",
	}
}

// formValue returns a form field (urlencoded or multipart body) whose name
// matches name case-insensitively.
func formValue(r *http.Request, name string) (string, bool) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var values map[string][]string
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return "", false
		}
		values = r.PostForm
	case "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return "", false
		}
		values = r.MultipartForm.Value
	default:
		return "", false
	}
	for k, v := range values {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

func loginError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, tokenResponse{Error: code, ErrorDescription: desc, IsError: true})
}

// handleLogin answers POST /Auth/ApiLogin. A successful login counts
// against the application token's rate limit.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	code, ok := formValue(r, "authCode")
	if !ok || code == "" {
		loginError(w, http.StatusBadRequest, "invalid_request", "The form field authCode is required (application/x-www-form-urlencoded or multipart/form-data).")
		return
	}
	if subtle.ConstantTimeCompare([]byte(code), []byte(s.opts.APIToken)) != 1 {
		loginError(w, http.StatusUnauthorized, "invalid_client", "The authCode is not a valid API token.")
		return
	}
	if ok, retry := s.limiter.allow(s.opts.APIToken, s.now()); !ok {
		s.stats.rateLimited()
		writeTooMany(w, retry, s.throttleMessage())
		return
	}
	writeJSON(w, http.StatusOK, s.issue(s.opts.APIToken))
}

// handleRefresh answers POST /Auth/ApiRefresh: the refresh token comes in
// header refreshToken (as the swagger says) or form field refreshToken. A
// refresh token is single-use: the answer carries a new one.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("refreshToken")
	if tok == "" {
		tok, _ = formValue(r, "refreshToken")
	}
	if tok == "" {
		loginError(w, http.StatusBadRequest, "invalid_request", "The refreshToken header is required.")
		return
	}
	now := s.now()
	a := s.auth
	a.mu.Lock()
	g, ok := a.refresh[tok]
	if ok {
		delete(a.refresh, tok)
	}
	a.mu.Unlock()
	if !ok || !now.Before(g.expires) {
		loginError(w, http.StatusUnauthorized, "invalid_grant", "The refresh token is unknown, used or expired.")
		return
	}
	if ok, retry := s.limiter.allow(g.appToken, now); !ok {
		s.stats.rateLimited()
		writeTooMany(w, retry, s.throttleMessage())
		return
	}
	writeJSON(w, http.StatusOK, s.issue(g.appToken))
}

// authenticate checks the bearer token and returns the application token it
// was issued for.
func (s *Server) authenticate(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(strings.TrimSpace(h), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", unauthorized("Authorization has been denied for this request: a bearer token is required.")
	}
	s.auth.mu.Lock()
	g, ok := s.auth.access[strings.TrimSpace(tok)]
	s.auth.mu.Unlock()
	if !ok {
		return "", unauthorized("Authorization has been denied for this request: the access token is not valid.")
	}
	if !s.now().Before(g.expires) {
		return "", unauthorized("Authorization has been denied for this request: the access token has expired.")
	}
	return g.appToken, nil
}
