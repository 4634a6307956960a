// Command customerp runs the reference CustomERP server: the contract of
// customerp/openapi.yaml over a persistent SQLite database, with demo data, fault injection,
// admin endpoints under /_sim/ and a read-only page at /.
//
//	go run ./simulators/customerp --addr 127.0.0.1:8082 --db ./data/customerp.db --api-key KEY --seed 1 --seed-size 25
//
// The API key may also come from the environment variable CUSTOMERP_API_KEY; without either,
// the development key "dev-erp-key" is used and printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
)

// DevAPIKey is the API key used when neither --api-key nor CUSTOMERP_API_KEY gives one.
const DevAPIKey = "dev-erp-key"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run parses args, serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("customerp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8082", "listen address (port 0 picks a free port)")
	db := fs.String("db", "data/customerp.db", `SQLite database file (created when missing); "" keeps everything in memory`)
	apiKey := fs.String("api-key", "", "API key clients must send as a bearer token (default: $CUSTOMERP_API_KEY, else "+DevAPIKey+")")
	seed := fs.Int64("seed", 1, "seed of the demo data and the fault dice")
	seedSize := fs.Int("seed-size", 25, "customers to generate (with contacts, products, orders) when the database is empty; 0 for none")
	maxBody := fs.Int64("max-body-bytes", erpsim.DefaultMaxBodyBytes, "largest request body accepted (413 above)")
	errRate := fs.Float64("fault-error-rate", 0, "share of API requests answered 503 (0..1)")
	latency := fs.Duration("fault-latency", 0, "delay added to every API request")
	dropRate := fs.Float64("fault-drop-rate", 0, "share of API requests whose connection is closed without an answer (0..1)")
	dropAfter := fs.Float64("fault-drop-after-write-rate", 0, "share of committed writes whose answer is lost (0..1)")
	malformed := fs.Float64("fault-malformed-rate", 0, "share of successful answers replaced by truncated JSON or HTML (0..1)")
	burst := fs.Int("fault-429-burst", 0, "answer the first N API requests with 429")
	retryAfter := fs.Int("fault-retry-after", 1, "Retry-After seconds of injected 429s")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "customerp: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	key, keySource := *apiKey, "--api-key"
	if key == "" {
		key, keySource = getenv("CUSTOMERP_API_KEY"), "CUSTOMERP_API_KEY"
	}
	if key == "" {
		key, keySource = DevAPIKey, "default"
	}
	if *db != "" {
		if err := os.MkdirAll(filepath.Dir(*db), 0o755); err != nil {
			fmt.Fprintf(stderr, "customerp: create the database directory: %v\n", err)
			return 1
		}
	}
	srv, err := erpsim.New(erpsim.Options{
		APIKey: key, DBPath: *db, Seed: *seed, SeedSize: *seedSize, Logger: log, MaxBodyBytes: *maxBody,
		Faults: erpsim.FaultConfig{ErrorRate: *errRate, LatencyMillis: int(latency.Milliseconds()), DropRate: *dropRate,
			DropAfterWriteRate: *dropAfter, MalformedRate: *malformed, RateLimitBurst: *burst, RetryAfterSeconds: *retryAfter},
	})
	if err != nil {
		fmt.Fprintf(stderr, "customerp: %v\n", err)
		return 1
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "customerp: listen on %s: %v\n", *addr, err)
		return 1
	}
	where := *db
	if where == "" {
		where = "memory"
	}
	if keySource == "default" {
		fmt.Fprintf(stdout, "customerp: API key %q (development default; set --api-key or CUSTOMERP_API_KEY)\n", DevAPIKey)
	} else {
		fmt.Fprintf(stdout, "customerp: API key from %s\n", keySource)
	}
	fmt.Fprintf(stdout, "customerp: listening on http://%s (database %s)\n", ln.Addr(), where)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "customerp: serve: %v\n", err)
			return 1
		}
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hs.Shutdown(shutCtx); err != nil {
			log.Warn("customerp: shutdown", "err", err)
		}
	}
	return 0
}
