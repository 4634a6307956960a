package engine

import (
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// lastChanged returns the properties of db's last update, nil when there was none.
func (db *fakeDB) lastChanged() []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	if len(db.changed) == 0 {
		return nil
	}
	return db.changed[len(db.changed)-1]
}

// advance moves the clock on by d.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncTime reads a webCRM opportunity's ERP sync time.
func syncTime(t *testing.T, rec map[string]any) time.Time {
	t.Helper()
	s, ok := rec["OpportunityErpSyncDateTime"].(string)
	require.True(t, ok, "the opportunity has an ERP sync time: %v", rec)
	at, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return at
}

// TestAnOrderFillsItsOpportunitysERPProperties: once an opportunity's order
// exists, the opportunity shows the order's id, ERP status Synchronized and
// the time of the write; a poll of either record writes nothing more; an ERP
// edit writes webCRM once, with a new sync time; none of the three reaches
// the ERP.
func TestAnOrderFillsItsOpportunitysERPProperties(t *testing.T) {
	e := newEnv(t)
	crm, orders := e.crm["Opportunities"], e.erp["orders"]
	opp, order := e.linkedOpportunity()

	got := crm.get(opp)
	assert.Equal(t, order, got["OpportunityErpId"])
	assert.Equal(t, "Synchronized", got["OpportunityErpStatus"])
	first := syncTime(t, got)
	assert.Equal(t, 1, crm.count("update"), "one write brings the three properties")
	assert.Equal(t, []string{"OpportunityErpId", "OpportunityErpStatus", "OpportunityErpSyncDateTime"}, crm.lastChanged())
	assert.Equal(t, 1, orders.count("create"))
	assert.Zero(t, orders.count("update"))
	st := e.link(domain.LinkWorkflowID("opportunities", domain.WebCRM, opp))
	assert.Equal(t, domain.StateOK, st.State, st.Reason)
	assert.Zero(t, st.Conflicts)
	assert.NotContains(t, string(st.Snapshot), "OpportunityErpSyncDateTime", "the sync time is no canonical field")
	assert.NotContains(t, string(st.Snapshot), first.Format(time.RFC3339))

	// Polls of both records find what tandem wrote and write nothing.
	for range 2 {
		e.dispatch("opportunities", crm.change(opp))
		e.dispatch("opportunities", orders.change(order))
	}
	assert.Equal(t, 1, crm.count("update"), "a poll never writes the sync time alone")
	assert.Zero(t, orders.count("update"))
	assert.Equal(t, first, syncTime(t, crm.get(opp)))

	// An ERP edit of a synced field: one webCRM write, with a new sync time.
	e.clock.advance(time.Minute)
	orders.edit(order, map[string]any{"description": "Widgets, revised"})
	e.dispatch("opportunities", orders.change(order))
	assert.Equal(t, 2, crm.count("update"))
	assert.Equal(t, []string{"OpportunityDescription", "OpportunityErpSyncDateTime"}, crm.lastChanged())
	assert.Equal(t, "Widgets, revised", crm.get(opp)["OpportunityDescription"])
	second := syncTime(t, crm.get(opp))
	assert.True(t, second.After(first), "the sync time moves on: %s, then %s", first, second)
	assert.Zero(t, orders.count("update"))

	// A webCRM edit reaches the ERP without the three, and webCRM is not
	// written again for it.
	crm.edit(opp, map[string]any{"OpportunityDescription": "Widgets, final"})
	e.dispatch("opportunities", crm.change(opp))
	assert.Equal(t, 1, orders.count("update"))
	assert.Equal(t, []string{"description"}, orders.lastChanged())
	for k, v := range orders.get(order) {
		assert.False(t, strings.HasPrefix(k, "Opportunity"), "ERP property %s", k)
		assert.NotEqual(t, "Synchronized", v, "ERP property %s", k)
	}
	assert.Equal(t, 2, crm.count("update"))
	assert.Equal(t, second, syncTime(t, crm.get(opp)))

	// And the polls after it are quiet again.
	e.dispatch("opportunities", crm.change(opp))
	e.dispatch("opportunities", orders.change(order))
	assert.Equal(t, 2, crm.count("update"))
	assert.Equal(t, 1, orders.count("update"))
}

// TestAnERPStatusSetInWebCRMIsPutBack: the ERP status follows the ERP; a
// value a person sets in webCRM is written back to Synchronized, and the
// conflict says why.
func TestAnERPStatusSetInWebCRMIsPutBack(t *testing.T) {
	e := newEnv(t)
	crm := e.crm["Opportunities"]
	opp, _ := e.linkedOpportunity()

	crm.edit(opp, map[string]any{"OpportunityErpStatus": "ReadyForSynchronization"})
	e.dispatch("opportunities", crm.change(opp))

	assert.Equal(t, "Synchronized", crm.get(opp)["OpportunityErpStatus"])
	assert.Equal(t, 2, crm.count("update"))
	assert.Zero(t, e.erp["orders"].count("update"))
	assert.Equal(t, 1, e.link(domain.LinkWorkflowID("opportunities", domain.WebCRM, opp)).Conflicts)
}

// TestASyncTimeWebCRMReformatsIsNoEdit: webCRM may store the sync time in a
// form of its own; its read-back is never an edit, so a poll stays quiet.
func TestASyncTimeWebCRMReformatsIsNoEdit(t *testing.T) {
	e := newEnv(t)
	crm := e.crm["Opportunities"]
	crm.rewrite = func(prop string, v any) any {
		if s, ok := v.(string); ok && prop == "OpportunityErpSyncDateTime" {
			return strings.TrimSuffix(s, "Z") + ".0000000+01:00"
		}
		return v
	}
	opp, order := e.linkedOpportunity()
	require.Equal(t, 1, crm.count("update"))
	require.True(t, strings.HasSuffix(crm.get(opp)["OpportunityErpSyncDateTime"].(string), "+01:00"))

	e.dispatch("opportunities", crm.change(opp))
	e.dispatch("opportunities", e.erp["orders"].change(order))
	crm.edit(opp, map[string]any{"OpportunityErpSyncDateTime": "2001-01-01T00:00:00Z"})
	e.dispatch("opportunities", crm.change(opp))

	assert.Equal(t, 1, crm.count("update"), "neither the stored form nor a person's edit of the sync time is synced")
	assert.Zero(t, e.erp["orders"].count("update"))
}

// TestERPPropertiesSwitchedOff: without the erp-id and erp-status fields an
// order's create writes nothing back to webCRM (the sync time never goes
// alone); without erp-sync-time, writes carry no sync time.
func TestERPPropertiesSwitchedOff(t *testing.T) {
	data, err := fs.ReadFile(mappings.DefaultFiles(), "opportunities.yaml")
	require.NoError(t, err)
	text := string(data)
	fields := text[strings.Index(text, "  - name: erp-id"):]
	require.Contains(t, fields, "name: erp-status")

	t.Run("no fields", func(t *testing.T) {
		e := newEnvWith(t, editedSet(t, "opportunities.yaml", fields, ""))
		crm, orders := e.crm["Opportunities"], e.erp["orders"]
		opp, order := e.linkedOpportunity()
		assert.Zero(t, crm.count("update"))
		for _, k := range []string{"OpportunityErpId", "OpportunityErpStatus", "OpportunityErpSyncDateTime"} {
			assert.NotContains(t, crm.get(opp), k)
		}
		orders.edit(order, map[string]any{"description": "Widgets, revised"})
		e.dispatch("opportunities", orders.change(order))
		assert.Equal(t, []string{"OpportunityDescription", "OpportunityErpSyncDateTime"}, crm.lastChanged())
	})
	t.Run("no sync time", func(t *testing.T) {
		e := newEnvWith(t, editedSet(t, "opportunities.yaml", "erp-sync-time: OpportunityErpSyncDateTime\n", ""))
		crm := e.crm["Opportunities"]
		opp, order := e.linkedOpportunity()
		assert.Equal(t, []string{"OpportunityErpId", "OpportunityErpStatus"}, crm.lastChanged())
		assert.Equal(t, order, crm.get(opp)["OpportunityErpId"])
		assert.NotContains(t, crm.get(opp), "OpportunityErpSyncDateTime")
	})
}

// TestAFailedWriteBackCreatesNoSecondOrder: when the write of the order's id
// to webCRM fails after the order was made, the retry finds that order by
// its token and writes the id then: one order, and the opportunity shows it.
func TestAFailedWriteBackCreatesNoSecondOrder(t *testing.T) {
	e := newEnv(t)
	crm, orders := e.crm["Opportunities"], e.erp["orders"]
	oid, _ := e.linkedOrg(1)
	opp := crm.add(crmOpp(1, oid))
	failing := true
	crm.fault = func(op, key string) error {
		if op == "update" && key == opp && failing {
			return clientErr(Unavailable, "connection reset")
		}
		return nil
	}
	link := domain.LinkWorkflowID("opportunities", domain.WebCRM, opp)

	tally := e.dispatch("opportunities", crm.change(opp))
	require.Equal(t, 1, tally.Failed, "the failed write-back fails the change, which is retried")
	require.Equal(t, 1, orders.size())

	failing = false
	e.dispatch("opportunities", crm.change(opp))

	assert.Equal(t, 1, orders.size(), "the retry finds the order it made")
	st := e.link(link)
	assert.Equal(t, domain.StateOK, st.State, st.Reason)
	assert.Equal(t, st.ErpID, crm.get(opp)["OpportunityErpId"])
	assert.Equal(t, "Synchronized", crm.get(opp)["OpportunityErpStatus"])
	syncTime(t, crm.get(opp))
}

// TestAnEditDuringTheOrdersCreateIsNotLost: a person wins the opportunity
// while tandem creates its order from the record as first read. The
// write-back of the order's id reads and writes the won record; the link
// keeps the version its first contact was based on, so the poll that
// delivers the won record merges it and the order is won too.
func TestAnEditDuringTheOrdersCreateIsNotLost(t *testing.T) {
	e := newEnv(t)
	crm, orders := e.crm["Opportunities"], e.erp["orders"]
	oid, _ := e.linkedOrg(1)
	opp := crm.add(crmOpp(1, oid))
	first := crm.change(opp)
	won := false
	orders.fault = func(op, _ string) error {
		if op == "create" && !won {
			won = true
			crm.edit(opp, map[string]any{"OpportunityWinYesNo": true, "OpportunityLostDate": nil})
		}
		return nil
	}
	e.dispatch("opportunities", first)
	require.True(t, won, "the edit was made during the create")
	st := e.link(domain.LinkWorkflowID("opportunities", domain.WebCRM, opp))
	require.NotEmpty(t, st.ErpID)
	assert.Equal(t, "Synchronized", crm.get(opp)["OpportunityErpStatus"], "the write-back was made")

	e.dispatch("opportunities", crm.change(opp))
	assert.Equal(t, "won", orders.get(st.ErpID)["status"], "the edit made during the create reached the order")
}

// TestAnEditDuringTheOrdersCreateIsNotLostWhenTheLinkReadTheRecord: as above,
// but the change names the opportunity only (a hook), so the link reads it
// itself before it creates the order. That read is not fresh by the time of
// the write-back: the write-back must not put the opportunity back as it was
// then, which would undo the edit on webCRM and in the order both.
func TestAnEditDuringTheOrdersCreateIsNotLostWhenTheLinkReadTheRecord(t *testing.T) {
	e := newEnv(t)
	crm, orders := e.crm["Opportunities"], e.erp["orders"]
	oid, _ := e.linkedOrg(1)
	opp := crm.add(crmOpp(1, oid))
	edited := false
	orders.fault = func(op, _ string) error {
		if op == "create" && !edited {
			edited = true
			crm.edit(opp, map[string]any{"OpportunityCurrencyName": "NOK"})
		}
		return nil
	}
	hook := domain.Change{Side: domain.WebCRM, ID: opp, Source: domain.SourceHook}
	e.dispatch("opportunities", hook)
	require.True(t, edited, "the edit was made during the create")
	require.Equal(t, "NOK", crm.get(opp)["OpportunityCurrencyName"], "the write-back kept the edit")
	st := e.link(domain.LinkWorkflowID("opportunities", domain.WebCRM, opp))
	require.NotEmpty(t, st.ErpID)
	assert.Equal(t, "Synchronized", crm.get(opp)["OpportunityErpStatus"], "the write-back was made")

	e.dispatch("opportunities", crm.change(opp))
	assert.Equal(t, "NOK", orders.get(st.ErpID)["currency"], "the edit made during the create reached the order")
}
