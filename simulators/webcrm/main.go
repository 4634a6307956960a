// Command webcrm runs the webCRM API simulator (package webcrmsim) as a
// standalone HTTP server:
//
//	go run ./simulators/webcrm --addr 127.0.0.1:8081 --api-token <token> --seed 1 --seed-size 200
//
// The API token comes from --api-token, else the WEBCRM_API_TOKEN
// environment variable, else the printed default "dev-webcrm-token". See
// README.md for every flag, the fault knobs and the admin endpoints.
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
	"syscall"
	"time"

	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// defaultToken is used when neither the flag nor the environment gives one.
const defaultToken = "dev-webcrm-token"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webcrm simulator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("webcrm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr          = fs.String("addr", "127.0.0.1:8081", "listen address (port 0 picks a free port)")
		apiToken      = fs.String("api-token", "", "API token accepted by /Auth/ApiLogin (default: $WEBCRM_API_TOKEN, else "+defaultToken+")")
		seed          = fs.Int64("seed", 1, "seed for demo data and fault dice")
		seedSize      = fs.Int("seed-size", 100, "organisations to generate at first start (0 = empty)")
		persist       = fs.String("persist", "", "JSON file to load at start and save after writes")
		rateLimit     = fs.Int("rate-limit", 250, "requests per minute per API token (negative disables)")
		tokenTTL      = fs.Duration("token-ttl", time.Hour, "access token lifetime")
		baseURL       = fs.String("base-url", "", "public base URL used in hook payloads (default: from requests)")
		hookSecret    = fs.String("hook-secret", "", "value of the X-Tandem-Hook-Secret header on hook deliveries")
		fault5xx      = fs.Float64("fault-5xx-rate", 0, "fraction of API requests answered with 500/502/503/504")
		faultLatency  = fs.Duration("fault-latency", 0, "latency added to every API request")
		faultJitter   = fs.Duration("fault-jitter", 0, "extra random latency, up to this much")
		faultDrop     = fs.Float64("fault-drop-rate", 0, "fraction of API connections closed without a response")
		faultMalform  = fs.Float64("fault-malformed-rate", 0, "fraction of API answers with a malformed 200 body")
		faultKind     = fs.String("fault-malformed-kind", "html", "malformed body kind: html, truncated or mixed")
		force429      = fs.Int("fault-429-requests", 0, "answer the first N API requests with 429")
		force429For   = fs.Duration("fault-429-for", 0, "answer every API request with 429 for this long after start")
		logLevel      = fs.String("log-level", "info", "log level: debug, info, warn, error")
		persistDelay  = fs.Duration("persist-debounce", 250*time.Millisecond, "delay before saving after a write")
		retryAfter429 = fs.Int("fault-429-retry-after", 1, "Retry-After seconds of forced 429s")
		hostile       = fs.Bool("hostile", false, "start with webcrmsim.HostileProfile: unordered pages, lost answers, URL limit, odd PATCH answers, masked secrets, rewritten writes, odd hook bodies, offset time stamps")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	token := *apiToken
	if token == "" {
		token = os.Getenv("WEBCRM_API_TOKEN")
	}
	if token == "" {
		token = defaultToken
		fmt.Fprintf(stderr, "webcrm simulator: no --api-token or WEBCRM_API_TOKEN given; using the default API token %q\n", defaultToken)
	}

	faults := webcrmsim.FaultConfig{}
	if *hostile {
		faults = webcrmsim.HostileProfile()
	}
	faults.ServerErrorRate = *fault5xx
	faults.Latency = webcrmsim.Duration(*faultLatency)
	faults.Jitter = webcrmsim.Duration(*faultJitter)
	faults.DropRate = *faultDrop
	faults.MalformedRate = *faultMalform
	faults.MalformedKind = *faultKind
	faults.Force429Requests = *force429
	faults.Force429For = webcrmsim.Duration(*force429For)
	faults.RetryAfterSeconds = *retryAfter429

	sim, err := webcrmsim.New(webcrmsim.Options{
		APIToken:           token,
		TokenTTL:           *tokenTTL,
		RateLimitPerMinute: *rateLimit,
		PersistPath:        *persist,
		PersistDebounce:    *persistDelay,
		Seed:               *seed,
		SeedSize:           *seedSize,
		Logger:             logger,
		BaseURL:            *baseURL,
		HookSecret:         *hookSecret,
		Faults:             faults,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		_ = sim.Close()
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("webCRM simulator listening", "url", "http://"+ln.Addr().String(), "seed", *seed, "seed_size", *seedSize, "persist", *persist, "hostile", *hostile)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(shutdownCtx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if cerr := sim.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close simulator: %w", cerr)
	}
	logger.Info("webCRM simulator stopped")
	return err
}
