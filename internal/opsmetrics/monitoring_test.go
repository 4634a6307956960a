package opsmetrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/tandemsync/tandem/activities"
	"github.com/tandemsync/tandem/internal/opsmetrics"
)

// recorder is a Registerer that keeps the names of what is registered.
type recorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// registered returns the names of tandem's metrics as the worker registers
// them: activities.NewMetrics and opsmetrics.New.
func registered(t *testing.T) map[string]bool {
	t.Helper()
	r := &recorder{names: map[string]bool{}}
	if _, err := activities.NewMetrics(r); err != nil {
		t.Fatal(err)
	}
	if _, err := opsmetrics.New(r); err != nil {
		t.Fatal(err)
	}
	return r.names
}

var metricName = regexp.MustCompile(`\btandem_[a-z0-9_]+`)

// unknown returns the tandem_* names in expr that are not registered
// (tandem has no histograms, so no _bucket series).
func unknown(expr string, names map[string]bool) []string {
	var out []string
	for _, n := range metricName.FindAllString(expr, -1) {
		if !names[n] {
			out = append(out, n)
		}
	}
	return out
}

// alertExprs are the expressions of the alerting rules file.
func alertExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("%s: a rule of group %s has no alert name or no expr", path, g.Name)
			}
			out = append(out, r.Expr)
		}
	}
	return out
}

// dashboardExprs are the query expressions of the dashboard's panels and
// template variables.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", path, p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			out = append(out, q)
		}
	}
	return out
}

// TestMonitoringFilesUseRegisteredMetrics: every tandem_* metric the example
// alert rules and the dashboard use is one the worker registers.
func TestMonitoringFilesUseRegisteredMetrics(t *testing.T) {
	names := registered(t)
	for _, want := range []string{"tandem_links", "tandem_oldest_error_age_seconds", "tandem_webcrm_budget_spent", "tandem_webcrm_budget_left", "tandem_changes_applied_total"} {
		if !names[want] {
			t.Fatalf("%s is not registered (registered: %v)", want, names)
		}
	}
	dir := filepath.Join("..", "..", "deploy", "monitoring")
	files := map[string][]string{
		"prometheus-alerts.yaml": alertExprs(t, filepath.Join(dir, "prometheus-alerts.yaml")),
		"grafana-dashboard.json": dashboardExprs(t, filepath.Join(dir, "grafana-dashboard.json")),
	}
	used := map[string]bool{}
	for file, exprs := range files {
		if len(exprs) == 0 {
			t.Errorf("%s has no expressions", file)
		}
		for _, e := range exprs {
			if bad := unknown(e, names); len(bad) > 0 {
				t.Errorf("%s: %q uses %v, which the worker does not register", file, e, bad)
			}
			for _, n := range metricName.FindAllString(e, -1) {
				used[n] = true
			}
		}
	}
	for _, n := range []string{"tandem_links", "tandem_oldest_error_age_seconds", "tandem_webcrm_budget_left"} {
		if !used[n] {
			t.Errorf("no alert or panel uses %s", n)
		}
	}
}

// TestTheCheckFindsAMisspelledMetric: the check above would catch a typo.
func TestTheCheckFindsAMisspelledMetric(t *testing.T) {
	names := registered(t)
	got := unknown(`max by (pairing) (tandem_oldest_eror_age_seconds) > 3600 or tandem_links`, names)
	if !slices.Equal(got, []string{"tandem_oldest_eror_age_seconds"}) {
		t.Errorf("unknown = %v, want the misspelled name alone", got)
	}
}
