package customerp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Problem is an RFC 9457 problem details object as the server sent it.
type Problem struct {
	Type     string       `json:"type,omitempty"`
	Title    string       `json:"title,omitempty"`
	Status   int          `json:"status,omitempty"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// CurrentVersion is set on 412: the version the record is at now.
	CurrentVersion int64 `json:"currentVersion,omitempty"`
}

// FieldError names one field at fault (a dotted path) and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// APIError is an HTTP error answer of the CustomERP API (any status but 429, which is a
// *RateLimitError). Its message names the operation, resource and id, never the API key.
type APIError struct {
	Op       string   // "get", "create", "update", "delete", "list", "changes"
	Resource Resource // the resource addressed
	ID       string   // the record id, when the call named one
	Status   int      // HTTP status
	Problem  Problem  // the problem details (or a synthesised one when the body had none)
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "customerp: %s %s", e.Op, target(e.Resource, e.ID))
	fmt.Fprintf(&b, ": %d %s", e.Status, firstNonEmpty(e.Problem.Title, http.StatusText(e.Status)))
	if e.Problem.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Problem.Detail)
	}
	for i, fe := range e.Problem.Errors {
		if i == 5 {
			fmt.Fprintf(&b, " (and %d more)", len(e.Problem.Errors)-5)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", fe.Field, fe.Message)
	}
	return b.String()
}

// StaleError is the answer to an Update (or a Delete with a version) when the record is no
// longer at the version sent in If-Match (HTTP 412). It unwraps to its *APIError.
type StaleError struct {
	*APIError
	IfMatch int64 // the version the write was based on
	Current int64 // the version the record is at now (0 when the server did not say)
}

// Error implements error.
func (e *StaleError) Error() string {
	return fmt.Sprintf("customerp: %s %s: stale: based on version %d, the record is at version %d",
		e.Op, target(e.Resource, e.ID), e.IfMatch, e.Current)
}

// Unwrap returns the underlying *APIError.
func (e *StaleError) Unwrap() error { return e.APIError }

// RateLimitError is a 429 answer. It is never retried inside the client: the caller decides
// how to wait (in tandem, through the activity's retry delay).
type RateLimitError struct {
	Op         string
	Resource   Resource
	ID         string
	RetryAfter time.Duration // from the Retry-After header; 1s when the server gave none
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("customerp: %s %s: rate limited, retry after %s", e.Op, target(e.Resource, e.ID), e.RetryAfter)
}

// NetworkError is a failure to get any HTTP answer (connection refused or reset, timeout)
// after the client's retries.
type NetworkError struct {
	Op       string
	Resource Resource
	ID       string
	Err      error
}

// Error implements error.
func (e *NetworkError) Error() string {
	return fmt.Sprintf("customerp: %s %s: network: %v", e.Op, target(e.Resource, e.ID), e.Err)
}

// Unwrap returns the cause.
func (e *NetworkError) Unwrap() error { return e.Err }

// MalformedError is a success status whose body is not what the contract promises: HTML from
// a proxy, truncated or oversized JSON, or a record without id or version.
type MalformedError struct {
	Op       string
	Resource Resource
	ID       string
	Status   int
	Err      error
}

// Error implements error.
func (e *MalformedError) Error() string {
	return fmt.Sprintf("customerp: %s %s: malformed %d response: %v", e.Op, target(e.Resource, e.ID), e.Status, e.Err)
}

// Unwrap returns the cause.
func (e *MalformedError) Unwrap() error { return e.Err }

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsStale reports whether err is a 412 answer: the record changed since the version sent.
func IsStale(err error) bool {
	var se *StaleError
	return errors.As(err, &se) || statusOf(err) == http.StatusPreconditionFailed
}

// IsIdempotencyConflict reports whether err is the 422 answer to a create whose
// Idempotency-Key was used before with another body: an earlier attempt of the
// create was carried out (its answer may have been lost) and the body has changed
// since. The record that attempt made carries the same key as its externalRef
// when the caller sets both, as tandem does.
func IsIdempotencyConflict(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity {
		return false
	}
	for _, fe := range ae.Problem.Errors {
		if fe.Field == "Idempotency-Key" {
			return true
		}
	}
	return false
}

// IsUnauthorized reports whether err is a 401 answer (missing or wrong API key).
func IsUnauthorized(err error) bool { return statusOf(err) == http.StatusUnauthorized }

// IsConflict reports whether err is a 409 answer (a delete of a record others point at).
func IsConflict(err error) bool { return statusOf(err) == http.StatusConflict }

// IsValidation reports whether err is a 4xx answer about the request itself: 400, 409, 413,
// 415, 422, 428 and the like; not 401, 404, 412 or 429.
func IsValidation(err error) bool {
	s := statusOf(err)
	switch s {
	case http.StatusUnauthorized, http.StatusNotFound, http.StatusPreconditionFailed, http.StatusTooManyRequests:
		return false
	}
	return s >= 400 && s < 500
}

// IsRateLimited reports whether err is a 429 answer (*RateLimitError).
func IsRateLimited(err error) bool {
	var rl *RateLimitError
	return errors.As(err, &rl)
}

// IsServer reports whether err is a 5xx answer (after the client's retries).
func IsServer(err error) bool { return statusOf(err) >= 500 }

// IsNetwork reports whether err is a failure to get an answer at all (*NetworkError).
func IsNetwork(err error) bool {
	var ne *NetworkError
	return errors.As(err, &ne)
}

// IsMalformed reports whether err is a success answer with a body that breaks the contract
// (*MalformedError).
func IsMalformed(err error) bool {
	var me *MalformedError
	return errors.As(err, &me)
}

// Retryable reports whether trying the same call again later can succeed: network failures,
// 5xx, 429 and malformed answers are; 4xx answers (validation, not found, stale) are not.
func Retryable(err error) bool {
	return IsNetwork(err) || IsServer(err) || IsRateLimited(err) || IsMalformed(err)
}

func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func target(r Resource, id string) string {
	if id == "" {
		return string(r)
	}
	return string(r) + "/" + id
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
