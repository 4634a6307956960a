package activities

import (
	"go.temporal.io/sdk/temporal"

	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/workflows"
)

// temporalError turns an engine error into the application error Temporal
// should see, by its class (engine.Classify): a 429 is retried after the
// server's delay; a Validation or NotFound error is not retried, and leaves
// the link in error with the reason; the mass-delete guard is not retried and
// carries the held deletes; everything else is retried with backoff. The
// message keeps the context (pairing, record, operation, cause).
func (a *Activities) temporalError(err error) error {
	if err == nil {
		return nil
	}
	c := a.engine.Classify(err)
	typ := c.Class.String()
	if c.Class == engine.MassDelete {
		typ = workflows.ErrTypeMassDelete
	}
	opts := temporal.ApplicationErrorOptions{NonRetryable: c.Class.Permanent(), NextRetryDelay: c.RetryAfter}
	if c.Details != nil {
		opts.Details = []any{c.Details}
	}
	return temporal.NewApplicationErrorWithOptions(err.Error(), typ, opts)
}
