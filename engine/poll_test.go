package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
)

// mark is the watermark of the webCRM poll tests.
var mark = epoch.Add(time.Hour)

// stampedOrg adds a webCRM organisation numbered n changed at at.
func (e *env) stampedOrg(n int, at time.Time) string {
	id := e.crm["Organisations"].add(crmOrg(n))
	e.crm["Organisations"].setStamp(id, at)
	return id
}

// key is a Recent key of a webCRM record.
func key(id string, at time.Time) string { return id + "@" + at.UTC().Format(time.RFC3339Nano) }

// TestPollWebCRMReadsTheOverlapWindowOnceAndSkipsWhatItDispatched: records
// committed late just before the watermark are read from the window, and the
// keys of what was dispatched inside the window keep the next polls from
// dispatching it again; keys older than the window are dropped.
func TestPollWebCRMReadsTheOverlapWindowOnceAndSkipsWhatItDispatched(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.stampedOrg(1, mark.Add(-10*time.Second)) // before the window: not read
	late := e.stampedOrg(2, mark.Add(-2*time.Second))
	b := e.stampedOrg(3, mark.Add(time.Second))
	c := e.stampedOrg(4, mark.Add(2*time.Second))

	res, err := e.eng.PollWebCRM(ctx, domain.SyncInput{Pairing: "organisations", Since: mark, Overlap: 5 * time.Second, ReadWindow: true})

	require.NoError(t, err)
	assert.Equal(t, 3, res.Seen)
	assert.Equal(t, 3, res.Dispatched)
	assert.Zero(t, res.Skipped)
	assert.False(t, res.More)
	assert.Equal(t, mark.Add(2*time.Second), res.Next)
	want := []string{key(late, mark.Add(-2*time.Second)), key(b, mark.Add(time.Second)), key(c, mark.Add(2*time.Second))}
	assert.ElementsMatch(t, want, res.Recent)
	assert.IsNonDecreasing(t, res.Recent, "sorted, for a stable input")
	assert.Equal(t, []polled{{"organisations", domain.WebCRM, 3, mark.Add(2 * time.Second)}}, e.metrics.polled)
	assert.Equal(t, 3, e.erp["customers"].size())

	// The next poll reads the window again and skips all three by their keys.
	inspects := e.links.count("inspect")
	again, err := e.eng.PollWebCRM(ctx, domain.SyncInput{Pairing: "organisations", Since: res.Next, Overlap: 5 * time.Second, ReadWindow: true, Recent: res.Recent})
	require.NoError(t, err)
	assert.Equal(t, 3, again.Skipped)
	assert.Zero(t, again.Dispatched)
	assert.Equal(t, inspects, e.links.count("inspect"), "skipped before any look")
	assert.ElementsMatch(t, want, again.Recent)

	// A poll that moves on drops the keys older than its window.
	d := e.stampedOrg(5, mark.Add(8*time.Second))
	third, err := e.eng.PollWebCRM(ctx, domain.SyncInput{Pairing: "organisations", Since: again.Next, Overlap: 5 * time.Second, Recent: again.Recent})
	require.NoError(t, err)
	assert.Equal(t, 1, third.Dispatched)
	assert.Equal(t, 1, third.Skipped, "c, at the watermark itself")
	assert.Equal(t, []string{key(d, mark.Add(8*time.Second))}, third.Recent)
	assert.Equal(t, 2, e.crm["Organisations"].count("between"), "the window is read only when asked")
}

// TestPollWebCRMStopsAtTheLimit: a poll reads at most about the limit, says
// there is more, and never moves its watermark back; rows the feed could not
// read count as seen and skipped.
func TestPollWebCRMStopsAtTheLimit(t *testing.T) {
	e := newEnv(t)
	for n := 1; n <= 3; n++ {
		e.stampedOrg(n, mark.Add(time.Duration(n)*time.Second))
	}
	res, err := e.eng.PollWebCRM(context.Background(), domain.SyncInput{Pairing: "organisations", Since: mark, Limit: 2})
	require.NoError(t, err)
	assert.True(t, res.More)
	assert.Equal(t, 2, res.Dispatched)
	assert.Equal(t, mark.Add(2*time.Second), res.Next)

	e.crm["Organisations"].badRows = 1
	res, err = e.eng.PollWebCRM(context.Background(), domain.SyncInput{Pairing: "organisations", Since: mark.Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, domain.SyncResult{Next: mark.Add(time.Hour), Seen: 1, Skipped: 1}, res, "nothing newer: the watermark stays")
}

// TestPollWebCRMDispatchesRowsItCouldNotReadEveryTime: a row without a
// readable change time is dispatched without its record (its link reads it
// and records why it cannot sync), and is not de-duplicated by a key.
func TestPollWebCRMDispatchesRowsItCouldNotReadEveryTime(t *testing.T) {
	e := newEnv(t)
	id := e.stampedOrg(1, mark)
	e.crm["Organisations"].setField(id, "OrganisationUpdatedAt", "27-11-2026 10:00")

	for range 2 {
		res, err := e.eng.PollWebCRM(context.Background(), domain.SyncInput{Pairing: "organisations", Since: mark})
		require.NoError(t, err)
		assert.Equal(t, 1, res.Dispatched)
		assert.Equal(t, 1, res.Failed)
		assert.Equal(t, []string{orgLink(id)}, res.FailedLinks)
		assert.Empty(t, res.Recent)
	}
	st := e.link(orgLink(id))
	assert.Equal(t, domain.StateError, st.State)
	assert.Contains(t, st.Reason, "has no readable OrganisationUpdatedAt")
}

// TestPollWebCRMFailures: a read that fails, or a dispatch that fails, fails
// the poll, which then hands on no watermark.
func TestPollWebCRMFailures(t *testing.T) {
	for op, want := range map[string]string{"between": "read webCRM overlap window", "since": "read webCRM changed since"} {
		t.Run(op, func(t *testing.T) {
			e := newEnv(t)
			e.crm["Organisations"].fails[op] = clientErr(Unavailable, "503")
			_, err := e.eng.PollWebCRM(context.Background(), domain.SyncInput{Pairing: "organisations", Since: mark, Overlap: time.Second, ReadWindow: true})
			require.ErrorContains(t, err, want)
			assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
		})
	}
	t.Run("dispatch", func(t *testing.T) {
		e := newEnv(t)
		e.stampedOrg(1, mark)
		e.links.fails["inspect"] = clientErr(Unavailable, "temporal down")
		_, err := e.eng.PollWebCRM(context.Background(), domain.SyncInput{Pairing: "organisations", Since: mark})
		require.ErrorContains(t, err, "dispatch webCRM changes")
		assert.Empty(t, e.metrics.polled)
	})
	t.Run("unknown pairing", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.eng.PollWebCRM(context.Background(), domain.SyncInput{Pairing: "deals"})
		assert.Equal(t, Validation, e.eng.Classify(err).Class)
	})
}

// TestRecentKeysAreBounded: the keys carried to the next poll are those at or
// after the cutoff, sorted, and none at all beyond maxRecent.
func TestRecentKeysAreBounded(t *testing.T) {
	recent := map[string]time.Time{}
	for i := range maxRecent {
		at := mark.Add(time.Duration(i) * time.Millisecond)
		recent[key(strconv.Itoa(i), at)] = at
	}
	recent[key("old", mark.Add(-time.Second))] = mark.Add(-time.Second)
	kept := trimRecent(recent, mark)
	assert.Len(t, kept, maxRecent, "the old key is dropped")
	assert.IsIncreasing(t, kept)
	assert.NotContains(t, kept, key("old", mark.Add(-time.Second)))

	recent[key("one more", mark)] = mark
	assert.Nil(t, trimRecent(recent, mark), "a window fuller than maxRecent carries no keys")

	// Through a poll: keys it cannot read are dropped.
	e := newEnv(t)
	res, err := e.eng.PollWebCRM(context.Background(), domain.SyncInput{Pairing: "organisations", Since: mark, Overlap: time.Minute,
		Recent: []string{"7@not a time", "no version", key("8", mark)}})
	require.NoError(t, err)
	assert.Equal(t, []string{key("8", mark)}, res.Recent)
}

func TestParseRecentKey(t *testing.T) {
	at, ok := parseRecentKey(key("12", mark))
	assert.True(t, ok)
	assert.True(t, at.Equal(mark))
	_, ok = parseRecentKey("12")
	assert.False(t, ok)
	_, ok = parseRecentKey("12@yesterday")
	assert.False(t, ok)
}

// feedPosition is the ERP feed token at the end of what the feed holds now.
func feedPosition(db *fakeDB) string {
	db.mu.Lock()
	defer db.mu.Unlock()
	return strconv.Itoa(len(db.log))
}

// TestPollERP: the last entry of a record wins, a delete reaches only a
// record that has a link, and the next token follows the feed.
func TestPollERP(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	customers := e.erp["customers"]
	oid, linked := e.linkedOrg(1)
	token := feedPosition(customers)
	fresh := customers.add(erpCustomer(2))
	customers.edit(fresh, map[string]any{"name": "Nordlys 2 ApS (renamed)"})
	gone := customers.add(erpCustomer(3))
	customers.drop(gone)
	customers.drop(linked)

	res, err := e.eng.PollERP(ctx, domain.SyncInput{Pairing: "organisations", Token: token})

	require.NoError(t, err)
	assert.Equal(t, 5, res.Seen)
	assert.Equal(t, 2, res.Dispatched)
	assert.Equal(t, 3, res.Skipped, "two earlier entries, one delete of an unlinked record")
	assert.False(t, res.More)
	assert.Equal(t, feedPosition(customers), res.NextToken)
	org := e.crm["Organisations"].get(e.link(erpLink(fresh)).CrmID)
	assert.Equal(t, "Nordlys 2 ApS (renamed)", org["OrganisationName"], "the last entry")
	assert.Equal(t, domain.StateDeleted, e.link(orgLink(oid)).State)
	_, ok := e.links.state(erpLink(gone))
	assert.False(t, ok)
	assert.Equal(t, []polled{{"organisations", domain.ERP, 5, time.Time{}}}, e.metrics.polled)

	// Nothing new: the token stays.
	res, err = e.eng.PollERP(ctx, domain.SyncInput{Pairing: "organisations", Token: res.NextToken})
	require.NoError(t, err)
	assert.Equal(t, domain.SyncResult{NextToken: feedPosition(customers)}, res)

	// A full batch says there is more.
	for n := 4; n <= 6; n++ {
		customers.add(erpCustomer(n))
	}
	res, err = e.eng.PollERP(ctx, domain.SyncInput{Pairing: "organisations", Token: res.NextToken, Limit: 2})
	require.NoError(t, err)
	assert.True(t, res.More)
	assert.Equal(t, 2, res.Dispatched)
}

// TestPollERPKeepsToThePairingsFilter: the contacts feed carries persons and
// employees; each pairing dispatches its own.
func TestPollERPKeepsToThePairingsFilter(t *testing.T) {
	e := newEnv(t)
	e.erp["contacts"].add(erpContact(1, "employee", ""))

	persons, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "persons"})
	require.NoError(t, err)
	assert.Equal(t, domain.SyncResult{Seen: 1, Skipped: 1, NextToken: "1"}, persons)

	users, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "users"})
	require.NoError(t, err)
	assert.Equal(t, 1, users.Dispatched)
}

// deleteAll makes n linked organisations, then deletes their customers in
// the ERP; it returns the feed token before the deletes and the ids deleted.
func (e *env) deleteAll(n int) (string, []string) {
	e.t.Helper()
	var ids []string
	for i := 1; i <= n; i++ {
		_, cid := e.linkedOrg(i)
		ids = append(ids, cid)
	}
	token := feedPosition(e.erp["customers"])
	for _, id := range ids {
		e.erp["customers"].drop(id)
	}
	return token, ids
}

// TestTheMassDeleteGuardHoldsTheDeletesUntilReleased: more deletes in one
// batch than the share of the ERP's records (and more than the floor) stop the poll
// before anything is dispatched, with the held deletes in the error's
// details; released ids pass.
func TestTheMassDeleteGuardHoldsTheDeletesUntilReleased(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	token, ids := e.deleteAll(12)
	applies := e.links.count("applyto")

	_, err := e.eng.PollERP(ctx, domain.SyncInput{Pairing: "organisations", Token: token})

	require.Error(t, err)
	c := e.eng.Classify(err)
	assert.Equal(t, MassDelete, c.Class)
	assert.True(t, c.Class.Permanent())
	assert.Equal(t, domain.HeldDeletes{Token: token, IDs: ids, Records: 12}, c.Details)
	assert.Contains(t, err.Error(), "12 ERP deletes in one batch is more than 10% of the 12 records the ERP had")
	assert.Contains(t, err.Error(), "starter resume --allow-deletes organisations")
	assert.Equal(t, applies, e.links.count("applyto"), "nothing dispatched")
	assert.Equal(t, domain.StateOK, e.link(orgLink("1")).State)

	// One released: the other eleven still trip it.
	_, err = e.eng.PollERP(ctx, domain.SyncInput{Pairing: "organisations", Token: token, AllowDeletes: ids[:1]})
	require.Error(t, err)
	assert.Equal(t, domain.HeldDeletes{Token: token, IDs: ids[1:], Records: 12}, e.eng.Classify(err).Details)

	// All released: they pass, and are applied.
	res, err := e.eng.PollERP(ctx, domain.SyncInput{Pairing: "organisations", Token: token, AllowDeletes: ids})
	require.NoError(t, err)
	assert.Equal(t, 12, res.Dispatched)
	assert.Equal(t, domain.StateDeleted, e.link(orgLink("1")).State)
	assert.Contains(t, e.logs.String(), "deletes released by an operator pass the mass-delete guard")
}

// TestTheMassDeleteGuardLetsFewOrASmallShareThrough: up to the floor, and up
// to the share of many records, deletes pass.
func TestTheMassDeleteGuardLetsFewOrASmallShareThrough(t *testing.T) {
	t.Run("at the floor", func(t *testing.T) {
		e := newEnv(t)
		token, _ := e.deleteAll(MassDeleteFloor)
		res, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations", Token: token})
		require.NoError(t, err)
		assert.Equal(t, MassDeleteFloor, res.Dispatched)
		assert.Zero(t, e.erp["customers"].count("count"), "below the floor the records are not even counted")
	})
	t.Run("a small share", func(t *testing.T) {
		e := newEnv(t)
		for i := range 100 {
			e.erp["customers"].add(erpCustomer(100 + i))
		}
		token, _ := e.deleteAll(11)
		res, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations", Token: token})
		require.NoError(t, err)
		assert.Equal(t, 11, res.Dispatched, "11 of 111 records")
	})
	t.Run("records that cannot be counted", func(t *testing.T) {
		e := newEnv(t)
		token, _ := e.deleteAll(11)
		e.erp["customers"].fails["count"] = clientErr(Unavailable, "503")
		_, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations", Token: token})
		require.ErrorContains(t, err, "count organisations ERP records for the mass-delete guard")
		assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
	})
}

// TestTheMassDeleteGuardDoesNotAskVisibility: the guard's count comes from the
// ERP, not from the links visibility lists, which trail the links made moments
// ago (too few: a false trip) and those gone (too many: a missed one).
func TestTheMassDeleteGuardDoesNotAskVisibility(t *testing.T) {
	t.Run("links not visible yet", func(t *testing.T) {
		e := newEnv(t)
		for i := range 100 {
			e.erp["customers"].add(erpCustomer(100 + i))
		}
		token, _ := e.deleteAll(11)
		e.links.fails["count"] = errors.New("visibility must not be asked")
		res, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations", Token: token})
		require.NoError(t, err, "11 deletes of 111 records pass")
		assert.Equal(t, 11, res.Dispatched)
	})
	t.Run("links visibility still lists", func(t *testing.T) {
		e := newEnv(t)
		token, _ := e.deleteAll(12)
		for i := range 1000 {
			e.links.seed(orgLink(fmt.Sprint(9000+i)), domain.LinkState{CrmID: fmt.Sprint(9000 + i), State: domain.StateOK})
		}
		_, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations", Token: token})
		require.Error(t, err, "12 deletes of the ERP's 12 records trip it, however many links are listed")
		assert.Equal(t, MassDelete, e.eng.Classify(err).Class)
	})
}

// TestAnERPDeleteFindsItsLinkByTheTombstonesToken: a customer tandem created
// has no link of its own; its tombstone still carries its creator's token,
// which finds the link without visibility (which may not list it yet).
func TestAnERPDeleteFindsItsLinkByTheTombstonesToken(t *testing.T) {
	e := newEnv(t)
	oid, cid := e.linkedOrg(1)
	token := feedPosition(e.erp["customers"])
	e.erp["customers"].drop(cid)
	e.links.failID["findhome "+erpLink(cid)] = errors.New("visibility must not be asked")

	res, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations", Token: token})

	require.NoError(t, err)
	assert.Equal(t, 1, res.Dispatched)
	assert.Equal(t, domain.StateDeleted, e.link(orgLink(oid)).State)
}

// TestPollERPFailures: a feed, a look-up or a dispatch that fails fails the
// poll.
func TestPollERPFailures(t *testing.T) {
	t.Run("feed", func(t *testing.T) {
		e := newEnv(t)
		e.erp["customers"].fails["changes"] = clientErr(Unavailable, "503")
		_, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations", Token: "7"})
		require.ErrorContains(t, err, `read the ERP feed from "7"`)
	})
	t.Run("find home", func(t *testing.T) {
		e := newEnv(t)
		e.erp["customers"].drop("CU-1")
		e.links.fails["findhome"] = clientErr(Unavailable, "visibility down")
		_, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations"})
		require.Error(t, err)
		assert.Equal(t, Unavailable, e.eng.Classify(err).Class)
	})
	t.Run("dispatch", func(t *testing.T) {
		e := newEnv(t)
		e.erp["customers"].add(erpCustomer(1))
		e.links.fails["inspect"] = clientErr(Unavailable, "temporal down")
		_, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations"})
		require.ErrorContains(t, err, "dispatch ERP changes")
	})
	t.Run("unknown pairing", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "deals"})
		assert.Equal(t, Validation, e.eng.Classify(err).Class)
	})
}

// TestPollERPLongPollsWhenAsked: a read with Wait goes to the feed's
// WaitChanges with the wait and the interval; one without reads at once.
func TestPollERPLongPollsWhenAsked(t *testing.T) {
	e := newEnv(t)
	customers := e.erp["customers"]
	customers.add(erpCustomer(1))
	ctx := context.Background()

	res, err := e.eng.PollERP(ctx, domain.SyncInput{Pairing: "organisations"})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Seen)
	assert.Empty(t, customers.waits, "no wait asked")

	customers.add(erpCustomer(2))
	res, err = e.eng.PollERP(ctx, domain.SyncInput{Pairing: "organisations", Token: res.NextToken, Wait: 15 * time.Second, Interval: 2 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Seen)
	assert.Equal(t, [][2]time.Duration{{15 * time.Second, 2 * time.Second}}, customers.waits)
}
