// Package links reaches link workflows from outside a workflow: it delivers a
// change to the link that owns a record (starting the link when there is
// none, following index entries to their home link), starts links with a
// state computed outside them, registers index entries, and looks links up by
// record id. The engine, the hooks endpoint and the starter CLI all reach
// links through a Client.
package links

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/engine"
	"github.com/tandemsync/tandem/workflows"
)

// maxHops bounds how many index-entry forwards one delivery follows.
const maxHops = 4

// Client reaches the link workflows of one Temporal namespace. It is safe for
// concurrent use.
type Client struct {
	c         client.Client
	taskQueue string
}

var _ engine.Links = (*Client)(nil)

// New returns a Client that starts links on taskQueue (workflows.TaskQueue
// when empty).
func New(c client.Client, taskQueue string) *Client {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	return &Client{c: c, taskQueue: taskQueue}
}

// Temporal returns the Temporal client.
func (l *Client) Temporal() client.Client { return l.c }

// Apply delivers ch to the link of its record and waits for the outcome.
func (l *Client) Apply(ctx context.Context, pairing string, ch domain.Change) (domain.Outcome, error) {
	return l.send(ctx, workflows.UpdateApply, pairing, domain.LinkWorkflowID(pairing, ch.Side, ch.ID), ch)
}

// ApplyTo delivers ch to the link with the given workflow ID, which the
// caller knows owns the record, and waits for the outcome.
func (l *Client) ApplyTo(ctx context.Context, pairing, linkID string, ch domain.Change) (domain.Outcome, error) {
	return l.send(ctx, workflows.UpdateApply, pairing, linkID, ch)
}

// Ensure returns the ids of the link of ch's record, syncing the record first
// when it is not linked yet.
func (l *Client) Ensure(ctx context.Context, pairing string, ch domain.Change) (domain.Outcome, error) {
	return l.send(ctx, workflows.UpdateEnsure, pairing, domain.LinkWorkflowID(pairing, ch.Side, ch.ID), ch)
}

func (l *Client) send(ctx context.Context, update, pairing, target string, ch domain.Change) (domain.Outcome, error) {
	for hop := 0; hop < maxHops; hop++ {
		out, err := l.updateWithStart(ctx, update, target, ch)
		if home, ok := aliasHome(err); ok {
			target = home
			continue
		}
		if err != nil {
			return domain.Outcome{}, fmt.Errorf("deliver %s change of %s record %s to %s: %w", pairing, ch.Side, ch.ID, target, err)
		}
		// A forwarded change goes on to the link named; any other outcome
		// with a forward (a matched pair that moved to the link of its other
		// record) was applied there already.
		if out.Action == domain.ActionForwarded && out.Forward != "" && out.Forward != target {
			target = out.Forward
			continue
		}
		return out, nil
	}
	return domain.Outcome{}, fmt.Errorf("deliver %s change of %s record %s: more than %d index-entry forwards, last %s", pairing, ch.Side, ch.ID, maxHops, target)
}

// updateWithStart sends the update to the link, starting it with the record
// named by its workflow ID when no run is open. An update that reaches a run
// just continuing as new is sent again, a few times: that is the only
// failure this layer retries (the engine's callers retry the others).
func (l *Client) updateWithStart(ctx context.Context, update, target string, ch domain.Change) (domain.Outcome, error) {
	pairing, side, id, err := domain.ParseLinkWorkflowID(target)
	if err != nil {
		return domain.Outcome{}, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		start := l.c.NewWithStartWorkflowOperation(l.startOptions(target, pairing, side, id), workflows.LinkWorkflowName,
			workflows.LinkInput{Pairing: pairing, Side: side, ID: id})
		handle, err := l.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{
				WorkflowID:   target,
				UpdateName:   update,
				Args:         []any{ch},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		var out domain.Outcome
		if err == nil {
			err = handle.Get(ctx, &out)
		}
		if err == nil {
			return out, nil
		}
		if !runClosing(err) || ctx.Err() != nil {
			return domain.Outcome{}, err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return domain.Outcome{}, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
	return domain.Outcome{}, lastErr
}

func (l *Client) startOptions(id, pairing string, side domain.Side, recordID string) client.StartWorkflowOptions {
	attrs := []temporal.SearchAttributeUpdate{
		workflows.PairingKey.ValueSet(pairing),
		workflows.StateKey.ValueSet(domain.StatePending),
	}
	if side == domain.WebCRM {
		attrs = append(attrs, workflows.CrmIDKey.ValueSet(recordID))
	} else {
		attrs = append(attrs, workflows.ErpIDKey.ValueSet(recordID))
	}
	return client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                l.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(attrs...),
		StaticSummary:            fmt.Sprintf("%s link of %s record %s", pairing, side, recordID),
		StaticDetails: fmt.Sprintf("Keeps %s record `%s` and its counterpart in step for the **%s** pairing. "+
			"Current Details show the link's state; every change applied is an `apply` update below.", side, recordID, pairing),
	}
}

// aliasHome reports whether err is an index entry rejecting a change, and the
// home link it names.
func aliasHome(err error) (string, bool) {
	var appErr *temporal.ApplicationError
	if err == nil || !errors.As(err, &appErr) || appErr.Type() != workflows.ErrTypeAlias {
		return "", false
	}
	var home string
	if appErr.HasDetails() && appErr.Details(&home) == nil && home != "" {
		return home, true
	}
	// Fall back on the message, "record is linked by <home>".
	if i := strings.LastIndex(appErr.Message(), " "); i >= 0 {
		return appErr.Message()[i+1:], true
	}
	return "", false
}

// runClosing reports whether err says the update reached a run that closed
// (continue-as-new) before it could take it; a retry reaches the new run.
func runClosing(err error) bool {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return true
	}
	var re *serviceerror.ResourceExhausted
	if errors.As(err, &re) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "workflow execution already completed") || strings.Contains(msg, "workflow is closing")
}

// Link rest: a link in step has nothing to do until a record changes, so it
// starts at rest, with its first workflow task deferred (one history event,
// nothing for a worker to run or cache). A change wakes it at once (an update
// wakes a resting workflow). Otherwise it wakes once, when the delay ends, and
// then waits like any link; the delay is spread over restSpread by the link's
// ID, so the links of one backfill do not all wake in the same minutes.
const (
	restBase   = 30 * 24 * time.Hour
	restSpread = 30 * 24 * time.Hour
)

// MemoHome is the memo key of an index entry's home link ID.
const MemoHome = "home"

// MemoRest is the memo key of a link started at rest; its value says so, in
// words, for the UI (whose start time of such a link is when its rest ends).
const MemoRest = "rest"

// restDelay is how long the link with the given ID rests.
func restDelay(linkID string) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(linkID))
	return restBase + time.Duration(h.Sum64()%uint64(restSpread/time.Minute))*time.Minute
}

// Start starts the link of (pairing, side, id) with a state computed outside
// the workflow (the first contact done by a poll or backfill). started is
// false when a link already runs there; the caller then delivers its change.
func (l *Client) Start(ctx context.Context, pairing string, side domain.Side, id string, state domain.LinkState, first domain.Change, action string) (started bool, err error) {
	linkID := domain.LinkWorkflowID(pairing, side, id)
	opts := l.startOptions(linkID, pairing, side, id)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	if state.State == domain.StateOK {
		delay := restDelay(linkID)
		now := time.Now().UTC()
		opts.StartDelay = delay
		opts.Memo = map[string]any{
			domain.MemoSeen: domain.LinkMemo{CrmVersion: state.CrmVersion, ErpVersion: state.ErpVersion},
			MemoRest: fmt.Sprintf("started at rest, in step, at %s: it runs when either record changes, or else once at %s (the start time shown)",
				now.Format(time.RFC3339), now.Add(delay).Format(time.RFC3339)),
		}
		opts.StaticDetails += " Started in step, at rest: it runs when either record next changes."
	}
	attrs := []temporal.SearchAttributeUpdate{workflows.PairingKey.ValueSet(pairing), workflows.StateKey.ValueSet(state.State)}
	if state.CrmID != "" {
		attrs = append(attrs, workflows.CrmIDKey.ValueSet(state.CrmID))
	}
	if state.ErpID != "" {
		attrs = append(attrs, workflows.ErpIDKey.ValueSet(state.ErpID))
	}
	opts.TypedSearchAttributes = temporal.NewSearchAttributes(attrs...)
	first.Record = nil
	_, err = l.c.ExecuteWorkflow(ctx, opts, workflows.LinkWorkflowName, workflows.LinkInput{
		Pairing: pairing, Side: side, ID: id, State: &state, FirstChange: &first, FirstAction: action,
	})
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("start link %s: %w", linkID, err)
	}
	return true, nil
}

// RegisterAlias makes the record (side, id) of pairing an index entry of the
// link home. It is idempotent. When a link of its own already runs for the
// record (a delivery saw the record before the entry existed), that link is
// told to retire into home, unless it is the one to stay (see
// engine.ClaimedError).
func (l *Client) RegisterAlias(ctx context.Context, pairing string, side domain.Side, id, home string) error {
	aliasID := domain.LinkWorkflowID(pairing, side, id)
	if aliasID == home {
		return nil
	}
	// home may have become an index entry itself since the caller chose it
	// (a first contact of its counterpart, run at the same time, took the
	// pair): an entry pointing there would go round in a circle when home
	// points back at the record. The link home now forwards to holds it.
	if info, err := l.Inspect(ctx, home); err != nil {
		return err
	} else if info.Kind == engine.AliasLink {
		next, err := l.home(ctx, home, info)
		if err != nil {
			return fmt.Errorf("register index entry %s: %w", aliasID, err)
		}
		return &engine.ClaimedError{Home: next}
	}
	// An index entry has nothing to run until a change of its record
	// arrives, so it starts at rest like a link in step (an update or a
	// signal wakes it): no workflow task for each entry a backfill or a
	// batch of creates makes. Its home is in its memo, which a Describe
	// reads, since a workflow at rest answers no query.
	delay := restDelay(aliasID)
	_, err := l.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       aliasID,
		TaskQueue:                l.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Without it, ExecuteWorkflow hands back the run already there
		// instead of saying so, and a collision would go unnoticed.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StartDelay:                               delay,
		Memo: map[string]any{
			MemoHome: home,
			MemoRest: fmt.Sprintf("started at rest at %s: it runs when a change of its record arrives, and sends it to %s",
				time.Now().UTC().Format(time.RFC3339), home),
		},
		StaticSummary: fmt.Sprintf("%s index entry of %s record %s", pairing, side, id),
		StaticDetails: fmt.Sprintf("Changes of %s record `%s` are handled by the link `%s`.", side, id, home),
	}, workflows.LinkAliasWorkflowName, workflows.AliasInput{Pairing: pairing, Side: side, ID: id, Home: home})
	if err == nil {
		return nil
	}
	if !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return fmt.Errorf("register index entry %s for %s: %w", aliasID, home, err)
	}
	// Something runs there already: an earlier attempt's entry (fine), or a
	// link a delivery started for the record before the entry existed. Two
	// links that claim the same pair settle it the same way from both ends:
	// the one with the smaller workflow ID stays the home.
	info, err := l.Inspect(ctx, aliasID)
	if err != nil {
		return err
	}
	if info.Kind != engine.HomeLink {
		return nil
	}
	if aliasID < home {
		return &engine.ClaimedError{Home: aliasID}
	}
	// Signal-with-start, because a plain signal does not wake a link at rest;
	// should the link have ended meanwhile, the link it starts retires into
	// home at once, which is the index entry wanted.
	if _, err := l.c.SignalWithStartWorkflow(ctx, aliasID, workflows.SignalRetire, home,
		l.startOptions(aliasID, pairing, side, id), workflows.LinkWorkflowName,
		workflows.LinkInput{Pairing: pairing, Side: side, ID: id}); err != nil {
		return fmt.Errorf("retire duplicate link %s into %s: %w", aliasID, home, err)
	}
	return nil
}

// Inspect describes a link workflow ID with one call. The memo is decoded with
// the client's data converter, so it reads the same with payload encryption
// on.
func (l *Client) Inspect(ctx context.Context, workflowID string) (engine.LinkInfo, error) {
	var info engine.LinkInfo
	desc, err := l.c.DescribeWorkflow(ctx, workflowID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("describe %s: %w", workflowID, err)
	}
	if desc.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return info, nil
	}
	if desc.WorkflowType.Name == workflows.LinkAliasWorkflowName {
		info.Kind = engine.AliasLink
		_ = desc.GetMemoValue(MemoHome, &info.Home)
		return info, nil
	}
	info.Kind = engine.HomeLink
	_ = desc.GetMemoValue(domain.MemoSeen, &info.Seen)
	info.CrmID, _ = desc.TypedSearchAttributes.GetKeyword(workflows.CrmIDKey)
	info.ErpID, _ = desc.TypedSearchAttributes.GetKeyword(workflows.ErpIDKey)
	info.State, _ = desc.TypedSearchAttributes.GetKeyword(workflows.StateKey)
	return info, nil
}

// FindHome returns the workflow ID of the home link that holds (pairing, side,
// id), or "" when there is none. The record's own link ID answers when it is
// the home or has an index entry; a counterpart tandem created carries its
// home's ID as a token instead, and is found through the search attributes.
func (l *Client) FindHome(ctx context.Context, pairing string, side domain.Side, id string) (string, error) {
	own := domain.LinkWorkflowID(pairing, side, id)
	info, err := l.Inspect(ctx, own)
	if err != nil || info.Kind != engine.NoLink {
		if info.Kind == engine.AliasLink {
			return l.home(ctx, own, info)
		}
		return own, err
	}
	key := workflows.CrmIDKey
	if side == domain.ERP {
		key = workflows.ErpIDKey
	}
	resp, err := l.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: 2,
		Query:    Query(pairing, Eq(key.GetName(), id)),
	})
	if err != nil {
		return "", fmt.Errorf("look up the link of %s %s record %s: %w", pairing, side, id, err)
	}
	if execs := resp.GetExecutions(); len(execs) > 0 {
		return execs[0].GetExecution().GetWorkflowId(), nil
	}
	return "", nil
}

// home returns the home link of the index entry aliasID, which info
// describes: from its memo, or, for an entry started before the memo held it,
// by asking the entry.
func (l *Client) home(ctx context.Context, aliasID string, info engine.LinkInfo) (string, error) {
	if info.Home != "" {
		return info.Home, nil
	}
	v, err := l.c.QueryWorkflow(ctx, aliasID, "", workflows.QueryHome)
	if err != nil {
		return "", fmt.Errorf("ask index entry %s for its link: %w", aliasID, err)
	}
	var h string
	if err := v.Get(&h); err != nil {
		return "", fmt.Errorf("decode home of %s: %w", aliasID, err)
	}
	return h, nil
}

// Lookup returns the home link ID and state of the link that owns (pairing,
// side, id); found is false when the record is not linked.
func (l *Client) Lookup(ctx context.Context, pairing string, side domain.Side, id string) (home string, state domain.LinkState, found bool, err error) {
	target, err := l.FindHome(ctx, pairing, side, id)
	if err != nil || target == "" {
		return "", state, false, err
	}
	for hop := 0; hop < maxHops; hop++ {
		info, err := l.Inspect(ctx, target)
		if err != nil || info.Kind == engine.NoLink {
			return "", state, false, err
		}
		if info.Kind == engine.AliasLink {
			if target, err = l.home(ctx, target, info); err != nil {
				return "", state, false, err
			}
			continue
		}
		state, err := l.State(ctx, target)
		if err != nil {
			return "", state, false, err
		}
		return target, state, true, nil
	}
	return "", state, false, fmt.Errorf("look up %s: more than %d index-entry hops", domain.LinkWorkflowID(pairing, side, id), maxHops)
}

// State returns the state of the link workflowID. It queries the link, and
// wakes it with an update when it is at rest (a link at rest runs no code and
// so answers no query).
func (l *Client) State(ctx context.Context, workflowID string) (domain.LinkState, error) {
	var st domain.LinkState
	v, err := l.c.QueryWorkflow(ctx, workflowID, "", workflows.QueryState)
	var notReady *serviceerror.WorkflowNotReady
	if errors.As(err, &notReady) {
		h, err := l.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: workflowID, UpdateName: workflows.UpdateWake, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(ctx, &st)
		}
		if err != nil {
			return st, fmt.Errorf("wake link %s to read its state: %w", workflowID, err)
		}
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("query state of %s: %w", workflowID, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode state of %s: %w", workflowID, err)
	}
	return st, nil
}

// Count counts the running home links of a pairing.
func (l *Client) Count(ctx context.Context, pairing string) (int, error) {
	resp, err := l.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: Query(pairing)})
	if err != nil {
		return 0, fmt.Errorf("count %s links: %w", pairing, err)
	}
	return int(resp.GetCount()), nil
}

// List lists the running home links of a pairing through visibility, calling
// fn with each page.
func (l *Client) List(ctx context.Context, pairing string, fn func([]engine.LinkRef) error) error {
	var token []byte
	dc := converter.GetDefaultDataConverter()
	for {
		resp, err := l.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: Query(pairing), PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return fmt.Errorf("list %s links: %w", pairing, err)
		}
		page := make([]engine.LinkRef, 0, len(resp.GetExecutions()))
		for _, e := range resp.GetExecutions() {
			var ref engine.LinkRef
			fields := e.GetSearchAttributes().GetIndexedFields()
			for name, dst := range map[string]*string{
				workflows.CrmIDKey.GetName(): &ref.CrmID,
				workflows.ErpIDKey.GetName(): &ref.ErpID,
				workflows.StateKey.GetName(): &ref.State,
			} {
				if pl, ok := fields[name]; ok {
					_ = dc.FromPayload(pl, dst)
				}
			}
			page = append(page, ref)
		}
		if err := fn(page); err != nil {
			return err
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return nil
		}
	}
}

// A Cond is one condition of a visibility query; build it with Eq.
type Cond string

// Eq is attribute = 'value', quoted as visibility queries quote strings: in
// single quotes, a quote inside doubled.
func Eq(attribute, value string) Cond {
	return Cond(attribute + " = '" + strings.ReplaceAll(value, "'", "''") + "'")
}

// Query is the visibility query of a pairing's running home links that also
// meet conds; with pairing "", of every pairing.
func Query(pairing string, conds ...Cond) string {
	parts := []string{"WorkflowType = '" + workflows.LinkWorkflowName + "'", "ExecutionStatus = 'Running'"}
	if pairing != "" {
		parts = append(parts, string(Eq(workflows.PairingKey.GetName(), pairing)))
	}
	for _, c := range conds {
		parts = append(parts, string(c))
	}
	return strings.Join(parts, " AND ")
}
