package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/workflows"
)

// queryTimeout bounds one query to a workflow, which needs a worker to answer.
const queryTimeout = 5 * time.Second

// Pairing states shown by status.
const (
	stateRunning    = "running"
	statePaused     = "paused"
	stateNotStarted = "not started"
)

// pairingView is one pairing's row in status (and its --json object).
type pairingView struct {
	Pairing         string                     `json:"pairing"`
	State           string                     `json:"state"`
	PauseReason     string                     `json:"pauseReason,omitempty"`
	WebCRMWatermark *time.Time                 `json:"webcrmWatermark,omitempty"`
	ERPToken        string                     `json:"erpToken,omitempty"`
	Links           *linkCounts                `json:"links,omitempty"`
	LastPollAt      *time.Time                 `json:"lastPollAt,omitempty"`
	LagSeconds      *int64                     `json:"lagSeconds,omitempty"`
	LastError       string                     `json:"lastError,omitempty"`
	FailedLinks     []string                   `json:"failedLinks,omitempty"`
	Totals          *workflows.PairingCounters `json:"totals,omitempty"`
}

// linkCounts counts a pairing's running home links.
type linkCounts struct {
	Total   int64 `json:"total"`
	Error   int64 `json:"error"`
	Blocked int64 `json:"blocked"`
}

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [pairing...]",
		Short: "Show each pairing: running or paused, watermarks, links, lag, last error",
		Long: `Shows, for each pairing named (every pairing when none is): whether it runs
or is paused (and why), the webCRM watermark, the ERP change-feed token, the
number of links and of links in error and blocked, the time of the last poll,
the lag and the last poll error. A pairing whose workflow does not run shows
"not started".

The lag is the time since the pairing's last complete poll (both sides read
without error and every change dispatched): a change older than that has
reached its link, so the lag bounds the age of the oldest change not yet
dispatched, and a quiet pairing that polls shows a lag of about its poll
interval, however old its watermark. It shows "-" until the current run has
completed a poll; the last error says why one does not complete. Links in
error or blocked are listed by "starter errors".

Link counts come from Temporal visibility (search attributes TandemPairing and
TandemState on running LinkWorkflow executions), which trails the links by a
second or so.`,
		Example: `  starter status
  starter status organisations --json`,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, args []string) error {
			names, c, err := a.pairingsClient(ctx, args)
			if err != nil {
				return err
			}
			views := make([]pairingView, len(names))
			var wg sync.WaitGroup
			for i, name := range names {
				wg.Go(func() { views[i] = a.pairingStatus(ctx, c, name) })
			}
			wg.Wait()
			if err := ctx.Err(); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(views)
			}
			a.printStatus(views)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of the table")
	return cmd
}

// pairingStatus gathers one pairing's status. Failures of the parts are
// reported in LastError rather than failing the whole command.
func (a *app) pairingStatus(ctx context.Context, c client.Client, name string) pairingView {
	v := pairingView{Pairing: name, State: stateNotStarted}
	if counts, err := a.countLinks(ctx, c, name); err != nil {
		v.LastError = err.Error()
	} else {
		v.Links = &counts
	}
	running, err := pairingRunning(ctx, c, name)
	if err != nil {
		v.LastError = joinMsg(v.LastError, err.Error())
		return v
	}
	if !running {
		return v
	}
	v.State = stateRunning
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	st, err := queryPairing(qctx, c, name)
	if err != nil {
		if timedOut(qctx, err) {
			err = fmt.Errorf("pairing %s did not answer its status query within %s (is a worker running?)", name, queryTimeout)
		}
		v.LastError = joinMsg(v.LastError, explain(err).Error())
		return v
	}
	if st.Paused {
		v.State, v.PauseReason = statePaused, st.PauseReason
	}
	if !st.WebCRMWatermark.IsZero() {
		wm := st.WebCRMWatermark.UTC()
		v.WebCRMWatermark = &wm
	}
	if !st.LastPollAt.IsZero() {
		lp := st.LastPollAt.UTC()
		lag := pollLag(a.now(), lp)
		v.LastPollAt, v.LagSeconds = &lp, &lag
	}
	v.ERPToken = st.ERPToken
	v.LastError = joinMsg(st.LastError, v.LastError)
	v.FailedLinks = st.FailedLinks
	totals := st.Totals
	v.Totals = &totals
	return v
}

// pollLag is the lag of a pairing whose last complete poll ended at
// lastPoll, in whole seconds and never negative (clocks differ).
func pollLag(now, lastPoll time.Time) int64 {
	return max(0, int64(now.Sub(lastPoll)/time.Second))
}

// timedOut reports whether a call bounded by ctx failed because the bound
// passed (the server may answer with a cancellation just before ctx ends).
func timedOut(ctx context.Context, err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var canceled *serviceerror.Canceled
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline) || errors.As(err, &canceled)
}

func joinMsg(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// linkQuery is the visibility query of a pairing's running home links,
// optionally in one state.
func linkQuery(pairing, state string) string {
	q := fmt.Sprintf("WorkflowType = 'LinkWorkflow' AND ExecutionStatus = 'Running' AND %s = %s",
		workflows.PairingKey.GetName(), quote(pairing))
	if state != "" {
		q += fmt.Sprintf(" AND %s = %s", workflows.StateKey.GetName(), quote(state))
	}
	return q
}

func (a *app) countLinks(ctx context.Context, c client.Client, pairing string) (linkCounts, error) {
	var out linkCounts
	for _, q := range []struct {
		state string
		dst   *int64
	}{{"", &out.Total}, {domain.StateError, &out.Error}, {domain.StateBlocked, &out.Blocked}} {
		n, err := a.count(ctx, c, linkQuery(pairing, q.state))
		if err != nil {
			return out, fmt.Errorf("count links of %s: %w", pairing, err)
		}
		*q.dst = n
	}
	return out, nil
}

func (a *app) count(ctx context.Context, c client.Client, query string) (int64, error) {
	cfg, err := a.config()
	if err != nil {
		return 0, err
	}
	resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: cfg.Temporal.Namespace, Query: query})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

func (a *app) printStatus(views []pairingView) {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIRING\tSTATE\tWEBCRM WATERMARK\tERP TOKEN\tLINKS\tERROR\tBLOCKED\tLAST POLL\tLAG\tLAST ERROR")
	for _, v := range views {
		state := v.State
		if v.State == statePaused {
			state += " (" + v.PauseReason + ")"
		}
		total, errs, blocked := "?", "?", "?"
		if v.Links != nil {
			total, errs, blocked = strconv.FormatInt(v.Links.Total, 10), strconv.FormatInt(v.Links.Error, 10), strconv.FormatInt(v.Links.Blocked, 10)
		}
		lag := "-"
		if v.LagSeconds != nil {
			lag = humanDuration(time.Duration(*v.LagSeconds) * time.Second)
		}
		lastErr := v.LastError
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			v.Pairing, state, timeCell(v.WebCRMWatermark), dash(v.ERPToken), total, errs, blocked, timeCell(v.LastPollAt), lag, lastErr)
	}
	_ = tw.Flush()
}

// humanDuration is a short rendering of d: 45s, 3m07s, 5h02m, 12d.
func humanDuration(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%s%ds", neg, int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%s%dm%02ds", neg, int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%s%dh%02dm", neg, int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%s%dd", neg, int(d/(24*time.Hour)))
}

func timeCell(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
