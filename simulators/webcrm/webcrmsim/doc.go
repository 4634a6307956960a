// Package webcrmsim is an in-process simulator of the webCRM REST API
// (api.webcrm.com), built from webCRM's published swagger 2.0: same paths,
// verbs, parameter names, JSON property names and status codes for
// Organisations, Persons, Users, Products, Opportunities and QuotationLines,
// their Hooks, /Auth/ApiLogin, /Auth/ApiRefresh and /Queries. It is strict
// where the real API is known to be strict and documents every choice it
// had to make where the API is silent. Create one with New and serve it with
// net/http or httptest; `go run ./simulators/webcrm` runs it standalone.
//
// # Authentication and rate limit
//
// POST /Auth/ApiLogin takes the form field authCode (urlencoded or
// multipart; the field name is matched case-insensitively) and answers a
// TokenResponseDto {AccessToken, RefreshToken, ExpiresIn, TokenType:
// "Bearer", IsError:false}. A wrong authCode gets 401 and a missing one 400,
// both with a TokenResponseDto carrying IsError, Error and ErrorDescription.
// POST /Auth/ApiRefresh takes the refresh token in header refreshToken (or
// form field refreshToken); refresh tokens are single-use. Every other API
// request needs "Authorization: Bearer <AccessToken>"; a missing, unknown or
// expired (after Options.TokenTTL) token gets 401 {Message, Type:
// "UnauthorizedException"}. Tokens live in memory only.
//
// Requests are limited per application token with a sliding one-minute
// window (Options.RateLimitPerMinute, default 250). Logins and refreshes
// count against the quota too; requests rejected with 401 or 429 do not.
// Over the limit the answer is 429 with header Retry-After and body
// {"RetryAfterSeconds": n, "Message": "...", "Type": "TooManyRequestsException"}.
//
// # Entities
//
// GET /X?Page&Size returns a bare array ordered by id; Page is 1..1000000
// (default 1), Size 1..1000 (default DefaultPageSize); other values are a
// 400. Query parameter names are case-insensitive, path segments too.
// GET /X/{id} returns one DTO; unknown ids get 404 {Message, Type:
// "NotFoundException"}. Responses leave out properties that have no value
// (the swagger declares no property nullable).
//
// POST /X creates a record: 200 with the new id as a bare JSON integer, or
// 200 with no body for Organisations and Users (their swagger POST has no
// response schema). PUT /X/{id} replaces the record: properties left out
// are cleared, except the server-maintained <X>CreatedAt, <X>UpdatedAt,
// <X>CreatedBy and <X>UpdatedBy (values sent for these are ignored). The
// id in the body must be the path id or 0. DELETE /X/{id} exists only where
// the swagger has it (QuotationLines, Products); other verbs get 405 with
// an Allow header. QuotationLines are written with QuotationLineUpdateDto
// (which adds QuotationLineLinkedDataId) and read as QuotationLineDto
// (which does not return it).
//
// PATCH /X is a bulk upsert of at most MaxPatchItems DTOs: items with id 0
// or no id are created, others replaced as by PUT. The answer is one string
// per item in order: the decimal id of the created or updated record, or
// PatchErrorPrefix ("Error: ") followed by the reason, e.g.
// "Error: item 2 (PersonId 17): Person 17 was not found.". Items succeed or
// fail independently.
//
// Validation (400 {Message, Type: "BadRequestException"}, naming the
// property): bodies must be JSON (Content-Type application/json or another
// JSON type, else 415); unknown properties, wrong JSON types, integers out
// of the int32 range, unknown enum values (enums are strings, matched
// case-insensitively; the 0-based ordinal is accepted too), date-times that
// are not ISO-8601 and strings longer than the swagger's maxLength are
// rejected. PersonLastName is required; a PUT must not change
// PersonOrganisationId; QuotationLineOpportunityId is required. Foreign
// keys (PersonOrganisationId, OrganisationOwner, OpportunityOrganisationId,
// OpportunityPersonId, OpportunityAssignedTo[2], ProductOrganisationId,
// ProductPersonId, QuotationLineOpportunityId, QuotationLineOrganisationId,
// QuotationLinePersonId) must point at existing records when set to a new
// non-zero value.
//
// Date-times are stored and written in UTC as TimeLayout
// ("2006-01-02T15:04:05.0000000Z"); input without an offset is UTC.
// UpdatedAt is the clock (Options.Now) truncated to 100 ns, but never
// earlier than any earlier write's timestamp and always later than the
// record's previous UpdatedAt, so "UpdatedAt >= watermark" queries never
// miss a write; writes within one clock tick share a timestamp.
//
// # Queries
//
// GET /Queries?script=...&Page&Size runs a small SQL subset: SELECT * or
// columns FROM one table (Organisation,
// Person, User, Product, Opportunity, QuotationLine, plural forms and any
// case accepted), optionally [INNER|LEFT] JOIN a second table ON a
// condition, WHERE with AND, OR, NOT, parentheses, =, != / <>, <, <=, >,
// >=, IS [NOT] NULL, [NOT] IN (...), [NOT] LIKE, and ORDER BY col
// [ASC|DESC], .... Date-time columns compare as instants (literals in any
// ISO-8601 form), numbers numerically, strings case-insensitively, enums by
// name or ordinal; NULL follows SQL's three-valued logic and sorts first
// ascending. Rows with equal sort keys stay in id order, so paging is
// stable (unless FaultConfig.UnorderedPages is on). Rows are flat objects keyed by DTO property names plus RowNumber
// (1-based over the whole result); SELECT * leaves out NULL columns, named
// columns are always present. A script that does not parse or names an
// unknown table or column is a 400 whose Message says where.
//
// # Hooks
//
// GET/POST /X/Hooks and GET/PUT/DELETE /X/Hooks/{id} manage subscriptions
// (the swagger's <X>HookDto: Id int64, EventType Create|Update|Delete,
// TargetUrl, IsEnabled, Filter). An empty EventType matches every event;
// Filter values are validated against the entity's enum but act as "All".
// After every committed create, update or delete (through the API or the
// direct-store methods) each enabled matching hook gets, asynchronously, a
// POST to its TargetUrl with Content-Type application/json and this body
// (webCRM does not publish a payload; this one is the simulator's own):
//
//	{"EventType":"Update","Entity":"Organisations","Id":123,"HookId":7,
//	 "Url":"http://127.0.0.1:8081/Organisations/123",
//	 "Timestamp":"2025-01-02T03:04:05.1234567Z"}
//
// Deliveries go through a bounded queue (Options.HookQueueSize; when full
// they are dropped and counted, never blocking the API) to
// Options.HookWorkers goroutines, with Options.HookAttempts tries and
// exponential backoff. With Options.HookSecret set, the header
// X-Tandem-Hook-Secret carries it. Deliveries may arrive out of order;
// receivers should GET the record.
//
// # Faults, stats, admin endpoints, persistence, demo data
//
// Faults (see FaultConfig) add latency, force 429s, drop connections,
// answer 5xx or malformed 200 bodies, with dice from a math/rand source
// seeded by Options.Seed.
//
// Other FaultConfig switches make the simulator behave as badly as a real,
// SQL-backed webCRM may, since its API promises none of the following:
// pages in a fresh random order per request (UnorderedPages), writes that
// are committed but answered with a 5xx or a closed connection
// (LostAnswerRate), IIS's 404.15 HTML page for long URLs (MaxURLLength),
// bulk PATCH answers out of order, short, or with refused items
// (PatchShuffle, PatchShortRate, PatchItemErrorRate), credentials read as
// SecretMask and write-protected (MaskSecrets), over-long strings cut and
// phone numbers stripped of spaces on write (RewriteOnWrite), hook bodies
// in other shapes (HookBody) and date-times with an offset or as local
// wall time (TimeStamps, TimeZone). HostileProfile turns them all on; the
// stored data, and every /_sim/ endpoint, stay as described above. Stats counts API requests by pattern and status,
// 429s, writes per entity, injected faults and hook deliveries. The admin
// endpoints need no bearer and are not counted: GET /_sim/health,
// POST /_sim/reset, POST /_sim/seed?seed=&size=, GET /_sim/stats,
// POST /_sim/stats/reset, GET and PUT /_sim/faults (FaultConfig as JSON),
// and GET, POST, PUT, PATCH, DELETE /_sim/records/{Entity}[/{id}] (the
// direct-store methods Put, Patch, Remove, Record and Records over HTTP). With Options.PersistPath the store is loaded
// at start and saved atomically after writes (debounced) and on Close.
// Options.SeedSize organisations of deterministic Danish and Norwegian demo
// data, with persons, users, products, opportunities and quotation lines,
// are generated at first start.
package webcrmsim
