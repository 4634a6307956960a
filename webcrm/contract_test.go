package webcrm

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// TestContractRequestsMatchSwagger runs every client operation against the simulator
// with a transport that validates each outgoing request, and each 2xx answer, against
// webCRM's swagger document (kin-openapi; the kept contract derived from the published
// swagger, see loadSwagger). Any mismatch fails the test, and so does an operation the
// flow did not exercise.
func TestContractRequestsMatchSwagger(t *testing.T) {
	t.Parallel()
	vt := newValidatingTransport(t)
	env := newSimEnv(t, webcrmsim.Options{Seed: 5, SeedSize: 30}, func(c *Config) { c.Transport = vt })
	clientClock := &fakeClock{t: time.Now()}
	env.c.auth.now = clientClock.Now
	ctx := context.Background()
	c := env.c

	for _, e := range Entities() {
		recs, err := c.List(ctx, e, 1, 5)
		require.NoError(t, err, e)
		require.NoError(t, c.ListAll(ctx, e, 1000, func([]Record) error { return nil }), e)
		_, _, err = c.ChangedSince(ctx, e, time.Time{}, 10)
		require.NoError(t, err, e)
		_, err = c.FindBy(ctx, e, e.IDField(), "1")
		require.NoError(t, err, e)
		if len(recs) > 0 {
			id, err := recs[0].ID(e)
			require.NoError(t, err)
			_, err = c.Get(ctx, e, id)
			require.NoError(t, err, e)
		}
		hid, err := c.CreateHook(ctx, e, Hook{EventType: "Create", TargetURL: "http://127.0.0.1:1/h", IsEnabled: true})
		require.NoError(t, err, e)
		_, err = c.ListHooks(ctx, e)
		require.NoError(t, err, e)
		h, err := c.GetHook(ctx, e, hid)
		require.NoError(t, err, e)
		h.IsEnabled = false
		require.NoError(t, c.UpdateHook(ctx, e, h), e)
		require.NoError(t, c.DeleteHook(ctx, e, hid), e)
	}
	_, err := c.Query(ctx, "SELECT * FROM Organisation WHERE OrganisationName = 'x'", 1, 10)
	require.NoError(t, err)

	// writes, one entity after the other so foreign keys exist
	uid, err := c.Create(ctx, Users, Record{"UserName": "Contract User", "UserEmail": "cu@example.com"}, "contract:u")
	require.NoError(t, err)
	oid, err := c.Create(ctx, Organisations, Record{"OrganisationName": "Contract Org", "OrganisationOwner": uid}, "contract:o")
	require.NoError(t, err)
	pid, err := c.Create(ctx, Persons, Record{"PersonLastName": "Contract", "PersonOrganisationId": oid, "PersonStatus": "Active"}, "")
	require.NoError(t, err)
	prid, err := c.Create(ctx, Products, Record{"ProductOrganisationId": oid, "ProductPrice": 99.5}, "")
	require.NoError(t, err)
	opid, err := c.Create(ctx, Opportunities, Record{"OpportunityOrganisationId": oid, "OpportunityDescription": "Deal", "OpportunityOrderDate": time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)}, "")
	require.NoError(t, err)
	qid, err := c.Create(ctx, QuotationLines, Record{"QuotationLineOpportunityId": opid, "QuotationLineQuantity": 3, "QuotationLinePrice": 12.25, "QuotationLineData1": "SKU-1"}, "")
	require.NoError(t, err)
	for e, id := range map[Entity]int{Users: uid, Organisations: oid, Persons: pid, Products: prid, Opportunities: opid, QuotationLines: qid} {
		changes := Record{}
		switch e {
		case Users:
			changes["UserTitle"] = "CTO"
		case Organisations:
			changes["OrganisationCity"] = "Aalborg"
		case Persons:
			changes["PersonEmail"] = "c@example.com"
		case Products:
			changes["ProductQuantity"] = 4
		case Opportunities:
			changes["OpportunityDiscount"] = 5.5
		case QuotationLines:
			changes["QuotationLineDiscount"] = 10
		}
		_, err := c.Update(ctx, e, id, changes)
		require.NoError(t, err, e)
	}
	_, err = c.BulkUpsert(ctx, Persons, []Record{{"PersonId": 0, "PersonLastName": "Bulk", "PersonOrganisationId": oid}})
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, QuotationLines, qid))
	require.NoError(t, c.Delete(ctx, Products, prid))

	// token renewal through /Auth/ApiRefresh
	clientClock.Advance(59*time.Minute + 30*time.Second)
	_, err = c.Get(ctx, Organisations, oid)
	require.NoError(t, err)

	for _, p := range vt.Problems() {
		t.Error(p)
	}
	covered := vt.Covered()
	want := []string{"POST /Auth/ApiLogin", "POST /Auth/ApiRefresh", "GET /Queries"}
	for _, e := range Entities() {
		x := "/" + string(e)
		want = append(want, "GET "+x, "GET "+x+"/{id}", "POST "+x, "PUT "+x+"/{id}",
			"GET "+x+"/Hooks", "POST "+x+"/Hooks", "GET "+x+"/Hooks/{id}", "PUT "+x+"/Hooks/{id}", "DELETE "+x+"/Hooks/{id}")
	}
	want = append(want, "PATCH /Persons", "DELETE /QuotationLines/{id}", "DELETE /Products/{id}")
	for _, w := range want {
		assert.Positive(t, covered[w], "operation %s not exercised", w)
	}
	t.Logf("validated %d operations: %v", len(covered), sortedKeys(covered))
}
