package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/internal/pgtemporal"
)

// EnvTemporal selects the Temporal server tests run against: unset or "dev"
// for the dev server, "postgres" for the production server on PostgreSQL
// that scripts/temporal-postgres runs (found through its state file, see
// pgtemporal.DefaultDir).
const EnvTemporal = "TANDEM_TEST_TEMPORAL"

// UsePostgres reports whether EnvTemporal asks for the PostgreSQL-backed
// server; an unknown value is an error.
func UsePostgres() (bool, error) { return usePostgres() }

// usePostgres reports whether EnvTemporal asks for the PostgreSQL-backed server.
func usePostgres() (bool, error) {
	switch v := os.Getenv(EnvTemporal); v {
	case "", "dev":
		return false, nil
	case "postgres":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want dev or postgres", EnvTemporal, v)
	}
}

// startPostgres gives a caller what it asked for on the running
// PostgreSQL-backed cluster: a namespace of its own on the cluster's server,
// or, when it needs dynamic config values, a dedicated server on databases
// of its own (stopped and dropped by Stop).
func startPostgres(ctx context.Context, name string, attrs map[string]enumspb.IndexedValueType, dc map[string]any) (*devserver.Server, error) {
	st, err := pgtemporal.ReadState(pgtemporal.DefaultDir())
	if err != nil {
		return nil, fmt.Errorf("%s=postgres: %w", EnvTemporal, err)
	}
	if len(dc) > 0 {
		d, err := st.StartDedicated(ctx, dc, attrs)
		if err != nil {
			return nil, fmt.Errorf("dedicated Temporal server on PostgreSQL: %w", err)
		}
		return devserver.External(devserver.ExternalOptions{Address: d.Address, Namespace: pgtemporal.DefaultNamespace, PID: d.PID(), Stop: d.Stop})
	}
	ns := namespaceName(name)
	if err := st.NewNamespace(ctx, ns, attrs); err != nil {
		return nil, fmt.Errorf("namespace on the Temporal server at %s: %w", st.Address, err)
	}
	return devserver.External(devserver.ExternalOptions{Address: st.Address, Namespace: ns, PID: st.ServerPID})
}

// namespaceName derives a fresh namespace name from a test's name (or the
// test binary's, for the shared server).
func namespaceName(name string) string {
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:]) // never fails (crypto/rand)
	return fmt.Sprintf("t-%s-%x", sanitize(name), suffix)
}
