package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/workflows"
)

// maxPageSize is the largest page webCRM serves.
const maxPageSize = 1000

type backfillFlags struct {
	pairing     string
	side        string
	since       string
	pageSize    int
	countWebCRM bool
	concurrency int
	detach      bool
}

func (a *app) backfillCommand() *cobra.Command {
	var f backfillFlags
	cmd := &cobra.Command{
		Use:   "backfill --pairing P [--side webcrm|erp|both] [--since RFC3339] [--page-size N] [--concurrency N] [--detach]",
		Short: "Run a backfill of one pairing and watch its progress",
		Long: `Starts the backfill of a pairing (workflow backfill/<pairing>/<side>): it pages
through every record of the side (webCRM first with --side both) and hands
each to its link, like the poller does. Links skip what they have already
synced, so running a backfill again is harmless.

When that backfill already runs, the command attaches to it instead of
starting another (its own flags then apply). It then asks the workflow for
its progress every second and draws a progress bar (done/total, rate, ETA;
a spinner with the count while the total is not known yet), and prints a
summary when the backfill completes.

Ctrl-C detaches: the backfill keeps running in Temporal and is not
cancelled; "starter backfill attach" watches it again. --detach starts it
and returns at once.`,
		Example: `  starter backfill --pairing organisations
  starter backfill --pairing products --side erp --page-size 200
  starter backfill --pairing organisations --side webcrm --since 2024-01-01T00:00:00Z --detach`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			return a.runBackfill(ctx, f)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.pairing, "pairing", "", "pairing to backfill (required)")
	fl.StringVar(&f.side, "side", workflows.BackfillBoth, "side to read: webcrm, erp or both")
	fl.StringVar(&f.since, "since", "", "webCRM side: only records updated at or after this time (RFC 3339)")
	fl.IntVar(&f.pageSize, "page-size", 0, "records read per page (default 1000, the most webCRM serves)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "records dispatched at once (default 32)")
	fl.BoolVar(&f.countWebCRM, "count-webcrm", false, "count the webCRM side first, for a total and an ETA (one webCRM request per 1,000 records)")
	fl.BoolVar(&f.detach, "detach", false, "start the backfill and return without watching it")
	_ = cmd.MarkFlagRequired("pairing")
	cmd.AddCommand(a.backfillAttachCommand())
	return cmd
}

func (a *app) backfillAttachCommand() *cobra.Command {
	var pairing, side string
	cmd := &cobra.Command{
		Use:   "attach --pairing P [--side webcrm|erp|both]",
		Short: "Watch a backfill that was started before (after the CLI was stopped)",
		Long: `Attaches to the backfill backfill/<pairing>/<side> and draws its progress
until it completes, like "starter backfill" does. A backfill that has
already completed prints its summary. Ctrl-C detaches again without
cancelling it.`,
		Example: `  starter backfill attach --pairing organisations`,
		Args:    cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			if err := checkSide(side); err != nil {
				return err
			}
			if _, err := a.pairing(pairing); err != nil {
				return err
			}
			c, err := a.temporal(ctx)
			if err != nil {
				return err
			}
			id := workflows.BackfillWorkflowID(pairing, side)
			desc, err := c.DescribeWorkflow(ctx, id, "")
			if isNotFound(err) {
				return fmt.Errorf("no backfill %s; start one with `starter backfill --pairing %s --side %s`", id, pairing, side)
			}
			if err != nil {
				return fmt.Errorf("describe backfill %s: %w", id, err)
			}
			runID := desc.WorkflowExecution.RunID
			if desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				fmt.Fprintf(a.stdout, "attached to backfill %s (run %s)\n", id, runID)
			}
			return a.watchBackfill(ctx, c, pairing, side, c.GetWorkflow(ctx, id, ""))
		}),
	}
	cmd.Flags().StringVar(&pairing, "pairing", "", "pairing of the backfill (required)")
	cmd.Flags().StringVar(&side, "side", workflows.BackfillBoth, "side of the backfill: webcrm, erp or both")
	_ = cmd.MarkFlagRequired("pairing")
	return cmd
}

func checkSide(side string) error {
	switch side {
	case workflows.BackfillWebCRM, workflows.BackfillERP, workflows.BackfillBoth:
		return nil
	}
	return usageErrorf("--side %q is not one of webcrm, erp, both", side)
}

func (f backfillFlags) input() (workflows.BackfillInput, error) {
	in := workflows.BackfillInput{Pairing: f.pairing, Side: f.side, PageSize: f.pageSize, Concurrency: f.concurrency, CountWebCRM: f.countWebCRM}
	if err := checkSide(f.side); err != nil {
		return in, err
	}
	if f.since != "" {
		t, err := time.Parse(time.RFC3339, f.since)
		if err != nil {
			return in, usageErrorf("--since %q is not an RFC 3339 time such as 2024-01-31T00:00:00Z", f.since)
		}
		in.Since = t.UTC()
	}
	if f.pageSize < 0 || f.pageSize > maxPageSize {
		return in, usageErrorf("--page-size %d is not between 1 and %d", f.pageSize, maxPageSize)
	}
	if f.concurrency < 0 {
		return in, usageErrorf("--concurrency %d is negative", f.concurrency)
	}
	return in, nil
}

func (a *app) runBackfill(ctx context.Context, f backfillFlags) error {
	in, err := f.input()
	if err != nil {
		return err
	}
	if _, err := a.pairing(f.pairing); err != nil {
		return err
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return err
	}
	id := workflows.BackfillWorkflowID(f.pairing, f.side)
	var runningID string
	desc, err := c.DescribeWorkflow(ctx, id, "")
	switch {
	case isNotFound(err):
	case err != nil:
		return fmt.Errorf("describe backfill %s: %w", id, err)
	case desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		runningID = desc.WorkflowExecution.RunID
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            fmt.Sprintf("backfill of the %s pairing (%s)", f.pairing, f.side),
		StaticDetails: fmt.Sprintf("Pages through %s records of the **%s** pairing and hands each to its link. "+
			"Query `progress` for done/total. Started by the starter CLI.", f.side, f.pairing),
	}, workflows.BackfillWorkflow, in)
	if err != nil {
		return fmt.Errorf("start backfill %s: %w", id, err)
	}
	if runningID != "" && runningID == run.GetRunID() {
		fmt.Fprintf(a.stdout, "attached to backfill %s (run %s), which was already running; its own settings apply\n", id, run.GetRunID())
	} else {
		fmt.Fprintf(a.stdout, "started backfill %s (run %s)\n", id, run.GetRunID())
	}
	if f.detach {
		fmt.Fprintf(a.stdout, "detached; watch it with `starter backfill attach --pairing %s --side %s`\n", f.pairing, f.side)
		return nil
	}
	return a.watchBackfill(ctx, c, f.pairing, f.side, run)
}

type backfillResult struct {
	progress workflows.BackfillProgress
	err      error
}

// watchBackfill queries the backfill's progress every pollEvery and draws
// it until the run completes (following continue-as-new) or ctx ends.
func (a *app) watchBackfill(ctx context.Context, c client.Client, pairing, side string, run client.WorkflowRun) error {
	id := run.GetID()
	done := make(chan backfillResult, 1)
	go func() {
		var p workflows.BackfillProgress
		err := run.Get(ctx, &p)
		done <- backfillResult{p, err}
	}()
	view := newProgressView(a.stderr, a.now)
	defer view.close()
	detached := func() error {
		view.close()
		fmt.Fprintf(a.stderr, "detached: backfill %s keeps running in Temporal (it was not cancelled); "+
			"watch it again with `starter backfill attach --pairing %s --side %s`\n", id, pairing, side)
		return nil
	}
	// poll draws the progress; it fails only when the answer cannot be
	// read at all (payloads encrypted with keys the starter lacks).
	poll := func() error {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		v, err := c.QueryWorkflow(qctx, id, "", workflows.QueryProgress)
		var p workflows.BackfillProgress
		if err == nil {
			err = v.Get(&p)
		}
		if explained := explain(err); explained != err {
			view.close()
			return fmt.Errorf("read the progress of backfill %s: %w", id, explained)
		}
		if err != nil {
			view.waiting("waiting for a worker to report progress")
			return nil
		}
		view.update(p)
		return nil
	}
	if err := poll(); err != nil {
		return err
	}
	ticker := time.NewTicker(a.pollEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return detached()
		case r := <-done:
			if ctx.Err() != nil {
				return detached()
			}
			view.close()
			if r.err != nil {
				return fmt.Errorf("backfill %s failed: %w", id, r.err)
			}
			a.printBackfillSummary(id, pairing, r.progress)
			return nil
		case <-ticker.C:
			if err := poll(); err != nil {
				return err
			}
		}
	}
}

func (a *app) printBackfillSummary(id, pairing string, p workflows.BackfillProgress) {
	took := "-"
	if !p.StartedAt.IsZero() {
		took = a.now().Sub(p.StartedAt).Round(time.Second).String()
	}
	fmt.Fprintf(a.stdout, "backfill %s completed: %d records in %s, %d failed\n", id, p.Done, took, p.Failed)
	if len(p.Actions) > 0 {
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		for _, k := range slices.Sorted(maps.Keys(p.Actions)) {
			fmt.Fprintf(tw, "  %s\t%d\n", k, p.Actions[k])
		}
		_ = tw.Flush()
	}
	if p.Failed > 0 {
		fmt.Fprintf(a.stdout, "records that ended in error or blocked: `starter links --pairing %s --state error` and `--state blocked`\n", pairing)
	}
}

// rateETA formats the rate since the backfill started and the time left.
func rateETA(p workflows.BackfillProgress, now time.Time) string {
	elapsed := now.Sub(p.StartedAt).Seconds()
	if p.StartedAt.IsZero() || elapsed <= 0 || p.Done == 0 {
		return "rate -"
	}
	rate := float64(p.Done) / elapsed
	s := fmt.Sprintf("%.1f rec/s", rate)
	if p.Total > p.Done {
		eta := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second)).Round(time.Second)
		s += ", ETA " + eta.String()
	}
	return s
}

// describeProgress is the text next to the bar.
func describeProgress(p workflows.BackfillProgress, now time.Time) string {
	parts := []string{p.Phase, rateETA(p, now)}
	if p.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", p.Failed))
	}
	return strings.Join(parts, " · ")
}
