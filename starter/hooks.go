package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tandemsync/tandem/internal/hookreg"

	"github.com/tandemsync/tandem/webcrm"
)

// hooksEndpointPath is where the worker serves webCRM hook calls.
const hooksEndpointPath = hookreg.EndpointPath

func (a *app) hooksCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks",
		Short: "Register, list and remove the webCRM hooks that poke the pairings",
		Long: `webCRM calls a hook's target URL when a record is created, updated or
deleted. tandem's worker serves those calls at /hooks/webcrm (TANDEM_HOOKS_ADDR)
and makes the pairing of the entity poll at once, so changes arrive in
seconds instead of at the next poll; polling stays on as the fallback.

The hook's target URL is
<public-url>/hooks/webcrm?entity=<Entity>&event=<Event>&secret=<secret>: the
entity and the event are known from the target, whatever webCRM's call
carries in its body, and since webCRM cannot send headers, the shared secret
(TANDEM_HOOKS_SECRET, the same the worker checks) travels as the "secret"
query parameter. The commands print
it as "secret=***". They use WEBCRM_BASE_URL and WEBCRM_API_TOKEN.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.hooksRegisterCommand(), a.hooksListCommand(), a.hooksRemoveCommand())
	return cmd
}

// hookEntities returns the webCRM entities of the pairings, once each, in
// the pairings' order.
func (a *app) hookEntities() ([]webcrm.Entity, error) {
	set, err := a.mappingSet()
	if err != nil {
		return nil, err
	}
	return hookreg.Entities(set), nil
}

// hookClient returns the pairings' webCRM entities and a webCRM client.
func (a *app) hookClient() ([]webcrm.Entity, *webcrm.Client, error) {
	entities, err := a.hookEntities()
	if err != nil {
		return nil, nil, err
	}
	wc, err := a.webcrmClient()
	if err != nil {
		return nil, nil, err
	}
	return entities, wc, nil
}

// hookEndpoint is the hooks endpoint of a public URL (with or without the
// /hooks/webcrm path), without a query; a bad URL is a usage error.
func hookEndpoint(publicURL string) (string, error) {
	ep, err := hookreg.Endpoint(publicURL)
	if err != nil {
		return "", usageErrorf("--public-url %q is not an absolute http(s) URL such as https://tandem.example.com", publicURL)
	}
	return ep, nil
}

// endpoint is a URL without its query: the hooks endpoint a target reaches.
func endpoint(target string) string { return hookreg.StripQuery(target) }

// isTandemHook reports whether a hook targets a tandem hooks endpoint.
func isTandemHook(target string) bool {
	u, err := url.Parse(target)
	return err == nil && strings.HasSuffix(strings.TrimRight(u.Path, "/"), hooksEndpointPath)
}

// redact hides the secret in a target URL.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	if q.Has("secret") {
		q.Set("secret", "***")
		u.RawQuery = strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
	}
	return u.String()
}

func (a *app) hooksRegisterCommand() *cobra.Command {
	var publicURL, secret string
	cmd := &cobra.Command{
		Use:   "register --public-url URL [--secret S]",
		Short: "Register Create, Update and Delete hooks for every pairing's webCRM entity",
		Long: `Registers, for the webCRM entity of every pairing, one hook per event
(Create, Update, Delete) whose target is
<public-url>/hooks/webcrm?entity=<Entity>&event=<Event>&secret=<S>: the
worker learns the entity and the event from the target, whatever the body of
webCRM's call looks like.
--public-url is the address at which webCRM reaches the worker's hooks
endpoint (TANDEM_HOOKS_ADDR, usually behind a reverse proxy); a URL that
already ends in /hooks/webcrm is used as it is. --secret defaults to
TANDEM_HOOKS_SECRET, which the worker checks.

Registering is idempotent: a hook that already targets the endpoint for that
event is kept; one that targets it with another secret, or is disabled, is
updated in place.`,
		Example: `  TANDEM_HOOKS_SECRET=... starter hooks register --public-url https://tandem.example.com`,
		Args:    cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if secret == "" {
				secret = cfg.Worker.HooksSecret
			}
			if secret == "" {
				return errors.New("no hook secret: pass --secret or set TANDEM_HOOKS_SECRET to the secret the worker checks")
			}
			if _, err := hookEndpoint(publicURL); err != nil {
				return err
			}
			entities, wc, err := a.hookClient()
			if err != nil {
				return err
			}
			results, err := hookreg.Register(ctx, wc, publicURL, secret, entities, hookreg.Events)
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			for _, r := range results {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Entity, r.Event, r, redact(r.Target))
			}
			if ferr := tw.Flush(); err == nil {
				err = ferr
			}
			return err
		}),
	}
	cmd.Flags().StringVar(&publicURL, "public-url", "", "public base URL of the worker's hooks endpoint (required)")
	cmd.Flags().StringVar(&secret, "secret", "", "shared secret sent as ?secret= (default TANDEM_HOOKS_SECRET)")
	_ = cmd.MarkFlagRequired("public-url")
	return cmd
}

func (a *app) hooksListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the webCRM hooks of every pairing's entity",
		Long: `Lists every hook of the pairings' webCRM entities, tandem's and others', with
its event, whether it is enabled and its target (secrets shown as ***). The
TANDEM column marks hooks that target a tandem hooks endpoint.`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			entities, wc, err := a.hookClient()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ENTITY\tID\tEVENT\tENABLED\tTANDEM\tTARGET")
			n := 0
			err = eachHook(ctx, wc, entities, func(e webcrm.Entity, h webcrm.Hook) error {
				n++
				ev := h.EventType
				if ev == "" {
					ev = "all"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%t\t%s\t%s\n", e, h.ID, ev, h.IsEnabled, yesNo(isTandemHook(h.TargetURL)), redact(h.TargetURL))
				return nil
			})
			if err != nil {
				return err
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d hooks\n", n)
			return nil
		}),
	}
}

// eachHook calls fn for every hook of the entities, in order.
func eachHook(ctx context.Context, wc *webcrm.Client, entities []webcrm.Entity, fn func(webcrm.Entity, webcrm.Hook) error) error {
	for _, e := range entities {
		list, err := wc.ListHooks(ctx, e)
		if err != nil {
			return fmt.Errorf("list %s hooks: %w", e, err)
		}
		for _, h := range list {
			if err := fn(e, h); err != nil {
				return err
			}
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) hooksRemoveCommand() *cobra.Command {
	var all bool
	var id int64
	var entity, publicURL string
	cmd := &cobra.Command{
		Use:   "remove (--all [--public-url URL] | --id N --entity E)",
		Short: "Remove tandem's webCRM hooks, or one hook by id",
		Long: `With --all, removes every hook of the pairings' webCRM entities that targets a
tandem hooks endpoint (path /hooks/webcrm), or only the endpoint of
--public-url; other integrations' hooks are left alone. With --id and
--entity, removes that one hook, whatever it targets.`,
		Example: `  starter hooks remove --all
  starter hooks remove --id 12 --entity Organisations`,
		Args: cobra.NoArgs,
		RunE: a.action(func(ctx context.Context, _ *cobra.Command, _ []string) error {
			entities, err := a.hookEntities()
			if err != nil {
				return err
			}
			wanted := ""
			if publicURL != "" {
				t, err := hookEndpoint(publicURL)
				if err != nil {
					return err
				}
				wanted = endpoint(t)
			}
			if !all {
				e, ok := findEntity(entities, entity)
				if !ok {
					return usageErrorf("--entity %q is not one of %s", entity, joinEntities(entities))
				}
				entities = []webcrm.Entity{e}
			}
			wc, err := a.webcrmClient()
			if err != nil {
				return err
			}
			if !all {
				err := wc.DeleteHook(ctx, entities[0], id)
				if webcrm.IsNotFound(err) {
					return fmt.Errorf("no such hook: %s hook %d does not exist", entities[0], id)
				}
				if err != nil {
					return fmt.Errorf("remove %s hook %d: %w", entities[0], id, err)
				}
				fmt.Fprintf(a.stdout, "%s: removed hook %d\n", entities[0], id)
				return nil
			}
			n := 0
			err = eachHook(ctx, wc, entities, func(e webcrm.Entity, h webcrm.Hook) error {
				if !isTandemHook(h.TargetURL) || (wanted != "" && endpoint(h.TargetURL) != wanted) {
					return nil
				}
				if err := wc.DeleteHook(ctx, e, h.ID); err != nil && !webcrm.IsNotFound(err) {
					return fmt.Errorf("remove %s hook %d: %w", e, h.ID, err)
				}
				n++
				fmt.Fprintf(a.stdout, "%s: removed hook %d (%s %s)\n", e, h.ID, h.EventType, redact(h.TargetURL))
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d hooks removed\n", n)
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.BoolVar(&all, "all", false, "remove every hook that targets a tandem hooks endpoint")
	fl.StringVar(&publicURL, "public-url", "", "with --all: only hooks that target this endpoint")
	fl.Int64Var(&id, "id", 0, "id of the one hook to remove (with --entity)")
	fl.StringVar(&entity, "entity", "", "webCRM entity of --id, e.g. Organisations")
	cmd.MarkFlagsMutuallyExclusive("all", "id")
	cmd.MarkFlagsMutuallyExclusive("public-url", "id")
	cmd.MarkFlagsOneRequired("all", "id")
	cmd.MarkFlagsRequiredTogether("id", "entity")
	return cmd
}

func findEntity(entities []webcrm.Entity, name string) (webcrm.Entity, bool) {
	for _, e := range entities {
		if strings.EqualFold(string(e), name) {
			return e, true
		}
	}
	return "", false
}

func joinEntities(entities []webcrm.Entity) string {
	s := make([]string, len(entities))
	for i, e := range entities {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}
