// Package testkit holds what the tests of several packages share: a buffer
// that goroutines write to at once, and a sink that captures a worker's logs,
// counts its warnings and shows its last records when a test fails.
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent use, for a logger's output.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Reset forgets what was written.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

// Entry is one log record a LogSink captured.
type Entry struct {
	At     time.Time
	Source string // the Handler's source: "worker", "sdk", ...
	Level  slog.Level
	Msg    string
	Attrs  string // key=value pairs, space separated
}

// Text is the record's message and attributes.
func (e Entry) Text() string { return strings.TrimSpace(e.Msg + " " + e.Attrs) }

// String is the record as one line.
func (e Entry) String() string {
	return fmt.Sprintf("%s %s %-5s %s", e.At.Format("15:04:05.000"), e.Source, e.Level, e.Text())
}

// keep is how many recent records a LogSink holds.
const keep = 400

// LogSink captures log records from any number of handlers.
type LogSink struct {
	mu       sync.Mutex
	recent   []Entry
	problems []Entry
	lines    int
}

// Handler returns a handler that feeds the sink records at or above min
// (slog.LevelInfo when min is zero), marked with source.
func (l *LogSink) Handler(source string, min slog.Level) slog.Handler {
	return &sinkHandler{sink: l, source: source, min: min}
}

func (l *LogSink) add(e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines++
	l.recent = append(l.recent, e)
	if len(l.recent) > 2*keep {
		l.recent = slices.Clone(l.recent[len(l.recent)-keep:])
	}
	if e.Level >= slog.LevelWarn {
		l.problems = append(l.problems, e)
	}
}

// Warnings returns the warnings and errors whose text contains every word.
func (l *LogSink) Warnings(words ...string) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Entry
next:
	for _, e := range l.problems {
		for _, w := range words {
			if !strings.Contains(e.Text(), w) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// Unexpected returns the warnings and errors that are neither
// ServerTransient nor RetriedConflict.
func (l *LogSink) Unexpected() []Entry {
	var out []Entry
	for _, e := range l.Warnings() {
		if !ServerTransient(e) && !RetriedConflict(e) {
			out = append(out, e)
		}
	}
	return out
}

// ServerTransient reports whether e is the SDK's warning about a workflow
// task it could not process on its first attempt because the history the
// server gave for it ended before the task's own events ("premature end of
// stream"): the Temporal server (its SQLite store most of all) now and then
// answers a worker whose cache missed with a history read that lags the task.
// The SDK fails that attempt and the server hands the task out again, so the
// workflow goes on; a second attempt failing the same way is no transient.
func ServerTransient(e Entry) bool {
	return e.Source == "sdk" && e.Level == slog.LevelWarn &&
		strings.HasPrefix(e.Msg, "Failed to process workflow task") &&
		strings.Contains(e.Attrs, "Attempt=1 ") &&
		strings.Contains(e.Attrs, "premature end of stream")
}

// RetriedConflict reports whether e is the SDK's error about a first
// attempt of an Apply activity whose ERP write met a newer version of the
// record than it had read (a Stale error): an edit, or the other pairing of
// a shared record (an order's header and its lines), landed in between. The
// activity's retry reads the record again and merges; a second attempt
// failing the same way is no longer set apart.
func RetriedConflict(e Entry) bool {
	return e.Source == "sdk" && e.Level == slog.LevelError &&
		strings.HasPrefix(e.Msg, "Activity error") &&
		strings.Contains(e.Attrs, "ActivityType=Apply ") &&
		strings.Contains(e.Attrs, "Attempt=1 ") &&
		strings.Contains(e.Attrs, "(type: Stale, retryable: true)")
}

// Since returns up to n of the recent records logged at or after t.
func (l *LogSink) Since(t time.Time, n int) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Entry
	for _, e := range l.recent {
		if !e.At.Before(t) {
			out = append(out, e)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Lines is the number of records captured.
func (l *LogSink) Lines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines
}

// Report logs a summary of the warnings and errors (a count per message) and,
// when the test failed or full is set, the last records and every warning.
func (l *LogSink) Report(t testing.TB, full bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[string]int{}
	for _, e := range l.problems {
		counts[e.Level.String()+" "+e.Source+": "+e.Msg]++
	}
	if len(counts) > 0 {
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %4d× %s", counts[k], k)
		}
		t.Logf("warnings and errors logged:%s", b.String())
	}
	if !t.Failed() && !full {
		return
	}
	recent := l.recent
	if len(recent) > keep {
		recent = recent[len(recent)-keep:]
	}
	var b strings.Builder
	for _, e := range recent {
		b.WriteString("\n  ")
		b.WriteString(e.String())
	}
	t.Logf("last %d log records:%s", len(recent), b.String())
	var p strings.Builder
	for i, e := range l.problems {
		if i >= 60 {
			fmt.Fprintf(&p, "\n  … %d more", len(l.problems)-i)
			break
		}
		p.WriteString("\n  ")
		p.WriteString(e.String())
	}
	if p.Len() > 0 {
		t.Logf("warnings and errors in full:%s", p.String())
	}
}

// sinkHandler is the slog.Handler feeding a LogSink.
type sinkHandler struct {
	sink   *LogSink
	source string
	min    slog.Level
	attrs  []slog.Attr
	group  string
}

func (h *sinkHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := h.min
	if min == 0 {
		min = slog.LevelInfo
	}
	return l >= min
}

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	write := func(a slog.Attr) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		fmt.Fprintf(&b, "%s=%v", key, a.Value.Resolve())
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(func(a slog.Attr) bool { write(a); return true })
	h.sink.add(Entry{At: r.Time, Source: h.source, Level: r.Level, Msg: r.Message, Attrs: b.String()})
	return nil
}

func (h *sinkHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), attrs...)
	return &c
}

func (h *sinkHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
