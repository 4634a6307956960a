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
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/time/rate"
)

// SecretHeader is the header that carries the shared secret. The secret may
// also be given as the query parameter "secret", for hook targets that
// cannot set headers.
const SecretHeader = "X-Tandem-Hook-Secret"

// MaxBodyBytes bounds a hook call's body.
const MaxBodyBytes = 64 << 10

// Event is the body of a hook call, as the webCRM simulator sends it:
// {"EventType": "Update", "Entity": "Organisations", "Id": 123}.
type Event struct {
	EventType string `json:"EventType"`
	Entity    string `json:"Entity"`
	ID        int64  `json:"Id"`
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
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "body is not a hook event: "+err.Error(), http.StatusBadRequest)
		return
	}
	if ev.Entity == "" {
		http.Error(w, `hook event needs "Entity"`, http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	if strings.EqualFold(ev.EventType, "Delete") && ev.ID > 0 {
		if err := h.sink.Deleted(ctx, ev.Entity, ev.ID); err != nil {
			h.logger.Warn("hook delete not delivered; reconciliation will find it", "entity", ev.Entity, "id", ev.ID, "error", err)
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
