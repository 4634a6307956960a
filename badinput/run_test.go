package badinput

import (
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

// reporter is the part of *testing.T the cases use. A caseRun implements it
// too: the cases of a catalogue run all at once in their own goroutines
// (go test's -parallel limit, two on two cores, would run them two at a
// time), and each subtest then replays its case's report.
type reporter interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(f func())
}

// caseRun is one case running in its own goroutine.
type caseRun struct {
	name string
	done chan struct{}

	mu       sync.Mutex
	lines    []caseLine
	stopped  bool
	cleanups []func()
}

type caseLine struct {
	err  bool
	text string
}

var _ reporter = (*caseRun)(nil)

// startCase runs fn in a goroutine of its own, reporting to a caseRun.
func startCase(name string, fn func(r reporter)) *caseRun {
	c := newCaseRun(name)
	go c.run(fn)
	return c
}

// startSequence runs the cases one after the other in a goroutine of their
// own; each caseRun is done when its case is.
func startSequence(names []string, fns []func(r reporter)) []*caseRun {
	runs := make([]*caseRun, len(names))
	for i, n := range names {
		runs[i] = newCaseRun(n)
	}
	go func() {
		for i, c := range runs {
			go c.run(fns[i])
			<-c.done
		}
	}()
	return runs
}

func newCaseRun(name string) *caseRun { return &caseRun{name: name, done: make(chan struct{})} }

// run runs fn reporting to c, and marks c done.
func (c *caseRun) run(fn func(r reporter)) {
	func() {
		defer close(c.done)
		defer c.runCleanups()
		defer func() {
			// Goexit (Fatalf) recovers nil; anything else is a bug in the case.
			if p := recover(); p != nil {
				c.add(true, fmt.Sprintf("panic: %v\n%s", p, debug.Stack()))
				c.mu.Lock()
				c.stopped = true
				c.mu.Unlock()
			}
		}()
		fn(c)
	}()
}

func (c *caseRun) add(err bool, text string) {
	text = caller() + text
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, caseLine{err: err, text: text})
}

// caller names the first frame outside this file, "file.go:12: ", as
// testing does for a test's own lines.
func caller() string {
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasSuffix(f.File, "/run_test.go") {
			return fmt.Sprintf("%s:%d: ", filepath.Base(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

// Helper implements reporter.
func (c *caseRun) Helper() {}

// Name implements reporter.
func (c *caseRun) Name() string { return c.name }

// Logf implements reporter.
func (c *caseRun) Logf(format string, args ...any) { c.add(false, fmt.Sprintf(format, args...)) }

// Errorf implements reporter.
func (c *caseRun) Errorf(format string, args ...any) { c.add(true, fmt.Sprintf(format, args...)) }

// Fatalf implements reporter: it records the failure and ends the case's
// goroutine, like testing.T.Fatalf.
func (c *caseRun) Fatalf(format string, args ...any) {
	c.add(true, fmt.Sprintf(format, args...))
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	runtime.Goexit()
}

// Cleanup implements reporter; cleanups run when the case ends, last first.
func (c *caseRun) Cleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cleanups = append(c.cleanups, f)
}

func (c *caseRun) runCleanups() {
	for {
		c.mu.Lock()
		if len(c.cleanups) == 0 {
			c.mu.Unlock()
			return
		}
		f := c.cleanups[len(c.cleanups)-1]
		c.cleanups = c.cleanups[:len(c.cleanups)-1]
		c.mu.Unlock()
		f()
	}
}

// replay waits for the case and reports it on t.
func (c *caseRun) replay(t *testing.T) {
	t.Helper()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if l.err {
			t.Error(l.text)
		} else {
			t.Log(l.text)
		}
	}
	if c.stopped {
		t.FailNow()
	}
}
