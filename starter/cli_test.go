package main

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/internal/testenv"
	"github.com/tandemsync/tandem/mappings"
)

// allCommands walks the command tree.
func allCommands(cmd *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{cmd}
	for _, c := range cmd.Commands() {
		out = append(out, allCommands(c)...)
	}
	return out
}

func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	root := newApp(io.Discard, io.Discard, func(string) string { return "" }).rootCommand()
	cmds := allCommands(root)
	require.Greater(t, len(cmds), 15)
	for _, cmd := range cmds {
		path := strings.Fields(cmd.CommandPath())[1:]
		r := runCLI(t, nil, append(path, "--help")...)
		assert.Equal(t, exitOK, r.code, cmd.CommandPath())
		assert.Contains(t, r.stdout, "Usage:", cmd.CommandPath())
		assert.NotEmpty(t, cmd.Short, cmd.CommandPath())
		assert.Empty(t, r.stderr, cmd.CommandPath())
	}
	r := runCLI(t, nil, "--help")
	for _, want := range []string{"Exit status", "0  success", "1  operational error", "2  usage error", "3  mappings check"} {
		assert.Contains(t, r.stdout, want)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TEMPORAL_ADDRESS": closedAddr(t)}
	cases := [][]string{
		{"nosuchcommand"},
		{"status", "--bogus"},
		{"backfill"},
		{"backfill", "--pairing", "organisations", "--side", "left"},
		{"backfill", "--pairing", "organisations", "--since", "yesterday"},
		{"backfill", "--pairing", "organisations", "--page-size", "5000"},
		{"backfill", "attach", "--pairing", "organisations", "--side", "up"},
		{"resync", "--pairing", "organisations"},
		{"resync", "--pairing", "organisations", "--webcrm-id", "1", "--erp-id", "x"},
		{"resync", "--pairing", "organisations", "--webcrm-id", "abc"},
		{"link", "--webcrm-id", "1"},
		{"links", "--pairing", "organisations", "--state", "weird"},
		{"links", "--pairing", "organisations", "--limit", "0"},
		{"errors", "--limit", "0"},
		{"errors", "redrive", "--cause", "1"},
		{"errors", "redrive", "--pairing", "organisations"},
		{"errors", "redrive", "--pairing", "organisations", "--cause", " "},
		{"hooks", "remove"},
		{"hooks", "remove", "--all", "--id", "3", "--entity", "Organisations"},
		{"hooks", "remove", "--id", "3"},
		{"mappings", "check", "a", "b"},
		{"start", "--poll-interval", "soon"},
	}
	for _, args := range cases {
		r := runCLI(t, env, args...)
		assert.Equal(t, exitUsage, r.code, "%v", args)
		lines := stderrLines(r.stderr)
		if assert.Len(t, lines, 1, "%v", args) {
			assert.True(t, strings.HasPrefix(lines[0], "starter: "), lines[0])
			assert.Contains(t, lines[0], "--help", "%v", args)
		}
	}
}

func TestTemporalUnreachable(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	check := func(r result) {
		t.Helper()
		assert.Equal(t, exitFailure, r.code)
		lines := stderrLines(r.stderr)
		require.Len(t, lines, 1)
		assert.Contains(t, lines[0], "cannot reach Temporal at "+addr)
		assert.Contains(t, lines[0], "TEMPORAL_ADDRESS")
		assert.Contains(t, lines[0], "--address")
	}
	began := time.Now()
	check(runCLI(t, nil, "status", "--address", addr))
	check(runCLI(t, map[string]string{"TEMPORAL_ADDRESS": addr}, "start"))
	check(runCLI(t, map[string]string{"TEMPORAL_ADDRESS": addr}, "backfill", "--pairing", "products"))
	// The address also comes from the --config file and TANDEM_CONFIG.
	file := filepath.Join(t.TempDir(), "tandem.yaml")
	require.NoError(t, os.WriteFile(file, []byte("temporal:\n  address: "+addr+"\n"), 0o600))
	check(runCLI(t, nil, "--config", file, "pause"))
	check(runCLI(t, map[string]string{"TANDEM_CONFIG": file}, "links", "--pairing", "persons"))
	assert.Less(t, time.Since(began), 10*time.Second, "an unreachable Temporal fails fast")
}

func TestNotTemporal(t *testing.T) {
	t.Parallel()
	// Something listens, but it does not speak Temporal's gRPC.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	began := time.Now()
	r := runCLI(t, nil, "status", "--address", addr)
	assert.Equal(t, exitFailure, r.code)
	lines := stderrLines(r.stderr)
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], addr)
	assert.Contains(t, lines[0], "TEMPORAL_ADDRESS")
	assert.Less(t, time.Since(began), 15*time.Second)
}

func TestUnknownNamespace(t *testing.T) {
	t.Parallel()
	srv := testenv.Temporal(t)
	r := runCLI(t, map[string]string{"TEMPORAL_ADDRESS": srv.Address()}, "status", "--namespace", "no-such-namespace")
	assert.Equal(t, exitFailure, r.code)
	lines := stderrLines(r.stderr)
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], `namespace "no-such-namespace" does not exist`)
	assert.Contains(t, lines[0], "TEMPORAL_NAMESPACE")
}

func TestBadConfigFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "tandem.yaml")
	require.NoError(t, os.WriteFile(file, []byte("temporal:\n  adress: x\n"), 0o600))
	r := runCLI(t, nil, "--config", file, "status")
	assert.Equal(t, exitFailure, r.code)
	lines := stderrLines(r.stderr)
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], file)
	assert.Contains(t, lines[0], "adress")
}

func TestUnknownPairingListsKnownOnes(t *testing.T) {
	t.Parallel()
	set, err := mappings.Default()
	require.NoError(t, err)
	env := map[string]string{"TEMPORAL_ADDRESS": closedAddr(t)}
	cases := [][]string{
		{"start", "organisations", "nosuch"},
		{"pause", "nosuch"},
		{"resume", "nosuch"},
		{"poke", "nosuch"},
		{"status", "nosuch"},
		{"backfill", "--pairing", "nosuch"},
		{"backfill", "attach", "--pairing", "nosuch"},
		{"resync", "--pairing", "nosuch", "--webcrm-id", "1"},
		{"links", "--pairing", "nosuch"},
		{"link", "--pairing", "nosuch", "--erp-id", "x"},
	}
	for _, args := range cases {
		r := runCLI(t, env, args...)
		assert.Equal(t, exitFailure, r.code, "%v", args)
		lines := stderrLines(r.stderr)
		require.Len(t, lines, 1, "%v", args)
		assert.Contains(t, lines[0], `unknown pairing "nosuch"`)
		for _, name := range set.Names() {
			assert.Contains(t, lines[0], name)
		}
	}
}

// copyDefaults writes the built-in mapping files into a new directory.
func copyDefaults(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(mappings.DefaultFiles(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(mappings.DefaultFiles(), path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, path), data, 0o600)
	})
	require.NoError(t, err)
	return dir
}

func TestMappingsCheck(t *testing.T) {
	t.Parallel()
	set, err := mappings.Default()
	require.NoError(t, err)

	r := runCLI(t, nil, "mappings", "check")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "the built-in mappings: ok")
	for _, name := range set.Names() {
		assert.Contains(t, r.stdout, name)
	}

	good := copyDefaults(t)
	r = runCLI(t, nil, "mappings", "check", good)
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, good+": ok")

	// Break two files: an unknown webCRM property and an unknown ERP path.
	bad := copyDefaults(t)
	orgFile := filepath.Join(bad, "organisations.yaml")
	orgLine := breakLine(t, orgFile, "webcrm: OrganisationPostCode", "webcrm: OrganisationPostKode")
	prodFile := filepath.Join(bad, "products.yaml")
	data, err := os.ReadFile(prodFile)
	require.NoError(t, err)
	require.Contains(t, string(data), "erp: salesPrice")
	prodLine := breakLine(t, prodFile, "erp: salesPrice", "erp: salesPriceX")

	r = runCLI(t, nil, "mappings", "check", bad)
	assert.Equal(t, exitProblems, r.code)
	assert.Contains(t, r.stdout, "organisations.yaml:"+strconv.Itoa(orgLine)+": ")
	assert.Contains(t, r.stdout, "OrganisationPostKode")
	assert.Contains(t, r.stdout, "products.yaml:"+strconv.Itoa(prodLine)+": ")
	assert.Contains(t, r.stdout, "salesPriceX")
	lines := stderrLines(r.stderr)
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], "2 problem(s) in "+bad)

	// A file that is not YAML at all.
	garbled := copyDefaults(t)
	require.NoError(t, os.WriteFile(filepath.Join(garbled, "users.yaml"), []byte("pairing: users\nfields: [\n"), 0o600))
	r = runCLI(t, nil, "mappings", "check", garbled)
	assert.Equal(t, exitProblems, r.code)
	assert.Contains(t, r.stdout, "users.yaml")

	r = runCLI(t, nil, "mappings", "check", filepath.Join(bad, "missing"))
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "missing")
}

// breakLine replaces old (which must occur once) by new in file and returns
// its 1-based line number.
func breakLine(t *testing.T, file, old, new string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	s := string(data)
	require.Equal(t, 1, strings.Count(s, old), "%s in %s", old, file)
	line := strings.Count(s[:strings.Index(s, old)], "\n") + 1
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(s, old, new, 1)), 0o600))
	return line
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                             "0s",
		45 * time.Second:              "45s",
		3*time.Minute + 7*time.Second: "3m07s",
		5*time.Hour + 2*time.Minute:   "5h02m",
		47 * time.Hour:                "47h00m",
		13694 * time.Hour:             "570d",
		-90 * time.Second:             "-1m30s",
	} {
		assert.Equal(t, want, humanDuration(d), d.String())
	}
}
