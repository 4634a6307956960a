package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/workflows"
)

// crmOrg returns the fields of a webCRM organisation numbered n.
func crmOrg(n int) map[string]any {
	return map[string]any{
		"OrganisationName":      fmt.Sprintf("Starter Test %d ApS", n),
		"OrganisationVatNumber": fmt.Sprintf("DK%08d", 42000000+n),
		"OrganisationAddress":   fmt.Sprintf("Strandvejen %d", n),
		"OrganisationPostCode":  "2900",
		"OrganisationCity":      "Hellerup",
		"OrganisationCountry":   "Danmark",
	}
}

// putOrgs creates n organisations in the webCRM simulator.
func (e *testbed) putOrgs(from, n int) []int {
	e.t.Helper()
	ids := make([]int, n)
	for i := range ids {
		id, err := e.crm.Put("Organisations", crmOrg(from+i))
		require.NoError(e.t, err)
		ids[i] = id
	}
	return ids
}

var runIDPattern = regexp.MustCompile(`\(run ([0-9a-f-]+)\)`)

func runID(t *testing.T, out string) string {
	t.Helper()
	m := runIDPattern.FindStringSubmatch(out)
	require.NotNil(t, m, "no run id in %q", out)
	return m[1]
}

func TestBackfillReattachesAndSummarises(t *testing.T) {
	t.Parallel()
	e := newEngine(t, true)
	const n = 12
	e.putOrgs(1, n)
	id := workflows.BackfillWorkflowID("organisations", "webcrm")

	// Slow webCRM down so the backfill is still running when it is started again.
	require.NoError(t, e.crm.Faults().SetLatency(150*time.Millisecond, 0))
	args := []string{"backfill", "--pairing", "organisations", "--side", "webcrm", "--page-size", "2", "--concurrency", "2"}
	r := e.run(append(args, "--detach")...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "started backfill "+id)
	assert.Contains(t, r.stdout, "starter backfill attach --pairing organisations --side webcrm")
	first := runID(t, r.stdout)

	// Running it again attaches to the running backfill and watches it to the end.
	r = e.run(args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "attached to backfill "+id)
	assert.Equal(t, first, runID(t, r.stdout), "the same run, not a second backfill")
	assert.Contains(t, r.stdout, fmt.Sprintf("backfill %s completed: %d records", id, n))
	assert.Regexp(t, `(?m)^\s+created-in-erp\s+`+strconv.Itoa(n)+`$`, r.stdout)
	assert.Contains(t, r.stderr, "/s", "the progress bar shows a rate")
	assert.Equal(t, int64(1), e.count("WorkflowId = "+quote(id)))
	e.crm.Faults().Clear()

	// attach to a completed backfill prints its summary.
	r = e.run("backfill", "attach", "--pairing", "organisations", "--side", "webcrm")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, fmt.Sprintf("backfill %s completed: %d records", id, n))

	// attach to a backfill that never ran is an error naming how to start one.
	r = e.run("backfill", "attach", "--pairing", "products")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "no backfill backfill/products/both")

	// A second backfill after the first completed is a new run; links skip
	// what they synced.
	r = e.run(args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotEqual(t, first, runID(t, r.stdout))
	assert.Contains(t, r.stdout, fmt.Sprintf("completed: %d records", n))
	assert.NotContains(t, r.stdout, "created-in-erp")

	// status counts the links (visibility trails a little).
	eventually(t, "status to count the links", 30*time.Second, func() bool {
		v := e.statusJSON("organisations")["organisations"]
		return v.Links != nil && v.Links.Total == n
	})
}

func TestBackfillDetachesOnInterrupt(t *testing.T) {
	t.Parallel()
	e := newEngine(t, false) // no worker: the backfill cannot finish
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- runCtx(t, ctx, e.env, "backfill", "--pairing", "products") }()
	id := workflows.BackfillWorkflowID("products", "both")
	eventually(t, "the backfill to start", 30*time.Second, func() bool {
		return e.count("WorkflowId = "+quote(id)+" AND ExecutionStatus = 'Running'") == 1
	})
	cancel() // what Ctrl-C does
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the CLI did not return after the interrupt")
	}
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "waiting for a worker")
	assert.Contains(t, r.stderr, "detached: backfill "+id+" keeps running in Temporal (it was not cancelled)")
	assert.Contains(t, r.stderr, "starter backfill attach --pairing products --side both")
	desc, err := e.c.DescribeWorkflow(t.Context(), id, "")
	require.NoError(t, err)
	assert.Equal(t, "Running", desc.Status.String())

	// Attached again, a backfill that ends badly is an operational error.
	attached := make(chan result, 1)
	go func() { attached <- runCLI(t, e.env, "backfill", "attach", "--pairing", "products") }()
	require.NoError(t, e.c.TerminateWorkflow(t.Context(), id, "", "operator stopped it"))
	select {
	case r = <-attached:
	case <-time.After(30 * time.Second):
		t.Fatal("attach did not return after the backfill was terminated")
	}
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "backfill "+id+" failed")
}

func TestWithoutWorker(t *testing.T) {
	t.Parallel()
	e := newEngine(t, false)
	// A running pairing that no worker serves: status says so, quickly.
	r := e.run("start", "products", "--reconcile-every", "0")
	require.Equal(t, exitOK, r.code, r.stderr)
	began := time.Now()
	v := e.statusJSON("products")["products"]
	assert.Less(t, time.Since(began), 15*time.Second)
	assert.Equal(t, stateRunning, v.State)
	assert.Contains(t, v.LastError, "did not answer its status query")
	assert.Contains(t, v.LastError, "is a worker running?")
	// pause is delivered but not confirmed.
	r = e.run("pause", "products", "--wait", "1s")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "products: pause signalled; not confirmed within 1s")

	// resync waits for the link's outcome no longer than --timeout.
	id, err := e.crm.Put("Products", map[string]any{"ProductCustom1": "P-1", "ProductCustom2": "Widget", "ProductPrice": 10})
	require.NoError(t, err)
	r = e.run("resync", "--pairing", "products", "--webcrm-id", strconv.Itoa(id), "--timeout", "2s")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "no outcome within 2s (is a worker running?)")
}

func TestResyncLinkAndLinks(t *testing.T) {
	t.Parallel()
	e := newEngine(t, true)
	ids := e.putOrgs(100, 3)
	crmID := strconv.Itoa(ids[0])

	// resync links a record that has no link yet.
	r := e.run("resync", "--pairing", "organisations", "--webcrm-id", crmID)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `(?m)^action\s+created-in-erp$`, r.stdout)
	assert.Regexp(t, `(?m)^state\s+ok$`, r.stdout)
	assert.Regexp(t, `(?m)^webCRM id\s+`+crmID+`$`, r.stdout)
	erpID := regexp.MustCompile(`(?m)^ERP id\s+(\S+)$`).FindStringSubmatch(r.stdout)
	require.NotNil(t, erpID)
	assert.NotEqual(t, "-", erpID[1])
	_, ok := e.erp.Record("customers", erpID[1])
	assert.True(t, ok, "the customer exists in the ERP")
	home := domain.LinkWorkflowID("organisations", domain.WebCRM, crmID)
	assert.Regexp(t, `(?m)^link\s+`+regexp.QuoteMeta(home)+`$`, r.stdout)

	// Again: nothing to write.
	r = e.run("resync", "--pairing", "organisations", "--webcrm-id", crmID)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `(?m)^state\s+ok$`, r.stdout)
	assert.NotContains(t, r.stdout, "created-in-erp")

	// link finds it by either id, with the UI address of its history.
	r = e.run("link", "--pairing", "organisations", "--webcrm-id", crmID, "--ui-url", "http://ui.example:8233/")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `(?m)^state\s+ok$`, r.stdout)
	assert.Regexp(t, `(?m)^since\s+\d{4}-\d\d-\d\dT`, r.stdout, "when the link entered its state")
	assert.Contains(t, r.stdout, "http://ui.example:8233/namespaces/"+e.ns+"/workflows/link%2Forganisations%2Fwebcrm%2F"+crmID+"/")
	assert.Contains(t, r.stdout, "/history")
	r = e.run("link", "--pairing", "organisations", "--erp-id", erpID[1], "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var shown struct {
		Link  string           `json:"link"`
		State domain.LinkState `json:"state"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &shown))
	assert.Equal(t, home, shown.Link)
	assert.Equal(t, crmID, shown.State.CrmID)
	assert.Equal(t, domain.StateOK, shown.State.State)

	// No such record, no such link.
	r = e.run("resync", "--pairing", "organisations", "--webcrm-id", "987654")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "no such record: webCRM Organisations record 987654 does not exist")
	r = e.run("resync", "--pairing", "organisations", "--erp-id", "no-such-customer")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "no such record: ERP customers record no-such-customer does not exist")
	emp, err := e.erp.Put("contacts", map[string]any{"contactType": "employee", "firstName": "Ida", "lastName": "Jensen", "email": "ida@starter.example"})
	require.NoError(t, err)
	r = e.run("resync", "--pairing", "persons", "--erp-id", fmt.Sprint(emp["id"]))
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "is not a record of pairing persons (its records have contactType=person)")
	r = e.run("link", "--pairing", "organisations", "--webcrm-id", strconv.Itoa(ids[1]))
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "no such link")
	require.Len(t, stderrLines(r.stderr), 1)

	// A record the ERP refuses ends in error: resync exits 1 and the error
	// inbox lists it with the reason.
	bad, err := e.crm.Put("Organisations", map[string]any{"OrganisationName": "", "OrganisationVatNumber": "DK99999999"})
	require.NoError(t, err)
	badID := strconv.Itoa(bad)
	r = e.run("resync", "--pairing", "organisations", "--webcrm-id", badID)
	t.Logf("resync of a record without a name: exit %d", r.code)
	if r.code == exitFailure {
		assert.Regexp(t, `(?m)^state\s+error$`, r.stdout)
		assert.Contains(t, r.stderr, "ended in error")
		eventually(t, "the error inbox to list the link", 30*time.Second, func() bool {
			r := e.run("links", "--pairing", "organisations", "--state", "error")
			return r.code == exitOK && strings.Contains(r.stdout, "link/organisations/webcrm/"+badID)
		})
		r = e.run("links", "--pairing", "organisations", "--state", "error", "--json")
		require.Equal(t, exitOK, r.code, r.stderr)
		var inbox struct {
			Total int64     `json:"total"`
			Links []linkRow `json:"links"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &inbox))
		require.Len(t, inbox.Links, 1)
		assert.Equal(t, int64(1), inbox.Total)
		assert.Equal(t, domain.StateError, inbox.Links[0].State)
		assert.NotEmpty(t, inbox.Links[0].Reason)
		assert.NotContains(t, inbox.Links[0].Reason, "no answer")
	} else {
		t.Errorf("a webCRM organisation without a name should end in error (the ERP requires a name); resync exited %d:\n%s", r.code, r.stdout)
	}

	// The full listing, and a state filter that matches nothing.
	eventually(t, "links to list the ok link", 30*time.Second, func() bool {
		r := e.run("links", "--pairing", "organisations", "--state", "ok")
		return r.code == exitOK && strings.Contains(r.stdout, home)
	})
	r = e.run("links", "--pairing", "organisations")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, regexp.QuoteMeta(home)+`\s+`+crmID+`\s+`+regexp.QuoteMeta(erpID[1])+`\s+ok\s`, r.stdout)
	r = e.run("links", "--pairing", "organisations", "--state", "blocked")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "no blocked links in pairing organisations")
	r = e.run("links", "--pairing", "persons", "--limit", "5")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "no links in pairing persons")
}

func TestEncryptedPayloads(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	keys := "k1:" + base64.StdEncoding.EncodeToString(key)
	e := newEngineWithKeys(t, true, keys)
	e.putOrgs(200, 2)

	// With the worker's keys every command reads what the workflows say.
	r := e.run("start", "organisations", "--reconcile-every", "0")
	require.Equal(t, exitOK, r.code, r.stderr)
	r = e.run("pause", "organisations", "--reason", "keys test")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "organisations: paused (keys test)")
	r = e.run("backfill", "--pairing", "organisations", "--side", "webcrm")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "completed: 2 records")

	// Without them, the starter says what is missing instead of garbage.
	noKeys := maps.Clone(e.env)
	delete(noKeys, "TANDEM_CODEC_KEYS")
	r = runCLI(t, noKeys, "status", "organisations", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "TANDEM_CODEC_KEYS")
	r = runCLI(t, noKeys, "backfill", "attach", "--pairing", "organisations", "--side", "webcrm")
	assert.Equal(t, exitFailure, r.code)
	lines := stderrLines(r.stderr)
	require.NotEmpty(t, lines)
	assert.Contains(t, lines[len(lines)-1], "give the starter the same keys (TANDEM_CODEC_KEYS or TANDEM_CODEC_KEYS_FILE)")
	assert.Equal(t, 1, strings.Count(lines[len(lines)-1], "TANDEM_CODEC_KEYS_FILE"), "the hint once")

	// Malformed keys are a clear error, without the key material.
	bad := maps.Clone(e.env)
	bad["TANDEM_CODEC_KEYS"] = "k1:not-base64!!"
	r = runCLI(t, bad, "status")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "payload encryption keys")
	assert.NotContains(t, r.stderr, "not-base64!!")
}

func TestBackfillCountWebCRMFlagReachesTheInput(t *testing.T) {
	t.Parallel()
	for _, count := range []bool{false, true} {
		in, err := backfillFlags{pairing: "organisations", side: workflows.BackfillWebCRM, countWebCRM: count}.input()
		require.NoError(t, err)
		assert.Equal(t, count, in.CountWebCRM)
	}
}
