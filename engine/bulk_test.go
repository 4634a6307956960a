package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
)

// TestBackfillPagesThroughASide: each page is listed and dispatched; the
// cursor leads to the next, the last says so; since limits webCRM records to
// those changed since.
func TestBackfillPagesThroughASide(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var ids []string
	for n := 1; n <= 5; n++ {
		ids = append(ids, e.stampedOrg(n, mark.Add(time.Duration(n)*time.Minute)))
	}
	in := domain.BackfillPageInput{Pairing: "organisations", Side: domain.WebCRM, PageSize: 2, Concurrency: 2}

	var pages []domain.BackfillPageResult
	for {
		res, err := e.eng.BackfillPage(ctx, in)
		require.NoError(t, err)
		pages = append(pages, res)
		if res.Last {
			break
		}
		in.Cursor = res.Next
	}

	require.Len(t, pages, 3)
	assert.Equal(t, domain.BackfillPageResult{Next: ids[1], Seen: 2, Actions: map[string]int{domain.ActionCreatedERP: 2}}, pages[0])
	assert.Equal(t, 1, pages[2].Seen)
	assert.True(t, pages[2].Last)
	assert.Equal(t, 5, e.erp["customers"].size())

	// Again since the third record's change: three records, all in step.
	res, err := e.eng.BackfillPage(ctx, domain.BackfillPageInput{Pairing: "organisations", Side: domain.WebCRM, Since: mark.Add(3 * time.Minute), PageSize: 10})
	require.NoError(t, err)
	assert.Equal(t, domain.BackfillPageResult{Next: ids[4], Last: true, Seen: 3, Actions: map[string]int{domain.ActionSeen: 3}}, res)
}

// TestBackfillOfTheERPSideKeepsToThePairing: the ERP lister leaves out
// records of the resource that another pairing keeps; a page of a minimal
// size still lists one.
func TestBackfillOfTheERPSideKeepsToThePairing(t *testing.T) {
	e := newEnv(t)
	contacts := e.erp["contacts"]
	contacts.add(erpContact(1, "employee", ""))
	contacts.add(erpContact(2, "employee", ""))
	contacts.add(erpContact(3, "person", ""))

	n, err := e.eng.BackfillCount(context.Background(), domain.BackfillCountInput{Pairing: "users", Side: domain.ERP})
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	res, err := e.eng.BackfillPage(context.Background(), domain.BackfillPageInput{Pairing: "users", Side: domain.ERP})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Seen, "page size at least one")
	assert.False(t, res.Last)
	assert.Equal(t, map[string]int{domain.ActionSkipped: 1}, res.Actions, "users are not created in webCRM")
}

// TestBackfillCountAndMark: a count of what a backfill visits, and the
// positions a pairing can start from once it is done.
func TestBackfillCountAndMark(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	empty, err := e.eng.BackfillMark(ctx, domain.BackfillCountInput{Pairing: "organisations", Side: domain.WebCRM})
	require.NoError(t, err)
	assert.True(t, empty.IsZero(), "an empty side hands nothing over")
	empty, err = e.eng.BackfillMark(ctx, domain.BackfillCountInput{Pairing: "organisations", Side: domain.ERP})
	require.NoError(t, err)
	assert.True(t, empty.IsZero())

	e.stampedOrg(1, mark)
	e.stampedOrg(2, mark.Add(time.Minute))
	e.erp["customers"].add(erpCustomer(1))

	n, err := e.eng.BackfillCount(ctx, domain.BackfillCountInput{Pairing: "organisations", Side: domain.WebCRM, Since: mark.Add(time.Second)})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	m, err := e.eng.BackfillMark(ctx, domain.BackfillCountInput{Pairing: "organisations", Side: domain.WebCRM})
	require.NoError(t, err)
	assert.Equal(t, domain.Positions{WebCRMSince: mark.Add(time.Minute)}, m)
	m, err = e.eng.BackfillMark(ctx, domain.BackfillCountInput{Pairing: "organisations", Side: domain.ERP})
	require.NoError(t, err)
	assert.Equal(t, domain.Positions{ERPToken: "1"}, m)
	assert.Positive(t, e.beats.Load(), "the mark reports progress")
}

// TestBackfillFailures: a side that is none, a pairing without a lister of
// that side, and failed reads and dispatches are errors naming what failed.
func TestBackfillFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("inputs", func(t *testing.T) {
		e := newEnv(t)
		e.noList["organisations/erp"] = true
		for _, in := range []domain.BackfillCountInput{
			{Pairing: "organisations", Side: "both"},
			{Pairing: "organisations", Side: domain.ERP},
			{Pairing: "invoices", Side: domain.ERP},
		} {
			_, err := e.eng.BackfillCount(ctx, in)
			assert.Equal(t, Validation, e.eng.Classify(err).Class, in)
			_, err = e.eng.BackfillMark(ctx, in)
			assert.Equal(t, Validation, e.eng.Classify(err).Class, in)
			_, err = e.eng.BackfillPage(ctx, domain.BackfillPageInput{Pairing: in.Pairing, Side: in.Side})
			assert.Equal(t, Validation, e.eng.Classify(err).Class, in)
		}
	})
	t.Run("reads", func(t *testing.T) {
		e := newEnv(t)
		orgs := e.crm["Organisations"]
		for _, op := range []string{"page", "count", "mark"} {
			orgs.fails[op] = clientErr(RateLimited, "429")
		}
		in := domain.BackfillCountInput{Pairing: "organisations", Side: domain.WebCRM}
		_, err := e.eng.BackfillCount(ctx, in)
		assert.ErrorContains(t, err, "count webcrm records")
		_, err = e.eng.BackfillMark(ctx, in)
		assert.ErrorContains(t, err, "find where the webcrm side stands")
		_, err = e.eng.BackfillPage(ctx, domain.BackfillPageInput{Pairing: "organisations", Side: domain.WebCRM, Cursor: "40"})
		assert.ErrorContains(t, err, `read webcrm records after "40"`)
		assert.Equal(t, RateLimited, e.eng.Classify(err).Class)
	})
	t.Run("dispatch", func(t *testing.T) {
		e := newEnv(t)
		e.stampedOrg(1, mark)
		e.links.fails["inspect"] = clientErr(Unavailable, "temporal down")
		_, err := e.eng.BackfillPage(ctx, domain.BackfillPageInput{Pairing: "organisations", Side: domain.WebCRM, PageSize: 5})
		assert.ErrorContains(t, err, "dispatch backfill page")
	})
}

// reconcileEnv has n organisations linked to their customers, with webCRM
// ids of equal width (so the links list in id order): links, records and
// index entries as first contacts leave them.
func reconcileEnv(t *testing.T, n int) (*env, []string, []string) {
	e := newEnv(t)
	e.crm["Organisations"].next = 100
	var crm, erp []string
	for i := 1; i <= n; i++ {
		oid, cid := e.linkedOrg(i)
		crm, erp = append(crm, oid), append(erp, cid)
	}
	return e, crm, erp
}

// TestReconcileDeletesWhatIsGoneOnBothCounts: records missing from a listing
// and gone when read by id are dispatched as deletes; one missing from the
// listing but found by id is not (the listing was not whole); deleted links
// are not looked at again.
func TestReconcileDeletesWhatIsGoneOnBothCounts(t *testing.T) {
	e, crm, erp := reconcileEnv(t, 4)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	orgs.drop(crm[1])            // webCRM has no tombstones
	customers.drop(erp[2])       // an ERP delete whose tombstone no poll read
	orgs.unlisted[crm[0]] = true // missing from the listing, found by id
	e.links.seed(orgLink("999"), domain.LinkState{CrmID: "999", ErpID: "CU-9", State: domain.StateDeleted})
	orgs.fault = func(op, _ string) error {
		if op == "ids" {
			assert.Equal(t, 1, e.links.count("list"), "the links are listed before the records")
		}
		return nil
	}

	res, err := e.eng.Reconcile(context.Background(), domain.ReconcileInput{Pairing: "organisations", MaxDeleteShare: 0.1})

	require.NoError(t, err)
	assert.Equal(t, domain.ReconcileResult{Links: 5, Missing: 2, Unlisted: 1, Dispatched: 2}, res)
	assert.Equal(t, domain.StateOK, e.link(orgLink(crm[0])).State)
	assert.Equal(t, domain.StateDeleted, e.link(orgLink(crm[1])).State)
	assert.True(t, strings.HasPrefix(e.link(orgLink(crm[1])).Reason, "deleted in webcrm;"))
	assert.Equal(t, domain.StateDeleted, e.link(orgLink(crm[2])).State)
	assert.Equal(t, domain.StateOK, e.link(orgLink(crm[3])).State)
	assert.Contains(t, e.logs.String(), "the listing is not whole")
}

// guardEnv has 200 linked pairs (seeded, as a backfill leaves them) whose
// webCRM listing misses every record.
func guardEnv(t *testing.T) (*env, []string) {
	e := newEnv(t)
	orgs, customers := e.crm["Organisations"], e.erp["customers"]
	orgs.next = 100
	var ids []string
	for i := range 200 {
		oid, cid := orgs.add(crmOrg(i)), customers.add(erpCustomer(i))
		e.links.seed(orgLink(oid), domain.LinkState{CrmID: oid, ErpID: cid, State: domain.StateOK})
		orgs.unlisted[oid] = true
		ids = append(ids, oid)
	}
	return e, ids
}

// TestTheReconcileGuardStopsBeforeChangingAnything: when many records are
// missing, a sample read by id estimates how many are gone; too many stop
// the run, and so does a confirmed count beyond the guard; nothing is
// dispatched either way.
func TestTheReconcileGuardStopsBeforeChangingAnything(t *testing.T) {
	in := domain.ReconcileInput{Pairing: "organisations", MaxDeleteShare: 0.05} // 10 of 200
	t.Run("the sample's estimate", func(t *testing.T) {
		e, ids := guardEnv(t)
		for _, id := range ids {
			e.crm["Organisations"].drop(id)
		}

		res, err := e.eng.Reconcile(context.Background(), in)

		require.NoError(t, err)
		assert.True(t, res.Guarded)
		assert.Equal(t, 200, res.Missing)
		assert.Equal(t, "about 200 of 200 linked records (webCRM Organisations, ERP customers) are gone, more than 5%; nothing was changed. Check both systems, then run reconcile with a higher maxDeleteShare", res.Reason)
		assert.Equal(t, reconcileSample, e.crm["Organisations"].count("get"), "a sample, not every record")
		assert.Zero(t, e.links.count("applyto"))
	})
	t.Run("the confirmed count", func(t *testing.T) {
		e, ids := guardEnv(t)
		// The sample reads 20 candidates spread evenly (every tenth of the
		// 200); the eleven gone lie between them.
		for i := 5; i < 115; i += 10 {
			e.crm["Organisations"].drop(ids[i])
		}

		res, err := e.eng.Reconcile(context.Background(), in)

		require.NoError(t, err)
		assert.True(t, res.Guarded)
		assert.Equal(t, 11, res.Missing)
		assert.True(t, strings.HasPrefix(res.Reason, "at least 11 of 200 linked records"), res.Reason)
		assert.Zero(t, e.links.count("applyto"))
		assert.Equal(t, domain.StateOK, e.link(orgLink(ids[5])).State)
	})
	t.Run("within the guard", func(t *testing.T) {
		e, ids := guardEnv(t)
		for i := 5; i < 105; i += 10 {
			e.crm["Organisations"].drop(ids[i])
		}

		res, err := e.eng.Reconcile(context.Background(), in)

		require.NoError(t, err)
		assert.False(t, res.Guarded)
		assert.Equal(t, domain.ReconcileResult{Links: 200, Missing: 10, Unlisted: 190, Dispatched: 10}, res)
		assert.Equal(t, domain.StateDeleted, e.link(orgLink(ids[5])).State)
	})
}

// TestReconcileFailures: a listing or a read that fails stops the run before
// it changes anything.
func TestReconcileFailures(t *testing.T) {
	in := domain.ReconcileInput{Pairing: "organisations", MaxDeleteShare: 0.1}
	cases := map[string]struct {
		setup func(e *env, ids []string)
		want  string
	}{
		"links":   {func(e *env, _ []string) { e.links.fails["list"] = clientErr(Unavailable, "down") }, "list organisations links"},
		"records": {func(e *env, _ []string) { e.erp["customers"].fails["ids"] = clientErr(Unavailable, "down") }, "list ERP customers ids"},
		"read":    {func(e *env, _ []string) { e.crm["Organisations"].fails["get"] = clientErr(Unavailable, "down") }, "missing from its listing"},
		"sample":  {func(e *env, _ []string) { e.crm["Organisations"].fails["get"] = clientErr(RateLimited, "429") }, "read webCRM Organisations 101"},
		"dispatch": {func(e *env, ids []string) {
			e.crm["Organisations"].drop(ids[0])
			e.links.fails["applyto"] = clientErr(Unavailable, "down")
		}, "dispatch deletes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var e *env
			var ids []string
			if name == "sample" {
				e, ids = guardEnv(t)
			} else {
				e, ids, _ = reconcileEnv(t, 3)
				e.crm["Organisations"].unlisted[ids[0]] = true
			}
			tc.setup(e, ids)
			_, err := e.eng.Reconcile(context.Background(), in)
			require.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("unknown pairing", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.eng.Reconcile(context.Background(), domain.ReconcileInput{Pairing: "x"})
		assert.Equal(t, Validation, e.eng.Classify(err).Class)
	})
}
