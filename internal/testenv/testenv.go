// Package testenv gives integration tests and benchmarks in other packages a
// real Temporal dev server (see internal/devserver): one shared server per
// test binary, or a dedicated one per test when it needs other settings.
//
// With TANDEM_TEST_TEMPORAL=postgres (EnvTemporal) they run against the
// production server that scripts/temporal-postgres runs instead: a
// namespace of their own on it, or a dedicated server on it for dynamic
// config values.
//
// A package that uses Temporal or Client must stop the shared server after
// its tests by declaring
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/tandemsync/tandem/internal/devserver"
)

// Search attribute names registered on every test server (all Keyword).
const (
	AttrPairing = "TandemPairing"
	AttrCrmID   = "TandemCrmId"
	AttrErpID   = "TandemErpId"
	AttrState   = "TandemState"
)

// SuggestContinueAsNewKey is the dynamic config key for the history length
// at which the server suggests continue-as-new.
const SuggestContinueAsNewKey = "limit.historyCount.suggestContinueAsNew"

// startTimeout covers a first-run build of the CLI (about 5 minutes on two
// cores) plus the server start.
const startTimeout = 15 * time.Minute

// SearchAttributes returns the custom search attributes every test server
// has, as a fresh map the caller may modify.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		AttrPairing: enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrCrmID:   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrErpID:   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		AttrState:   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// Options configures a dedicated server started with StartTemporal.
type Options struct {
	// SuggestContinueAsNew sets limit.historyCount.suggestContinueAsNew
	// (events). 0 keeps the server default.
	SuggestContinueAsNew int
	// DynamicConfig adds further dynamic config values (key -> JSON-able value).
	DynamicConfig map[string]any
	// SearchAttributes are registered in addition to SearchAttributes().
	SearchAttributes map[string]enumspb.IndexedValueType
}

// sharedServer is the one process-scoped fixture of this package: the
// server shared by all tests of a test binary, started on first use and
// stopped by Main.
type sharedServer struct {
	mainActive atomic.Bool
	once       sync.Once
	started    atomic.Bool
	srv        *devserver.Server
	err        error
}

var shared sharedServer

// Main runs the package's tests and then stops the shared server, if one
// was started. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	shared.mainActive.Store(true)
	code := m.Run()
	if shared.started.Load() && shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		}
	}
	return code
}

// Temporal returns the test binary's shared dev server, starting it on
// first use: in-memory, headless, on free ports, with SearchAttributes().
// Tests share it, so each should use its own task queue (TaskQueue) and
// workflow IDs.
func Temporal(t testing.TB) *devserver.Server {
	t.Helper()
	if !shared.mainActive.Load() {
		t.Fatal("testenv.Temporal: the package must declare `func TestMain(m *testing.M) { testenv.Main(m) }` so the shared Temporal server is stopped")
	}
	shared.once.Do(func() {
		shared.srv, shared.err = start("", Options{})
		shared.started.Store(shared.err == nil)
	})
	if shared.err != nil {
		t.Fatalf("testenv: shared Temporal dev server: %v", shared.err)
	}
	return shared.srv
}

// StartTemporal starts a dedicated dev server with opts for this test and
// stops it in t.Cleanup. Prefer Temporal unless the test needs other server
// settings: every server costs CPU on a small machine.
func StartTemporal(t testing.TB, opts Options) *devserver.Server {
	t.Helper()
	srv, err := start(t.Name(), opts)
	if err != nil {
		t.Fatalf("testenv: start dedicated Temporal dev server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return srv
}

// start starts a server with opts, or, when EnvTemporal says so, gives
// name what it needs on the PostgreSQL-backed server.
func start(name string, opts Options) (*devserver.Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	attrs := SearchAttributes()
	maps.Copy(attrs, opts.SearchAttributes)
	dc := map[string]any{}
	maps.Copy(dc, opts.DynamicConfig)
	if opts.SuggestContinueAsNew > 0 {
		dc[SuggestContinueAsNewKey] = opts.SuggestContinueAsNew
	}
	if pg, err := usePostgres(); err != nil || pg {
		if err != nil {
			return nil, err
		}
		return startPostgres(ctx, name, attrs, dc)
	}
	return devserver.Start(ctx, devserver.Options{
		Ensure:           devserver.EnsureOptions{Progress: os.Stderr},
		Headless:         true,
		SearchAttributes: attrs,
		DynamicConfig:    dc,
		Logger:           warnLogger(),
	})
}

// warnLogger logs warnings and errors to stderr, keeping test output quiet.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Client returns an SDK client for the shared server's default namespace,
// closed in t.Cleanup.
func Client(t testing.TB) client.Client {
	t.Helper()
	return ClientFor(t, Temporal(t))
}

// ClientFor returns an SDK client for srv's namespace, closed in t.Cleanup.
// The SDK's own log lines below warning level are dropped.
func ClientFor(t testing.TB, srv *devserver.Server) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.Address(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(warnLogger()),
	})
	if err != nil {
		t.Fatalf("testenv: dial Temporal at %s: %v", srv.Address(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// TaskQueue returns a task queue name unique to this call, derived from the
// test's name so it is recognisable in the UI and in errors.
func TaskQueue(t testing.TB) string {
	t.Helper()
	return "tq-" + sanitize(t.Name()) + "-" + randomSuffix(t)
}

func sanitize(name string) string {
	const maxLen = 80
	var b strings.Builder
	for _, r := range name {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= maxLen {
			break
		}
	}
	return b.String()
}

func randomSuffix(t testing.TB) string {
	var buf [6]byte
	if _, err := rand.Read(buf[:]); err != nil {
		t.Fatalf("testenv: random task queue suffix: %v", err)
	}
	return hex.EncodeToString(buf[:])
}
