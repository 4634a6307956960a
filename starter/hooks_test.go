package main

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
)

func TestHooksRegisterListRemove(t *testing.T) {
	t.Parallel()
	_, url := webcrmSim(t)
	const secret = "s3cret-hook-value"
	env := map[string]string{
		"WEBCRM_BASE_URL":            url,
		"WEBCRM_API_TOKEN":           testWebCRMToken,
		"TANDEM_HOOKS_SECRET":        secret,
		"WEBCRM_REQUESTS_PER_MINUTE": "6000",
		// Hooks need no Temporal: a closed port proves the commands do not dial it.
		"TEMPORAL_ADDRESS": closedAddr(t),
	}
	wc, err := webcrm.New(webcrm.Config{BaseURL: url, APIToken: testWebCRMToken, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	set, err := mappings.Default()
	require.NoError(t, err)
	var entities []webcrm.Entity
	for _, p := range set.Pairings() {
		entities = append(entities, webcrm.Entity(p.WebCRMEntity))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hooksOf := func(e webcrm.Entity) []webcrm.Hook {
		t.Helper()
		list, err := wc.ListHooks(ctx, e)
		require.NoError(t, err)
		return list
	}
	// Another integration's hook, which tandem must leave alone.
	otherID, err := wc.CreateHook(ctx, webcrm.Organisations, webcrm.Hook{EventType: "Update", TargetURL: "https://other.example/callback", IsEnabled: true})
	require.NoError(t, err)

	r := runCLI(t, env, "hooks", "register", "--public-url", "https://tandem.example.com/")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, 3*len(entities), strings.Count(r.stdout, "created hook"))
	assert.NotContains(t, r.stdout+r.stderr, secret, "the secret is never printed")
	assert.Contains(t, r.stdout, "https://tandem.example.com/hooks/webcrm?entity=Persons&event=Delete&secret=***")
	for _, e := range entities {
		events := map[string]bool{}
		for _, h := range hooksOf(e) {
			if h.ID == otherID {
				continue
			}
			// The target names the entity and the event: the endpoint needs
			// nothing from the body of webCRM's call.
			want := "https://tandem.example.com/hooks/webcrm?entity=" + string(e) + "&event=" + h.EventType + "&secret=" + secret
			assert.Equal(t, want, h.TargetURL, e)
			assert.True(t, h.IsEnabled, e)
			events[h.EventType] = true
		}
		assert.Equal(t, map[string]bool{"Create": true, "Update": true, "Delete": true}, events, e)
	}

	// Idempotent: a second run (with the path already given) adds nothing.
	r = runCLI(t, env, "hooks", "register", "--public-url", "https://tandem.example.com/hooks/webcrm")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, 3*len(entities), strings.Count(r.stdout, "(already registered)"))
	assert.NotContains(t, r.stdout, "created hook")
	for _, e := range entities {
		n := len(hooksOf(e))
		if e == webcrm.Organisations {
			n-- // the other integration's
		}
		assert.Equal(t, 3, n, e)
	}

	// A new secret updates the hooks in place.
	r = runCLI(t, env, "hooks", "register", "--public-url", "https://tandem.example.com", "--secret", "rotated")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, 3*len(entities), strings.Count(r.stdout, "updated hook"))
	for _, h := range hooksOf(webcrm.Persons) {
		assert.Equal(t, "https://tandem.example.com/hooks/webcrm?entity=Persons&event="+h.EventType+"&secret=rotated", h.TargetURL)
	}
	assert.Len(t, hooksOf(webcrm.Persons), 3)

	r = runCLI(t, env, "hooks", "list")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "rotated")
	assert.Contains(t, r.stdout, "https://other.example/callback")
	assert.Contains(t, r.stdout, "secret=***")
	assert.Contains(t, r.stdout, strconv.Itoa(3*len(entities)+1)+" hooks")

	// Remove one by id, then it is gone; removing it again is an error.
	victim := hooksOf(webcrm.Products)[0]
	r = runCLI(t, env, "hooks", "remove", "--id", strconv.FormatInt(victim.ID, 10), "--entity", "products")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Len(t, hooksOf(webcrm.Products), 2)
	r = runCLI(t, env, "hooks", "remove", "--id", strconv.FormatInt(victim.ID, 10), "--entity", "Products")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "no such hook")
	r = runCLI(t, env, "hooks", "remove", "--id", "1", "--entity", "Invoices")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "Organisations")

	// --all removes tandem's hooks and leaves the other integration's.
	r = runCLI(t, env, "hooks", "remove", "--all")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, strconv.Itoa(3*len(entities)-1)+" hooks removed")
	for _, e := range entities {
		list := hooksOf(e)
		if e == webcrm.Organisations {
			require.Len(t, list, 1)
			assert.Equal(t, otherID, list[0].ID)
			continue
		}
		assert.Empty(t, list, e)
	}
}

func TestHooksErrors(t *testing.T) {
	t.Parallel()
	_, url := webcrmSim(t)
	env := map[string]string{"WEBCRM_BASE_URL": url, "WEBCRM_API_TOKEN": testWebCRMToken}

	r := runCLI(t, env, "hooks", "register", "--public-url", "https://tandem.example.com")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "TANDEM_HOOKS_SECRET")

	r = runCLI(t, env, "hooks", "register", "--public-url", "tandem.example.com", "--secret", "x")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "absolute http(s) URL")

	r = runCLI(t, map[string]string{"WEBCRM_BASE_URL": url}, "hooks", "list")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "WEBCRM_API_TOKEN")

	r = runCLI(t, map[string]string{"WEBCRM_BASE_URL": url, "WEBCRM_API_TOKEN": "wrong-token"}, "hooks", "list")
	assert.Equal(t, exitFailure, r.code)
	require.Len(t, stderrLines(r.stderr), 1)
	assert.NotContains(t, r.stderr, "wrong-token")
}
