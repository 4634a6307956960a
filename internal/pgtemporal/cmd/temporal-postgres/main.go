// Command temporal-postgres runs a production Temporal server for tandem on
// a throw-away PostgreSQL cluster (see package pgtemporal):
//
//	scripts/temporal-postgres start    # build once, start, print the address; Ctrl-C stops
//	scripts/temporal-postgres status   # print the address of the running one (--wait 10m waits)
//	scripts/temporal-postgres stop     # stop the running one from another shell
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/tandemsync/tandem/internal/pgtemporal"
	"github.com/tandemsync/tandem/workflows"
)

const usage = `usage: temporal-postgres <command> [flags]

commands:
  start    build the server (first run only), start PostgreSQL and Temporal, print
           the address, and run until interrupted or stopped
  status   print the running server's address as environment variables
  stop     stop the running server

flags of every command:
  --dir D  the cluster's directory (default $TANDEM_TEMPORAL_POSTGRES_DIR or %s)
`

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, usage, pgtemporal.DefaultDir())
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "start":
		err = start(args)
	case "status":
		err = status(args, os.Stdout)
	case "stop":
		err = stop(args)
	case "-h", "--help", "help":
		fmt.Fprintf(os.Stdout, usage, pgtemporal.DefaultDir())
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n"+usage, cmd, pgtemporal.DefaultDir())
		os.Exit(2)
	}
	if err != nil {
		logger.Error("temporal-postgres "+os.Args[1], "error", err)
		os.Exit(1)
	}
}

func flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	dir := fs.String("dir", pgtemporal.DefaultDir(), "the cluster's directory")
	return fs, dir
}

func start(args []string) error {
	fs, dir := flags("start")
	port := fs.Int("port", 0, "frontend gRPC port on 127.0.0.1 (0: a free one)")
	pgPort := fs.Int("postgres-port", 0, "PostgreSQL port on 127.0.0.1 (0: a free one)")
	noInstall := fs.Bool("no-install", false, "do not install PostgreSQL from Debian's packages when it is missing")
	_ = fs.Parse(args)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{}
	for _, name := range workflows.SearchAttributeNames() {
		attrs[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	c, err := pgtemporal.StartCluster(ctx, pgtemporal.ClusterOptions{
		Dir: *dir, Port: *port, PostgresPort: *pgPort, Install: !*noInstall,
		SearchAttributes: attrs, Progress: os.Stderr,
	})
	if err != nil {
		return err
	}
	st := c.State
	fmt.Printf(`
Temporal %s on PostgreSQL is running (%d history shards, SQL visibility).
  server log   %s/temporal.log
  PostgreSQL   127.0.0.1:%d (user %s, trust), log %s/postgres.log

`, st.ServerVersion, st.NumHistoryShards, st.Dir, st.PostgresPort, pgtemporal.User, st.Dir)
	printEnv(os.Stdout, st)
	fmt.Println("\nCtrl-C or `scripts/temporal-postgres stop` stops it and deletes its data.")

	select {
	case <-ctx.Done():
	case <-c.Done():
		_ = c.Stop()
		return errors.New("the Temporal server or PostgreSQL exited on its own; see the logs in " + st.Dir)
	}
	fmt.Fprintln(os.Stderr, "stopping…")
	return c.Stop()
}

func printEnv(w io.Writer, st pgtemporal.State) {
	fmt.Fprintf(w, "TEMPORAL_ADDRESS=%s\nTEMPORAL_NAMESPACE=%s\nTANDEM_TEST_TEMPORAL=postgres\n", st.Address, st.Namespace)
}

func status(args []string, w io.Writer) error {
	fs, dir := flags("status")
	wait := fs.Duration("wait", 0, "wait up to this long for a server that is still starting")
	_ = fs.Parse(args)
	deadline := time.Now().Add(*wait)
	for {
		st, err := pgtemporal.ReadState(*dir)
		if err == nil {
			printEnv(w, st)
			return nil
		}
		if !errors.Is(err, pgtemporal.ErrNotRunning) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Second)
	}
}

func stop(args []string) error {
	fs, dir := flags("stop")
	_ = fs.Parse(args)
	st, err := pgtemporal.ReadState(*dir)
	if err != nil {
		return err
	}
	p, err := os.FindProcess(st.PID)
	if err != nil {
		return fmt.Errorf("find pid %d: %w", st.PID, err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal pid %d: %w", st.PID, err)
	}
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if _, err := pgtemporal.ReadState(*dir); errors.Is(err, pgtemporal.ErrNotRunning) {
			fmt.Fprintln(os.Stderr, "stopped")
			return nil
		}
	}
	return fmt.Errorf("pid %d still runs 90 s after SIGTERM", st.PID)
}
