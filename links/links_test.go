package links_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/internal/testenv"
	"github.com/tandemsync/tandem/links"
	"github.com/tandemsync/tandem/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startWorker runs the link workflows on a dedicated server with an Apply
// stand-in that records the change and links the record to counterpart.
func startWorker(t *testing.T, counterpart string) client.Client {
	t.Helper()
	srv := testenv.StartTemporal(t, testenv.Options{})
	c := testenv.ClientFor(t, srv)
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.LinkWorkflow, workflow.RegisterOptions{Name: "LinkWorkflow"})
	w.RegisterWorkflowWithOptions(workflows.LinkAliasWorkflow, workflow.RegisterOptions{Name: "LinkAliasWorkflow"})
	w.RegisterActivityWithOptions(func(_ context.Context, in domain.ApplyInput) (domain.ApplyResult, error) {
		st := in.State
		if in.Change.Side == domain.WebCRM {
			st.CrmID, st.ErpID = in.Change.ID, counterpart
		} else {
			st.ErpID = in.Change.ID
		}
		st.State, st.CrmVersion = domain.StateOK, in.Change.Version
		st.Applied++
		return domain.ApplyResult{State: st, Outcome: domain.Outcome{Action: domain.ActionUpdated}}, nil
	}, activity.RegisterOptions{Name: workflows.ActivityApply})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return c
}

func TestApplyStartsTheLinkAndFollowsAnAlias(t *testing.T) {
	c := startWorker(t, "CU-9")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := links.New(c, "")

	out, err := d.Apply(ctx, "organisations", domain.Change{Side: domain.WebCRM, ID: "5", Version: "v1", Source: domain.SourcePoll})
	require.NoError(t, err)
	require.Equal(t, domain.StateOK, out.State)
	require.Equal(t, "CU-9", out.ErpID)

	home := domain.LinkWorkflowID("organisations", domain.WebCRM, "5")
	require.NoError(t, links.New(c, "").RegisterAlias(ctx, "organisations", domain.ERP, "CU-9", home))
	require.NoError(t, links.New(c, "").RegisterAlias(ctx, "organisations", domain.ERP, "CU-9", home), "registering twice is harmless")
	aliasID := domain.LinkWorkflowID("organisations", domain.ERP, "CU-9")
	info, err := links.New(c, "").Inspect(ctx, aliasID)
	require.NoError(t, err)
	require.Equal(t, engine.AliasLink, info.Kind)
	require.Equal(t, home, info.Home, "from its memo")

	// The entry rests: its history is its start alone. It answers no query
	// then, and is still found through it.
	require.Equal(t, []enumspb.EventType{enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED}, eventTypes(ctx, t, c, aliasID))
	got, _, found, err := links.New(c, "").Lookup(ctx, "organisations", domain.ERP, "CU-9")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, home, got)

	// A change of the ERP record reaches the home link through the resting
	// alias, which rejects it, naming its home (a rejected update leaves no
	// event in its history).
	out, err = d.Apply(ctx, "organisations", domain.Change{Side: domain.ERP, ID: "CU-9", Source: domain.SourcePoll})
	require.NoError(t, err)
	require.Equal(t, "5", out.CrmID)

	got, st, found, err := links.New(c, "").Lookup(ctx, "organisations", domain.ERP, "CU-9")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, home, got)
	require.Equal(t, 2, st.Applied, "both changes were applied by the one home link")

	_, _, found, err = links.New(c, "").Lookup(ctx, "organisations", domain.ERP, "CU-404")
	require.NoError(t, err)
	require.False(t, found)
}

func TestTwoLinksClaimingOnePairSettleOnTheSmallerID(t *testing.T) {
	c := startWorker(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := links.New(c, "")
	// Both records got a link of their own before either knew of the other.
	_, err := d.Apply(ctx, "persons", domain.Change{Side: domain.WebCRM, ID: "8", Source: domain.SourcePoll})
	require.NoError(t, err)
	_, err = d.Apply(ctx, "persons", domain.Change{Side: domain.ERP, ID: "CT-3", Source: domain.SourcePoll})
	require.NoError(t, err)
	crmLink := domain.LinkWorkflowID("persons", domain.WebCRM, "8")
	erpLink := domain.LinkWorkflowID("persons", domain.ERP, "CT-3")
	require.Less(t, erpLink, crmLink)

	// The webCRM-side link tries to take the ERP record: it is told the
	// ERP-side link, whose ID is smaller, keeps it.
	err = links.New(c, "").RegisterAlias(ctx, "persons", domain.ERP, "CT-3", crmLink)
	var claimed *engine.ClaimedError
	require.ErrorAs(t, err, &claimed)
	require.Equal(t, erpLink, claimed.Home)

	// The ERP-side link takes the webCRM record: the other link retires into it.
	require.NoError(t, links.New(c, "").RegisterAlias(ctx, "persons", domain.WebCRM, "8", erpLink))
	require.Eventually(t, func() bool {
		info, err := links.New(c, "").Inspect(ctx, crmLink)
		return err == nil && info.Kind == engine.AliasLink
	}, 30*time.Second, 100*time.Millisecond, "the retired link continues as an alias")
	home, _, found, err := links.New(c, "").Lookup(ctx, "persons", domain.WebCRM, "8")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, erpLink, home)
}

func TestStartLinkRefusesASecondRun(t *testing.T) {
	c := startWorker(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := domain.LinkState{CrmID: "11", ErpID: "CU-11", State: domain.StateOK, CrmVersion: "v1"}
	ch := domain.Change{Side: domain.WebCRM, ID: "11", Version: "v1", Source: domain.SourceBackfill}
	started, err := links.New(c, "").Start(ctx, "organisations", domain.WebCRM, "11", st, ch, domain.ActionCreatedERP)
	require.NoError(t, err)
	require.True(t, started)
	started, err = links.New(c, "").Start(ctx, "organisations", domain.WebCRM, "11", st, ch, domain.ActionCreatedERP)
	require.NoError(t, err)
	require.False(t, started, "a link that runs is left alone; the caller sends its change as an update")

	require.Eventually(t, func() bool {
		info, err := links.New(c, "").Inspect(ctx, domain.LinkWorkflowID("organisations", domain.WebCRM, "11"))
		return err == nil && info.Kind == engine.HomeLink && info.Seen.Seen(ch)
	}, 30*time.Second, 100*time.Millisecond, "the link publishes the versions it has synced in its memo")
}

// TestALinkStartedInStepRests: a link started in state ok runs no workflow
// task until it is needed, yet tells its versions through Describe, its
// state through State, takes changes, and retires into another link.
func TestALinkStartedInStepRests(t *testing.T) {
	c := startWorker(t, "CU-21")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := domain.LinkState{CrmID: "21", ErpID: "CU-21", State: domain.StateOK, CrmVersion: "v1", ErpVersion: "e1"}
	ch := domain.Change{Side: domain.WebCRM, ID: "21", Version: "v1", Source: domain.SourceBackfill}
	started, err := links.New(c, "").Start(ctx, "organisations", domain.WebCRM, "21", st, ch, domain.ActionCreatedERP)
	require.NoError(t, err)
	require.True(t, started)
	id := domain.LinkWorkflowID("organisations", domain.WebCRM, "21")

	// At rest: the history holds the start alone, and Describe still tells
	// what the link has synced, so a dispatcher skips what it has seen.
	require.Equal(t, []enumspb.EventType{enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED}, eventTypes(ctx, t, c, id))
	info, err := links.New(c, "").Inspect(ctx, id)
	require.NoError(t, err)
	require.Equal(t, engine.HomeLink, info.Kind)
	require.True(t, info.Seen.Seen(ch))
	require.True(t, info.Seen.Seen(domain.Change{Side: domain.ERP, ID: "CU-21", Version: "e1"}))

	// A query cannot wake it; State does, and returns the state it started with.
	got, err := links.New(c, "").State(ctx, id)
	require.NoError(t, err)
	require.Equal(t, st, got)
	require.Greater(t, len(eventTypes(ctx, t, c, id)), 1, "the link ran")

	// A change reaches a resting link too.
	started, err = links.New(c, "").Start(ctx, "organisations", domain.WebCRM, "22", st, domain.Change{Side: domain.WebCRM, ID: "22", Version: "v1"}, domain.ActionMatched)
	require.NoError(t, err)
	require.True(t, started)
	out, err := links.New(c, "").Apply(ctx, "organisations", domain.Change{Side: domain.WebCRM, ID: "22", Version: "v2", Source: domain.SourcePoll})
	require.NoError(t, err)
	require.Equal(t, domain.ActionUpdated, out.Action)

	// And a resting link told to retire does (a plain signal would not wake it).
	started, err = links.New(c, "").Start(ctx, "organisations", domain.WebCRM, "23", st, domain.Change{Side: domain.WebCRM, ID: "23", Version: "v1"}, domain.ActionMatched)
	require.NoError(t, err)
	require.True(t, started)
	require.NoError(t, links.New(c, "").RegisterAlias(ctx, "organisations", domain.WebCRM, "23", id))
	require.Eventually(t, func() bool {
		info, err := links.New(c, "").Inspect(ctx, domain.LinkWorkflowID("organisations", domain.WebCRM, "23"))
		return err == nil && info.Kind == engine.AliasLink
	}, 30*time.Second, 100*time.Millisecond, "the resting link woke and continued as an alias")
}

// eventTypes lists the event types of a workflow's history.
func eventTypes(ctx context.Context, t *testing.T, c client.Client, id string) []enumspb.EventType {
	t.Helper()
	var types []enumspb.EventType
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		types = append(types, ev.GetEventType())
	}
	return types
}

// TestNoIndexEntryPointsAtALinkThatRetired: the first contacts of both
// records of a pair ran at the same time; the webCRM record's won and made
// the ERP record its index entry. When the other then tries to make the
// webCRM record an entry of its own link, now retired, it is told the link
// that holds the pair, and neither record points at the other in a circle,
// whether the winner's link runs yet or not.
func TestNoIndexEntryPointsAtALinkThatRetired(t *testing.T) {
	c := startWorker(t, "CU-1005")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := links.New(c, "")
	for pairing, running := range map[string]bool{"organisations": false, "persons": true} {
		crmLink := domain.LinkWorkflowID(pairing, domain.WebCRM, "5")
		erpLink := domain.LinkWorkflowID(pairing, domain.ERP, "CU-1005")
		want := engine.NoLink
		if running {
			_, err := l.Apply(ctx, pairing, domain.Change{Side: domain.WebCRM, ID: "5", Source: domain.SourcePoll})
			require.NoError(t, err)
			want = engine.HomeLink
		}
		require.NoError(t, l.RegisterAlias(ctx, pairing, domain.ERP, "CU-1005", crmLink))

		err := l.RegisterAlias(ctx, pairing, domain.WebCRM, "5", erpLink)
		var claimed *engine.ClaimedError
		require.ErrorAs(t, err, &claimed, pairing)
		require.Equal(t, crmLink, claimed.Home, pairing)
		info, err := l.Inspect(ctx, crmLink)
		require.NoError(t, err)
		require.Equal(t, want, info.Kind, "%s: the webCRM record's link is neither told to retire nor made an index entry", pairing)

		_, err = l.Apply(ctx, pairing, domain.Change{Side: domain.ERP, ID: "CU-1005", Source: domain.SourcePoll})
		require.NoError(t, err, "%s: a change of the ERP record reaches a home", pairing)
		home, _, found, err := l.Lookup(ctx, pairing, domain.ERP, "CU-1005")
		require.NoError(t, err)
		require.True(t, found, pairing)
		require.Equal(t, crmLink, home, pairing)
	}
}
