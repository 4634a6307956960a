package stores_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/stores"
)

const apiKey = "stores-test-key-0123456789"

// erpProducts is the products pairing's ERP store on a real reference server.
func erpProducts(t *testing.T) (*customerp.Client, func(ctx context.Context, body map[string]any, token string) (string, map[string]any, bool, error)) {
	t.Helper()
	srv, err := erpsim.New(erpsim.Options{APIKey: apiKey})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		require.NoError(t, srv.Close())
	})
	c, err := customerp.New(customerp.Config{BaseURL: hs.URL, APIKey: apiKey, Timeout: 10 * time.Second})
	require.NoError(t, err)
	set, err := mappings.Default()
	require.NoError(t, err)
	p, ok := set.Pairing("products")
	require.True(t, ok)
	store := stores.Clients{ERP: c}.Sides(p).Store[domain.ERP]
	create := func(ctx context.Context, body map[string]any, token string) (string, map[string]any, bool, error) {
		id, rec, err := store.Create(ctx, body, token)
		return id, rec.Fields, rec.ReadBack, err
	}
	return c, create
}

// TestACreateRetriedWithAnotherBodyReturnsTheEarlierRecord: the first attempt
// was carried out and its answer lost; the record was edited on the other side
// before the retry, so the retry's body differs and the server refuses the key.
// The store returns the record the first attempt made, read back, for the
// engine to merge into; no second record, no failed link.
func TestACreateRetriedWithAnotherBodyReturnsTheEarlierRecord(t *testing.T) {
	ctx := context.Background()
	c, create := erpProducts(t)
	const token = "webcrm:Products:41"

	first, _, _, err := create(ctx, map[string]any{"name": "Bolt", "productNumber": "B-1"}, token)
	require.NoError(t, err)

	_, err = c.Create(ctx, customerp.Products, customerp.Record{"name": "Bolt M8", "productNumber": "B-1", "externalRef": token}, token)
	require.True(t, customerp.IsIdempotencyConflict(err), "the server refuses the key with another body: %v", err)

	id, fields, readBack, err := create(ctx, map[string]any{"name": "Bolt M8", "productNumber": "B-1"}, token)
	require.NoError(t, err)
	require.Equal(t, first, id, "the record the first attempt made")
	require.True(t, readBack, "taken as read back, so the engine merges the edit into it")
	require.Equal(t, "Bolt", fields["name"], "as stored, not as sent")

	all, err := c.Find(ctx, customerp.Products, "externalRef", token)
	require.NoError(t, err)
	require.Len(t, all, 1, "no second record")
}

func TestOtherValidationAnswersAreNoIdempotencyConflict(t *testing.T) {
	ctx := context.Background()
	c, create := erpProducts(t)
	_, _, _, err := create(ctx, map[string]any{"productNumber": "B-2"}, "webcrm:Products:42")
	require.Error(t, err, "a product needs a name")
	require.True(t, customerp.IsValidation(err))
	require.False(t, customerp.IsIdempotencyConflict(err), "%v", err)
	_, err = c.Get(ctx, customerp.Products, "nope")
	require.False(t, customerp.IsIdempotencyConflict(err))
}
