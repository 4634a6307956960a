// Package inbox groups links in error or blocked by the cause of their
// reason: the reason text with ids, numbers, quoted values, e-mail
// addresses, UUIDs and link IDs taken out, so that one cause fixed is one
// group to re-drive.
package inbox

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The patterns, applied in this order: what a later one would cut into
// pieces goes first.
var (
	reLink   = regexp.MustCompile(`\blink/[^\s/]+/[^\s/]+/[^\s,;:)"']+`)
	reUUID   = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	reEmail  = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	reURL    = regexp.MustCompile(`\bhttps?://\S+`)
	reQuoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'|“[^”]*”|` + "`[^`]*`")
	// An id with letters and digits mixed, such as CU-1001 or 7f3c2a9b.
	reMixedID = regexp.MustCompile(`\b(?:[A-Za-z]+[-_])*[A-Za-z]*[0-9][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*\b`)
	reSpace   = regexp.MustCompile(`\s+`)
)

// Cause is reason with the values of one record taken out: link IDs become
// <link>, UUIDs <uuid>, e-mail addresses <email>, URLs <url>, quoted
// values <value>, and numbers and ids with digits (12, 3.5, CU-1001,
// 2026-12-02T10:00:00Z) <id>. White space is squeezed. Two links that fail
// for one cause have one Cause.
func Cause(reason string) string {
	s := reLink.ReplaceAllString(reason, "<link>")
	s = reUUID.ReplaceAllString(s, "<uuid>")
	s = reEmail.ReplaceAllString(s, "<email>")
	s = reURL.ReplaceAllString(s, "<url>")
	s = reQuoted.ReplaceAllString(s, "<value>")
	s = reMixedID.ReplaceAllString(s, "<id>")
	// Runs such as <id>:<id>:<id> (a time) or <id>.<id> are one value.
	for {
		t := strings.NewReplacer("<id>:<id>", "<id>", "<id>.<id>", "<id>", "<id>-<id>", "<id>", "<id>+<id>", "<id>", "<id>/<id>", "<id>").Replace(s)
		if t == s {
			break
		}
		s = t
	}
	s = strings.TrimSpace(reSpace.ReplaceAllString(s, " "))
	if s == "" {
		return "(no reason given)"
	}
	return s
}

// Key is a short, stable name of a cause within a pairing and state, for
// the command line: the first 8 hex digits of its SHA-256.
func Key(state, cause string) string {
	sum := sha256.Sum256([]byte(state + "\x00" + cause))
	return hex.EncodeToString(sum[:4])
}

// Item is one link in error or blocked.
type Item struct {
	Link   string
	State  string
	Reason string
	// Since is when the link's state last changed (zero when unknown).
	Since time.Time
}

// Group is the links that share a state and a cause.
type Group struct {
	Key     string    `json:"key"`
	State   string    `json:"state"`
	Cause   string    `json:"cause"`
	Count   int       `json:"count"`
	Oldest  time.Time `json:"oldest,omitzero"`
	Example string    `json:"example"`
	// ExampleReason is the example link's reason as the link gave it.
	ExampleReason string   `json:"exampleReason"`
	Links         []string `json:"links"`
}

// Groups groups items by state and cause, the largest group first (then by
// state and cause, so the order is stable). A group's example is its
// oldest link (the first by ID when no time is known), and its links are
// sorted by ID.
func Groups(items []Item) []Group {
	byKey := map[string]*Group{}
	for _, it := range items {
		cause := Cause(it.Reason)
		key := Key(it.State, cause)
		g, ok := byKey[key]
		if !ok {
			g = &Group{Key: key, State: it.State, Cause: cause, Example: it.Link, ExampleReason: it.Reason, Oldest: it.Since}
			byKey[key] = g
		}
		g.Count++
		g.Links = append(g.Links, it.Link)
		if older(it, g) {
			g.Oldest, g.Example, g.ExampleReason = it.Since, it.Link, it.Reason
		}
	}
	out := make([]Group, 0, len(byKey))
	for _, g := range byKey {
		slices.Sort(g.Links)
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		if c := strings.Compare(a.State, b.State); c != 0 {
			return c
		}
		return strings.Compare(a.Cause, b.Cause)
	})
	return out
}

// older reports whether it should be g's example instead of the current one.
func older(it Item, g *Group) bool {
	switch {
	case it.Since.IsZero() && g.Oldest.IsZero():
		return it.Link < g.Example
	case it.Since.IsZero():
		return false
	case g.Oldest.IsZero():
		return true
	case it.Since.Equal(g.Oldest):
		return it.Link < g.Example
	}
	return it.Since.Before(g.Oldest)
}

// Find returns the group named by sel: its key, or its 1-based position
// in groups as listed.
func Find(groups []Group, sel string) (Group, bool) {
	for _, g := range groups {
		if g.Key == sel {
			return g, true
		}
	}
	if n, ok := position(sel); ok && n >= 1 && n <= len(groups) {
		return groups[n-1], true
	}
	return Group{}, false
}

func position(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}
