// Package customerp is tandem's client for the CustomERP contract: the REST API, described by
// the embedded openapi.yaml, that stands between tandem and a customer's ERP.
//
// The client reads records (Get, List, Find, FindWhere), follows each resource's change feed
// (Changes), creates records idempotently (Create with an Idempotency-Key), replaces them
// conditionally (Update with If-Match) and deletes them. Every call goes through
// go-retryablehttp: connection errors and 5xx answers are retried with backoff, a 429 comes
// back at once as *RateLimitError, and other 4xx answers are never retried. Failures are typed
// (*APIError, *StaleError, *RateLimitError, *NetworkError, *MalformedError) and classified by
// IsNotFound, IsStale, IsValidation, IsUnauthorized, IsServer, IsNetwork, IsMalformed and
// Retryable. Numbers are decoded as json.Number, so money and quantities keep every digit.
//
// The reference implementation of the contract is the server in simulators/customerp/erpsim.
package customerp
