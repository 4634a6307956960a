package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/internal/budget"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// recordFlags are the --pairing, --webcrm-id and --erp-id flags naming one
// record of a pairing.
type recordFlags struct {
	pairing  string
	webcrmID string
	erpID    string
}

func (r *recordFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&r.pairing, "pairing", "", "pairing of the record (required)")
	fl.StringVar(&r.webcrmID, "webcrm-id", "", "the record's webCRM id (a number)")
	fl.StringVar(&r.erpID, "erp-id", "", "the record's ERP id")
	_ = cmd.MarkFlagRequired("pairing")
	cmd.MarkFlagsMutuallyExclusive("webcrm-id", "erp-id")
	cmd.MarkFlagsOneRequired("webcrm-id", "erp-id")
}

// record returns the side and id named by the flags.
func (r *recordFlags) record() (domain.Side, string, error) {
	if r.webcrmID != "" {
		if n, err := strconv.ParseInt(r.webcrmID, 10, 64); err != nil || n <= 0 {
			return "", "", usageErrorf("--webcrm-id %q is not a positive number", r.webcrmID)
		}
		return domain.WebCRM, r.webcrmID, nil
	}
	if strings.TrimSpace(r.erpID) == "" {
		return "", "", usageErrorf("--erp-id is empty")
	}
	return domain.ERP, r.erpID, nil
}

// resolveRecord checks the record flags and the pairing, and dials Temporal.
func (a *app) resolveRecord(ctx context.Context, r recordFlags) (*mappings.Pairing, domain.Side, string, client.Client, error) {
	side, id, err := r.record()
	if err != nil {
		return nil, "", "", nil, err
	}
	p, err := a.pairing(r.pairing)
	if err != nil {
		return nil, "", "", nil, err
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return nil, "", "", nil, err
	}
	return p, side, id, c, nil
}

// label names a record in messages: "webCRM Organisations record 12".
func recordLabel(p *mappings.Pairing, side domain.Side, id string) string {
	if side == domain.WebCRM {
		return fmt.Sprintf("webCRM %s record %s", p.WebCRMEntity, id)
	}
	return fmt.Sprintf("ERP %s record %s", p.ERPResource, id)
}

func (a *app) resyncCommand() *cobra.Command {
	var r recordFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "resync --pairing P (--webcrm-id N | --erp-id X)",
		Short: "Re-drive one record through its link and print the outcome",
		Long: `Hands one record to its link as a resync change, waits for the link to apply
it and prints the outcome: the action taken, the link's state and reason,
and both ids. A record that is not linked yet gets a link (when it exists on
its side). Use it after fixing the cause of a link in error.

Exits 1 when the record does not exist or the link ends in state error.`,
		Example: `  starter resync --pairing organisations --webcrm-id 1042
  starter resync --pairing products --erp-id 7f3c2a`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			p, side, id, c, err := a.resolveRecord(ctx, r)
			if err != nil {
				return err
			}
			lc := links.New(c, "")
			info, err := lc.Inspect(ctx, domain.LinkWorkflowID(r.pairing, side, id))
			if err != nil {
				return err
			}
			if info.Kind == engine.NoLink {
				if err := a.checkRecord(ctx, p, side, id); err != nil {
					return err
				}
			}
			actx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out, err := lc.Apply(actx, r.pairing, domain.Change{Side: side, ID: id, Source: domain.SourceResync})
			if err != nil {
				if actx.Err() != nil && ctx.Err() == nil {
					return fmt.Errorf("resync of %s: no outcome within %s (is a worker running?)", recordLabel(p, side, id), timeout)
				}
				return fmt.Errorf("resync of %s: %w", recordLabel(p, side, id), err)
			}
			home, _, _, _ := lc.Lookup(ctx, r.pairing, side, id)
			a.printOutcome(out, home)
			if out.State == domain.StateError {
				return fmt.Errorf("resync of %s ended in error: %s", recordLabel(p, side, id), out.Reason)
			}
			return nil
		}),
	}
	r.register(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the link's outcome")
	return cmd
}

func (a *app) printOutcome(out domain.Outcome, home string) {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "action\t%s\n", out.Action)
	fmt.Fprintf(tw, "state\t%s\n", out.State)
	if out.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", out.Reason)
	}
	fmt.Fprintf(tw, "webCRM id\t%s\n", dash(out.CrmID))
	fmt.Fprintf(tw, "ERP id\t%s\n", dash(out.ErpID))
	if out.Conflicts > 0 {
		fmt.Fprintf(tw, "conflicts\t%d\n", out.Conflicts)
	}
	if home != "" {
		fmt.Fprintf(tw, "link\t%s\n", home)
	}
	_ = tw.Flush()
}

// checkRecord makes sure a record that has no link exists on its side, so
// resync does not start a link for a mistyped id. It is skipped when the
// side's credentials are not configured (the worker reads the record then).
func (a *app) checkRecord(ctx context.Context, p *mappings.Pairing, side domain.Side, id string) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	label := recordLabel(p, side, id)
	if side == domain.WebCRM {
		if cfg.WebCRM.APIToken == "" {
			return nil
		}
		wc, err := a.webcrmClient()
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(id)
		_, err = wc.Get(ctx, webcrm.Entity(p.WebCRMEntity), n)
		if webcrm.IsNotFound(err) {
			return fmt.Errorf("no such record: %s does not exist (pairing %s)", label, p.Name)
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", label, err)
		}
		return nil
	}
	if cfg.ERP.APIKey == "" || cfg.ERP.BaseURL == "" {
		return nil
	}
	ec, err := customerp.New(customerp.Config{BaseURL: cfg.ERP.BaseURL, APIKey: cfg.ERP.APIKey, Timeout: 15 * time.Second, RetryMax: 1})
	if err != nil {
		return fmt.Errorf("client for the CustomERP API at %s: %w", cfg.ERP.BaseURL, err)
	}
	rec, err := ec.Get(ctx, customerp.Resource(p.ERPResource), id)
	if customerp.IsNotFound(err) {
		return fmt.Errorf("no such record: %s does not exist (pairing %s)", label, p.Name)
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", label, err)
	}
	if !p.Accepts(rec) {
		var filter []string
		for _, k := range slices.Sorted(maps.Keys(p.ERPFilter)) {
			filter = append(filter, k+"="+p.ERPFilter[k])
		}
		return fmt.Errorf("%s is not a record of pairing %s (its records have %s)", label, p.Name, strings.Join(filter, ", "))
	}
	return nil
}

// linkRow is one link in the links listing.
type linkRow struct {
	Link      string `json:"link"`
	CrmID     string `json:"crmId,omitempty"`
	ErpID     string `json:"erpId,omitempty"`
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	BlockedOn string `json:"blockedOn,omitempty"`
}

var linkStates = []string{domain.StateError, domain.StateBlocked, domain.StateOK, domain.StateDeleted, domain.StatePending, domain.StateRejected}

func (a *app) linksCommand() *cobra.Command {
	var pairing, state string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "links --pairing P [--state error|blocked|ok|deleted|pending] [--limit N]",
		Short: "List a pairing's links (the error inbox with --state error)",
		Long: `Lists the running links of a pairing, newest first, with both record ids and
the state; with --state only links in that state. For links in error or
blocked it asks each link for its reason (at most --limit links, a few at a
time), so "starter links --pairing P --state error" is the error inbox: fix
the cause, then "starter resync" the record.

The listing comes from Temporal visibility (search attributes TandemPairing
and TandemState), which trails the links by a second or so.`,
		Example: `  starter links --pairing organisations --state error
  starter links --pairing persons --state blocked --limit 200 --json`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			if state != "" && !slices.Contains(linkStates, state) {
				return usageErrorf("--state %q is not one of %s", state, strings.Join(linkStates, ", "))
			}
			if limit <= 0 || limit > 1000 {
				return usageErrorf("--limit %d is not between 1 and 1000", limit)
			}
			if _, err := a.pairing(pairing); err != nil {
				return err
			}
			c, err := a.temporal(ctx)
			if err != nil {
				return err
			}
			query := linkQuery(pairing, state)
			total, err := a.count(ctx, c, query)
			if err != nil {
				return fmt.Errorf("count links of %s: %w", pairing, err)
			}
			rows, err := a.listLinks(ctx, c, query, limit)
			if err != nil {
				return fmt.Errorf("list links of %s: %w", pairing, err)
			}
			addReasons(ctx, c, rows)
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Total int64     `json:"total"`
					Links []linkRow `json:"links"`
				}{total, rows})
			}
			what := "links"
			if state != "" {
				what = state + " links"
			}
			if len(rows) == 0 {
				fmt.Fprintf(a.stdout, "no %s in pairing %s\n", what, pairing)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "LINK\tWEBCRM ID\tERP ID\tSTATE\tREASON")
			for _, r := range rows {
				reason := r.Reason
				if r.BlockedOn != "" {
					reason = joinMsg(reason, "waits for "+r.BlockedOn)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Link, dash(r.CrmID), dash(r.ErpID), r.State, dash(reason))
			}
			_ = tw.Flush()
			fmt.Fprintf(a.stdout, "%d of %d %s in pairing %s\n", len(rows), total, what, pairing)
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&pairing, "pairing", "", "pairing whose links to list (required)")
	fl.StringVar(&state, "state", "", "only links in this state: "+strings.Join(linkStates, ", "))
	fl.IntVar(&limit, "limit", 50, "at most this many links (1-1000)")
	fl.BoolVar(&asJSON, "json", false, "print JSON instead of the table")
	_ = cmd.MarkFlagRequired("pairing")
	return cmd
}

// listLinks pages through the visibility query until limit links.
func (a *app) listLinks(ctx context.Context, c client.Client, query string, limit int) ([]linkRow, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	var rows []linkRow
	var token []byte
	for len(rows) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: cfg.Temporal.Namespace, PageSize: int32(min(limit-len(rows), 100)), NextPageToken: token, Query: query,
		})
		if err != nil {
			return nil, err
		}
		for _, ex := range resp.GetExecutions() {
			if len(rows) == limit {
				break
			}
			attrs := ex.GetSearchAttributes().GetIndexedFields()
			rows = append(rows, linkRow{
				Link:  ex.GetExecution().GetWorkflowId(),
				CrmID: keyword(attrs, workflows.CrmIDKey.GetName()),
				ErpID: keyword(attrs, workflows.ErpIDKey.GetName()),
				State: keyword(attrs, workflows.StateKey.GetName()),
			})
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	return rows, nil
}

// keyword decodes a Keyword search attribute ("" when absent).
func keyword(attrs map[string]*commonpb.Payload, name string) string {
	p, ok := attrs[name]
	if !ok {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}

// addReasons asks the links in error or blocked for their reason, a few at
// a time, each bounded by queryTimeout.
func addReasons(ctx context.Context, c client.Client, rows []linkRow) {
	fanOut(len(rows), 8, func(i int) {
		if !slices.Contains([]string{domain.StateError, domain.StateBlocked, domain.StatePending, domain.StateRejected}, rows[i].State) {
			return
		}
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		st, err := links.New(c, "").State(qctx, rows[i].Link)
		if err != nil {
			rows[i].Reason = "(no answer: " + oneLine(explain(err).Error()) + ")"
			return
		}
		rows[i].Reason, rows[i].BlockedOn = st.Reason, st.BlockedOn
	})
}

func (a *app) linkCommand() *cobra.Command {
	var r recordFlags
	var uiURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "link --pairing P (--webcrm-id N | --erp-id X)",
		Short: "Show the link of one record and where to read its history",
		Long: `Finds the link that owns a record (following the index entry when the record
is the link's second side) and shows its ids, state and reason, versions and
counters, and the Temporal UI address of its history, where every change
applied to the record is an "apply" update.`,
		Example: `  starter link --pairing organisations --webcrm-id 1042
  starter link --pairing persons --erp-id 55 --ui-url https://cloud.temporal.io`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			p, side, id, c, err := a.resolveRecord(ctx, r)
			if err != nil {
				return err
			}
			home, st, found, err := links.New(c, "").Lookup(ctx, r.pairing, side, id)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("no such link: %s has no link in pairing %s (`starter resync` links it when the record exists)", recordLabel(p, side, id), r.pairing)
			}
			cfg, _ := a.config()
			history := ""
			if desc, err := c.DescribeWorkflow(ctx, home, ""); err == nil {
				history = historyURL(uiURL, cfg.Temporal.Namespace, home, desc.WorkflowExecution.RunID)
			} else if !isNotFound(err) {
				return fmt.Errorf("describe link %s: %w", home, err)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Link    string           `json:"link"`
					State   domain.LinkState `json:"state"`
					History string           `json:"history,omitempty"`
				}{home, st, history})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "link\t%s\n", home)
			fmt.Fprintf(tw, "state\t%s\n", st.State)
			if at := st.EnteredAt(); !at.IsZero() {
				fmt.Fprintf(tw, "since\t%s\n", at.UTC().Format(time.RFC3339))
			}
			if st.Reason != "" {
				fmt.Fprintf(tw, "reason\t%s\n", st.Reason)
			}
			if st.BlockedOn != "" {
				fmt.Fprintf(tw, "waits for\t%s\n", st.BlockedOn)
			}
			fmt.Fprintf(tw, "webCRM id\t%s\n", withVersion(st.CrmID, st.CrmVersion))
			fmt.Fprintf(tw, "ERP id\t%s\n", withVersion(st.ErpID, st.ErpVersion))
			fmt.Fprintf(tw, "changes\t%d applied, %d writes, %d conflicts\n", st.Applied, st.Writes, st.Conflicts)
			if !st.UpdatedAt.IsZero() {
				fmt.Fprintf(tw, "updated\t%s\n", st.UpdatedAt.UTC().Format(time.RFC3339))
			}
			if history != "" {
				fmt.Fprintf(tw, "history\t%s\n", history)
			}
			return tw.Flush()
		}),
	}
	r.register(cmd)
	cmd.Flags().StringVar(&uiURL, "ui-url", "http://127.0.0.1:8233", "base URL of the Temporal UI")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of the table")
	return cmd
}

func withVersion(id, version string) string {
	if id == "" {
		return "-"
	}
	if version == "" {
		return id
	}
	return id + " (version " + version + ")"
}

// historyURL is the Temporal UI page of a workflow run's history.
func historyURL(base, namespace, workflowID, runID string) string {
	return strings.TrimRight(base, "/") + "/namespaces/" + url.PathEscape(namespace) +
		"/workflows/" + url.PathEscape(workflowID) + "/" + url.PathEscape(runID) + "/history"
}

// webcrmClient returns a webCRM client built from the settings.
func (a *app) webcrmClient() (*webcrm.Client, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	if cfg.WebCRM.APIToken == "" {
		return nil, errors.New("the webCRM API token is not set: set WEBCRM_API_TOKEN (webcrm.apiToken in --config)")
	}
	loc, err := cfg.WebCRM.Location()
	if err != nil {
		return nil, err
	}
	wcfg := webcrm.Config{
		BaseURL: cfg.WebCRM.BaseURL, APIToken: cfg.WebCRM.APIToken, RequestsPerMinute: cfg.WebCRM.RequestsPerMinute,
		Timeout: 15 * time.Second, RetryMax: 1, Logger: a.logger, TimeZone: loc,
	}
	// The token's budget is shared with the workers: lease from it when
	// Temporal answers (else the client's own limiter counts alone).
	if c, err := a.temporal(context.Background()); err == nil {
		wcfg.Budget = budget.New(c, budget.Options{
			PerMinute: cfg.WebCRM.RequestsPerMinute, Reserve: cfg.WebCRM.ReservedShare,
			Holder: service.Holder("starter"), Logger: a.logger,
		}).Patient(3 * time.Second)
	}
	wc, err := webcrm.New(wcfg)
	if err != nil {
		return nil, fmt.Errorf("webCRM client for %s: %w", cfg.WebCRM.BaseURL, err)
	}
	return wc, nil
}
