package badinput

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/service"
	"github.com/tandemsync/tandem/mappings"
)

// startupCase is a broken mapping file or configuration. The worker must
// refuse to start, with a message naming the file and the line (or the
// setting) and the cause.
type startupCase struct {
	name, input, where, outcome string
	// prepare writes the files into dir and returns the config file to load
	// ("" for none), the environment, and the texts the error must contain.
	prepare func(t *testing.T, dir string) (configFile string, env map[string]string, want []string)
}

// TestBadStartup starts a worker (service.New, as the worker command does)
// or loads the configuration with each broken input.
func TestBadStartup(t *testing.T) {
	for _, c := range startupCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			file, env, want := c.prepare(t, dir)
			err := start(file, env)
			if err == nil {
				t.Fatalf("the worker started with %s", c.input)
			}
			t.Logf("error: %v", err)
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q: %v", w, err)
				}
			}
			for _, secret := range []string{crmToken, erpKey} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error carries a secret")
				}
			}
		})
	}
}

// start loads the configuration as the worker command does (file, then
// environment) and builds the service.
func start(file string, env map[string]string) error {
	base := map[string]string{
		"TEMPORAL_ADDRESS": "127.0.0.1:1", // never reached: a good start would fail here, not hang
		"WEBCRM_BASE_URL":  "http://127.0.0.1:1", "WEBCRM_API_TOKEN": crmToken,
		"CUSTOMERP_BASE_URL": "http://127.0.0.1:1", "CUSTOMERP_API_KEY": erpKey,
		"TANDEM_METRICS_ADDR": "off", "TANDEM_HOOKS_ADDR": "off", "TANDEM_CODEC_ADDR": "off",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load(file, func(k string) string { return base[k] })
	if err != nil {
		return err
	}
	svc, err := service.New(cfg, service.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	svc.Close()
	return nil
}

// mappingsDir copies the default mapping files into dir/mappings, applies
// edit to the named file, and returns the environment pointing the worker
// at it and the number of the first line the edit changed.
func mappingsDir(t *testing.T, dir, file string, edit func(text string) string) (map[string]string, int) {
	t.Helper()
	mdir := filepath.Join(dir, "mappings")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	line := 0
	err := fs.WalkDir(mappings.DefaultFiles(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(mappings.DefaultFiles(), p)
		if err != nil {
			return err
		}
		text := string(b)
		if p == file {
			edited := edit(text)
			if edited == text {
				return fmt.Errorf("the edit of %s changed nothing", p)
			}
			line = firstDiffLine(text, edited)
			text = edited
		}
		return os.WriteFile(filepath.Join(mdir, p), []byte(text), 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"TANDEM_MAPPINGS_DIR": mdir}, line
}

func firstDiffLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

// replaceOnce replaces the first old in text.
func replaceOnce(old, new string) func(string) string {
	return func(text string) string { return strings.Replace(text, old, new, 1) }
}

func configFile(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "tandem.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startupCases() []startupCase {
	const mapWhere = "a mapping file in TANDEM_MAPPINGS_DIR, read by service.New"
	const cfgWhere = "the YAML configuration file, read by config.Load"
	const outFile = "the worker does not start; the error names the file, the line and the cause"
	mapping := func(file string, edit func(string) string, want ...string) func(t *testing.T, dir string) (string, map[string]string, []string) {
		return func(t *testing.T, dir string) (string, map[string]string, []string) {
			env, line := mappingsDir(t, dir, file, edit)
			return "", env, append([]string{file + ":" + itoa(line)}, want...)
		}
	}
	return []startupCase{
		{
			name: "mapping-yaml-syntax", input: "a mapping file that is not valid YAML (an unclosed flow mapping)", where: mapWhere, outcome: outFile,
			prepare: mapping("organisations.yaml", replaceOnce("  entity: Organisations\n", "  entity: {Organisations\n")),
		},
		{
			name: "mapping-unknown-webcrm-property", input: "a mapping naming a webCRM property that does not exist (OrganisationCitty)", where: mapWhere, outcome: outFile,
			prepare: mapping("organisations.yaml", replaceOnce("webcrm: {property: OrganisationCity,", "webcrm: {property: OrganisationCitty,"), "OrganisationCitty"),
		},
		{
			name: "mapping-unknown-erp-path", input: "a mapping naming an ERP path that does not exist (postalAddress.town)", where: mapWhere, outcome: outFile,
			prepare: mapping("organisations.yaml", replaceOnce("erp: postalAddress.city", "erp: postalAddress.town"), "postalAddress.town"),
		},
		{
			name: "mapping-unknown-reference", input: "a mapping referring to a pairing that does not exist (references: companies)", where: mapWhere, outcome: outFile,
			prepare: mapping("persons.yaml", replaceOnce("references: organisations", "references: companies"), "companies"),
		},
		{
			name: "mapping-unknown-type", input: "a field of an unknown type (type: numbr)", where: mapWhere, outcome: outFile,
			prepare: mapping("products.yaml", replaceOnce("    type: decimal\n", "    type: numbr\n"), "numbr"),
		},
		{
			name: "mapping-duplicate-field", input: "two fields with the same name in one mapping file", where: mapWhere, outcome: outFile,
			prepare: mapping("products.yaml", replaceOnce("  - name: unit\n", "  - name: name\n"), "name"),
		},
		{
			name: "mappings-dir-missing", input: "TANDEM_MAPPINGS_DIR names a directory that does not exist", where: "TANDEM_MAPPINGS_DIR",
			outcome: "the worker does not start; the error names the directory",
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				missing := filepath.Join(dir, "no-such-dir")
				return "", map[string]string{"TANDEM_MAPPINGS_DIR": missing}, []string{missing}
			},
		},
		{
			name: "mappings-dir-empty", input: "TANDEM_MAPPINGS_DIR names an empty directory", where: "TANDEM_MAPPINGS_DIR",
			outcome: "the worker does not start; the error names the directory",
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				return "", map[string]string{"TANDEM_MAPPINGS_DIR": dir}, []string{dir}
			},
		},
		{
			name: "config-yaml-syntax", input: "a configuration file that is not valid YAML (a tab in the indentation)", where: cfgWhere, outcome: outFile,
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				p := configFile(t, dir, "webcrm:\n  baseURL: http://127.0.0.1:1\nsync:\n\tpollInterval: 5s\n")
				return p, nil, []string{p, "line 4"}
			},
		},
		{
			name: "config-unclosed-flow-mapping", input: "a configuration file with an unclosed flow mapping ({ without })", where: cfgWhere, outcome: outFile,
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				p := configFile(t, dir, "# tandem\nwebcrm: {baseURL: http://127.0.0.1:1\nsync:\n  concurrency: 4\n")
				return p, nil, []string{p, "line 2"}
			},
		},
		{
			name: "config-unknown-key", input: "an unknown key in the configuration file (pollIntervall)", where: cfgWhere, outcome: outFile,
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				p := configFile(t, dir, "sync:\n  concurrency: 4\n  pollIntervall: 5s\n")
				return p, nil, []string{p, "line 3", "pollIntervall"}
			},
		},
		{
			name: "config-wrong-type", input: `a setting of the wrong type (pollInterval: "soon")`, where: cfgWhere, outcome: outFile,
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				p := configFile(t, dir, "sync:\n  concurrency: 4\n  pollInterval: soon\n")
				return p, nil, []string{p, "line 3", "soon"}
			},
		},
		{
			name: "config-duplicate-key", input: "a key given twice in the configuration file", where: cfgWhere, outcome: outFile,
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				p := configFile(t, dir, "sync:\n  concurrency: 4\n  concurrency: 8\n")
				return p, nil, []string{p, "line 3", "concurrency"}
			},
		},
		{
			name: "config-base-url-not-absolute", input: "webcrm.baseURL is not an absolute URL (api.webcrm.com)", where: cfgWhere,
			outcome: "the worker does not start; the error names the setting and its variable",
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				p := configFile(t, dir, "webcrm:\n  baseURL: api.webcrm.com\n")
				return p, map[string]string{"WEBCRM_BASE_URL": ""}, []string{"webcrm.baseURL", "WEBCRM_BASE_URL", "api.webcrm.com"}
			},
		},
		{
			name: "env-poll-interval", input: `TANDEM_POLL_INTERVAL is no duration ("soon")`, where: "the environment, read by config.Load",
			outcome: "the worker does not start; the error names the variable and the value",
			prepare: func(t *testing.T, dir string) (string, map[string]string, []string) {
				return "", map[string]string{"TANDEM_POLL_INTERVAL": "soon"}, []string{"TANDEM_POLL_INTERVAL", "soon"}
			},
		},
	}
}
