package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/mappings"
)

func (a *app) mappingsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mappings",
		Short: "Work with the mapping files",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check [dir]",
		Short: "Check mapping files against the webCRM and CustomERP schemas",
		Long: `Loads every *.yaml mapping file of dir, or the built-in defaults when no dir
is given, and checks them the way the worker does: syntax, known webCRM
properties and ERP paths, types, directions, references between pairings.
Prints every problem as file:line: field: message and exits 3 when there is
any, 0 when the files are fine. It needs neither Temporal nor the APIs.`,
		Example: `  starter mappings check
  starter mappings check ./my-mappings`,
		Args: cobra.MaximumNArgs(1),
		RunE: a.action(func(_ context.Context, _ *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			return a.checkMappings(dir)
		}),
	})
	return cmd
}

func (a *app) checkMappings(dir string) error {
	var problems []mappings.Problem
	var set *mappings.Set
	what := "the built-in mappings"
	if dir == "" {
		var err error
		set, err = mappings.DefaultWith(service.Schemas())
		var le *mappings.LoadError
		switch {
		case errors.As(err, &le):
			problems = le.Problems
		case err != nil:
			return fmt.Errorf("load the built-in mappings: %w", err)
		}
	} else {
		what = dir
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("mappings directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("mappings directory %s is not a directory", dir)
		}
		problems = mappings.Check(dir, service.Schemas())
		if len(problems) == 0 {
			if set, err = mappings.LoadDir(dir, service.Schemas()); err != nil {
				return fmt.Errorf("load %s: %w", dir, err)
			}
		}
	}
	for _, p := range problems {
		fmt.Fprintln(a.stdout, p.String())
	}
	if len(problems) > 0 {
		return &exitError{code: exitProblems, err: fmt.Errorf("%d problem(s) in %s", len(problems), what)}
	}
	fmt.Fprintf(a.stdout, "%s: ok (pairings %s)\n", what, strings.Join(set.Names(), ", "))
	return nil
}
