package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/inbox"
	"github.com/tandemsync/tandem/internal/opsmetrics"
)

// inboxJSON runs `errors --json` for one pairing.
func (e *testbed) inboxJSON(pairing string) pairingGroups {
	e.t.Helper()
	r := e.run("errors", "--pairing", pairing, "--json")
	require.Equal(e.t, exitOK, r.code, r.stderr)
	var all []pairingGroups
	require.NoError(e.t, json.Unmarshal([]byte(r.stdout), &all), r.stdout)
	require.Len(e.t, all, 1)
	return all[0]
}

// gauge returns the value of the gauge name with the given label pairs in
// reg (the test fails when there is none).
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s %v", name, labels)
	return 0
}

// TestErrorsGroupsByCauseAndRedrivesAGroup makes organisations fail in the
// ERP for two causes (no name; a post code longer than the ERP takes),
// checks that `starter errors` shows two groups with their counts, then
// fixes the post codes in webCRM and re-drives that group alone.
func TestErrorsGroupsByCauseAndRedrivesAGroup(t *testing.T) {
	t.Parallel()
	start := time.Now()
	e := newEngine(t, true)
	var noName, longPost []string
	for i := range 3 {
		id, err := e.crm.Put("Organisations", map[string]any{"OrganisationName": "", "OrganisationVatNumber": fmt.Sprintf("DK7000000%d", i)})
		require.NoError(t, err)
		noName = append(noName, strconv.Itoa(id))
	}
	for i := range 2 {
		id, err := e.crm.Put("Organisations", map[string]any{
			"OrganisationName": fmt.Sprintf("Postkode %d ApS", i), "OrganisationPostCode": strings.Repeat(strconv.Itoa(i+1), 25),
		})
		require.NoError(t, err)
		longPost = append(longPost, strconv.Itoa(id))
	}
	for _, id := range append(append([]string(nil), noName...), longPost...) {
		r := e.run("resync", "--pairing", "organisations", "--webcrm-id", id)
		require.Equal(t, exitFailure, r.code, "organisation %s should end in error:\n%s", id, r.stdout)
		require.Regexp(t, `(?m)^state\s+error$`, r.stdout)
	}

	// Two groups, the larger first, each with its count, an example and an age.
	var pg pairingGroups
	eventually(t, "the inbox to hold the five links", 30*time.Second, func() bool {
		pg = e.inboxJSON("organisations")
		n := 0
		for _, g := range pg.Groups {
			n += g.Count
		}
		return n == 5
	})
	require.Len(t, pg.Groups, 2, "%+v", pg.Groups)
	assert.Equal(t, int64(5), pg.Error)
	names, posts := pg.Groups[0], pg.Groups[1]
	assert.Equal(t, 3, names.Count)
	assert.Equal(t, 2, posts.Count)
	for _, g := range pg.Groups {
		assert.Equal(t, domain.StateError, g.State)
		assert.False(t, g.Oldest.IsZero(), "group %s has no age", g.Key)
		assert.Contains(t, g.Links, g.Example)
		assert.Equal(t, g.Cause, inbox.Cause(g.ExampleReason))
		assert.NotRegexp(t, `[0-9]`, g.Cause, "the cause keeps no number")
	}
	for _, id := range longPost {
		assert.Contains(t, posts.Links, domain.LinkWorkflowID("organisations", domain.WebCRM, id))
	}
	assert.NotEqual(t, names.Cause, posts.Cause)

	// The worker's operator metrics count them and age the oldest; the
	// budget shows the requests the resyncs spent.
	reg := prometheus.NewRegistry()
	om, err := opsmetrics.New(reg)
	require.NoError(t, err)
	refresher := opsmetrics.NewRefresher(e.c, e.ns, []string{"organisations", "persons"}, om, slog.New(slog.DiscardHandler))
	eventually(t, "tandem_links to count the five links in error", 30*time.Second, func() bool {
		require.NoError(t, refresher.Refresh(t.Context()))
		return gauge(t, reg, "tandem_links", "pairing", "organisations", "state", "error") == 5
	})
	assert.Zero(t, gauge(t, reg, "tandem_links", "pairing", "persons", "state", "error"))
	oldest := gauge(t, reg, "tandem_oldest_error_age_seconds", "pairing", "organisations")
	assert.Greater(t, oldest, 0.0)
	assert.Less(t, oldest, time.Since(start).Seconds()+1, "no older than the test")
	assert.Zero(t, gauge(t, reg, "tandem_oldest_error_age_seconds", "pairing", "persons"))
	spent, left := gauge(t, reg, "tandem_webcrm_budget_spent"), gauge(t, reg, "tandem_webcrm_budget_left")
	assert.Greater(t, spent, 0.0, "the resyncs read webCRM")
	// The limit is the latest lease request's: the worker's (6,000 a minute
	// here) or the starter's (the default 250), less the reserved share.
	limits := []float64{float64(int(float64(e.cfg.WebCRM.RequestsPerMinute) * (1 - e.cfg.WebCRM.ReservedShare)))}
	if def, err := config.Load("", func(string) string { return "" }); err == nil {
		limits = append(limits, float64(int(float64(def.WebCRM.RequestsPerMinute)*(1-def.WebCRM.ReservedShare))))
	}
	assert.Contains(t, limits, spent+left, "spent and left make the budget")
	assert.Greater(t, gauge(t, reg, "tandem_ops_metrics_refreshed_seconds"), float64(start.Unix()-1))

	// The table shows both groups with their keys, counts and examples.
	r := e.run("errors", "--pairing", "organisations")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "pairing organisations: 5 in error, 0 blocked")
	assert.Regexp(t, `(?m)^1\s+`+names.Key+`\s+error\s+3\s+\S+\s+`, r.stdout)
	assert.Regexp(t, `(?m)^2\s+`+posts.Key+`\s+error\s+2\s+\S+\s+`, r.stdout)
	assert.Contains(t, r.stdout, posts.Example)
	r = e.run("errors")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "pairing organisations: 5 in error")
	assert.NotContains(t, r.stdout, "pairing persons")

	// A key that names no group re-drives nothing.
	r = e.run("errors", "redrive", "--pairing", "organisations", "--cause", "ffffffff")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, `no error group "ffffffff" in pairing organisations (2 groups`)
	// A dry run prints the group and changes nothing.
	r = e.run("errors", "redrive", "--pairing", "organisations", "--cause", posts.Key, "--dry-run")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "would re-drive 2 links:")
	assert.Len(t, e.inboxJSON("organisations").Groups, 2)

	// Fix the cause (the post codes), then re-drive that group by its key:
	// both links sync, the other group is left alone.
	for _, id := range longPost {
		n, _ := strconv.Atoi(id)
		require.NoError(t, e.crm.Patch("Organisations", n, map[string]any{"OrganisationPostCode": "8000"}))
	}
	r = e.run("errors", "redrive", "--pairing", "organisations", "--cause", posts.Key)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "re-driving 2 links:")
	assert.Regexp(t, `re-drove 2 of 2 links of group `+regexp.QuoteMeta(posts.Key)+`: 2 ok\n`, r.stdout)
	for _, id := range longPost {
		r := e.run("link", "--pairing", "organisations", "--webcrm-id", id, "--json")
		require.Equal(t, exitOK, r.code, r.stderr)
		var shown struct {
			State domain.LinkState `json:"state"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &shown))
		assert.Equal(t, domain.StateOK, shown.State.State, id)
		require.NotEmpty(t, shown.State.ErpID)
		rec, ok := e.erp.Record("customers", shown.State.ErpID)
		require.True(t, ok)
		assert.Contains(t, fmt.Sprint(rec["postalAddress"]), "8000")
	}
	eventually(t, "the inbox to hold the one group left", 30*time.Second, func() bool {
		pg := e.inboxJSON("organisations")
		return len(pg.Groups) == 1 && pg.Groups[0].Key == names.Key && pg.Groups[0].Count == 3
	})

	// Re-driving the group whose cause is not fixed reports it, by number.
	r = e.run("errors", "redrive", "--pairing", "organisations", "--cause", "1")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stdout, "re-drove 3 of 3 links of group "+names.Key+": 3 error")
	assert.Contains(t, r.stderr, "3 links are in error again")
}

// TestWorkerServesOperatorMetrics: a worker with its metrics endpoint on
// refreshes the link and budget gauges and serves them at /metrics.
func TestWorkerServesOperatorMetrics(t *testing.T) {
	t.Parallel()
	e := newEngine(t, false)
	addr := closedAddr(t)
	e.cfg.Worker.MetricsAddr = addr
	e.startWorker()
	ids := e.putOrgs(300, 2)
	r := e.run("resync", "--pairing", "organisations", "--webcrm-id", strconv.Itoa(ids[0]))
	require.Equal(t, exitOK, r.code, r.stderr)
	var body string
	eventually(t, "the worker to serve the operator gauges", 60*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		body = string(b)
		// The gauges are set pairing by pairing; the refresh time only
		// once every pairing's are (it reads 0 until then).
		return strings.Contains(body, "tandem_ops_metrics_refreshed_seconds ") &&
			!strings.Contains(body, "tandem_ops_metrics_refreshed_seconds 0\n")
	})
	for _, want := range []string{
		`tandem_links{pairing="organisations",state="error"} 0`,
		`tandem_links{pairing="quotationlines",state="blocked"} 0`,
		`tandem_oldest_error_age_seconds{pairing="persons"} 0`,
		"tandem_webcrm_budget_spent ",
	} {
		assert.Contains(t, body, want)
	}
}

// TestErrorsGroupsBlockedLinksByTheirCause: persons whose organisations
// cannot be linked are blocked; two of them, waiting for two organisations,
// are one group, which syncs once the organisations are fixed and the
// group is re-driven.
func TestErrorsGroupsBlockedLinksByTheirCause(t *testing.T) {
	t.Parallel()
	e := newEngine(t, true)
	var orgs, persons []int
	for i := range 2 {
		org, err := e.crm.Put("Organisations", map[string]any{"OrganisationName": ""})
		require.NoError(t, err)
		orgs = append(orgs, org)
		p, err := e.crm.Put("Persons", map[string]any{"PersonFirstName": "Bo", "PersonLastName": fmt.Sprintf("Blok %d", i), "PersonOrganisationId": org})
		require.NoError(t, err)
		persons = append(persons, p)
	}
	for _, p := range persons {
		r := e.run("resync", "--pairing", "persons", "--webcrm-id", strconv.Itoa(p))
		require.Regexp(t, `(?m)^state\s+blocked$`, r.stdout, r.stderr)
	}
	var pg pairingGroups
	eventually(t, "the inbox to group the two blocked persons", 30*time.Second, func() bool {
		pg = e.inboxJSON("persons")
		return len(pg.Groups) == 1 && pg.Groups[0].Count == 2
	})
	g := pg.Groups[0]
	assert.Equal(t, domain.StateBlocked, g.State)
	assert.Equal(t, int64(2), pg.Blocked)
	assert.NotRegexp(t, `[0-9]`, g.Cause)

	for i, org := range orgs {
		require.NoError(t, e.crm.Patch("Organisations", org, map[string]any{"OrganisationName": fmt.Sprintf("Fixed %d A/S", i)}))
	}
	r := e.run("errors", "redrive", "--pairing", "persons", "--cause", g.Key)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "re-drove 2 of 2 links of group "+g.Key+": 2 ok")
	eventually(t, "the persons inbox to empty", 30*time.Second, func() bool {
		return len(e.inboxJSON("persons").Groups) == 0
	})
}
