package webcrm

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// tokenResponse is webCRM's TokenResponseDto.
type tokenResponse struct {
	AccessToken      string `json:"AccessToken"`
	RefreshToken     string `json:"RefreshToken"`
	ExpiresIn        int64  `json:"ExpiresIn"`
	TokenType        string `json:"TokenType"`
	Error            string `json:"Error"`
	ErrorDescription string `json:"ErrorDescription"`
	IsError          bool   `json:"IsError"`
}

// session is a usable access token.
type session struct {
	access    string
	refresh   string
	refreshAt time.Time // renew from this moment on
	expiresAt time.Time
}

// flight is one login or refresh in progress; everybody needing a token waits on it.
type flight struct {
	done chan struct{}
	err  error
}

// auth owns the access token: it logs in lazily, renews before expiry (refresh token if
// webCRM gave one, else a new login), logs in again when a request met a 401, and makes
// sure only one login/refresh runs at a time (single flight).
type auth struct {
	c        *Client
	apiToken string
	now      func() time.Time

	mu     sync.Mutex
	cur    session
	flight *flight
	// secrets seen so far, for redaction of logs and error texts
	secrets []string
}

// defaultTokenTTL is assumed when the login answer carries no usable ExpiresIn.
const defaultTokenTTL = time.Hour

// token returns a valid access token, logging in or refreshing if needed.
func (a *auth) token(ctx context.Context) (string, error) {
	for {
		a.mu.Lock()
		if a.cur.access != "" && a.now().Before(a.cur.refreshAt) {
			t := a.cur.access
			a.mu.Unlock()
			return t, nil
		}
		f := a.flight
		if f == nil {
			f = &flight{done: make(chan struct{})}
			a.flight = f
			prev := a.cur
			// The renewal must not die with the first caller's context: other callers wait
			// for it too. It is bounded by the HTTP timeouts instead.
			go a.renew(context.WithoutCancel(ctx), f, prev)
		}
		a.mu.Unlock()
		select {
		case <-f.done:
			if f.err != nil {
				return "", f.err
			}
			// loop: pick up the new session
		case <-ctx.Done():
			return "", fmt.Errorf("webcrm: Login: waiting for access token: %w", ctx.Err())
		}
	}
}

func (a *auth) renew(ctx context.Context, f *flight, prev session) {
	var s session
	var err error
	if prev.refresh != "" && a.now().Before(prev.expiresAt) {
		s, err = a.exchange(ctx, "Refresh", "/Auth/ApiRefresh", nil, http.Header{"refreshToken": {prev.refresh}})
		if err != nil {
			a.c.log.LogAttrs(ctx, slog.LevelInfo, "webcrm: token refresh failed, logging in again", slog.String("error", err.Error()))
		}
	}
	if prev.refresh == "" || err != nil || !a.now().Before(prev.expiresAt) {
		s, err = a.exchange(ctx, "Login", "/Auth/ApiLogin", url.Values{"authCode": {a.apiToken}}, nil)
	}
	a.mu.Lock()
	if err == nil {
		a.cur = s
	}
	a.flight = nil
	f.err = err
	a.mu.Unlock()
	close(f.done)
}

// exchange performs a login or refresh request and turns the answer into a session.
func (a *auth) exchange(ctx context.Context, op, path string, form url.Values, hdr http.Header) (session, error) {
	// ApiLogin takes a form; ApiRefresh takes the refresh token as a header and no body.
	k := call{op: op, method: http.MethodPost, path: path, form: form, header: hdr, noAuth: true}
	resp, err := a.c.do(ctx, k)
	if err != nil {
		return session{}, err
	}
	var tr tokenResponse
	if err := a.c.decodeJSON(k, resp, &tr); err != nil {
		return session{}, err
	}
	if tr.IsError || tr.AccessToken == "" {
		msg := strings.TrimSpace(tr.Error + " " + tr.ErrorDescription)
		if msg == "" {
			msg = "no access token in the answer"
		}
		return session{}, &APIError{Op: op, Status: http.StatusUnauthorized, Message: a.redact(excerpt([]byte(msg), maxExcerpt))}
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = defaultTokenTTL
	}
	// Renew when a fifth of the lifetime is left (at most a minute early), so a request
	// never starts with a token about to expire.
	margin := min(ttl/5, time.Minute)
	now := a.now()
	a.remember(tr.AccessToken, tr.RefreshToken)
	a.c.log.LogAttrs(ctx, slog.LevelDebug, "webcrm: access token obtained", slog.String("via", op), slog.Duration("ttl", ttl))
	return session{access: tr.AccessToken, refresh: tr.RefreshToken, refreshAt: now.Add(ttl - margin), expiresAt: now.Add(ttl)}, nil
}

// invalidate drops the session if it still holds token (so concurrent 401s trigger one
// login, not many) and forgets the refresh token: after a 401 the client logs in anew.
func (a *auth) invalidate(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur.access == token {
		a.cur = session{}
	}
}

// remember records secrets for redaction; only the last few access tokens are kept.
func (a *auth) remember(secrets ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= 8 {
			a.secrets = append(a.secrets, s)
		}
	}
	if n := len(a.secrets); n > 8 {
		// copy: redact may be iterating over the old slice
		a.secrets = append([]string(nil), a.secrets[n-8:]...)
	}
}

// redact replaces every known secret in s.
func (a *auth) redact(s string) string {
	if a.apiToken != "" && len(a.apiToken) >= 4 {
		s = strings.ReplaceAll(s, a.apiToken, "[REDACTED]")
	}
	a.mu.Lock()
	secrets := a.secrets
	a.mu.Unlock()
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, "[REDACTED]")
	}
	return s
}
