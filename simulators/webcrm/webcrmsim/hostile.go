package webcrmsim

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // TimeZone must load even where the system has no zone database
	"unicode/utf8"
)

// Values of FaultConfig.HookBody.
const (
	// HookBodyJSON (the default) sends the JSON HookPayload.
	HookBodyJSON = ""
	// HookBodyEmpty sends no body at all.
	HookBodyEmpty = "empty"
	// HookBodyForm sends application/x-www-form-urlencoded
	// id=<record id>&type=<table name>, e.g. id=123&type=Organisation.
	HookBodyForm = "form"
	// HookBodyOther sends JSON of a shape of its own, one of
	// {"resource":"<base>/Organisations/123","action":"updated"} and
	// {"data":{"OrganisationId":123}}, picked at random per delivery.
	HookBodyOther = "other"
	// HookBodyMixed picks one of the four bodies above per delivery.
	HookBodyMixed = "mixed"
)

// Values of FaultConfig.TimeStamps.
const (
	// TimeStampsUTC (the default) writes UTC in TimeLayout, with Z.
	TimeStampsUTC = ""
	// TimeStampsOffset writes the same instant with the offset of
	// FaultConfig.TimeZone: 2026-12-01T11:00:00.1234567+01:00.
	TimeStampsOffset = "offset"
	// TimeStampsLocal writes the wall time of FaultConfig.TimeZone with no
	// offset: 2026-12-01T11:00:00.1234567. Input without an offset is read
	// as that zone's wall time too.
	TimeStampsLocal = "local"
)

// DefaultTimeZone is the zone of TimeStamps when FaultConfig.TimeZone is empty.
const DefaultTimeZone = "Europe/Copenhagen"

// SecretMask is what MaskSecrets answers instead of a credential.
const SecretMask = "********"

// PatchItemErrorMessage is the result string of a bulk PATCH item rejected
// by PatchItemErrorRate.
const PatchItemErrorMessage = PatchErrorPrefix + "the record could not be saved"

// HostileProfile returns a FaultConfig with every "a real webCRM may do
// this" behaviour on, at rates that exercise each of them within a few
// hundred requests yet let a careful sync engine converge:
//
//   - UnorderedPages: every list and /Queries page is drawn from a fresh
//     random order (ties only, for an ORDER BY), so only a total ORDER BY
//     pages reliably.
//   - LostAnswerRate 0.05: one successful write in twenty is committed but
//     answered with a 5xx or a closed connection; retries must be
//     idempotent (or find the record first).
//   - MaxURLLength 2048: long /Queries scripts or id lists get IIS's
//     404.15 HTML page.
//   - PatchShuffle, PatchShortRate 0.2, PatchItemErrorRate 0.02: bulk
//     PATCH answers come in another order, one in five leaves out result
//     strings, and one item in fifty is refused.
//   - MaskSecrets: credentials read as SecretMask; writing one back
//     destroys the secret (Stats.SecretsOverwritten).
//   - RewriteOnWrite: over-long strings are cut, phone numbers lose their
//     spaces, so a read-back differs from what was written.
//   - HookBody "mixed": hook bodies in four shapes; only the registered
//     TargetUrl says what changed.
//   - TimeStamps "offset" in Europe/Copenhagen: date-times carry +01:00 or
//     +02:00 instead of Z.
//
// The classic faults (5xx, drops, latency, 429) stay off; add them to the
// returned value when wanted.
func HostileProfile() FaultConfig {
	return FaultConfig{
		UnorderedPages:     true,
		LostAnswerRate:     0.05,
		MaxURLLength:       2048,
		PatchShuffle:       true,
		PatchShortRate:     0.2,
		PatchItemErrorRate: 0.02,
		MaskSecrets:        true,
		RewriteOnWrite:     true,
		HookBody:           HookBodyMixed,
		TimeStamps:         TimeStampsOffset,
		TimeZone:           DefaultTimeZone,
	}
}

// location returns the zone of TimeStamps: UTC while TimeStamps and
// TimeZone are both empty, else TimeZone or DefaultTimeZone.
func (c FaultConfig) location() (*time.Location, error) {
	if c.TimeStamps == TimeStampsUTC && c.TimeZone == "" {
		return time.UTC, nil
	}
	name := c.TimeZone
	if name == "" {
		name = DefaultTimeZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("TimeZone %q: %w", name, err)
	}
	return loc, nil
}

// SecretProperties returns the credential properties MaskSecrets masks and
// write-protects, per resource name.
func SecretProperties() map[string][]string {
	return map[string][]string{"Users": secretsOf("Users"), "Persons": secretsOf("Persons")}
}

// secretsOf returns the credential properties of an entity (nil for most).
func secretsOf(entityName string) []string {
	switch entityName {
	case "Users":
		return []string{"UserPassword", "UserAuthenticationCode", "UserTicket"}
	case "Persons":
		return []string{"PersonPassword", "PersonCampaignPassword", "PersonMemberPassword"}
	}
	return nil
}

// isSecret reports whether a property is one of SecretProperties.
func isSecret(name string) bool {
	switch name {
	case "UserPassword", "UserAuthenticationCode", "UserTicket",
		"PersonPassword", "PersonCampaignPassword", "PersonMemberPassword":
		return true
	}
	return false
}

// phoneLike reports whether RewriteOnWrite strips spaces from a property.
func phoneLike(name string) bool {
	for _, w := range []string{"Telephone", "Phone", "Mobile", "Fax"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// timeStyle is how date-times are written to and read from API clients.
type timeStyle struct {
	mode string // TimeStampsUTC, TimeStampsOffset or TimeStampsLocal
	loc  *time.Location
}

// Layouts of TimeStampsOffset and TimeStampsLocal.
const (
	offsetLayout = "2006-01-02T15:04:05.0000000-07:00"
	localLayout  = "2006-01-02T15:04:05.0000000"
)

// format renders a stored (TimeLayout, UTC) date-time in the style.
func (ts timeStyle) format(stored string) string {
	if ts.mode == TimeStampsUTC {
		return stored
	}
	t, err := time.Parse(TimeLayout, stored)
	if err != nil {
		return stored
	}
	if ts.mode == TimeStampsLocal {
		return t.In(ts.loc).Format(localLayout)
	}
	return t.In(ts.loc).Format(offsetLayout)
}

// inputZone is the zone of client date-times written without an offset.
func (ts timeStyle) inputZone() *time.Location {
	if ts.mode == TimeStampsLocal && ts.loc != nil {
		return ts.loc
	}
	return time.UTC
}

// behaviour is the part of the fault setting that changes how an API
// request is carried out, read once per request.
type behaviour struct {
	unordered          bool
	mask               bool
	rewrite            bool
	patchShuffle       bool
	patchShortRate     float64
	patchItemErrorRate float64
	times              timeStyle
}

// view returns how records are rendered for this request (nil: as stored).
func (b *behaviour) view() *outView {
	if b == nil || (!b.mask && b.times.mode == TimeStampsUTC) {
		return nil
	}
	return &outView{mask: b.mask, times: b.times}
}

// writeRules returns how this request's record bodies are read.
func (b *behaviour) writeRules() *writeRules {
	if b == nil {
		return nil
	}
	return &writeRules{rewrite: b.rewrite, zone: b.times.inputZone()}
}

// outView changes stored values on their way to an API client: masked
// credentials and date-times in another style.
type outView struct {
	mask  bool
	times timeStyle
}

// value returns what the client sees of a stored value of p.
func (v *outView) value(p *genProp, val any) any {
	if v == nil || val == nil {
		return val
	}
	switch {
	case p.Kind == kindDateTime && v.times.mode != TimeStampsUTC:
		if s, ok := val.(string); ok {
			return v.times.format(s)
		}
	case v.mask && isSecret(p.Name):
		if s, ok := val.(string); ok && s != "" {
			return SecretMask
		}
	}
	return val
}

// writeRules says how a client's record body is read: whether
// RewriteOnWrite applies and the zone of date-times without an offset.
// rewritten counts the values RewriteOnWrite changed.
type writeRules struct {
	rewrite   bool
	zone      *time.Location
	rewritten int
}

// rewriteString applies RewriteOnWrite to one string value of p: spaces
// removed from telephone-like properties, then cut at p.MaxLength.
func rewriteString(p *genProp, s string) string {
	if phoneLike(p.Name) {
		s = strings.ReplaceAll(s, " ", "")
	}
	if p.MaxLength > 0 && utf8.RuneCountInString(s) > p.MaxLength {
		s = string([]rune(s)[:p.MaxLength])
	}
	return s
}

// keepSecretsLocked applies MaskSecrets' write protection to a PUT or PATCH
// item replacing record id: credentials the body leaves out keep their
// stored value. Caller holds s.mu.
func (s *Server) keepSecretsLocked(e *entity, id int, fields record) {
	old, ok := s.tables[e.Name].recs[id]
	if !ok {
		return
	}
	for _, name := range secretsOf(e.Name) {
		if _, given := fields[name]; given {
			continue
		}
		if v, ok := old[name]; ok {
			fields[name] = v
		}
	}
}

// maskedSecrets counts the credential properties of a body that carry
// SecretMask (a client writing back what it read).
func maskedSecrets(e *entity, fields record) int {
	n := 0
	for _, name := range secretsOf(e.Name) {
		if fields[name] == SecretMask {
			n++
		}
	}
	return n
}

// requestURI is the request target as sent: path, and '?' and the raw
// query when there is one.
func requestURI(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// urlTooLongPage imitates IIS's request-filtering answer to a long URL.
const urlTooLongPage = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head><title>IIS 10.0 Detailed Error - 404.15 - Not Found</title></head>
<body><div id="content">
<h3>HTTP Error 404.15 - Not Found</h3>
<h4>The request filtering module is configured to deny a request where the query string is too long.</h4>
<p>Most likely causes: Request filtering is configured on the Web server to deny the request because the query string is too long.</p>
<p>Things you can try: Verify the configuration/system.webServer/security/requestFiltering/requestLimits@maxQueryString setting in the applicationhost.config or web.config file.</p>
</div></body></html>
`

func writeURLTooLong(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(urlTooLongPage))
}

// Concrete hook body styles of one delivery.
const (
	hookStyleJSON     = "json"
	hookStyleEmpty    = "empty"
	hookStyleForm     = "form"
	hookStyleResource = "resource"
	hookStyleData     = "data"
)

// hookDelivery returns the body style and time style of one hook delivery.
func (f *Faults) hookDelivery() (string, timeStyle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := timeStyle{mode: f.cfg.TimeStamps, loc: f.loc}
	kind := f.cfg.HookBody
	if kind == HookBodyMixed {
		kind = []string{HookBodyJSON, HookBodyEmpty, HookBodyForm, HookBodyOther}[f.rng.IntN(4)]
	}
	switch kind {
	case HookBodyEmpty:
		return hookStyleEmpty, ts
	case HookBodyForm:
		return hookStyleForm, ts
	case HookBodyOther:
		if f.rng.IntN(2) == 0 {
			return hookStyleResource, ts
		}
		return hookStyleData, ts
	}
	return hookStyleJSON, ts
}

// behaviourLocked snapshots the behaviour part of the setting; caller
// holds f.mu.
func (f *Faults) behaviourLocked() behaviour {
	c := f.cfg
	return behaviour{
		unordered:          c.UnorderedPages,
		mask:               c.MaskSecrets,
		rewrite:            c.RewriteOnWrite,
		patchShuffle:       c.PatchShuffle,
		patchShortRate:     c.PatchShortRate,
		patchItemErrorRate: c.PatchItemErrorRate,
		times:              timeStyle{mode: c.TimeStamps, loc: f.loc},
	}
}

// shuffle puts k of n elements drawn at random with the fault dice into
// positions 0..k-1 (Fisher-Yates stopped after k steps): those positions
// then hold what a full random permutation would hold there.
func (f *Faults) shuffle(n, k int, swap func(i, j int)) {
	k = min(k, n-1)
	if k <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range k {
		if j := i + f.rng.IntN(n-i); j != i {
			swap(i, j)
		}
	}
}

// patchPlan is what the dice decided for one bulk PATCH of n items.
type patchPlan struct {
	reject []bool // item i is refused (PatchItemErrorRate); nil: none
	perm   []int  // answer position i carries result perm[i]; nil: in order
	omit   []bool // answer position i is left out; nil: none
}

func (f *Faults) planPatch(n int, b *behaviour) patchPlan {
	var p patchPlan
	if b == nil || n == 0 {
		return p
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if b.patchItemErrorRate > 0 {
		p.reject = make([]bool, n)
		for i := range p.reject {
			p.reject[i] = f.rng.Float64() < b.patchItemErrorRate
		}
	}
	if b.patchShuffle && n > 1 {
		p.perm = f.rng.Perm(n)
		identity := true
		for i, j := range p.perm {
			identity = identity && i == j
		}
		if identity { // "another order": rotate by one
			p.perm = append(p.perm[1:], p.perm[0])
		}
	}
	if b.patchShortRate > 0 && f.rng.Float64() < b.patchShortRate {
		k := 1 + f.rng.IntN(max(1, n/2))
		p.omit = make([]bool, n)
		for _, i := range f.rng.Perm(n)[:k] {
			p.omit[i] = true
		}
	}
	return p
}

// apply reorders and shortens the result strings as planned.
func (p patchPlan) apply(results []string) []string {
	out := results
	if p.perm != nil {
		out = make([]string, len(results))
		for i, j := range p.perm {
			out[i] = results[j]
		}
	}
	if p.omit != nil {
		kept := make([]string, 0, len(out))
		for i, r := range out {
			if !p.omit[i] {
				kept = append(kept, r)
			}
		}
		out = kept
	}
	return out
}

// Stored returns what the server stores when a client writes value to property of
// entity through the API: value itself, or, with RewriteOnWrite on, the value cut or
// reformatted the way the server would. Tests use it to know the webCRM side of a
// value tandem wrote. An unknown entity or property gives value as it is.
func (s *Server) Stored(entity, property, value string) string {
	if !s.faults.Config().RewriteOnWrite {
		return value
	}
	e, ok := entities.find(entity)
	if !ok {
		return value
	}
	if p, ok := e.byName[property]; ok && p.Kind == kindString {
		return rewriteString(p, value)
	}
	return value
}
