package webcrm

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 5, 1, 10, 0, 0, 123456700, time.UTC)
	for in, exp := range map[string]time.Time{
		"2024-05-01T10:00:00.1234567Z":      want,
		"2024-05-01T10:00:00.1234567":       want,
		"2024-05-01T12:00:00.1234567+02:00": want,
		"2024-05-01T10:00:00.1234567+0000":  want,
		"2024-05-01T10:00:00Z":              want.Truncate(time.Second),
		"2024-05-01T10:00:00":               want.Truncate(time.Second),
		"2024-05-01T10:00:00.123Z":          time.Date(2024, 5, 1, 10, 0, 0, 123000000, time.UTC),
		"2024-05-01T05:00:00-05:00":         want.Truncate(time.Second),
		"2024-05-01":                        time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in)
		require.NoError(t, err, in)
		assert.True(t, exp.Equal(got), "%s: got %s", in, got)
		assert.Equal(t, time.UTC, got.Location(), in)
	}
	for _, bad := range []string{"", "yesterday", "2024-13-01T00:00:00Z"} {
		_, err := ParseTime(bad)
		assert.Error(t, err, bad)
	}
	assert.Equal(t, "2024-05-01T10:00:00.1234567Z", FormatTime(want.Add(89*time.Nanosecond)))
	assert.Equal(t, "2024-05-01T10:00:00.0000000Z", FormatTime(time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("x", 7200))))
}

func TestEntityNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "OrganisationId", Organisations.IDField())
	assert.Equal(t, "QuotationLineUpdatedAt", QuotationLines.UpdatedAtField())
	assert.Equal(t, "Opportunity", Opportunities.Table())
	assert.False(t, Entity("Deliveries").Valid())
	assert.Empty(t, Entity("x").IDField())
	for _, e := range Entities() {
		props := Properties(e)
		assert.Contains(t, props, e.IDField(), e)
		assert.Contains(t, props, e.UpdatedAtField(), e)
		assert.True(t, HasProperty(e, e.IDField()))
	}
	assert.Contains(t, Properties(Organisations), "OrganisationCustom15")
	assert.Contains(t, Properties(Organisations), "OrganisationVatNumber")
	assert.Contains(t, Properties(Users), "UserCustom15")
	assert.Contains(t, Properties(QuotationLines), "QuotationLineData9")
	assert.Contains(t, Properties(QuotationLines), "QuotationLineLinkedDataId")
	assert.Contains(t, Properties(Opportunities), "OpportunityDiscount")
	assert.Len(t, Properties(Organisations), 109)
	assert.Nil(t, Properties(Entity("Deliveries")))
	p := Properties(Persons)
	assert.Len(t, p, len(slices.Compact(slices.Sorted(slices.Values(p)))), "no duplicates")
}

func TestRecordAccessors(t *testing.T) {
	t.Parallel()
	var r Record
	require.NoError(t, json.Unmarshal([]byte(`{"PersonId": 42, "PersonUpdatedAt": "2024-05-01T10:00:00.0000000Z"}`), &r))
	id, err := r.ID(Persons)
	require.NoError(t, err)
	assert.Equal(t, 42, id)
	at, err := r.UpdatedAt(Persons)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), at)
	for _, v := range []any{json.Number("42"), "42", 42, int64(42), float64(42)} {
		id, err := Record{"PersonId": v}.ID(Persons)
		require.NoError(t, err)
		assert.Equal(t, 42, id)
	}
	_, err = Record{"PersonId": 4.5}.ID(Persons)
	assert.Error(t, err)
	_, err = Record{}.ID(Persons)
	assert.ErrorContains(t, err, "no PersonId")
	_, err = Record{"PersonUpdatedAt": "soon"}.UpdatedAt(Persons)
	assert.Error(t, err)
}

func TestDTORoundTrip(t *testing.T) {
	t.Parallel()
	name, city, owner, price := "Acme A/S", "Aarhus", 3, 12.5
	at := Time{time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	org := &Organisation{Name: &name, City: &city, Owner: &owner, UpdatedAt: &at}
	r, err := org.ToRecord()
	require.NoError(t, err)
	assert.Equal(t, Record{"OrganisationName": name, "OrganisationCity": city, "OrganisationOwner": json.Number("3"),
		"OrganisationUpdatedAt": "2024-05-01T10:00:00.0000000Z"}, r)

	var back Organisation
	r["SomethingElse"] = "ignored"
	r["OrganisationUpdatedAt"] = "2024-05-01T12:00:00+02:00"
	require.NoError(t, back.FromRecord(r))
	assert.Equal(t, name, *back.Name)
	assert.True(t, at.Equal(back.UpdatedAt.Time))
	assert.Nil(t, back.Country)
	assert.Equal(t, Organisations, back.Entity())

	ql := &QuotationLineUpdate{Price: &price}
	qr, err := ql.ToRecord()
	require.NoError(t, err)
	assert.Equal(t, json.Number("12.5"), qr["QuotationLinePrice"])
	var q QuotationLine
	err = q.FromRecord(Record{"QuotationLinePrice": "not a number"})
	assert.ErrorContains(t, err, "QuotationLinePrice")
	var d DTO = &q
	assert.Equal(t, QuotationLines, d.Entity())
}

// TestLimiterKeepsEverySlidingMinuteWithinBudget drives the limiter with a synthetic clock:
// a client sending as fast as allowed must never put more than rpm requests into any
// 60-second window, as webCRM counts them, yet may send its whole quota at once and
// keeps sending rpm a minute.
func TestLimiterKeepsEverySlidingMinuteWithinBudget(t *testing.T) {
	t.Parallel()
	for _, rpm := range []int{250, 60, 5, 1} {
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		lim := newWindowLimiter(rpm, nil)
		// A client with a queue of requests: each goes at the time the limiter books.
		var sent []time.Time
		now := start
		for now.Before(start.Add(5 * time.Minute)) {
			now = lim.reserve(now)
			sent = append(sent, now)
		}
		j := 0
		for i := range sent {
			for sent[i].Sub(sent[j]) >= time.Minute {
				j++
			}
			require.LessOrEqual(t, i-j+1, rpm, "rpm %d: window ending %s", rpm, sent[i])
		}
		// The first rpm requests go at once: webCRM allows the whole quota as a burst.
		assert.Equal(t, start, sent[rpm-1], "rpm %d: the burst waited", rpm)
		if rpm > 1 {
			assert.True(t, sent[rpm].After(start), "rpm %d: request %d went beyond the quota", rpm, rpm+1)
		}
		// The budget is used: rpm per window of a minute and a second, five windows.
		assert.GreaterOrEqual(t, len(sent), 4*rpm, "rpm %d", rpm)
	}
}

// TestLimiterSpacedRequestsNeverWait checks that a client well under its budget is
// never held back, and that Wait gives up with its context.
func TestLimiterSpacedRequestsNeverWait(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := newWindowLimiter(250, nil)
	for i := range 1000 {
		at := start.Add(time.Duration(i) * 500 * time.Millisecond) // 120 a minute
		require.Equal(t, at, lim.reserve(at), "request %d", i)
	}

	clock := start
	full := newWindowLimiter(2, func() time.Time { return clock })
	require.NoError(t, full.Wait(context.Background()))
	require.NoError(t, full.Wait(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, full.Wait(ctx), context.Canceled, "the third request must wait a minute, and the caller gave up")
	assert.NoError(t, (*windowLimiter)(nil).Wait(context.Background()), "no limiter: no wait")
}
