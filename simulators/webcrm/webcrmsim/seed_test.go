package webcrmsim

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func seeded(t *testing.T, seed int64, size int) *Server {
	t.Helper()
	s, err := New(Options{APIToken: "x", Seed: seed, SeedSize: size, Logger: quietLogger()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestSeedDeterministic(t *testing.T) {
	t.Parallel()
	a, b, c := seeded(t, 42, 200), seeded(t, 42, 200), seeded(t, 43, 200)
	for _, e := range Entities() {
		require.Equal(t, a.Records(e), b.Records(e), e)
	}
	require.NotEqual(t, a.Records("Organisations"), c.Records("Organisations"))
	// Seed over HTTP replaces everything with the same data
	require.NoError(t, c.Seed(42, 200))
	require.Equal(t, a.Records("Persons"), c.Records("Persons"))
}

// TestSeedLinkage seeds 10,000 organisations and checks every reference
// and the shape of the data.
func TestSeedLinkage(t *testing.T) {
	t.Parallel()
	const size = 10_000
	s := seeded(t, 1, size)
	require.Equal(t, size, s.Count("Organisations"))
	require.Equal(t, 5+size/50, s.Count("Users"))
	require.Equal(t, 20+size/10, s.Count("Products"))
	require.GreaterOrEqual(t, s.Count("Persons"), size)
	require.LessOrEqual(t, s.Count("Persons"), 3*size)
	require.Greater(t, s.Count("Opportunities"), size/2)

	has := func(e string, v any) bool {
		id, ok := v.(int64)
		if !ok {
			return false
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		_, found := s.tables[e].recs[int(id)]
		return found
	}
	products := map[string]bool{}
	for _, p := range s.Records("Products") {
		num, _ := p["ProductCustom1"].(string)
		require.Regexp(t, `^P-\d{5}$`, num)
		products[num] = true
	}
	vats := map[string]bool{}
	multiLine, nordic := 0, 0
	for _, o := range s.Records("Organisations") {
		require.True(t, has("Users", o["OrganisationOwner"]))
		if v, ok := o["OrganisationVatNumber"].(string); ok {
			require.False(t, vats[v], "duplicate VAT %s", v)
			vats[v] = true
			require.Regexp(t, `^(DK\d{8}|NO\d{9}MVA)$`, v)
		}
		if strings.Contains(o["OrganisationAddress"].(string), "\n") {
			multiLine++
		}
		if strings.ContainsAny(o["OrganisationName"].(string)+o["OrganisationAddress"].(string)+o["OrganisationCity"].(string), "æøåÆØÅ") {
			nordic++
		}
	}
	require.Greater(t, multiLine, size/4)
	require.Greater(t, nordic, size/4)
	require.Greater(t, len(vats), size*8/10)
	emails := map[string]bool{}
	for _, p := range s.Records("Persons") {
		require.True(t, has("Organisations", p["PersonOrganisationId"]), "person %v", p["PersonId"])
		require.NotEmpty(t, p["PersonLastName"])
		em := p["PersonEmail"].(string)
		require.False(t, emails[em], "duplicate e-mail %s", em)
		emails[em] = true
	}
	for _, o := range s.Records("Opportunities") {
		require.True(t, has("Organisations", o["OpportunityOrganisationId"]))
		require.True(t, has("Persons", o["OpportunityPersonId"]))
		require.True(t, has("Users", o["OpportunityAssignedTo"]))
	}
	linesPerOpp := map[int64]int{}
	for _, l := range s.Records("QuotationLines") {
		require.True(t, has("Opportunities", l["QuotationLineOpportunityId"]), "line %v", l["QuotationLineId"])
		require.True(t, products[l["QuotationLineData1"].(string)], "line %v product", l["QuotationLineId"])
		linesPerOpp[l["QuotationLineOpportunityId"].(int64)]++
	}
	require.Len(t, linesPerOpp, s.Count("Opportunities"), "every opportunity has lines")
	for _, n := range linesPerOpp {
		require.True(t, n >= 1 && n <= 4)
	}
	// every seeded record passes the API's own validation
	for _, name := range Entities() {
		ent, _ := entities.find(name)
		for _, r := range s.Records(name)[:50] {
			_, _, err := ent.directFields(r)
			require.NoError(t, err, name)
		}
	}
}
