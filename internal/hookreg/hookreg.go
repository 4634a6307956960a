// Package hookreg registers tandem's webCRM hooks: for each entity, one hook
// per event whose target URL names the entity and the event
// (<endpoint>?entity=Organisations&event=Delete&secret=…), so the worker's
// hooks endpoint does not depend on what webCRM puts in a call's body.
// `starter hooks register` and `worker --dev` both use it.
package hookreg

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
)

// EndpointPath is where the worker serves webCRM hook calls.
const EndpointPath = "/hooks/webcrm"

// Events are the events tandem subscribes to, one hook each.
var Events = []string{"Create", "Update", "Delete"}

// Entities returns the webCRM entities of the pairings of set, once each,
// in the pairings' order.
func Entities(set *mappings.Set) []webcrm.Entity {
	var out []webcrm.Entity
	seen := map[string]bool{}
	for _, p := range set.Pairings() {
		if !seen[p.WebCRMEntity] {
			seen[p.WebCRMEntity] = true
			out = append(out, webcrm.Entity(p.WebCRMEntity))
		}
	}
	return out
}

// Endpoint is the hooks endpoint of a public URL (with or without the
// /hooks/webcrm path), without a query.
func Endpoint(publicURL string) (string, error) {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("public URL %q is not an absolute http(s) URL such as https://tandem.example.com", publicURL)
	}
	if !strings.HasSuffix(strings.TrimRight(u.Path, "/"), EndpointPath) {
		u.Path = strings.TrimRight(u.Path, "/") + EndpointPath
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// Target builds the target URL of the hook of entity e for event ev.
func Target(publicURL, secret string, e webcrm.Entity, ev string) (string, error) {
	base, err := Endpoint(publicURL)
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("entity", string(e))
	q.Set("event", ev)
	q.Set("secret", secret)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// StripQuery is a URL without its query: the endpoint a target reaches.
func StripQuery(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	return u.String()
}

// Result is what Register did about one hook.
type Result struct {
	Entity webcrm.Entity
	Event  string
	Target string // carries the secret: print it redacted
	ID     int64
	Action string // "kept", "updated" or "created"
}

// String says what was done, without the target.
func (r Result) String() string {
	switch r.Action {
	case "kept":
		return fmt.Sprintf("kept hook %d (already registered)", r.ID)
	case "updated":
		return fmt.Sprintf("updated hook %d (new secret, or it was disabled)", r.ID)
	}
	return fmt.Sprintf("created hook %d", r.ID)
}

// Register makes sure that every entity has one enabled hook per event
// targeting the endpoint of publicURL with secret. It is idempotent: a hook
// that already targets the endpoint for the event is kept, or updated in
// place when its secret differs or it is disabled.
func Register(ctx context.Context, wc *webcrm.Client, publicURL, secret string, entities []webcrm.Entity, events []string) ([]Result, error) {
	if secret == "" {
		return nil, fmt.Errorf("register hooks at %s: no hook secret", publicURL)
	}
	var out []Result
	for _, e := range entities {
		existing, err := wc.ListHooks(ctx, e)
		if err != nil {
			return out, fmt.Errorf("list %s hooks: %w", e, err)
		}
		for _, ev := range events {
			target, err := Target(publicURL, secret, e, ev)
			if err != nil {
				return out, err
			}
			r, err := ensure(ctx, wc, e, ev, target, existing)
			if err != nil {
				return out, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// ensure makes sure one hook of entity e for event ev targets target.
func ensure(ctx context.Context, wc *webcrm.Client, e webcrm.Entity, ev, target string, existing []webcrm.Hook) (Result, error) {
	r := Result{Entity: e, Event: ev, Target: target}
	for _, h := range existing {
		if h.EventType != ev || StripQuery(h.TargetURL) != StripQuery(target) {
			continue
		}
		r.ID = h.ID
		if h.TargetURL == target && h.IsEnabled {
			r.Action = "kept"
			return r, nil
		}
		h.TargetURL, h.IsEnabled = target, true
		if err := wc.UpdateHook(ctx, e, h); err != nil {
			return r, fmt.Errorf("update %s %s hook %d: %w", e, ev, h.ID, err)
		}
		r.Action = "updated"
		return r, nil
	}
	id, err := wc.CreateHook(ctx, e, webcrm.Hook{EventType: ev, TargetURL: target, IsEnabled: true})
	if err != nil {
		return r, fmt.Errorf("register %s %s hook: %w", e, ev, err)
	}
	r.ID, r.Action = id, "created"
	return r, nil
}
