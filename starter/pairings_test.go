package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/workflows"
)

// statusJSON runs `status --json` and decodes it by pairing.
func (e *testbed) statusJSON(args ...string) map[string]pairingView {
	e.t.Helper()
	r := e.run(append([]string{"status", "--json"}, args...)...)
	require.Equal(e.t, exitOK, r.code, r.stderr)
	var views []pairingView
	require.NoError(e.t, json.Unmarshal([]byte(r.stdout), &views), r.stdout)
	out := map[string]pairingView{}
	for _, v := range views {
		out[v.Pairing] = v
	}
	return out
}

func TestPairingsStartPauseResumeStatus(t *testing.T) {
	t.Parallel()
	e := newEngine(t, true)
	set, err := mappings.Default()
	require.NoError(t, err)
	names := set.Names()

	// Before start: every pairing is "not started", and signals say so.
	r := e.run("status")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, name := range names {
		assert.Regexp(t, `(?m)^`+name+`\s+not started\s`, r.stdout)
	}
	r = e.run("pause", "organisations")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "pairing organisations is not started")
	r = e.run("poke", "products")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "starter start products")

	// start starts every pairing; again, it leaves them as they are.
	r = e.run("start", "--reconcile-every", "0")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, name := range names {
		assert.Contains(t, r.stdout, name+": started (pairing/"+name)
	}
	r = e.run("start", "organisations")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "organisations: already running")
	assert.Equal(t, int64(1), e.count("WorkflowId = 'pairing/organisations'"), "one run, not two")

	// pause shows in status, with its reason; the others keep running.
	r = e.run("pause", "organisations", "persons", "--reason", "ERP maintenance")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "organisations: paused (ERP maintenance)")
	assert.Contains(t, r.stdout, "persons: paused (ERP maintenance)")
	st := e.statusJSON()
	assert.Equal(t, statePaused, st["organisations"].State)
	assert.Equal(t, "ERP maintenance", st["organisations"].PauseReason)
	assert.Equal(t, statePaused, st["persons"].State)
	assert.Equal(t, stateRunning, st["products"].State)
	r = e.run("status")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `(?m)^organisations\s+paused \(ERP maintenance\)`, r.stdout)
	assert.Regexp(t, `(?m)^products\s+running\s`, r.stdout)
	for _, col := range []string{"WEBCRM WATERMARK", "ERP TOKEN", "LINKS", "ERROR", "BLOCKED", "LAST POLL", "LAG", "LAST ERROR"} {
		assert.Contains(t, r.stdout, col)
	}

	r = e.run("poke")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "quotationlines: poke signalled")

	r = e.run("resume", "organisations")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "organisations: running")
	st = e.statusJSON("organisations", "persons")
	require.Len(t, st, 2)
	assert.Equal(t, stateRunning, st["organisations"].State)
	assert.Equal(t, statePaused, st["persons"].State)

	// A running pairing reports its polls: last poll time, and links counted.
	eventually(t, "organisations to report a poll", 30*time.Second, func() bool {
		v := e.statusJSON("organisations")["organisations"]
		return v.LastPollAt != nil && v.Totals != nil && v.Totals.Polls > 0 && v.Links != nil
	})
	// Its lag is the time since its last complete poll, whatever the age
	// of its watermark: at one-second polls, seconds.
	eventually(t, "organisations to show a lag of seconds", 30*time.Second, func() bool {
		v := e.statusJSON("organisations")["organisations"]
		return v.LagSeconds != nil && *v.LagSeconds < 20 && v.LastPollAt != nil && time.Since(*v.LastPollAt) < 20*time.Second
	})

	// A pairing whose workflow ended shows "not started" again.
	ctx := t.Context()
	require.NoError(t, e.c.TerminateWorkflow(ctx, workflows.PairingWorkflowID("users"), "", "test"))
	st = e.statusJSON("users")
	assert.Equal(t, stateNotStarted, st["users"].State)
	r = e.run("resume", "users")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "pairing users is not started")
	r = e.run("start", "users")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "users: started")
	assert.Empty(t, r.stderr)
}
