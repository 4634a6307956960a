// Command starter is tandem's operator CLI: it starts, pauses, resumes and
// pokes the pairing workflows, shows their status, runs and watches
// backfills, re-drives single records, lists links in error, registers the
// webCRM hooks and checks mapping files.
//
//	go run ./starter --help
//
// It reads the same settings as the worker (--config / TANDEM_CONFIG and the
// TEMPORAL_*, WEBCRM_*, CUSTOMERP_* and TANDEM_* variables). Exit codes: 0
// ok, 1 operational error, 2 usage error, 3 `mappings check` found problems.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
