package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
)

func TestClassifyTurnsClientErrorsIntoRetryDecisions(t *testing.T) {
	rl := &webcrm.RateLimitError{Op: "Get", Entity: "Organisations", ID: "7", RetryAfter: 14 * time.Second}
	err := classify(recordError("organisations", "link/organisations/webcrm/7", rl))
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, errTypeRateLimited, appErr.Type())
	require.False(t, appErr.NonRetryable(), "a 429 is retried, after the server's delay")
	require.Equal(t, 14*time.Second, appErr.NextRetryDelay())
	require.Contains(t, appErr.Message(), "link/organisations/webcrm/7", "the message names the record")

	valid := &webcrm.APIError{Op: "Update", Entity: "Persons", ID: "3", Status: 400, Message: "PersonLastName is required"}
	require.True(t, errors.As(classify(valid), &appErr))
	require.True(t, appErr.NonRetryable(), "validation errors are permanent")
	require.Equal(t, errTypeValidation, appErr.Type())

	server := &webcrm.APIError{Op: "Get", Entity: "Persons", ID: "3", Status: 503, Message: "down"}
	require.True(t, errors.As(classify(server), &appErr))
	require.False(t, appErr.NonRetryable(), "5xx errors retry")

	stale := &customerp.StaleError{APIError: &customerp.APIError{Op: "Update", Resource: "customers", ID: "CU-1", Status: 412}}
	require.True(t, errors.As(classify(stale), &appErr))
	require.Equal(t, errTypeStale, appErr.Type())
	require.False(t, appErr.NonRetryable(), "a stale write retries, and the retry reads both sides again")

	require.NoError(t, classify(nil))
	already := temporal.NewNonRetryableApplicationError("x", "X", nil)
	require.Same(t, already, classify(already), "an application error passes through")
}

// TestMappingErrorRetriesWhatFailedToReachALink: a record that cannot be mapped
// is a permanent validation error, but a reference that could not be translated
// because its link was out of reach (Temporal unavailable, the worker stopping)
// is retried.
func TestMappingErrorRetriesWhatFailedToReachALink(t *testing.T) {
	var appErr *temporal.ApplicationError
	bad := fmt.Errorf("map erp record OL-1006: %w", errors.New(`field quantity: "many" is not a number`))
	require.True(t, errors.As(mappingError(bad), &appErr))
	require.True(t, appErr.NonRetryable())
	require.Equal(t, errTypeValidation, appErr.Type())

	unreachable := &resolveError{fmt.Errorf("resolve opportunities erp record OR-1001: %w", context.Canceled)}
	wrapped := fmt.Errorf("map erp record OL-1006: %w", fmt.Errorf(`translate opportunities id "OR-1001": %w`, unreachable))
	require.True(t, errors.As(mappingError(wrapped), &appErr))
	require.False(t, appErr.NonRetryable(), "out of reach is transient")
	require.Equal(t, errTypeTransient, appErr.Type())
	require.Contains(t, appErr.Message(), "OL-1006", "the message still names the record")
}

func TestDecodeCanonicalRestoresWholeNumbers(t *testing.T) {
	c := mappings.Canonical{"name": "Ærø Fisk A/S", "sortOrder": int64(3), "price": "0.3", "active": true}
	raw, err := json.Marshal(c)
	require.NoError(t, err)
	back, err := decodeCanonical(raw)
	require.NoError(t, err)
	require.Equal(t, c, back)
	require.Equal(t, mappings.Hash(c), mappings.Hash(back), "a snapshot hashes the same after a round trip")

	none, err := decodeCanonical(nil)
	require.NoError(t, err)
	require.Nil(t, none)
	_, err = decodeCanonical(json.RawMessage(`{"n": 1.5}`))
	require.ErrorContains(t, err, "snapshot field n")
}

func TestTrimRecentKeepsTheWindowSorted(t *testing.T) {
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	recent := map[string]time.Time{}
	for i, d := range []time.Duration{0, 2 * time.Second, 7 * time.Second, 9 * time.Second} {
		at := base.Add(d)
		recent[string(rune('a'+i))+"@"+at.Format(time.RFC3339Nano)] = at
	}
	got := trimRecent(recent, base.Add(5*time.Second))
	require.Equal(t, []string{"c@2026-11-26T12:00:07Z", "d@2026-11-26T12:00:09Z"}, got)
	at, ok := parseRecentKey(got[0])
	require.True(t, ok)
	require.True(t, at.Equal(base.Add(7*time.Second)))
	_, ok = parseRecentKey("no-at-sign")
	require.False(t, ok)

	burst := map[string]time.Time{}
	for i := range maxRecent + 1 {
		burst[fmt.Sprintf("%d@%s", i, base.Format(time.RFC3339Nano))] = base
	}
	require.Nil(t, trimRecent(burst, base), "a burst larger than maxRecent is not carried to the next poll")
}

func TestDeepMergeOverlaysNestedObjectsWithoutSharingThem(t *testing.T) {
	addr := map[string]any{"line1": "Vestergade 1", "city": "Aarhus"}
	dst := map[string]any{"name": "A", "postalAddress": addr}
	deepMerge(dst, map[string]any{"postalAddress": map[string]any{"city": "Viborg"}, "phone": "+45 1"})
	require.Equal(t, map[string]any{"line1": "Vestergade 1", "city": "Viborg"}, dst["postalAddress"])
	require.Equal(t, "+45 1", dst["phone"])
	require.Equal(t, "Aarhus", addr["city"], "the record read from the ERP is not changed")
}

func TestSetPathBuildsNestedObjects(t *testing.T) {
	rec := map[string]any{}
	setPath(rec, "postalAddress.city", "Bergen")
	setPath(rec, "active", false)
	require.Equal(t, map[string]any{"postalAddress": map[string]any{"city": "Bergen"}, "active": false}, rec)
}

func TestMatchQueriesAskForTheValueAsIsAndNormalised(t *testing.T) {
	set, err := mappings.Default()
	require.NoError(t, err)
	p, ok := set.Pairing("organisations")
	require.True(t, ok)
	f, _ := p.Field(p.MergeCriteria[0].Field)
	got := matchQueries(p, mappings.Canonical{p.MergeCriteria[0].Field: "dk 12 34-56.78"}, domain.ERP)
	require.NotEmpty(t, got)
	require.Equal(t, f.ERP.Property, got[0].Property)
	require.Equal(t, "dk 12 34-56.78", got[0].Value)
	require.Equal(t, "DK12345678", got[len(got)-1].Value)
	require.Empty(t, matchQueries(p, mappings.Canonical{}, domain.ERP), "an empty value asks nothing")
}

func TestLookupsShareTheBatchStart(t *testing.T) {
	asOf := time.Date(2025, 5, 5, 5, 5, 5, 0, time.UTC)
	l := newLookups(asOf)
	require.True(t, asOf.Equal(l.askedAt()), "the first contacts of a batch count as asked when the batch began")
	l.recs["5"] = webcrm.Record{"OrganisationId": 5}
	rec, ok := l.record("5")
	require.True(t, ok)
	require.Equal(t, webcrm.Record{"OrganisationId": 5}, rec)
	_, ok = l.record("6")
	require.False(t, ok, "a record that was not prefetched is read from the API")

	var none *lookups
	before := time.Now()
	require.False(t, none.askedAt().Before(before), "outside a batch a look-up is asked now")
	_, ok = none.record("1")
	require.False(t, ok)
}

func TestMetricsAreNilSafe(t *testing.T) {
	var m *Metrics
	m.applied("p", "webcrm", "updated")
	m.conflict("p", 2)
	m.recordPoll("p", "erp", 3, time.Now())
}

// TestKeepAliveHeartbeatsWhileTheActivityWaits: an activity that waits (on the
// webCRM budget, on a busy link) still heartbeats, and stops when told to.
func TestKeepAliveHeartbeatsWhileTheActivityWaits(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	beats := make(chan struct{}, 100)
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { beats <- struct{}{} })
	waits := func(ctx context.Context) (int, error) {
		stop := heartbeatEvery(ctx, 10*time.Millisecond)
		seen := 0
		for seen < 3 {
			select {
			case <-beats:
				seen++
			case <-time.After(10 * time.Second):
				stop()
				return seen, errors.New("no heartbeats while waiting")
			}
		}
		stop()
		return seen, nil
	}
	env.RegisterActivityWithOptions(waits, activity.RegisterOptions{Name: "Waits"})
	env.ExecuteWorkflow(func(ctx workflow.Context) (int, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, HeartbeatTimeout: time.Second})
		var n int
		err := workflow.ExecuteActivity(ctx, "Waits").Get(ctx, &n)
		return n, err
	})
	require.NoError(t, env.GetWorkflowError())
	var n int
	require.NoError(t, env.GetWorkflowResult(&n))
	require.Equal(t, 3, n)

	require.NotPanics(t, func() { heartbeatEvery(context.Background(), time.Millisecond)() }, "outside an activity it does nothing")
}
