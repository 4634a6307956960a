package webcrm

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrMethodNotAllowed is wrapped by the *APIError that Delete returns for entities the
// webCRM API cannot delete (Organisations, Persons, Users, Opportunities). No request is
// sent in that case.
var ErrMethodNotAllowed = errors.New("operation not supported by the webCRM API")

// ErrInvalidArgument is wrapped by errors about bad input detected before any request is
// sent (page < 1, size > 1000, unknown entity, ...).
var ErrInvalidArgument = errors.New("invalid argument")

// maxExcerpt bounds how much server text an error message carries.
const maxExcerpt = 200

// APIError describes a failed webCRM call. Status is the HTTP status; it is 0 when no
// response arrived (network error, timeout). Malformed is set when the server answered
// 2xx but the body was not what the operation expects (an HTML page, truncated or invalid
// JSON, an oversized body). Message is a short excerpt of the server's text or a
// description of the problem; it never contains a token.
type APIError struct {
	Op        string // operation, e.g. "Get", "Update", "ChangedSince", "Login"
	Entity    Entity // resource, "" for operations not tied to one (Query, Login)
	ID        string // record id, if the operation concerns one record
	Status    int
	Message   string
	Malformed bool
	Err       error // underlying cause, if any (network error, JSON syntax error, ...)
}

// Error implements error.
func (e *APIError) Error() string {
	b := errorPrefix(e.Op, e.Entity, e.ID)
	switch {
	case e.Malformed:
		fmt.Fprintf(b, ": malformed response (HTTP %d)", e.Status)
	case e.Status == 0:
		b.WriteString(": no response")
	default:
		fmt.Fprintf(b, ": HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// errorPrefix starts an error text: "webcrm: <Op>[ <Entity>][ <ID>]".
func errorPrefix(op string, e Entity, id string) *strings.Builder {
	b := &strings.Builder{}
	b.WriteString("webcrm: ")
	b.WriteString(op)
	for _, part := range []string{string(e), id} {
		if part != "" {
			b.WriteString(" ")
			b.WriteString(part)
		}
	}
	return b
}

// Unwrap returns the underlying cause.
func (e *APIError) Unwrap() error { return e.Err }

// RateLimitError is returned when webCRM answered 429 Too Many Requests. RetryAfter is
// the server's advice (Retry-After header, else the RetryAfterSeconds body field; 0 if
// neither was given). The client does not wait and retry by itself: the caller (e.g. a
// Temporal activity retry policy) decides.
type RateLimitError struct {
	Op         string
	Entity     Entity
	ID         string
	RetryAfter time.Duration
	Message    string
}

// Error implements error.
func (e *RateLimitError) Error() string {
	b := errorPrefix(e.Op, e.Entity, e.ID)
	fmt.Fprintf(b, ": rate limited (HTTP 429), retry after %s", e.RetryAfter)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

func asAPIError(err error) (*APIError, bool) {
	var ae *APIError
	ok := errors.As(err, &ae)
	return ae, ok
}

// IsNotFound reports whether err is a 404 from webCRM.
func IsNotFound(err error) bool {
	ae, ok := asAPIError(err)
	return ok && !ae.Malformed && ae.Status == http.StatusNotFound
}

// IsUnauthorized reports whether err is a 401 (also after the client's one re-login), or a
// login that webCRM refused.
func IsUnauthorized(err error) bool {
	ae, ok := asAPIError(err)
	return ok && !ae.Malformed && ae.Status == http.StatusUnauthorized
}

// IsValidation reports whether webCRM rejected the request itself: any 4xx except 401,
// 404 and 429 (e.g. 400, 403, 405, 409, 422), including ErrMethodNotAllowed.
func IsValidation(err error) bool {
	ae, ok := asAPIError(err)
	if !ok || ae.Malformed {
		return false
	}
	s := ae.Status
	return s >= 400 && s < 500 && s != http.StatusUnauthorized && s != http.StatusNotFound && s != http.StatusTooManyRequests
}

// IsServer reports whether err is a 5xx answer (after the client's own retries).
func IsServer(err error) bool {
	ae, ok := asAPIError(err)
	return ok && !ae.Malformed && ae.Status >= 500
}

// IsNetwork reports whether no usable response arrived: connection refused or dropped,
// per-request timeout, a body cut off mid-transfer. When the caller's own context ends,
// the client returns the context's error (wrapped, not an *APIError) instead.
func IsNetwork(err error) bool {
	ae, ok := asAPIError(err)
	return ok && !ae.Malformed && ae.Status == 0
}

// IsMalformed reports whether webCRM answered 2xx with a body the operation could not
// use (HTML, truncated or invalid JSON, wrong JSON shape, oversized).
func IsMalformed(err error) bool {
	ae, ok := asAPIError(err)
	return ok && ae.Malformed
}

// IsRateLimited reports whether err is a *RateLimitError.
func IsRateLimited(err error) bool {
	var re *RateLimitError
	return errors.As(err, &re)
}

// Retryable reports whether repeating the same call later may succeed: rate limits,
// network errors, 5xx, 408 and malformed answers. Validation, not-found, unauthorized and
// context cancellation are not retryable.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if IsRateLimited(err) {
		return true
	}
	var ce *CorrelationError
	if errors.As(err, &ce) {
		return len(ce.IDs) == 0
	}
	ae, ok := asAPIError(err)
	if !ok {
		return false
	}
	if errors.Is(ae.Err, ErrInvalidArgument) || errors.Is(ae.Err, ErrMethodNotAllowed) {
		return false
	}
	switch {
	case ae.Malformed, ae.Status == 0:
		return true
	case ae.Status >= 500, ae.Status == http.StatusRequestTimeout:
		return true
	}
	return false
}

// excerpt returns at most n bytes of b (cut on a rune boundary) with whitespace runs
// collapsed, for error messages.
func excerpt(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
