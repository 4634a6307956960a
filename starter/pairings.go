package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/workflows"
)

func (a *app) startCommand() *cobra.Command {
	var pollInterval, erpPollInterval, reconcileEvery time.Duration
	var noERPLongPoll bool
	cmd := &cobra.Command{
		Use:   "start [pairing...]",
		Short: "Start the pairing workflows (all when none is named)",
		Long: `Starts the pairing workflow (pairing/<name>) of each pairing named, or of
every pairing when none is, together with its reconcile schedule. A pairing
that already runs is left as it is, so running start again is harmless; its
poll interval stays what it was started with.`,
		Example: `  starter start
  starter start organisations persons --poll-interval 10s`,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			names, c, err := a.pairingsClient(ctx, args)
			if err != nil {
				return err
			}
			cfg, _ := a.config()
			if pollInterval <= 0 {
				pollInterval = cfg.Sync.PollInterval
			}
			if erpPollInterval <= 0 {
				erpPollInterval = cfg.Sync.ERPPollInterval
			}
			if reconcileEvery <= 0 {
				reconcileEvery = -1 // StartOptions: negative means no schedule
			}
			before := map[string]bool{}
			for _, name := range names {
				if before[name], err = pairingRunning(ctx, c, name); err != nil {
					return err
				}
			}
			err = service.StartPairings(ctx, c, names, service.StartOptions{PollInterval: pollInterval, ERPPollInterval: erpPollInterval, NoERPLongPoll: noERPLongPoll, ReconcileEvery: reconcileEvery})
			for _, name := range names {
				running, rerr := pairingRunning(ctx, c, name)
				switch {
				case rerr != nil:
					err = errors.Join(err, rerr)
				case before[name]:
					fmt.Fprintf(a.stdout, "%s: already running (%s)\n", name, workflows.PairingWorkflowID(name))
				case running:
					fmt.Fprintf(a.stdout, "%s: started (%s, polls every %s)\n", name, workflows.PairingWorkflowID(name), pollInterval)
				}
			}
			return err
		}),
	}
	cmd.Flags().DurationVar(&pollInterval, "poll-interval", 0, "time between polls of a pairing started now (default sync.pollInterval, TANDEM_POLL_INTERVAL, 30s)")
	cmd.Flags().DurationVar(&erpPollInterval, "erp-poll-interval", 0, "time between reads of the ERP change feed, which cost no webCRM budget (default sync.erpPollInterval, TANDEM_ERP_POLL_INTERVAL, 2s)")
	cmd.Flags().BoolVar(&noERPLongPoll, "no-erp-long-poll", false, "read the ERP change feed every ERP poll interval instead of long-polling it between webCRM polls")
	cmd.Flags().DurationVar(&reconcileEvery, "reconcile-every", time.Hour, "interval of each pairing's reconcile schedule; 0 creates no schedule")
	return cmd
}

// pairingRunning reports whether the pairing's workflow runs.
func pairingRunning(ctx context.Context, c client.Client, name string) (bool, error) {
	desc, err := c.DescribeWorkflow(ctx, workflows.PairingWorkflowID(name), "")
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe pairing %s: %w", name, err)
	}
	return desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

func (a *app) pauseCommand() *cobra.Command {
	var reason string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "pause [pairing...]",
		Short: "Pause polling of pairings (all when none is named)",
		Long: `Sends the pause signal to each pairing named (every pairing when none is).
A paused pairing stops polling until resume; links keep their state, and
changes made meanwhile are picked up after resume (the watermarks do not
move). The command waits up to --wait for the pairing to report it.`,
		Example: `  starter pause organisations --reason "ERP maintenance until 14:00"`,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			return a.signalPairings(ctx, args, workflows.SignalPause, reason, wait, func(s workflows.PairingStatus) bool { return s.Paused })
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown by status (default \"paused by an operator\")")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the pairing to report it is paused (0: do not wait)")
	return cmd
}

func (a *app) resumeCommand() *cobra.Command {
	var wait time.Duration
	var allowDeletes bool
	var by, reason string
	cmd := &cobra.Command{
		Use:   "resume [pairing...]",
		Short: "Resume polling of paused pairings (all when none is named)",
		Long: `Sends the resume signal to each pairing named (every pairing when none is);
polling starts again from where it stopped. The command waits up to --wait
for the pairing to report it.

A pairing the mass-delete guard paused holds the ERP deletes that tripped it;
a plain resume reads the same deletes again and trips the guard again. Once
you have checked that the deletes are meant, --allow-deletes (with exactly
one pairing) lets exactly those held deletes through: it shows them, and the
release, with --by (default: your user name) and --reason, stays in the
pairing's history. Deletes held after you looked are not released.`,
		Example: `  starter resume organisations
  starter resume --allow-deletes organisations --reason "customers archived in the ERP on purpose"`,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			if allowDeletes {
				return a.releaseDeletes(ctx, args, by, reason, wait)
			}
			return a.signalPairings(ctx, args, workflows.SignalResume, nil, wait, func(s workflows.PairingStatus) bool { return !s.Paused })
		}),
	}
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the pairing to report it runs (0: do not wait)")
	cmd.Flags().BoolVar(&allowDeletes, "allow-deletes", false, "let the deletes the mass-delete guard holds through (one pairing)")
	cmd.Flags().StringVar(&by, "by", "", "who releases the deletes, recorded in the pairing's history (default: your user name)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the deletes are meant, recorded with the release")
	return cmd
}

// releaseDeletes shows the deletes the mass-delete guard holds for one pairing
// and lets exactly those through.
func (a *app) releaseDeletes(ctx context.Context, args []string, by, reason string, wait time.Duration) error {
	if len(args) != 1 {
		return usageErrorf("--allow-deletes releases the deletes of one pairing: name it")
	}
	names, c, err := a.pairingsClient(ctx, args)
	if err != nil {
		return err
	}
	name := names[0]
	st, err := queryPairing(ctx, c, name)
	if err != nil {
		return err
	}
	held := st.HeldDeletes
	if held == nil {
		return fmt.Errorf("pairing %s: the mass-delete guard holds no deletes (a plain resume resumes it)", name)
	}
	if by == "" {
		by = operatorName()
	}
	shown := held.IDs
	if len(shown) > 20 {
		shown = shown[:20]
	}
	had := fmt.Sprintf("%d ERP records", held.Records)
	if held.Records == 0 {
		had = fmt.Sprintf("%d links", held.Links) // held by an earlier version
	}
	fmt.Fprintf(a.stdout, "%s: releasing %d ERP deletes held at feed token %s (the pairing had %s): %s",
		name, len(held.IDs), held.Token, had, strings.Join(shown, ", "))
	if len(shown) < len(held.IDs) {
		fmt.Fprintf(a.stdout, " and %d more", len(held.IDs)-len(shown))
	}
	fmt.Fprintln(a.stdout)
	rel := workflows.DeleteRelease{By: by, Reason: reason, Count: len(held.IDs)}
	if err := c.SignalWorkflow(ctx, workflows.PairingWorkflowID(name), "", workflows.SignalReleaseDeletes, rel); err != nil {
		return fmt.Errorf("release the deletes of pairing %s: %w", name, err)
	}
	if wait <= 0 {
		fmt.Fprintf(a.stdout, "%s: release signalled by %s\n", name, by)
		return nil
	}
	st, ok := waitForStatus(ctx, c, name, wait, func(s workflows.PairingStatus) bool {
		return s.HeldDeletes == nil && s.LastRelease != nil && s.LastRelease.By == by && s.LastRelease.Token == held.Token
	})
	if !ok {
		if st.HeldDeletes != nil && len(st.HeldDeletes.IDs) != len(held.IDs) {
			return fmt.Errorf("pairing %s: the guard now holds %d deletes, not the %d shown; nothing was released: run the command again", name, len(st.HeldDeletes.IDs), len(held.IDs))
		}
		fmt.Fprintf(a.stdout, "%s: release signalled; not confirmed within %s (is a worker running?)\n", name, wait)
		return nil
	}
	fmt.Fprintf(a.stdout, "%s: %d deletes released by %s; running\n", name, len(held.IDs), by)
	return nil
}

// operatorName is the name of the user running the command, for the record.
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "unknown operator"
}

func (a *app) pokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "poke [pairing...]",
		Short: "Make pairings poll now (all when none is named)",
		Long: `Sends the poke signal to each pairing named (every pairing when none is), so
it polls both systems at once instead of waiting for its poll interval. The
webCRM hooks endpoint does the same when a hook call arrives.`,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			return a.signalPairings(ctx, args, workflows.SignalPoke, nil, 0, nil)
		}),
	}
}

// signalPairings sends signal to the named pairings (all when none), and
// then waits up to wait for each one's status to satisfy done.
func (a *app) signalPairings(ctx context.Context, args []string, signal string, arg any, wait time.Duration, done func(workflows.PairingStatus) bool) error {
	names, c, err := a.pairingsClient(ctx, args)
	if err != nil {
		return err
	}
	var errs []error
	var sent []string
	for _, name := range names {
		err := c.SignalWorkflow(ctx, workflows.PairingWorkflowID(name), "", signal, arg)
		if isNotFound(err) {
			errs = append(errs, fmt.Errorf("pairing %s is not started (run `starter start %s`)", name, name))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s pairing %s: %w", signal, name, err))
			continue
		}
		sent = append(sent, name)
	}
	for _, name := range sent {
		if done == nil || wait <= 0 {
			fmt.Fprintf(a.stdout, "%s: %s signalled\n", name, signal)
			continue
		}
		st, ok := waitForStatus(ctx, c, name, wait, done)
		switch {
		case !ok:
			fmt.Fprintf(a.stdout, "%s: %s signalled; not confirmed within %s (is a worker running?)\n", name, signal, wait)
		case st.Paused:
			fmt.Fprintf(a.stdout, "%s: paused (%s)\n", name, st.PauseReason)
		default:
			fmt.Fprintf(a.stdout, "%s: running\n", name)
		}
	}
	return errors.Join(errs...)
}

// waitForStatus queries the pairing's status until done says yes or wait
// has passed.
func waitForStatus(ctx context.Context, c client.Client, name string, wait time.Duration, done func(workflows.PairingStatus) bool) (workflows.PairingStatus, bool) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		st, err := queryPairing(wctx, c, name)
		if err == nil && done(st) {
			return st, true
		}
		select {
		case <-wctx.Done():
			return st, false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// queryPairing asks a pairing workflow for its status.
func queryPairing(ctx context.Context, c client.Client, name string) (workflows.PairingStatus, error) {
	var st workflows.PairingStatus
	v, err := c.QueryWorkflow(ctx, workflows.PairingWorkflowID(name), "", workflows.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("query status of pairing %s: %w", name, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode status of pairing %s: %w", name, err)
	}
	return st, nil
}
