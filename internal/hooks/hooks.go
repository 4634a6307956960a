// Package hooks serves the endpoint webCRM hook calls reach. A call names an
// entity and an event; the handler pokes the pairings of that entity so they
// poll at once (polling stays on as the fallback), and hands a Delete event
// straight to the record's link. Calls must carry the shared secret; bodies
// are bounded and the work per second is limited, so a flood cannot starve
// syncing.
package hooks

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/time/rate"

	"github.com/tandemsync/tandem/webcrm"
)

// SecretHeader is the header that carries the shared secret. The secret may
// also be given as the query parameter "secret", for hook targets that
// cannot set headers.
const SecretHeader = "X-Tandem-Hook-Secret"

// MaxBodyBytes bounds a hook call's body.
const MaxBodyBytes = 64 << 10

// Event is what a hook call says: the entity and the event, which the hook's
// target URL carries (?entity=Organisations&event=Delete, as `starter hooks
// register` writes it), and the record's id when the body names one. webCRM
// does not document its hook bodies, so the body is only a hint: a JSON object
// such as {"EventType": "Update", "Entity": "Organisations", "Id": 123} (the
// simulator's), a form, or nothing at all.
type Event struct {
	EventType string `json:"EventType"`
	Entity    string `json:"Entity"`
	ID        int64  `json:"Id"` // 0 when the call did not say
}

// Sink is what the handler drives: poking the pairings of an entity, and
// delivering a delete of one record to its link.
type Sink interface {
	// Poke asks the pairings that sync the event's entity to poll now (or
	// leaves them be when the event is the echo of tandem's own write); it
	// returns how many pairings sync the entity.
	Poke(ctx context.Context, ev Event) (int, error)
	// Deleted tells the links of the entity's record that it was deleted.
	Deleted(ctx context.Context, entity string, id int64) error
	// Unnamed asks for the entity's deletes to be found another way: a
	// Delete call named no record, and webCRM keeps no tombstones.
	Unnamed(ctx context.Context, entity string) error
}

// Handler is the hooks endpoint.
type Handler struct {
	secret  string
	sink    Sink
	limiter *rate.Limiter
	logger  *slog.Logger
}

// NewHandler returns a handler that accepts calls carrying secret and
// handles at most perSecond of them per second (with a burst of the same).
func NewHandler(secret string, sink Sink, perSecond int, logger *slog.Logger) (*Handler, error) {
	if secret == "" {
		return nil, errors.New("hooks: the shared secret is empty; set TANDEM_HOOKS_SECRET")
	}
	if perSecond <= 0 {
		perSecond = 20
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Handler{secret: secret, sink: sink, limiter: rate.NewLimiter(rate.Limit(perSecond), perSecond), logger: logger}, nil
}

// ServeHTTP implements http.Handler for POST /hooks/webcrm.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	given := r.Header.Get(SecretHeader)
	if given == "" {
		given = r.URL.Query().Get("secret")
	}
	if subtle.ConstantTimeCompare([]byte(given), []byte(h.secret)) != 1 {
		http.Error(w, "missing or wrong hook secret", http.StatusUnauthorized)
		return
	}
	if !h.limiter.Allow() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many hook calls; polling will pick the change up", http.StatusTooManyRequests)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	if len(body) > MaxBodyBytes {
		http.Error(w, fmt.Sprintf("body larger than %d bytes", MaxBodyBytes), http.StatusRequestEntityTooLarge)
		return
	}
	ev := eventOf(r.URL.Query(), r.Header.Get("Content-Type"), body)
	if ev.Entity == "" {
		http.Error(w, `hook call names no entity: register hooks with ?entity=<Entity>&event=<Event> in the target URL (starter hooks register does)`, http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	if strings.EqualFold(ev.EventType, "Delete") {
		if ev.ID > 0 {
			if err := h.sink.Deleted(ctx, ev.Entity, ev.ID); err != nil {
				h.logger.Warn("hook delete not delivered; reconciliation will find it", "entity", ev.Entity, "id", ev.ID, "error", err)
			}
		} else if err := h.sink.Unnamed(ctx, ev.Entity); err != nil {
			h.logger.Warn("delete hook without a record id, and no reconciliation started; the hourly one will find the delete", "entity", ev.Entity, "error", err)
		}
	}
	n, err := h.sink.Poke(ctx, ev)
	if err != nil {
		h.logger.Warn("hook poke failed; polling will pick the change up", "entity", ev.Entity, "error", err)
		http.Error(w, "could not reach the pairings; polling will pick the change up", http.StatusServiceUnavailable)
		return
	}
	if n == 0 {
		http.Error(w, fmt.Sprintf("no pairing syncs %q", ev.Entity), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"poked":%s}`+"\n", strconv.Itoa(n))
}

// eventOf reads a hook call: entity and event from the target URL's query (set at
// registration, so they hold whatever the body looks like), else from the body; the
// record id from the body, when it names one.
func eventOf(q url.Values, contentType string, body []byte) Event {
	fields := bodyFields(contentType, body)
	ev := Event{Entity: q.Get("entity"), EventType: eventName(q.Get("event"))}
	if ev.Entity == "" {
		ev.Entity = firstField(fields, "entity", "entitytype")
	}
	if ev.EventType == "" {
		ev.EventType = eventName(firstField(fields, "eventtype", "event", "type", "action"))
	}
	ev.ID = recordID(fields, webcrm.Entity(ev.Entity).Table())
	return ev
}

// firstField returns the value of the first of keys (compared in lower case) that
// fields has.
func firstField(fields map[string]string, keys ...string) string {
	for _, k := range keys {
		if v, ok := fields[k]; ok && !strings.Contains(v, "/") {
			return v
		}
	}
	return ""
}

// recordID returns the record id a body names, most specific first: a field Id
// (or EntityId, RecordId), the entity's own id property (OrganisationId for
// table Organisation), then a URL whose last segment is a whole number; 0 when
// it names none.
func recordID(fields map[string]string, table string) int64 {
	keys := []string{"id", "entityid", "recordid"}
	if table != "" {
		keys = append(keys, strings.ToLower(table)+"id")
	}
	for _, k := range keys {
		if n, err := strconv.ParseInt(strings.TrimSpace(fields[k]), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := strings.TrimRight(fields[k], "/")
		if i := strings.LastIndex(v, "/"); i >= 0 {
			if n, err := strconv.ParseInt(v[i+1:], 10, 64); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// eventName maps event words to webCRM's Create, Update and Delete.
func eventName(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "create", "created", "insert", "inserted":
		return "Create"
	case "update", "updated", "change", "changed":
		return "Update"
	case "delete", "deleted", "remove", "removed":
		return "Delete"
	}
	return v
}

// bodyFields flattens a hook body to its scalar fields, keyed in lower case: a
// JSON object (nested objects included) or a form. Any other body has none.
func bodyFields(contentType string, body []byte) map[string]string {
	out := map[string]string{}
	trimmed := strings.TrimSpace(string(body))
	if trimmed == "" {
		return out
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		flatten(obj, out, 0)
		return out
	}
	if strings.Contains(contentType, "form") || !strings.ContainsAny(trimmed, "{[<") {
		if vals, err := url.ParseQuery(trimmed); err == nil {
			for k, vs := range vals {
				if len(vs) > 0 {
					out[strings.ToLower(k)] = vs[0]
				}
			}
		}
	}
	return out
}

// flatten copies the scalar fields of obj, and of objects within it (up to a few
// levels, outer fields first), into out.
func flatten(obj map[string]any, out map[string]string, depth int) {
	var nested []map[string]any
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		key := strings.ToLower(k)
		if _, ok := out[key]; ok {
			continue
		}
		switch x := obj[k].(type) {
		case map[string]any:
			nested = append(nested, x)
		case string:
			out[key] = x
		case float64:
			out[key] = strconv.FormatFloat(x, 'f', -1, 64)
		}
	}
	if depth < 3 {
		for _, n := range nested {
			flatten(n, out, depth+1)
		}
	}
}
