package webcrmsim

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPersistenceRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "webcrm.json")
	opts := Options{APIToken: testAPIToken, PersistPath: path, Seed: 5, SeedSize: 20, Logger: quietLogger(), PersistDebounce: 10 * time.Millisecond}

	s1, err := New(opts)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := os.Stat(path); return err == nil }, 5*time.Second, 5*time.Millisecond, "seeded data saved")
	_, err = s1.Put("Persons", map[string]any{"PersonOrganisationId": 1, "PersonLastName": "Kjær", "PersonAddress": nil, "PersonEmail": "kjaer@x.dk"})
	require.ErrorContains(t, err, `unknown property "PersonAddress"`)
	id, err := s1.Put("Persons", map[string]any{"PersonOrganisationId": 1, "PersonLastName": "Kjær", "PersonEmail": "kjær@x.dk", "PersonBirthday": "1980-02-03"})
	require.NoError(t, err)
	require.NoError(t, s1.Remove("Products", 3))
	s1.mu.Lock()
	s1.hooks[1] = &hook{ID: 1, Entity: "Persons", EventType: "Update", TargetURL: "http://127.0.0.1:1/h", IsEnabled: true, Filter: []string{"All"}}
	s1.nextHook = 2
	s1.mu.Unlock()
	want := map[string][]map[string]any{}
	for _, e := range Entities() {
		want[e] = s1.Records(e)
	}
	require.NoError(t, s1.Close(), "Close flushes")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left behind")

	// SeedSize is ignored when the file exists.
	opts.SeedSize = 999
	s2, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s2.Close()) })
	for _, e := range Entities() {
		require.Equal(t, want[e], s2.Records(e), e)
	}
	rec, ok := s2.Record("Persons", id)
	require.True(t, ok)
	require.Equal(t, "1980-02-03T00:00:00.0000000Z", rec["PersonBirthday"])
	_, ok = s2.Record("Products", 3)
	require.False(t, ok)

	// ids continue after the highest, the hook survived, stamps never go back
	next, err := s2.Put("Persons", map[string]any{"PersonLastName": "Ny"})
	require.NoError(t, err)
	require.Equal(t, id+1, next)
	s2.mu.RLock()
	require.Len(t, s2.hooks, 1)
	require.Equal(t, int64(2), s2.nextHook)
	require.Equal(t, "Update", s2.hooks[1].EventType)
	s2.mu.RUnlock()
	newRec, _ := s2.Record("Persons", next)
	for _, r := range want["Persons"] {
		require.GreaterOrEqual(t, newRec["PersonUpdatedAt"], r["PersonUpdatedAt"])
	}
}

func TestPersistenceRejectsBadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage.json": "{not json",
		"format.json":  `{"Format":"other/9","Entities":{}}`,
		"entity.json":  `{"Format":"webcrmsim/1","Entities":{"Invoices":{"NextId":1,"Records":[]}}}`,
		"type.json":    `{"Format":"webcrmsim/1","Entities":{"Persons":{"NextId":2,"Records":[{"PersonId":1,"PersonLastName":5}]}}}`,
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		_, err := New(Options{APIToken: "x", PersistPath: path, Logger: quietLogger()})
		require.Error(t, err, name)
		require.Contains(t, err.Error(), path)
	}
}
