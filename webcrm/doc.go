// Package webcrm is tandem's client for the webCRM REST API (https://api.webcrm.com).
//
// # Use
//
// Create one Client per process and share it between goroutines:
//
//	c, err := webcrm.New(webcrm.Config{BaseURL: "https://api.webcrm.com", APIToken: token})
//	org, err := c.Get(ctx, webcrm.Organisations, 42)
//	recs, next, err := c.ChangedSince(ctx, webcrm.Persons, watermark, 500)
//	id, err := c.Create(ctx, webcrm.Organisations, webcrm.Record{"OrganisationName": "Acme"}, linkID)
//	rec, err := c.Update(ctx, webcrm.Organisations, id, webcrm.Record{"OrganisationCity": "Aarhus"})
//
// Records travel as Record (map[string]any keyed by webCRM property names, numbers as
// json.Number), so every property the server sent survives a read-modify-write. The
// typed DTOs (Organisation, Person, User, Product, Opportunity, QuotationLine,
// QuotationLineUpdate) are generated from the published swagger document by
// internal/gen (go generate) and convert with ToRecord / FromRecord; Properties lists an
// entity's property names.
//
// # Authentication
//
// The application token (Config.APIToken) is exchanged for a bearer token with POST
// /Auth/ApiLogin on first use. The token is cached and renewed before it expires (when a
// fifth of ExpiresIn, at most a minute, is left): with /Auth/ApiRefresh if webCRM gave a
// refresh token, else by logging in again. Only one login or refresh runs at a time;
// concurrent callers wait for it. When a request meets 401 the client logs in again once
// and repeats the request once; a second 401 is returned (IsUnauthorized). Tokens are
// only ever sent in the Authorization header (and the login form); they are redacted
// from logs and error texts.
//
// # Retries and the rate limit
//
// Every HTTP attempt goes through github.com/hashicorp/go-retryablehttp, which retries
// connection errors and 5xx answers with exponential backoff (Config.RetryMax, default
// 4). 4xx answers are not retried, and neither is 429: it comes back at once as a
// *RateLimitError whose RetryAfter is taken from the Retry-After header (seconds or an
// HTTP date) or the RetryAfterSeconds body field, so the caller (a Temporal retry policy)
// decides when to try again. Each attempt is bounded by Config.Timeout, each response
// body by Config.MaxBodyBytes. Redirects are followed only for GET and only within the
// same host.
//
// All attempts of a Client, from every goroutine, first wait on one limiter that counts
// like webCRM: at most Config.RequestsPerMinute (default 250, webCRM's per-token limit)
// in any sliding window of a minute (plus a second of margin). A quiet client sends a
// burst of the whole quota at once, a busy one never exceeds it.
//
// # Errors
//
// Failures are *APIError (Op, Entity, ID, Status, Message; Malformed for a 2xx whose
// body is HTML, truncated or otherwise unusable; Status 0 when no response came) or
// *RateLimitError, or *CorrelationError when a correlation token does not identify one
// record. Classify with IsNotFound, IsValidation, IsUnauthorized, IsServer, IsNetwork,
// IsMalformed, IsRateLimited and Retryable. Bad arguments wrap ErrInvalidArgument;
// deleting an entity webCRM cannot delete wraps ErrMethodNotAllowed. When the caller's
// context ends, its error is returned wrapped.
//
// # Incremental reads
//
// ChangedSince walks /Queries ordered by <X>UpdatedAt with keyset paging and returns an
// inclusive watermark: records stamped exactly at the watermark come again next time,
// which is what keeps records sharing a timestamp across page boundaries from being
// skipped. Timestamps are parsed leniently (ParseTime) and written as
// 2006-01-02T15:04:05.0000000Z (FormatTime).
package webcrm
