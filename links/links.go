// Package links drives link workflows from outside a workflow: it delivers a
// change to the link that owns a record (starting the link when there is
// none, following alias index entries to their home link), registers alias
// entries, and looks links up by record id. Activities, the hooks endpoint
// and the starter CLI all reach links through it.
package links

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/workflows"
)

// maxHops bounds how many alias forwards one dispatch follows.
const maxHops = 4

// Dispatcher delivers changes to link workflows. It is safe for concurrent use.
type Dispatcher struct {
	c         client.Client
	taskQueue string
}

// NewDispatcher returns a Dispatcher that starts links on taskQueue
// (workflows.TaskQueue when empty).
func NewDispatcher(c client.Client, taskQueue string) *Dispatcher {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	return &Dispatcher{c: c, taskQueue: taskQueue}
}

// Client returns the Temporal client the dispatcher uses.
func (d *Dispatcher) Client() client.Client { return d.c }

// Apply delivers ch to the link of its record and waits for the outcome.
func (d *Dispatcher) Apply(ctx context.Context, pairing string, ch domain.Change) (domain.Outcome, error) {
	return d.send(ctx, workflows.UpdateApply, pairing, domain.LinkWorkflowID(pairing, ch.Side, ch.ID), ch)
}

// ApplyTo delivers ch to the link with the given workflow ID, which the
// caller knows owns the record, and waits for the outcome.
func (d *Dispatcher) ApplyTo(ctx context.Context, pairing, linkID string, ch domain.Change) (domain.Outcome, error) {
	return d.send(ctx, workflows.UpdateApply, pairing, linkID, ch)
}

// Ensure returns the ids of the link of ch's record, syncing the record first
// when it is not linked yet.
func (d *Dispatcher) Ensure(ctx context.Context, pairing string, ch domain.Change) (domain.Outcome, error) {
	return d.send(ctx, workflows.UpdateEnsure, pairing, domain.LinkWorkflowID(pairing, ch.Side, ch.ID), ch)
}

func (d *Dispatcher) send(ctx context.Context, update, pairing, target string, ch domain.Change) (domain.Outcome, error) {
	for hop := 0; hop < maxHops; hop++ {
		out, err := d.updateWithStart(ctx, update, target, ch)
		if home, ok := aliasHome(err); ok {
			target = home
			continue
		}
		if err != nil {
			return domain.Outcome{}, fmt.Errorf("deliver %s change of %s record %s to %s: %w", pairing, ch.Side, ch.ID, target, err)
		}
		if out.Forward != "" && out.Forward != target {
			target = out.Forward
			continue
		}
		return out, nil
	}
	return domain.Outcome{}, fmt.Errorf("deliver %s change of %s record %s: more than %d alias forwards, last %s", pairing, ch.Side, ch.ID, maxHops, target)
}

// updateWithStart sends the update to the link, starting it with the record
// named by its workflow ID when no run is open. An update that reaches a run
// which is just continuing as new is retried a few times.
func (d *Dispatcher) updateWithStart(ctx context.Context, update, target string, ch domain.Change) (domain.Outcome, error) {
	pairing, side, id, err := domain.ParseLinkWorkflowID(target)
	if err != nil {
		return domain.Outcome{}, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		start := d.c.NewWithStartWorkflowOperation(d.startOptions(target, pairing, side, id), workflows.LinkWorkflow,
			workflows.LinkInput{Pairing: pairing, Side: side, ID: id})
		handle, err := d.c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
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

func (d *Dispatcher) startOptions(id, pairing string, side domain.Side, recordID string) client.StartWorkflowOptions {
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
		TaskQueue:                d.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(attrs...),
		StaticSummary:            fmt.Sprintf("%s link of %s record %s", pairing, side, recordID),
		StaticDetails: fmt.Sprintf("Keeps %s record `%s` and its counterpart in step for the **%s** pairing. "+
			"Current Details show the link's state; every change applied is an `apply` update below.", side, recordID, pairing),
	}
}

// aliasHome reports whether err is an alias rejecting a change, and the home
// link it names.
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

// StartLink starts the link of (pairing, side, id) with a state computed
// outside the workflow (the first contact done by a poll or backfill
// activity). started is false when a link already runs there; the caller
// then delivers its change as an update.
func StartLink(ctx context.Context, c client.Client, taskQueue, pairing string, side domain.Side, id string, state domain.LinkState, first domain.Change, action string) (started bool, err error) {
	d := NewDispatcher(c, taskQueue)
	linkID := domain.LinkWorkflowID(pairing, side, id)
	opts := d.startOptions(linkID, pairing, side, id)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	if state.State == domain.StateOK {
		// A link in step has nothing to do until a record changes, so it
		// starts at rest: the server defers its first workflow task, which
		// halves the server's work per link in a backfill. Its state is in
		// its input, its memo and its search attributes; the first change
		// (an update wakes a resting workflow), or UpdateWake, runs it.
		opts.StartDelay = restDelay
		opts.Memo = map[string]any{domain.MemoSeen: domain.LinkMemo{CrmVersion: state.CrmVersion, ErpVersion: state.ErpVersion}}
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
	_, err = c.ExecuteWorkflow(ctx, opts, workflows.LinkWorkflow, workflows.LinkInput{
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

// restDelay is how long a link started in step rests before its first
// workflow task unless a change wakes it first; when it passes, the link
// merely runs its set-up.
const restDelay = 365 * 24 * time.Hour

// RegisterAlias makes the record (side, id) of pairing an index entry of the
// link home. It is idempotent. When a link of its own already runs for the
// record (a dispatcher saw the record before the alias existed), that link is
// told to retire into home.
func RegisterAlias(ctx context.Context, c client.Client, taskQueue, pairing string, side domain.Side, id, home string) error {
	if taskQueue == "" {
		taskQueue = workflows.TaskQueue
	}
	aliasID := domain.LinkWorkflowID(pairing, side, id)
	if aliasID == home {
		return nil
	}
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       aliasID,
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Without it, ExecuteWorkflow hands back the run already there
		// instead of saying so, and a collision would go unnoticed.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("%s index entry of %s record %s", pairing, side, id),
		StaticDetails:                            fmt.Sprintf("Changes of %s record `%s` are handled by the link `%s`.", side, id, home),
	}, workflows.LinkAliasWorkflow, workflows.AliasInput{Pairing: pairing, Side: side, ID: id, Home: home})
	if err == nil {
		return nil
	}
	if !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return fmt.Errorf("register index entry %s for %s: %w", aliasID, home, err)
	}
	// Something runs there already: an earlier attempt's alias (fine), or a
	// link a dispatcher started for the record before the alias existed.
	// Two links that claim the same pair settle it the same way from both
	// ends: the one with the smaller workflow ID stays the home.
	kind, err := DescribeID(ctx, c, aliasID)
	if err != nil {
		return err
	}
	if kind != KindLink {
		return nil
	}
	if aliasID < home {
		return &ClaimedError{Home: aliasID}
	}
	// Signal-with-start, because a plain signal does not wake a link at
	// rest; should the link have ended meanwhile, the link it starts
	// retires into home at once, which is the index entry wanted.
	pairingName, side, id, err := domain.ParseLinkWorkflowID(aliasID)
	if err != nil {
		return err
	}
	d := NewDispatcher(c, taskQueue)
	if _, err := c.SignalWithStartWorkflow(ctx, aliasID, workflows.SignalRetire, home,
		d.startOptions(aliasID, pairingName, side, id), workflows.LinkWorkflow,
		workflows.LinkInput{Pairing: pairingName, Side: side, ID: id}); err != nil {
		return fmt.Errorf("retire duplicate link %s into %s: %w", aliasID, home, err)
	}
	return nil
}

// ClaimedError says that another link already holds the record and stays
// its home; the caller's link should become an alias of Home.
type ClaimedError struct{ Home string }

func (e *ClaimedError) Error() string { return "the record is already held by " + e.Home }

// Kind is what runs under a link workflow ID.
type Kind int

// Kinds of link workflow IDs.
const (
	KindNone  Kind = iota // nothing is running there
	KindLink              // a home link
	KindAlias             // an index entry of another link
)

// Describe tells what runs under the link workflow ID of (pairing, side, id).
func Describe(ctx context.Context, c client.Client, pairing string, side domain.Side, id string) (Kind, error) {
	return DescribeID(ctx, c, domain.LinkWorkflowID(pairing, side, id))
}

// DescribeID tells what runs under a link workflow ID.
func DescribeID(ctx context.Context, c client.Client, workflowID string) (Kind, error) {
	kind, _, err := DescribeMemo(ctx, c, workflowID)
	return kind, err
}

// DescribeMemo tells what runs under a link workflow ID and, for a link,
// the versions it has synced.
func DescribeMemo(ctx context.Context, c client.Client, workflowID string) (Kind, domain.LinkMemo, error) {
	info, err := Inspect(ctx, c, workflowID)
	return info.Kind, info.Seen, err
}

// Info is what one Describe call tells about a link workflow ID.
type Info struct {
	Kind Kind
	// Seen holds the versions a link in state ok has synced.
	Seen domain.LinkMemo
	// CrmID and ErpID are a link's record ids, and State its state, from its
	// search attributes.
	CrmID, ErpID, State string
}

// Holds reports whether the link holds, or may take, the record (side,
// id): its id on that side is that id, or not known yet.
func (i Info) Holds(side domain.Side, id string) bool {
	if i.Kind != KindLink {
		return false
	}
	have := i.CrmID
	if side == domain.ERP {
		have = i.ErpID
	}
	return have == "" || have == id
}

// Inspect describes a link workflow ID with one call. The memo is decoded
// with the client's data converter, so it reads the same with payload
// encryption on.
func Inspect(ctx context.Context, c client.Client, workflowID string) (Info, error) {
	var info Info
	desc, err := c.DescribeWorkflow(ctx, workflowID, "")
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
	if desc.WorkflowType.Name == "LinkAliasWorkflow" {
		info.Kind = KindAlias
		return info, nil
	}
	info.Kind = KindLink
	_ = desc.GetMemoValue(domain.MemoSeen, &info.Seen)
	info.CrmID, _ = desc.TypedSearchAttributes.GetKeyword(workflows.CrmIDKey)
	info.ErpID, _ = desc.TypedSearchAttributes.GetKeyword(workflows.ErpIDKey)
	info.State, _ = desc.TypedSearchAttributes.GetKeyword(workflows.StateKey)
	return info, nil
}

// FindHome returns the workflow ID of the home link that holds (pairing,
// side, id), or "" when there is none. The record's own link ID answers
// when it is the home or has an index entry; a counterpart tandem created
// carries its home's ID as a token instead, and is found through the
// search attributes.
func FindHome(ctx context.Context, c client.Client, pairing string, side domain.Side, id string) (string, error) {
	own := domain.LinkWorkflowID(pairing, side, id)
	kind, err := DescribeID(ctx, c, own)
	if err != nil || kind != KindNone {
		if kind == KindAlias {
			return home(ctx, c, own)
		}
		return own, err
	}
	key := workflows.CrmIDKey
	if side == domain.ERP {
		key = workflows.ErpIDKey
	}
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: 2,
		Query: fmt.Sprintf("WorkflowType = 'LinkWorkflow' AND ExecutionStatus = 'Running' AND %s = '%s' AND %s = '%s'",
			workflows.PairingKey.GetName(), pairing, key.GetName(), strings.ReplaceAll(id, "'", "")),
	})
	if err != nil {
		return "", fmt.Errorf("look up the link of %s %s record %s: %w", pairing, side, id, err)
	}
	if execs := resp.GetExecutions(); len(execs) > 0 {
		return execs[0].GetExecution().GetWorkflowId(), nil
	}
	return "", nil
}

// home asks an index entry for its home link.
func home(ctx context.Context, c client.Client, aliasID string) (string, error) {
	v, err := c.QueryWorkflow(ctx, aliasID, "", workflows.QueryHome)
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
func Lookup(ctx context.Context, c client.Client, pairing string, side domain.Side, id string) (home string, state domain.LinkState, found bool, err error) {
	target, err := FindHome(ctx, c, pairing, side, id)
	if err != nil || target == "" {
		return "", state, false, err
	}
	for hop := 0; hop < maxHops; hop++ {
		kind, err := DescribeID(ctx, c, target)
		if err != nil || kind == KindNone {
			return "", state, false, err
		}
		if kind == KindAlias {
			v, err := c.QueryWorkflow(ctx, target, "", workflows.QueryHome)
			if err != nil {
				return "", state, false, fmt.Errorf("ask index entry %s for its link: %w", target, err)
			}
			if err := v.Get(&target); err != nil {
				return "", state, false, fmt.Errorf("decode home of %s: %w", target, err)
			}
			continue
		}
		state, err := State(ctx, c, target)
		if err != nil {
			return "", state, false, err
		}
		return target, state, true, nil
	}
	return "", state, false, fmt.Errorf("look up %s: more than %d alias hops", domain.LinkWorkflowID(pairing, side, id), maxHops)
}

// State returns the state of the link workflowID. It queries the link, and
// wakes it with an update when it is at rest (a link at rest runs no code
// and so answers no query).
func State(ctx context.Context, c client.Client, workflowID string) (domain.LinkState, error) {
	var st domain.LinkState
	v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryState)
	var notReady *serviceerror.WorkflowNotReady
	if errors.As(err, &notReady) {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
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
