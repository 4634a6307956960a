package webcrm

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

func TestRecentWritesForgetAfterTheWindowAndStayBounded(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRecentWrites(10*time.Second, func() time.Time { return clock })
	r.note(Persons, 7, 0, -1)
	assert.True(t, r.has(Persons, 7))
	assert.False(t, r.has(Organisations, 7), "the entity is part of the key")
	assert.False(t, r.has(Persons, 0), "no id, nothing remembered")
	clock = clock.Add(10 * time.Second)
	assert.True(t, r.has(Persons, 7), "still within the window")
	clock = clock.Add(time.Millisecond)
	assert.False(t, r.has(Persons, 7), "forgotten after the window")

	// A long run of writes keeps no more than about two windows' worth.
	for i := range 100000 {
		clock = clock.Add(time.Millisecond) // 1,000 writes a second
		r.note(Organisations, i+1)
	}
	assert.LessOrEqual(t, len(r.at), 2*10*1000+1024)
	assert.True(t, r.has(Organisations, 100000))
	assert.False(t, r.has(Organisations, 1))
}

// TestSimWroteRecentlyNamesTheRecordsWritten: every kind of write through the
// client is remembered, by the id webCRM has for the record; reads are not.
func TestSimWroteRecentlyNamesTheRecordsWritten(t *testing.T) {
	t.Parallel()
	env := newSimEnv(t, webcrmsim.Options{Seed: 3, SeedSize: 20}, func(c *Config) {
		c.CorrelationFields = map[Entity]string{Organisations: "OrganisationCustom15"}
	})
	ctx := context.Background()
	c := env.c
	orgs, err := c.List(ctx, Organisations, 1, 2)
	require.NoError(t, err)
	require.Len(t, orgs, 2)
	read, err := orgs[0].ID(Organisations)
	require.NoError(t, err)
	updated, err := orgs[1].ID(Organisations)
	require.NoError(t, err)

	_, err = c.Get(ctx, Organisations, read)
	require.NoError(t, err)
	_, err = c.Update(ctx, Organisations, updated, Record{"OrganisationCity": "Aarhus"})
	require.NoError(t, err)
	created, err := c.Create(ctx, Organisations, Record{"OrganisationName": "Echo A/S"}, "link/organisations/erp/CU-1")
	require.NoError(t, err)
	person, err := c.Create(ctx, Persons, Record{"PersonLastName": "Echo", "PersonOrganisationId": created, "PersonStatus": "Active"}, "")
	require.NoError(t, err)
	product, err := c.Create(ctx, Products, Record{"ProductOrganisationId": created, "ProductPrice": 10}, "")
	require.NoError(t, err)

	assert.False(t, c.WroteRecently(Organisations, read), "a read is not a write")
	assert.True(t, c.WroteRecently(Organisations, updated), "updated")
	assert.True(t, c.WroteRecently(Organisations, created), "created (id found by its correlation token)")
	assert.True(t, c.WroteRecently(Persons, person), "created")
	assert.False(t, c.WroteRecently(Persons, updated), "the entity is part of the key")

	// Bulk upserts and deletes, with the memory cleared first so that only
	// these writes can answer.
	c.recent = newRecentWrites(EchoWindow, time.Now)
	_, err = c.BulkUpsert(ctx, Persons, []Record{
		{"PersonId": person, "PersonLastName": "Bulk updated", "PersonOrganisationId": created, "PersonStatus": "Active"},
	})
	require.NoError(t, err)
	batch, err := c.CreateBatch(ctx, Organisations, map[string]Record{"link/bulk/1": {"OrganisationName": "Bulk"}}, BatchOptions{})
	require.NoError(t, err)
	require.Contains(t, batch.Created, "link/bulk/1")
	inserted, err := batch.Created["link/bulk/1"].ID(Organisations)
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, Products, product))
	assert.True(t, c.WroteRecently(Organisations, inserted), "created by a bulk create (found by its token)")
	assert.True(t, c.WroteRecently(Persons, person), "updated by a bulk upsert")
	assert.True(t, c.WroteRecently(Products, product), "deleted")
	assert.False(t, c.WroteRecently(Organisations, created), "written before the memory was cleared")
}
