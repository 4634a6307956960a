package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
)

// writes sums the simulators' API write counters.
func (e *testbed) writes() int64 {
	var n int64
	for _, w := range e.crm.Stats().Writes {
		n += w.Total()
	}
	for _, w := range e.erp.Stats().Writes {
		n += w
	}
	return n
}

// TestPlanPreviewsTheFirstSyncAndWritesNothing: on two systems with a twin
// (the same VAT number written two ways), a VAT number shared by two webCRM
// organisations and one customer, and a lone record on each side, `starter
// plan` says matched, ambiguous and create with the criterion and values, in
// JSON, CSV and the table, and neither simulator counts a write, nor does
// Temporal hold a link afterwards.
func TestPlanPreviewsTheFirstSyncAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEngine(t, true)
	twin := e.putOrgs(1, 1)[0]
	cust, err := e.erp.Put("customers", map[string]any{"name": "Twin", "organisationNumber": "dk 42.00.00.01"})
	require.NoError(t, err)
	twinCust := cust["id"].(string)
	dup := e.putOrgs(2, 1)[0]
	dup2, err := e.crm.Put("Organisations", crmOrg(2))
	require.NoError(t, err)
	dupCust, err := e.erp.Put("customers", map[string]any{"name": "Dup", "organisationNumber": "DK42000002"})
	require.NoError(t, err)
	lone := e.putOrgs(3, 1)[0]
	loneCust, err := e.erp.Put("customers", map[string]any{"name": "Lone", "organisationNumber": "DK99000001"})
	require.NoError(t, err)

	before := e.writes()
	r := e.run("plan", "--pairing", "organisations", "--format", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, before, e.writes(), "a plan writes nothing to either system")
	assert.Zero(t, e.count(`TandemPairing = "organisations"`), "a plan starts no link")

	var f planFile
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &f), r.stdout)
	require.Len(t, f.Plans, 1)
	p := f.Plans[0]
	find := func(side domain.Side, id string) engine.PlanEntry {
		for _, en := range p.Entries {
			if en.Side == side && en.ID == id {
				return en
			}
		}
		t.Fatalf("no entry of %s %s in %+v", side, id, p.Entries)
		return engine.PlanEntry{}
	}
	m := find(domain.WebCRM, strconv.Itoa(twin))
	assert.Equal(t, engine.PlanMatched, m.Verdict)
	assert.Equal(t, twinCust, m.CounterpartID)
	assert.Equal(t, "vat-number", m.Criterion)
	assert.Equal(t, "DK42000001", m.Value)
	assert.Equal(t, m.Value, m.CounterpartValue)
	amb := find(domain.ERP, dupCust["id"].(string))
	assert.Equal(t, engine.PlanAmbiguous, amb.Verdict)
	assert.ElementsMatch(t, []string{strconv.Itoa(dup), strconv.Itoa(dup2)}, amb.Candidates)
	assert.Equal(t, engine.PlanCreate, find(domain.WebCRM, strconv.Itoa(lone)).Verdict)
	assert.Equal(t, engine.PlanCreate, find(domain.ERP, loneCust["id"].(string)).Verdict)
	assert.Equal(t, 2, p.Totals[engine.PlanMatched])
	assert.Equal(t, 3, p.Totals[engine.PlanAmbiguous])
	assert.Equal(t, 2, p.Totals[engine.PlanCreate])

	r = e.run("plan", "--pairing", "organisations")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "VERDICT")
	assert.Contains(t, r.stdout, "DK42000001 ⇄ DK42000001")
	assert.Contains(t, r.stdout, "organisations: 0 linked, 2 matched, 3 ambiguous, 2 create, 0 blocked, 0 skipped, 0 invalid, 0 rejected")
	assert.Contains(t, r.stderr, "reading organisations", "a progress line while it reads")

	r = e.run("plan", "--pairing", "organisations", "--format", "csv")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "pairing,verdict,side,id,counterpart")
	assert.Contains(t, r.stdout, "organisations,matched,webcrm,"+strconv.Itoa(twin)+","+twinCust)
	assert.Equal(t, before, e.writes(), "nor do the other formats")

	r = e.run("plan", "--format", "yaml")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `--format "yaml"`)
}

// reviewMappings writes the built-in mapping files to a directory, with the
// organisations pairing's review option on, and points the testbed at it.
func (e *testbed) reviewMappings() {
	e.t.Helper()
	dir := copyDefaults(e.t)
	file := filepath.Join(dir, "organisations.yaml")
	data, err := os.ReadFile(file)
	require.NoError(e.t, err)
	require.NoError(e.t, os.WriteFile(file, []byte(strings.Replace(string(data), "\ndelete:", "\nreview: true\ndelete:", 1)), 0o600))
	e.env["TANDEM_MAPPINGS_DIR"] = dir
	e.cfg.Sync.MappingsDir = dir
}

// TestReviewHoldsFirstContactsUntilAnOperatorDecides: with review on, the
// running pairing holds two lone organisations in pending links (found by
// `starter links --state pending`, with the reason) and writes nothing to the
// ERP; `starter reject` leaves one unsynced, and the plan file, given to
// `starter approve --plan`, creates the other's customer once.
func TestReviewHoldsFirstContactsUntilAnOperatorDecides(t *testing.T) {
	t.Parallel()
	e := newEngine(t, false)
	e.reviewMappings()
	e.startWorker()
	ids := e.putOrgs(1, 2)
	keep, drop := strconv.Itoa(ids[0]), strconv.Itoa(ids[1])
	erpWrites := func() int64 {
		var n int64
		for _, w := range e.erp.Stats().Writes {
			n += w
		}
		return n
	}

	r := e.run("start", "organisations", "--reconcile-every", "0")
	require.Equal(t, exitOK, r.code, r.stderr)
	eventually(t, "both organisations held for review", 2*time.Minute, func() bool {
		return e.count(`TandemPairing = "organisations" AND TandemState = "pending"`) == 2
	})
	assert.Zero(t, erpWrites(), "nothing is written while first contacts wait")
	r = e.run("links", "--pairing", "organisations", "--state", "pending")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "awaiting review: nothing in ERP customers matches it; approving creates it there")

	r = e.run("reject", "--pairing", "organisations", "--webcrm-id", drop)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "1 decisions: 1 rejected (rejected)")

	plan := filepath.Join(t.TempDir(), "plan.json")
	r = e.run("plan", "--pairing", "organisations", "--format", "json", "--output", plan)
	require.Equal(t, exitOK, r.code, r.stderr)
	r = e.run("approve", "--plan", plan)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "1 decisions: 1 created-in-erp (ok)", "the plan lists the held record to create, and the rejected one as rejected")
	assert.Equal(t, int64(1), erpWrites(), "one customer created, for the approved organisation only")

	r = e.run("link", "--pairing", "organisations", "--webcrm-id", drop)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "rejected")
	eventually(t, "no link pending", time.Minute, func() bool {
		return e.count(`TandemPairing = "organisations" AND TandemState = "pending"`) == 0
	})
	r = e.run("approve", "--pairing", "organisations", "--all")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "nothing to approve", "no link is pending any more")
	r = e.run("approve", "--pairing", "organisations", "--webcrm-id", keep)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, int64(1), erpWrites(), "approving a linked record again writes nothing")
	r = e.run("link", "--pairing", "organisations", "--webcrm-id", keep)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ok")
}
