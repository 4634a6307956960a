package stores_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/stores"
	"github.com/tandemsync/tandem/webcrm"
)

const webcrmToken = "stores-test-webcrm-token"

// TestTheWebCRMIndexFeedCarriesTokens: the merge index's feed gives each
// record's correlation token with its merge value, in the full read and in
// the read of what changed since, so that the index can tell a batch create
// that no record carries its tokens.
func TestTheWebCRMIndexFeedCarriesTokens(t *testing.T) {
	sim, err := webcrmsim.New(webcrmsim.Options{APIToken: webcrmToken, RateLimitPerMinute: -1, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	hs := httptest.NewServer(sim)
	t.Cleanup(func() {
		hs.Close()
		_ = sim.Close()
	})
	set, err := mappings.Default()
	require.NoError(t, err)
	p, ok := set.Pairing("organisations")
	require.True(t, ok)
	require.NotEmpty(t, p.CorrelationField)
	c, err := webcrm.New(webcrm.Config{BaseURL: hs.URL, APIToken: webcrmToken, RequestsPerMinute: -1,
		CorrelationFields: map[webcrm.Entity]string{webcrm.Entity(p.WebCRMEntity): p.CorrelationField},
		Logger:            slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	feed := stores.Clients{WebCRM: c}.Sides(p).Index[domain.WebCRM]

	plain, err := sim.Put("Organisations", map[string]any{"OrganisationName": "Typed in webCRM", "OrganisationVatNumber": "DK11111111"})
	require.NoError(t, err)
	made, err := sim.Put("Organisations", map[string]any{"OrganisationName": "Made by tandem", p.CorrelationField: "link/organisations/erp/C-1"})
	require.NoError(t, err)

	got := map[int]engine.IndexEntry{}
	collect := func(r engine.IndexEntry) {
		var id int
		_, _ = fmt.Sscan(r.ID, &id)
		got[id] = r
	}
	ctx := context.Background()
	cursor, err := feed.ReadIndex(ctx, "OrganisationVatNumber", "", collect)
	require.NoError(t, err)
	assert.Equal(t, "DK11111111", got[plain].Value)
	assert.Empty(t, got[plain].Token)
	assert.Equal(t, "link/organisations/erp/C-1", got[made].Token)

	later, err := sim.Put("Organisations", map[string]any{"OrganisationName": "Made later", p.CorrelationField: "link/organisations/erp/C-2"})
	require.NoError(t, err)
	clear(got)
	_, err = feed.ReadIndex(ctx, "OrganisationVatNumber", cursor, collect)
	require.NoError(t, err)
	assert.Equal(t, "link/organisations/erp/C-2", got[later].Token, "a record changed since the cursor comes with its token")
}
