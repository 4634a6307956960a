// Package pgtemporal runs a production Temporal server for tandem's tests,
// benchmarks and `worker --dev`: the real server (built from its Go module in
// tools/temporal-server into the user cache directory) on a throw-away
// PostgreSQL cluster from the system's packages, with SQL visibility, more
// than one history shard and the repository's dynamic config file. The
// server reads the same environment variables as Temporal's server image, so
// docker-compose.yml and this package share one set-up; a test checks that
// they do not drift apart.
//
// The command internal/pgtemporal/cmd/temporal-postgres (scripts/temporal-postgres)
// starts it; testenv and devstack attach to it.
package pgtemporal
