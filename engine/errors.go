package engine

import (
	"errors"
	"fmt"
	"time"
)

// Class says what kind of failure an error is, which decides who retries it
// and when (see Classify and the retry layers in the README).
type Class int

// Classes of failures.
const (
	// Transient failures are retried with backoff: a broken answer, a
	// failure of unknown kind.
	Transient Class = iota
	// Unavailable means an API could not answer for now: a 5xx, a network
	// failure. Retried with backoff; a decision that needs the answer waits.
	Unavailable
	// RateLimited is a 429: retried after Classification.RetryAfter.
	RateLimited
	// Stale is an ERP write refused because the record changed since it was
	// read: retried, which reads it again.
	Stale
	// Validation is a record or request the API refuses, or one the engine
	// cannot map: not retried; the link records the reason.
	Validation
	// NotFound is a request for something that does not exist: not retried.
	NotFound
	// MassDelete is the mass-delete guard stopping a poll: not retried; the
	// error's Details hold the deletes it holds.
	MassDelete
)

var classNames = map[Class]string{
	Transient: "Transient", Unavailable: "Unavailable", RateLimited: "RateLimited", Stale: "Stale",
	Validation: "Validation", NotFound: "NotFound", MassDelete: "MassDelete",
}

// String names the class.
func (c Class) String() string {
	if n, ok := classNames[c]; ok {
		return n
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Permanent reports whether errors of the class are not worth retrying.
func (c Class) Permanent() bool { return c == Validation || c == NotFound || c == MassDelete }

// Classification is what Classify says of an error.
type Classification struct {
	Class Class
	// RetryAfter is the server's advice for a RateLimited error.
	RetryAfter time.Duration
	// Details are data the error carries for its handler (MassDelete: the
	// domain.HeldDeletes).
	Details any
}

// A Classifier tells the class of the errors of the clients the stores use
// (the engine knows its own): a 429 RateLimited with its delay, a 5xx or a
// network failure Unavailable, a refused request Validation, and so on.
type Classifier func(error) Classification

// Error is an error whose class the engine decided.
type Error struct {
	Class   Class
	Err     error
	Details any
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// permanent marks err as a Validation error: the record or the request is
// wrong, and retrying will not mend it.
func permanent(err error) error { return &Error{Class: Validation, Err: err} }

// permanentf is permanent(fmt.Errorf(...)).
func permanentf(format string, args ...any) error { return permanent(fmt.Errorf(format, args...)) }

// Classify tells the class of err: the engine's own errors carry it, a
// failure to reach a referenced record's link is Transient, and every other
// error is the client's, which the Classifier the engine was built with
// decides.
func (e *Engine) Classify(err error) Classification {
	var own *Error
	if errors.As(err, &own) {
		return Classification{Class: own.Class, Details: own.Details}
	}
	var re *resolveError
	if errors.As(err, &re) {
		return Classification{Class: Transient}
	}
	if e.classify == nil {
		return Classification{Class: Transient}
	}
	return e.classify(err)
}

// unavailable reports whether err says an API could not answer for now, as
// opposed to answering something unusable.
func (e *Engine) unavailable(err error) bool {
	c := e.Classify(err).Class
	return c == Unavailable || c == RateLimited
}

// mappingError is the error of a record that could not be mapped: a
// Validation error, unless what failed was reaching a referenced record's
// link, which is worth retrying.
func mappingError(err error) error {
	var re *resolveError
	if errors.As(err, &re) {
		return err
	}
	return permanent(err)
}

// recordError prefixes err with the pairing and link it concerns.
func recordError(pairing, linkID string, err error) error {
	return fmt.Errorf("%s link %s: %w", pairing, linkID, err)
}
