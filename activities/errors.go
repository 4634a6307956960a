package activities

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/webcrm"
)

// Error types of the application errors the activities return.
const (
	errTypeRateLimited = "RateLimited"
	errTypeValidation  = "Validation"
	errTypeNotFound    = "NotFound"
	errTypeStale       = "Stale"
	errTypeTransient   = "Transient"
)

// permanent wraps err as a non-retryable application error of the given type.
func permanent(err error, errType string) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), errType, nil)
}

// classify turns a client error into the application error Temporal should
// see: a 429 retries after the server's delay; validation and other
// permanent 4xx errors do not retry; everything else retries with backoff.
// The message keeps the context (pairing, record, operation, cause).
func classify(err error) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if appErr == err {
			return err
		}
		// Keep the context the wrapping added (pairing, record,
		// operation) and the inner error's type and retry decision.
		msg := strings.Replace(err.Error(), appErr.Error(), appErr.Message(), 1)
		return temporal.NewApplicationErrorWithOptions(msg, appErr.Type(), temporal.ApplicationErrorOptions{
			NonRetryable: appErr.NonRetryable(), NextRetryDelay: appErr.NextRetryDelay(),
		})
	}
	msg := err.Error()
	var wrl *webcrm.RateLimitError
	if errors.As(err, &wrl) {
		return temporal.NewApplicationErrorWithOptions(msg, errTypeRateLimited, temporal.ApplicationErrorOptions{
			NextRetryDelay: wrl.RetryAfter,
		})
	}
	var erl *customerp.RateLimitError
	if errors.As(err, &erl) {
		return temporal.NewApplicationErrorWithOptions(msg, errTypeRateLimited, temporal.ApplicationErrorOptions{
			NextRetryDelay: erl.RetryAfter,
		})
	}
	switch {
	case customerp.IsStale(err):
		return temporal.NewApplicationErrorWithOptions(msg, errTypeStale, temporal.ApplicationErrorOptions{})
	case webcrm.IsValidation(err), customerp.IsValidation(err):
		return permanent(err, errTypeValidation)
	case webcrm.IsNotFound(err), customerp.IsNotFound(err):
		return permanent(err, errTypeNotFound)
	}
	return temporal.NewApplicationErrorWithOptions(msg, errTypeTransient, temporal.ApplicationErrorOptions{})
}

// recordError prefixes err with the pairing and record it concerns.
func recordError(pairing, linkID string, err error) error {
	return fmt.Errorf("%s link %s: %w", pairing, linkID, err)
}
