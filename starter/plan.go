package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/stores"
	"github.com/tandemsync/tandem/workflows"
)

// planFormats are the outputs of `starter plan`.
var planFormats = []string{"table", "csv", "json"}

func (a *app) planCommand() *cobra.Command {
	var pairings []string
	var format, output string
	cmd := &cobra.Command{
		Use:   "plan [--pairing P]... [--format table|csv|json] [--output FILE]",
		Short: "Preview what the first sync would do, writing nothing",
		Long: `Reads both sides of the pairings (all of them without --pairing) and the links
that exist, and says for every record that is not linked yet what its first
contact would do:

  matched    exactly one unlinked record on the other side shares its merge key
             (the criterion and both records' normalised values are shown)
  ambiguous  more records share the key; every candidate is listed
  create     no counterpart: one would be created on the other side
  blocked    it refers to a record that would not be linked first
  skipped    the pairing does not create it (one-way pairing, gate)
  invalid    it cannot be mapped; its link would be in error
  rejected   an operator rejected its first contact (starter reject)

with totals per pairing (linked counts the records that have a link). It
writes nothing to webCRM, the ERP or Temporal. Pairings a planned pairing
refers to are read too, so that a person whose organisation would be matched
or created is not taken for blocked.

The JSON output (--format json --output plan.json) is the plan file that
"starter links approve --plan" takes. Reading costs webCRM requests: one
/Queries page of 1,000 records per 1,000 records, inside the token's budget.
The links are those Temporal's visibility lists, which trails them by seconds.`,
		Example: `  starter plan
  starter plan --pairing organisations --format csv --output organisations.csv
  starter plan --format json --output plan.json`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			if !slices.Contains(planFormats, format) {
				return usageErrorf("--format %q is not one of %s", format, strings.Join(planFormats, ", "))
			}
			names, err := a.pairingNames(pairings)
			if err != nil {
				return err
			}
			if len(pairings) == 0 {
				names = nil
			}
			eng, err := a.planEngine(ctx)
			if err != nil {
				return err
			}
			bar := newReadProgress(a.stderr)
			plans, err := eng.Plan(ctx, names, bar.update)
			bar.close()
			if err != nil {
				return err
			}
			w, done := a.stdout, func() error { return nil }
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("write the plan: %w", err)
				}
				w, done = f, f.Close
			}
			if err := writePlan(w, format, plans); err != nil {
				_ = done()
				return fmt.Errorf("write the plan: %w", err)
			}
			if err := done(); err != nil {
				return fmt.Errorf("write the plan to %s: %w", output, err)
			}
			if output != "" {
				fmt.Fprintf(a.stdout, "plan of %d pairings written to %s\n", len(plans), output)
				writeTotals(a.stdout, plans)
			}
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&pairings, "pairing", nil, "pairing to plan (repeatable; default all)")
	fl.StringVar(&format, "format", "table", "output: "+strings.Join(planFormats, ", "))
	fl.StringVarP(&output, "output", "o", "", "write the plan to this file instead of stdout")
	return cmd
}

// planEngine builds an engine that reads both systems and the links; the
// plan uses only its read paths.
func (a *app) planEngine(ctx context.Context) (*engine.Engine, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	set, err := a.mappingSet()
	if err != nil {
		return nil, err
	}
	if cfg.ERP.BaseURL == "" || cfg.ERP.APIKey == "" {
		return nil, errors.New("the CustomERP adapter is not set: set CUSTOMERP_BASE_URL and CUSTOMERP_API_KEY (erp.baseURL, erp.apiKey in --config)")
	}
	c, err := a.temporal(ctx)
	if err != nil {
		return nil, err
	}
	wc, err := a.webcrmClient()
	if err != nil {
		return nil, err
	}
	ec, err := customerp.New(customerp.Config{BaseURL: cfg.ERP.BaseURL, APIKey: cfg.ERP.APIKey, Timeout: 30 * time.Second, RetryMax: 1, Logger: a.logger})
	if err != nil {
		return nil, fmt.Errorf("client for the CustomERP API at %s: %w", cfg.ERP.BaseURL, err)
	}
	clients := stores.Clients{WebCRM: wc, ERP: ec, Logger: a.logger}
	return engine.New(engine.Options{
		Pairings: set, Sides: clients.Sides, Links: links.New(c, workflows.TaskQueue),
		Classify: stores.Classify, Logger: a.logger,
	}), nil
}

// readProgress shows a spinner with the records read so far, one line per
// pairing and side.
type readProgress struct {
	v  *progressView
	at string
}

func newReadProgress(w io.Writer) *readProgress {
	return &readProgress{v: newProgressView(w, time.Now)}
}

func (p *readProgress) update(pairing string, side domain.Side, n int) {
	if at := pairing + " " + string(side); p.v.bar == nil || p.at != at {
		p.at = at
		p.v.reset(-1, "reading "+at+" records")
	}
	_ = p.v.bar.Set64(int64(n))
}

func (p *readProgress) close() { p.v.close() }

// writePlan writes plans in one of planFormats.
func writePlan(w io.Writer, format string, plans []engine.PairingPlan) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(planFile{Plans: plans})
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"pairing", "verdict", "side", "id", "counterpart", "candidates", "criterion", "value", "counterpart value", "reason"})
		for _, p := range plans {
			for _, en := range p.Entries {
				_ = cw.Write([]string{en.Pairing, en.Verdict, string(en.Side), en.ID, en.CounterpartID,
					strings.Join(en.Candidates, " "), en.Criterion, en.Value, en.CounterpartValue, en.Reason})
			}
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIRING\tVERDICT\tSIDE\tID\tCOUNTERPART\tBY\tVALUES\tREASON")
	for _, p := range plans {
		for _, en := range p.Entries {
			other := en.CounterpartID
			if len(en.Candidates) > 0 {
				other = strings.Join(en.Candidates, ",")
			}
			values := en.Value
			if en.CounterpartValue != "" {
				values += " ⇄ " + en.CounterpartValue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", en.Pairing, en.Verdict, en.Side, en.ID,
				dash(other), dash(en.Criterion), dash(values), dash(en.Reason))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeTotals(w, plans)
	return nil
}

// writeTotals writes one line of totals per pairing.
func writeTotals(w io.Writer, plans []engine.PairingPlan) {
	for _, p := range plans {
		var parts []string
		for _, v := range engine.PlanVerdicts() {
			parts = append(parts, fmt.Sprintf("%d %s", p.Totals[v], v))
		}
		fmt.Fprintf(w, "%s: %s\n", p.Pairing, strings.Join(parts, ", "))
	}
}

// planFile is the JSON form of a plan, read back by `links approve --plan`.
type planFile struct {
	Plans []engine.PairingPlan `json:"plans"`
}
