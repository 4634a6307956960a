package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/inbox"
	"github.com/tandemsync/tandem/links"
)

// errorsFlags are the flags errors and errors redrive share.
type errorsFlags struct {
	pairing string
	limit   int
}

func (f *errorsFlags) register(cmd *cobra.Command, pairingRequired bool) {
	fl := cmd.Flags()
	help := "only this pairing's links"
	if pairingRequired {
		help = "pairing of the links (required)"
	}
	fl.StringVar(&f.pairing, "pairing", "", help)
	fl.IntVar(&f.limit, "limit", 1000, "read at most this many links in error and as many blocked per pairing (1-10000)")
	if pairingRequired {
		_ = cmd.MarkFlagRequired("pairing")
	}
}

// pairingGroups is the inbox of one pairing.
type pairingGroups struct {
	Pairing string `json:"pairing"`
	// Error and Blocked are the counts visibility gives; the groups cover
	// at most --limit of each.
	Error   int64         `json:"error"`
	Blocked int64         `json:"blocked"`
	Groups  []inbox.Group `json:"groups"`
}

func (a *app) errorsCommand() *cobra.Command {
	var f errorsFlags
	var asJSON, showLinks bool
	cmd := &cobra.Command{
		Use:   "errors [--pairing P]",
		Short: "The error inbox: links in error or blocked, grouped by cause",
		Long: `Lists the links in state error or blocked, grouped by cause: the reason a
link gives with its ids, numbers, quoted values, e-mail addresses, UUIDs and
URLs taken out, so links that fail for one reason are one group. Each group
shows its key, the number of links, the age of the oldest (the time since
its state last changed) and an example link with its full reason.

Once a cause is fixed, "starter errors redrive --pairing P --cause KEY"
re-drives every link of the group once. The listing comes from Temporal
visibility, which trails the links by a second or so; the reasons come from
the links themselves.`,
		Example: `  starter errors
  starter errors --pairing persons --links
  starter errors redrive --pairing persons --cause 3fa2b1c0`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			var args []string
			if f.pairing != "" {
				args = []string{f.pairing}
			}
			names, c, err := a.pairingsClient(ctx, args)
			if err != nil {
				return err
			}
			var all []pairingGroups
			for _, name := range names {
				pg, err := a.inbox(ctx, c, name, f.limit)
				if err != nil {
					return err
				}
				all = append(all, pg)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(all)
			}
			a.printInbox(all, showLinks)
			return nil
		}),
	}
	f.register(cmd, false)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (every group with all its links) instead of the table")
	cmd.Flags().BoolVar(&showLinks, "links", false, "list every link of each group under it")
	cmd.AddCommand(a.redriveCommand())
	return cmd
}

func (f *errorsFlags) check() error {
	if f.limit <= 0 || f.limit > 10000 {
		return usageErrorf("--limit %d is not between 1 and 10000", f.limit)
	}
	return nil
}

// inbox lists one pairing's links in error and blocked, asks each for its
// reason and groups them.
func (a *app) inbox(ctx context.Context, c client.Client, pairing string, limit int) (pairingGroups, error) {
	out := pairingGroups{Pairing: pairing}
	var rows []linkRow
	for _, st := range []struct {
		state string
		n     *int64
	}{{domain.StateError, &out.Error}, {domain.StateBlocked, &out.Blocked}} {
		q := linkQuery(pairing, st.state)
		n, err := a.count(ctx, c, q)
		if err != nil {
			return out, fmt.Errorf("count %s links of %s: %w", st.state, pairing, err)
		}
		*st.n = n
		if n == 0 {
			continue
		}
		r, err := a.listLinks(ctx, c, q, limit)
		if err != nil {
			return out, fmt.Errorf("list %s links of %s: %w", st.state, pairing, err)
		}
		rows = append(rows, r...)
	}
	out.Groups = inbox.Groups(linkItems(ctx, c, rows))
	return out, nil
}

// linkItems asks each link for its state, a few at a time. A link that
// does not answer is an item of its own cause ("no answer: …"); one that
// is no longer in error or blocked (fixed since the listing) is left out.
func linkItems(ctx context.Context, c client.Client, rows []linkRow) []inbox.Item {
	items := make([]*inbox.Item, len(rows))
	fanOut(len(rows), 8, func(i int) {
		r := rows[i]
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		defer cancel()
		st, err := links.New(c, "").State(qctx, r.Link)
		if err != nil {
			items[i] = &inbox.Item{Link: r.Link, State: r.State, Reason: "(no answer from the link: " + oneLine(explain(err).Error()) + ")"}
			return
		}
		if st.State != domain.StateError && st.State != domain.StateBlocked {
			return
		}
		reason := st.Reason
		if st.BlockedOn != "" {
			reason = joinMsg(reason, "waits for "+st.BlockedOn)
		}
		items[i] = &inbox.Item{Link: r.Link, State: st.State, Reason: reason, Since: st.EnteredAt()}
	})
	var out []inbox.Item
	for _, it := range items {
		if it != nil {
			out = append(out, *it)
		}
	}
	return out
}

func (a *app) printInbox(all []pairingGroups, showLinks bool) {
	now := a.now()
	found := false
	for _, pg := range all {
		if len(pg.Groups) == 0 {
			continue
		}
		found = true
		fmt.Fprintf(a.stdout, "pairing %s: %d in error, %d blocked\n", pg.Pairing, pg.Error, pg.Blocked)
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tKEY\tSTATE\tLINKS\tOLDEST\tCAUSE\tEXAMPLE")
		for i, g := range pg.Groups {
			age := "-"
			if !g.Oldest.IsZero() {
				age = humanDuration(now.Sub(g.Oldest))
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", i+1, g.Key, g.State, g.Count, age, g.Cause, g.Example)
		}
		_ = tw.Flush()
		for i, g := range pg.Groups {
			fmt.Fprintf(a.stdout, "  %d. %s: %s\n", i+1, g.Example, g.ExampleReason)
			if showLinks {
				for _, l := range g.Links {
					fmt.Fprintf(a.stdout, "       %s\n", l)
				}
			}
		}
		fmt.Fprintf(a.stdout, "re-drive a group once its cause is fixed: starter errors redrive --pairing %s --cause KEY\n\n", pg.Pairing)
	}
	if !found {
		fmt.Fprintln(a.stdout, "no links in error or blocked")
	}
}

// redriveCounts is what a re-drive of a group did.
type redriveCounts struct {
	Group     inbox.Group    `json:"group"`
	Redriven  int            `json:"redriven"`
	States    map[string]int `json:"states"`
	Undeliver []string       `json:"undelivered,omitempty"`
}

func (a *app) redriveCommand() *cobra.Command {
	var f errorsFlags
	var cause string
	var dryRun bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "redrive --pairing P --cause KEY|N [--dry-run]",
		Short: "Re-drive every link of one error group once",
		Long: `Groups the pairing's links in error and blocked as "starter errors" does,
picks the group named by --cause (its KEY, or its number # in the listing;
the key is stable, the number is not once links change), prints the cause
and the links it will re-drive, and hands each link one resync change, a few
at a time, as "starter resync" does. It ends with the count of links and the
state each ended in.

Exits 1 when no group has that key or number, or when a link ends in error
again or did not answer.`,
		Example: `  starter errors redrive --pairing persons --cause 3fa2b1c0 --dry-run
  starter errors redrive --pairing persons --cause 3fa2b1c0`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			if err := f.check(); err != nil {
				return err
			}
			if strings.TrimSpace(cause) == "" {
				return usageErrorf("--cause is empty: give a group's KEY or # from starter errors")
			}
			if _, err := a.pairing(f.pairing); err != nil {
				return err
			}
			c, err := a.temporal(ctx)
			if err != nil {
				return err
			}
			pg, err := a.inbox(ctx, c, f.pairing, f.limit)
			if err != nil {
				return err
			}
			g, ok := inbox.Find(pg.Groups, cause)
			if !ok {
				return fmt.Errorf("no error group %q in pairing %s (%d groups; run starter errors --pairing %s for their keys)", cause, f.pairing, len(pg.Groups), f.pairing)
			}
			verb := "re-driving"
			if dryRun {
				verb = "would re-drive"
			}
			fmt.Fprintf(a.stdout, "group %s (%s): %s\n%s %d links:\n", g.Key, g.State, g.Cause, verb, g.Count)
			for _, l := range g.Links {
				fmt.Fprintf(a.stdout, "  %s\n", l)
			}
			if dryRun {
				return nil
			}
			res := a.redrive(ctx, c, f.pairing, g, timeout)
			states := slices.Sorted(maps.Keys(res.States))
			var parts []string
			for _, s := range states {
				parts = append(parts, fmt.Sprintf("%d %s", res.States[s], s))
			}
			if len(res.Undeliver) > 0 {
				parts = append(parts, fmt.Sprintf("%d without an outcome", len(res.Undeliver)))
			}
			fmt.Fprintf(a.stdout, "re-drove %d of %d links of group %s: %s\n", res.Redriven, g.Count, g.Key, strings.Join(parts, ", "))
			if res.States[domain.StateError] > 0 || len(res.Undeliver) > 0 {
				return fmt.Errorf("re-drive of group %s in pairing %s: %d links are in error again and %d gave no outcome (starter errors --pairing %s shows why)",
					g.Key, f.pairing, res.States[domain.StateError], len(res.Undeliver), f.pairing)
			}
			return nil
		}),
	}
	f.register(cmd, true)
	fl := cmd.Flags()
	fl.StringVar(&cause, "cause", "", "the group to re-drive: its KEY or its # in starter errors (required)")
	fl.BoolVar(&dryRun, "dry-run", false, "print the group and its links, re-drive nothing")
	fl.DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for each link's outcome")
	_ = cmd.MarkFlagRequired("cause")
	return cmd
}

// redrive hands each link of g one resync change, four at a time.
func (a *app) redrive(ctx context.Context, c client.Client, pairing string, g inbox.Group, timeout time.Duration) redriveCounts {
	res := redriveCounts{Group: g, States: map[string]int{}}
	var mu sync.Mutex
	lc := links.New(c, "")
	targets := slices.Compact(slices.Clone(g.Links))
	fanOut(len(targets), 4, func(i int) {
		link := targets[i]
		state, err := a.redriveOne(ctx, lc, pairing, link, timeout)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.Undeliver = append(res.Undeliver, link)
			fmt.Fprintf(a.stderr, "%s: %s\n", link, oneLine(explain(err).Error()))
			return
		}
		res.Redriven++
		res.States[state]++
	})
	return res
}

func (a *app) redriveOne(ctx context.Context, lc *links.Client, pairing, link string, timeout time.Duration) (string, error) {
	lp, side, id, err := domain.ParseLinkWorkflowID(link)
	if err != nil {
		return "", err
	}
	if lp != pairing {
		return "", fmt.Errorf("link %s is not of pairing %s", link, pairing)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := lc.ApplyTo(actx, pairing, link, domain.Change{Side: side, ID: id, Source: domain.SourceResync})
	if err != nil {
		if actx.Err() != nil && ctx.Err() == nil {
			return "", fmt.Errorf("re-drive of %s: no outcome within %s (is a worker running?)", link, timeout)
		}
		return "", fmt.Errorf("re-drive of %s: %w", link, err)
	}
	return out.State, nil
}
