package badinput

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/tandemsync/tandem/domain"
)

// htmlPage is what a gateway or a login page in front of an API answers.
const htmlPage = "<!DOCTYPE html><html><head><title>Service Unavailable - Gateway</title></head>" +
	"<body><h1>Please try again later</h1></body></html>"

// Outcomes as the catalogue states them.
const (
	outTransient = "error naming the record and the cause, after the client's and the link's retries (30-60 s)"
	outPermanent = "error naming the record and the cause at once (not retried)"
)

// transportCases are the broken answers, statuses, redirects, hangs and
// resets, for the API of side.
func transportCases(side domain.Side) []recordCase {
	crm := side == domain.WebCRM
	by := func(w, e string) string {
		if crm {
			return w
		}
		return e
	}
	get := by("GET /Organisations/{id}", "GET /customers/{id}")
	put := by("PUT /Organisations/{id}, when an ERP edit is written to webCRM", "PUT /customers/{id}, when a webCRM edit is written to the ERP")
	jsonError := func(status int, msg string) (string, string) {
		if crm {
			return "application/json; charset=utf-8", `{"Message":"` + msg + `"}`
		}
		return "application/problem+json", `{"type":"urn:customerp:problem:test","title":"` + http.StatusText(status) + `","status":` +
			itoa(status) + `,"detail":"` + msg + `"}`
	}
	status := func(match func(k *kase) func(*call) bool, code int, msg string) func(k *kase) {
		return func(k *kase) {
			ct, body := jsonError(code, msg)
			k.rule(answer(k.t.Name(), match(k), code, ct, body))
		}
	}
	onGet := func(k *kase) func(*call) bool { return k.onGet() }
	onPut := func(k *kase) func(*call) bool { return k.onPut() }
	return []recordCase{
		{
			name: "html-page-200", input: "an HTML page with status 200", where: get, outcome: outTransient,
			fault: func(k *kase) {
				k.rule(answer(k.t.Name(), k.onGet(), http.StatusOK, "text/html; charset=utf-8", htmlPage))
			},
			want: domain.StateError, reason: []string{"malformed", by("HTML", "text/html")},
		},
		{
			name: "truncated-json-200", input: "truncated JSON with status 200", where: get, outcome: outTransient,
			fault: func(k *kase) {
				k.rule(reshape(k.t.Name(), k.onGet(), func(b []byte) []byte { return b[:len(b)/2] }))
			},
			want: domain.StateError, reason: []string{"malformed", by("invalid JSON", "decode JSON")},
		},
		{
			name: "empty-body-200", input: "an empty body with status 200", where: get, outcome: outTransient,
			fault: func(k *kase) { k.rule(answer(k.t.Name(), k.onGet(), http.StatusOK, "application/json", "")) },
			want:  domain.StateError, reason: []string{"malformed", by("empty body", "EOF")},
		},
		{
			name: "array-for-object", input: "a JSON array where the record object is expected", where: get, outcome: outTransient,
			fault: func(k *kase) {
				k.rule(reshape(k.t.Name(), k.onGet(), func(b []byte) []byte {
					return append(append([]byte("["), bytes.TrimSpace(b)...), ']')
				}))
			},
			want: domain.StateError, reason: []string{"malformed", "array"},
		},
		{
			name: "redirect-elsewhere", input: "301 Moved Permanently to another host", where: get,
			outcome: "error naming the record and the refused redirect; no credentials reach the other host",
			fault: func(k *kase) {
				k.rule(redirect(k.t.Name(), k.onGet(), http.StatusMovedPermanently, func(c *call) string { return k.e.away.srv.URL + c.r.URL.Path }))
			},
			want: domain.StateError, reason: []string{"redirect"},
			check: func(k *kase, _ domain.LinkState) {
				if n := k.e.away.withAuth.Load(); n > 0 {
					k.t.Errorf("%d requests carried credentials to the other host", n)
				}
			},
		},
		{
			name: "redirect-loop", input: "a redirect loop (302 to itself)", where: get, outcome: outTransient,
			fault: func(k *kase) {
				k.rule(redirect(k.t.Name(), k.onGet(), http.StatusFound, func(c *call) string { return c.r.URL.Path }))
			},
			want: domain.StateError, reason: []string{"redirect"},
		},
		{
			name: "hang", input: "an answer that never finishes (headers and half a body, then nothing)", where: get,
			outcome: "the client gives up after its timeout (30 s) and retries; other records sync meanwhile; the record syncs once the API answers",
			special: hangCase,
		},
		{
			name: "404-linked", input: "404 Not Found for a linked record", where: get,
			outcome: "delete policy applied (organisations: ignore), link state deleted, the counterpart kept; a later edit links it again",
			linked:  true,
			fault:   status(onGet, http.StatusNotFound, "not found"),
			want:    domain.StateDeleted, reason: []string{"deleted in " + string(side)},
			check: func(k *kase, _ domain.LinkState) {
				if side == domain.WebCRM {
					k.e.erpGet(k.t, k.resource(), k.erpID())
				} else {
					k.e.crmGet(k.t, k.entity(), k.crmID())
				}
			},
		},
		{
			name: "401-after-relogin", input: by("401 Unauthorized, again after the client's re-login", "401 Unauthorized"), where: get, outcome: outTransient,
			fault: status(onGet, http.StatusUnauthorized, "Authorization has been denied for this request."),
			want:  domain.StateError, reason: []string{"401"},
		},
		{
			name: "403", input: "403 Forbidden", where: get, outcome: outPermanent,
			fault: status(onGet, http.StatusForbidden, "The token may not read this record."),
			want:  domain.StateError, reason: []string{"403", "may not read this record"},
		},
		{
			name: "429-no-retry-after", input: "429 Too Many Requests without Retry-After, every time", where: get, outcome: outTransient,
			fault: status(onGet, http.StatusTooManyRequests, "Too many requests"),
			want:  domain.StateError, reason: []string{by("429", "rate limited")},
		},
		{
			name: "5xx-forever", input: by("500 Internal Server Error, every time", "503 Service Unavailable, every time"), where: get, outcome: outTransient,
			fault: status(onGet, map[bool]int{true: http.StatusInternalServerError, false: http.StatusServiceUnavailable}[crm], "backend down"),
			want:  domain.StateError, reason: []string{by("500", "503")},
		},
		{
			name: "connection-reset", input: "the connection is reset instead of answered", where: get, outcome: outTransient,
			fault: func(k *kase) { k.rule(reset(k.t.Name(), k.onGet())) },
			want:  domain.StateError, reason: []string{by("no response", "network")},
		},
		{
			name: "400-with-details", input: by("400 Bad Request with a message", "400 Bad Request with problem details"), where: put, outcome: outPermanent,
			linked: true, trigger: editOther,
			fault: status(onPut, http.StatusBadRequest, "Telephone number format is not allowed here"),
			want:  domain.StateError, reason: []string{"400", "Telephone number format is not allowed here"},
		},
		{
			name: "409", input: "409 Conflict", where: put, outcome: outPermanent,
			linked: true, trigger: editOther,
			fault: status(onPut, http.StatusConflict, "The record is locked by another user"),
			want:  domain.StateError, reason: []string{"409", "locked by another user"},
		},
		{
			name: "412-repeatedly", input: "412 Precondition Failed on every write", where: put,
			outcome: by(outPermanent, "error naming the record (stale) after the link's retries, each of which reads the record again"),
			linked:  true, trigger: editOther,
			fault: func(k *kase) {
				if crm {
					status(onPut, http.StatusPreconditionFailed, "Precondition failed")(k)
					return
				}
				k.rule(answer(k.t.Name(), k.onPut(), http.StatusPreconditionFailed, "application/problem+json",
					`{"type":"urn:customerp:problem:stale","title":"Precondition Failed","status":412,"detail":"the record has changed","currentVersion":99}`))
			},
			want: domain.StateError, reason: []string{by("412", "stale")},
		},
		{
			name: "413", input: "413 Payload Too Large", where: put, outcome: outPermanent,
			linked: true, trigger: editOther,
			fault: status(onPut, http.StatusRequestEntityTooLarge, "Request body too large"),
			want:  domain.StateError, reason: []string{"413"},
		},
	}
}

// nested is an object nested depth levels deep around leaf.
func nested(depth int, leaf string) raw {
	return raw(strings.Repeat(`{"a":`, depth) + leaf + strings.Repeat("}", depth))
}
