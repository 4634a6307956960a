package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/links"
)

// reviewFlags select the first contacts a decision is about: one record,
// every pending link of a pairing, or the entries of a plan file.
type reviewFlags struct {
	recordFlags
	all     bool
	plan    string
	match   string
	timeout time.Duration
}

// decision is one operator decision to send to a record's link.
type decision struct {
	pairing string
	change  domain.Change
}

func (a *app) approveCommand() *cobra.Command {
	return a.reviewCommand(domain.ReviewApprove, "approve", "Approve first contacts held for review (one, all, or a plan file)",
		`Lets first contacts that the pairing's review option holds go ahead: a record
that waits because a counterpart would be created gets it created; one that
waits because several records match it is linked to the one named with
--match. Name one record (--pairing with --webcrm-id or --erp-id), every
pending link of a pairing (--pairing P --all), or a plan file written by
"starter plan --format json --output FILE" (--plan FILE): its "create"
entries are approved, and so are its "ambiguous" entries in which you filled
in "choose" with the candidate to link; other entries are left alone.

Each decision goes to the record's link, which does the first contact and
answers; the command prints how many ended in which action and state.`,
		`  starter approve --pairing organisations --webcrm-id 1042
  starter approve --pairing organisations --erp-id CU-7 --match 1042
  starter approve --pairing persons --all
  starter approve --plan plan.json`)
}

func (a *app) rejectCommand() *cobra.Command {
	return a.reviewCommand(domain.ReviewReject, "reject", "Reject first contacts held for review: the records stay unsynced",
		`Rejects first contacts that the pairing's review option holds: the record's
link moves to state rejected, nothing is written, and later changes of the
record do nothing until it is approved ("starter approve"). Name one record,
every pending link of a pairing (--all), or a plan file (--plan FILE: its
"create" and "ambiguous" entries).`,
		`  starter reject --pairing organisations --webcrm-id 1042
  starter reject --plan plan.json`)
}

func (a *app) reviewCommand(review, use, short, long, example string) *cobra.Command {
	var f reviewFlags
	cmd := &cobra.Command{
		Use:     use + " (--pairing P (--webcrm-id N | --erp-id X | --all) | --plan FILE)",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			ds, err := a.decisions(ctx, f, review)
			if err != nil {
				return err
			}
			if len(ds) == 0 {
				fmt.Fprintln(a.stdout, "nothing to "+use)
				return nil
			}
			c, err := a.temporal(ctx)
			if err != nil {
				return err
			}
			return a.sendDecisions(ctx, links.New(c, ""), ds, f.timeout)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.pairing, "pairing", "", "pairing of the records")
	fl.StringVar(&f.webcrmID, "webcrm-id", "", "one record's webCRM id (a number)")
	fl.StringVar(&f.erpID, "erp-id", "", "one record's ERP id")
	fl.BoolVar(&f.all, "all", false, "every link of the pairing in state pending")
	fl.StringVar(&f.plan, "plan", "", "a plan file (starter plan --format json)")
	if review == domain.ReviewApprove {
		fl.StringVar(&f.match, "match", "", "with one record: link it to this candidate on the other side")
	}
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long to wait for each link's answer")
	cmd.MarkFlagsMutuallyExclusive("webcrm-id", "erp-id", "all", "plan")
	cmd.MarkFlagsOneRequired("webcrm-id", "erp-id", "all", "plan")
	cmd.MarkFlagsMutuallyExclusive("plan", "pairing")
	return cmd
}

// decisions turns the flags into the decisions to send.
func (a *app) decisions(ctx context.Context, f reviewFlags, review string) ([]decision, error) {
	mk := func(pairing string, side domain.Side, id, choose string) decision {
		return decision{pairing, domain.Change{Side: side, ID: id, Source: domain.SourceReview, Review: review, Choose: choose}}
	}
	switch {
	case f.plan != "":
		data, err := os.ReadFile(f.plan)
		if err != nil {
			return nil, fmt.Errorf("read the plan: %w", err)
		}
		var pf planFile
		if err := json.Unmarshal(data, &pf); err != nil {
			return nil, fmt.Errorf("read the plan %s: it is not a plan file (starter plan --format json): %w", f.plan, err)
		}
		var out []decision
		for _, p := range pf.Plans {
			if _, err := a.pairing(p.Pairing); err != nil {
				return nil, fmt.Errorf("plan %s: %w", f.plan, err)
			}
			for _, en := range p.Entries {
				switch {
				case en.Verdict == engine.PlanCreate,
					en.Verdict == engine.PlanAmbiguous && review == domain.ReviewReject:
					out = append(out, mk(p.Pairing, en.Side, en.ID, ""))
				case en.Verdict == engine.PlanAmbiguous && en.Choose != "":
					out = append(out, mk(p.Pairing, en.Side, en.ID, en.Choose))
				}
			}
		}
		return out, nil
	case f.pairing == "":
		return nil, usageErrorf("name the pairing with --pairing (or give --plan)")
	case f.all:
		if _, err := a.pairing(f.pairing); err != nil {
			return nil, err
		}
		c, err := a.temporal(ctx)
		if err != nil {
			return nil, err
		}
		rows, err := a.listLinks(ctx, c, linkQuery(f.pairing, domain.StatePending), 100000)
		if err != nil {
			return nil, fmt.Errorf("list the pending links of %s: %w", f.pairing, err)
		}
		var out []decision
		for _, r := range rows {
			_, side, id, err := domain.ParseLinkWorkflowID(r.Link)
			if err != nil {
				continue
			}
			out = append(out, mk(f.pairing, side, id, ""))
		}
		return out, nil
	}
	if _, err := a.pairing(f.pairing); err != nil {
		return nil, err
	}
	side, id, err := f.record()
	if err != nil {
		return nil, err
	}
	return []decision{mk(f.pairing, side, id, strings.TrimSpace(f.match))}, nil
}

// sendDecisions sends each decision to its record's link, a few at a time,
// and prints one line per record and the counts.
func (a *app) sendDecisions(ctx context.Context, lc *links.Client, ds []decision, timeout time.Duration) error {
	type answer struct {
		d   decision
		out domain.Outcome
		err error
	}
	answers := make([]answer, len(ds))
	fanOut(len(ds), 8, func(i int) {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		out, err := lc.Apply(actx, ds[i].pairing, ds[i].change)
		answers[i] = answer{ds[i], out, err}
	})
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PAIRING\tSIDE\tID\tACTION\tSTATE\tREASON")
	counts := map[string]int{}
	failed := 0
	for _, an := range answers {
		ch := an.d.change
		if an.err != nil {
			failed++
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t%s\n", an.d.pairing, ch.Side, ch.ID, oneLine(explain(an.err).Error()))
			continue
		}
		counts[an.out.Action+" ("+an.out.State+")"]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", an.d.pairing, ch.Side, ch.ID, an.out.Action, an.out.State, dash(an.out.Reason))
	}
	_ = tw.Flush()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d without an answer", failed))
	}
	fmt.Fprintf(a.stdout, "%d decisions: %s\n", len(ds), strings.Join(parts, ", "))
	if failed > 0 {
		return fmt.Errorf("%d of %d decisions got no answer (is a worker running?)", failed, len(ds))
	}
	return nil
}
