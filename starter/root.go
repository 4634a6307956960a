package main

import (
	"github.com/spf13/cobra"
)

const rootLong = `starter is tandem's operator CLI. It drives the workflows the tandem worker
runs on Temporal: the six pairing pollers, backfills and the links between
records, and it registers the webCRM hooks and checks mapping files.

Settings are the worker's: --config FILE (or TANDEM_CONFIG) names a YAML
file, and the environment overrides it: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY,
TEMPORAL_TLS_CA, WEBCRM_BASE_URL, WEBCRM_API_TOKEN, CUSTOMERP_BASE_URL,
CUSTOMERP_API_KEY, TANDEM_MAPPINGS_DIR, TANDEM_POLL_INTERVAL,
TANDEM_HOOKS_SECRET and, when the worker encrypts payloads, TANDEM_CODEC_KEYS
or TANDEM_CODEC_KEYS_FILE (the worker's keys). --address and --namespace
override the Temporal ones.
The connection check to Temporal gives up after 5 seconds.

Errors are printed on stderr as one line that names the cause.

Exit status:
  0  success
  1  operational error: Temporal unreachable, unknown pairing, no such
     record or link, a workflow or API call failed
  2  usage error: unknown command or flag, missing or conflicting flags,
     a flag value that does not parse
  3  mappings check found problems in the mapping files`

// rootCommand builds the command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "starter",
		Short:         "Operate tandem: pairings, status, backfills, links, hooks, mappings",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without a subcommand, print the help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", a.getenv("TANDEM_CONFIG"), "YAML settings file (env TANDEM_CONFIG)")
	pf.StringVar(&a.address, "address", "", "Temporal frontend host:port (overrides TEMPORAL_ADDRESS; default 127.0.0.1:7233)")
	pf.StringVar(&a.namespace, "namespace", "", "Temporal namespace (overrides TEMPORAL_NAMESPACE; default \"default\")")

	root.AddCommand(
		a.startCommand(),
		a.pauseCommand(),
		a.resumeCommand(),
		a.pokeCommand(),
		a.statusCommand(),
		a.backfillCommand(),
		a.resyncCommand(),
		a.linksCommand(),
		a.errorsCommand(),
		a.linkCommand(),
		a.hooksCommand(),
		a.mappingsCommand(),
		a.planCommand(),
		a.approveCommand(),
		a.rejectCommand(),
	)
	return root
}
