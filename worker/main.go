// Command worker runs tandem's Temporal worker: the pairing, link, backfill
// and reconcile workflows and their activities, the Prometheus metrics
// endpoint and the webCRM hooks endpoint.
//
//	go run ./worker               # against TEMPORAL_ADDRESS, WEBCRM_*, CUSTOMERP_*
//	go run ./worker --dev         # the whole local stack in one command
//
// With --dev it first brings up the Temporal dev server with its UI, the
// webCRM simulator and the CustomERP reference server (all persisted under
// --data-dir and seeded with demo data on first start), then runs the worker
// against them and starts the six pairings.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"

	"github.com/tandemsync/tandem/internal/codec"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/internal/hookreg"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

type flags struct {
	configFile   string
	dev          bool
	dataDir      string
	temporalPort int
	uiPort       int
	webcrmPort   int
	erpPort      int
	metricsAddr  string
	hooksAddr    string
	codecAddr    string
	seedSize     int
	pollInterval time.Duration
	hostileCRM   bool

	temporalAddress string // with --dev: an external Temporal instead of the dev server
}

func main() {
	if err := newCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run tandem's Temporal worker (with --dev: the whole local stack)",
		Long: `Runs tandem's workflows and activities against a Temporal service.

Settings come from --config (YAML) and the environment: TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_CERT/KEY/CA, WEBCRM_BASE_URL,
WEBCRM_API_TOKEN, CUSTOMERP_BASE_URL, CUSTOMERP_API_KEY, TANDEM_MAPPINGS_DIR,
TANDEM_POLL_INTERVAL, TANDEM_HOOKS_SECRET, TANDEM_METRICS_ADDR, TANDEM_HOOKS_ADDR,
TANDEM_CODEC_KEYS (or TANDEM_CODEC_KEYS_FILE) and TANDEM_CODEC_KEY_ID (payload
encryption), TANDEM_CODEC_ADDR, TANDEM_CODEC_TOKEN, TANDEM_CODEC_ORIGIN (the
codec endpoint the Temporal UI decodes histories with).

With --dev it brings up the Temporal dev server and UI, the webCRM simulator
and the CustomERP server on local ports, seeded with demo data, then starts
the six pairings. Data is kept in --data-dir between runs. Without
TANDEM_CODEC_KEYS it encrypts payloads with a development key kept in
<data-dir>/codec.key, and the UI decodes them through the codec endpoint.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", os.Getenv("TANDEM_CONFIG"), "YAML configuration file (env TANDEM_CONFIG)")
	fl.BoolVar(&f.dev, "dev", false, "bring up the local stack (Temporal dev server, UI, simulators) and start the pairings")
	fl.StringVar(&f.dataDir, "data-dir", ".tandem", "with --dev: where the dev server's SQLite file and the simulators' data live")
	fl.IntVar(&f.temporalPort, "temporal-port", 7233, "with --dev: Temporal dev server gRPC port")
	fl.StringVar(&f.temporalAddress, "temporal-address", "", "with --dev: use the Temporal server at this host:port (e.g. scripts/temporal-postgres's) instead of starting the dev server; namespace TEMPORAL_NAMESPACE")
	fl.IntVar(&f.uiPort, "ui-port", 8233, "with --dev: Temporal UI port")
	fl.IntVar(&f.webcrmPort, "webcrm-port", 8081, "with --dev: webCRM simulator port")
	fl.IntVar(&f.erpPort, "erp-port", 8082, "with --dev: CustomERP server port")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "Prometheus metrics address (default 127.0.0.1:9090; \"off\" disables)")
	fl.StringVar(&f.hooksAddr, "hooks-addr", "", "webCRM hooks endpoint address (default 127.0.0.1:8085; \"off\" disables)")
	fl.IntVar(&f.seedSize, "seed-size", 50, "with --dev: organisations and customers in the demo data on first start")
	fl.StringVar(&f.codecAddr, "codec-addr", "", "payload codec endpoint for the Temporal UI (default 127.0.0.1:8088; \"off\" disables)")
	fl.DurationVar(&f.pollInterval, "poll-interval", 0, "time between polls (default 30s, 5s with --dev)")
	fl.BoolVar(&f.hostileCRM, "hostile-webcrm", false, "with --dev: start the webCRM simulator with its hostile fault profile (webcrmsim.HostileProfile)")
	return cmd
}

func run(ctx context.Context, cmd *cobra.Command, f flags) error {
	cfg, err := config.Load(f.configFile, nil)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Worker.LogLevel)
	setMemoryLimit(logger, memlimit.FromCgroup)
	if f.metricsAddr != "" {
		cfg.Worker.MetricsAddr = f.metricsAddr
	}
	if f.hooksAddr != "" {
		cfg.Worker.HooksAddr = f.hooksAddr
	}
	if f.codecAddr != "" {
		cfg.Worker.CodecAddr = f.codecAddr
	}
	if f.pollInterval > 0 {
		cfg.Sync.PollInterval = f.pollInterval
	}
	var stack *devstack.Stack
	if f.dev {
		if stack, err = startDev(ctx, cmd, f, &cfg, logger); err != nil {
			return err
		}
		defer stack.Stop()
	}
	svc, err := service.New(cfg, service.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer svc.Close()
	stop, err := svc.Start()
	if err != nil {
		return err
	}
	defer stop()
	if f.dev {
		if err := service.StartPairings(ctx, svc.Client(), svc.Mappings().Names(), service.StartOptions{PollInterval: cfg.Sync.PollInterval, ERPPollInterval: cfg.Sync.ERPPollInterval}); err != nil {
			return err
		}
		if err := registerDevHooks(ctx, cmd, svc, cfg); err != nil {
			return err
		}
		printBanner(cmd, stack, cfg, svc.Mappings().Names())
	}
	<-ctx.Done()
	logger.Info("worker stopping")
	return nil
}

func startDev(ctx context.Context, cmd *cobra.Command, f flags, cfg *config.Config, logger *slog.Logger) (*devstack.Stack, error) {
	out := cmd.ErrOrStderr()
	webToken, erpKey := os.Getenv("WEBCRM_API_TOKEN"), os.Getenv("CUSTOMERP_API_KEY")
	if webToken == "" {
		webToken = devstack.DefaultWebCRMToken
		fmt.Fprintf(out, "WEBCRM_API_TOKEN is not set: the webCRM simulator uses %q\n", webToken)
	}
	if erpKey == "" {
		erpKey = devstack.DefaultERPKey
		fmt.Fprintf(out, "CUSTOMERP_API_KEY is not set: the CustomERP server uses %q\n", erpKey)
	}
	hookSecret := cfg.Worker.HooksSecret
	if hookSecret == "" {
		hookSecret = "dev-hook-secret"
	}
	codecCfg := cfg.Temporal.Codec
	if codecCfg.Keys == "" && codecCfg.KeysFile == "" {
		var err error
		if codecCfg, err = devCodecKey(f.dataDir, out); err != nil {
			return nil, err
		}
	}
	uiCodec := codecEndpoint(cfg.Worker.CodecAddr)
	if cfg.Worker.CodecOrigin == config.Default().Worker.CodecOrigin && f.uiPort > 0 {
		cfg.Worker.CodecOrigin = fmt.Sprintf("http://127.0.0.1:%d", f.uiPort)
	}
	if uiCodec != "" && cfg.Worker.CodecToken != "" {
		fmt.Fprintln(out, "TANDEM_CODEC_TOKEN is set: the dev server's UI sends no token, so it will show payloads encrypted")
	}
	fmt.Fprintln(out, "starting the local stack in", f.dataDir, "…")
	stack, err := devstack.Start(ctx, devstack.Options{
		DataDir: f.dataDir, TemporalPort: f.temporalPort, UIPort: f.uiPort,
		WebCRMPort: f.webcrmPort, ERPPort: f.erpPort, WebCRMToken: webToken, ERPKey: erpKey,
		Seed: 1, SeedSize: f.seedSize, HookSecret: hookSecret, Progress: out, Logger: logger,
		UICodecEndpoint: uiCodec, WebCRMFaults: webCRMFaults(f),
		TemporalAddress: f.temporalAddress, TemporalNamespace: cfg.Temporal.Namespace,
	})
	if err != nil {
		return nil, err
	}
	dev := stack.Config()
	cfg.Temporal = dev.Temporal
	cfg.Temporal.Codec = codecCfg
	cfg.WebCRM.BaseURL, cfg.WebCRM.APIToken = dev.WebCRM.BaseURL, dev.WebCRM.APIToken
	cfg.ERP = dev.ERP
	cfg.Worker.HooksSecret = hookSecret
	if f.pollInterval <= 0 {
		cfg.Sync.PollInterval = 5 * time.Second
	}
	return stack, nil
}

// registerDevHooks registers, with the webCRM simulator, a Create, an Update
// and a Delete hook of every pairing's entity that target the worker's hooks
// endpoint, as `starter hooks register` does; kept as they are on a later
// start with the same data directory.
func registerDevHooks(ctx context.Context, cmd *cobra.Command, svc *service.Service, cfg config.Config) error {
	public := codecEndpoint(cfg.Worker.HooksAddr) // a wildcard address is reached on 127.0.0.1
	if public == "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "--hooks-addr is off: no webCRM hooks registered, changes arrive by polling")
		return nil
	}
	results, err := hookreg.Register(ctx, svc.WebCRM(), public, cfg.Worker.HooksSecret, hookreg.Entities(svc.Mappings()), hookreg.Events)
	if err != nil {
		return fmt.Errorf("register the webCRM simulator's hooks: %w", err)
	}
	kept := 0
	for _, r := range results {
		if r.Action == "kept" {
			kept++
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "webCRM hooks: %d registered at %s%s (%d kept from an earlier start)\n", len(results), public, hookreg.EndpointPath, kept)
	return nil
}

// webCRMFaults is the webCRM simulator's fault setting under --dev.
func webCRMFaults(f flags) webcrmsim.FaultConfig {
	if f.hostileCRM {
		return webcrmsim.HostileProfile()
	}
	return webcrmsim.FaultConfig{}
}

// devCodecKey returns the development payload key: kept in
// <data-dir>/codec.key (0600) so a later start still reads the histories,
// or held in memory when there is no data directory.
func devCodecKey(dataDir string, out io.Writer) (config.Codec, error) {
	if dataDir == "" {
		entry, err := codec.NewKeyEntry("dev")
		if err != nil {
			return config.Codec{}, err
		}
		fmt.Fprintln(out, "TANDEM_CODEC_KEYS is not set: payloads are encrypted with a key that lives as long as this process")
		return config.Codec{Keys: entry}, nil
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return config.Codec{}, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dataDir, "codec.key")
	created, err := codec.EnsureKeyFile(path, "dev")
	if err != nil {
		return config.Codec{}, err
	}
	if created {
		fmt.Fprintf(out, "TANDEM_CODEC_KEYS is not set: generated a development payload key in %s (it decrypts this stack's histories; keep it)\n", path)
	} else {
		fmt.Fprintf(out, "TANDEM_CODEC_KEYS is not set: using the development payload key in %s\n", path)
	}
	return config.Codec{KeysFile: path}, nil
}

// codecEndpoint is the URL the UI reaches the codec endpoint on ("" when
// it is off): a wildcard listen address is reached on 127.0.0.1.
func codecEndpoint(addr string) string {
	if addr == "" || addr == "off" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func printBanner(cmd *cobra.Command, st *devstack.Stack, cfg config.Config, pairings []string) {
	w := cmd.OutOrStdout()
	ui := st.Temporal.UIURL()
	if ui == "" {
		ui = "none started (--temporal-address: the server's own UI, if it has one)"
	}
	codecURL := codecEndpoint(cfg.Worker.CodecAddr)
	if codecURL == "" {
		codecURL = "off"
	}
	starterEnv := "" // the starter decodes pairing status with the same key
	if f := cfg.Temporal.Codec.KeysFile; f != "" {
		starterEnv = "TANDEM_CODEC_KEYS_FILE=" + f + " "
	}
	fmt.Fprintf(w, `
tandem is running.

  Temporal UI        %s
  Temporal gRPC      %s
  webCRM simulator   %s   (token in WEBCRM_API_TOKEN, or %q)
  CustomERP server   %s   (records at %s/)
  metrics            http://%s/metrics
  hooks endpoint     http://%s/hooks/webcrm
  codec endpoint     %s   (the UI decodes encrypted payloads with it)
  pairings           %s

Try this:
  - open %s/namespaces/default/workflows and pick a link/… workflow to read a record's history
  - edit a customer in the ERP:   curl -X PATCH %s/_sim/records/customers/<id> -d '{"phone":"+45 12 34 56 78"}'
  - watch it arrive in webCRM:    curl %s/_sim/records/Organisations
  - backfill from the CLI:        %sgo run ./starter backfill --pairing organisations
  - see every pairing:            %sgo run ./starter status

Ctrl-C stops everything; data stays in the data directory for the next start.
`, ui, st.Temporal.Address(), st.WebCRMURL, devstack.DefaultWebCRMToken, st.ERPURL, st.ERPURL,
		cfg.Worker.MetricsAddr, cfg.Worker.HooksAddr, codecURL, strings.Join(pairings, ", "),
		ui, st.ERPURL, st.WebCRMURL, starterEnv, starterEnv)
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
