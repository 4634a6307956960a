package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/tandemsync/tandem/domain"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the link workflow's handlers.
const (
	// UpdateApply applies one Change and returns its Outcome.
	UpdateApply = "apply"
	// UpdateEnsure returns the link's ids at once when it is linked, and
	// applies the given change first when it is not: a dependent link uses it
	// to have a referenced record synced before it goes on.
	UpdateEnsure = "ensure"
	// QueryState returns the LinkState.
	QueryState = "state"
	// UpdateWake returns the LinkState too. A link started at rest (see
	// links.StartLink) runs no code, and so answers no query, until a change
	// or this update wakes it.
	UpdateWake = "wake"
	// QueryHome returns the home link ID of an alias.
	QueryHome = "home"
	// SignalRetire ends an alias, or turns a link into an alias of the link
	// named in the signal.
	SignalRetire = "retire"
)

// ErrTypeAlias is the application error type with which an alias rejects a
// change; its details hold the home link's workflow ID.
const ErrTypeAlias = "LinkAlias"

// Retry delays for a link waiting in state blocked or in a transient error.
const (
	firstRetryDelay = 30 * time.Second
	maxRetryDelay   = 30 * time.Minute
)

// LinkInput is the input of LinkWorkflow. Side and ID name the record that
// was seen first (the link's home); State is carried through continue-as-new.
type LinkInput struct {
	Pairing string            `json:"pairing"`
	Side    domain.Side       `json:"side"`
	ID      string            `json:"id"`
	State   *domain.LinkState `json:"state,omitempty"`
	Retries int               `json:"retries,omitempty"`
	// RetryPending carries a pending retry of a transient error through
	// continue-as-new.
	RetryPending bool `json:"retryPending,omitempty"`
	// FirstChange and FirstAction tell, for a link started with a state
	// computed by a poll or backfill activity, which change that was and
	// what was done; the UI's current details show them.
	FirstChange *domain.Change `json:"firstChange,omitempty"`
	FirstAction string         `json:"firstAction,omitempty"`
}

// LinkWorkflow is the entity workflow of one link between a webCRM record and
// its ERP counterpart. Changes arrive as UpdateApply updates, one at a time;
// the Apply activity reads both records, merges them against the last synced
// snapshot and writes what changed. The link retries by itself while it is
// blocked on a reference or failed for a transient cause, and continues as new
// with its compact state when the server suggests it.
func LinkWorkflow(ctx workflow.Context, in LinkInput) error {
	l := &link{}
	if err := l.setup(ctx, in); err != nil {
		return err
	}
	return l.run(ctx)
}

type link struct {
	in      LinkInput
	id      string
	state   domain.LinkState
	mu      workflow.Mutex
	logger  log.Logger
	retries int
	// retryDue is set when the retry timer fires; retireTo when the link must
	// become an alias of another link.
	retryArmed bool
	retireTo   string
	// applies counts finished applies, so the main loop re-plans its retry
	// timer after each.
	applies    int
	lastAction string
	lastSource string
	lastSide   domain.Side
	memo       domain.LinkMemo
}

func (l *link) setup(ctx workflow.Context, in LinkInput) error {
	if in.Pairing == "" || in.ID == "" || !in.Side.Valid() {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("link input needs pairing, side (webcrm or erp) and id; got %+v", in), "InvalidInput", nil)
	}
	l.in = in
	l.id = workflow.GetInfo(ctx).WorkflowExecution.ID
	l.logger = log.With(workflow.GetLogger(ctx), "pairing", in.Pairing, "link", l.id)
	l.mu = workflow.NewMutex(ctx)
	l.retries = in.Retries
	l.retryArmed = in.RetryPending
	if in.FirstChange != nil {
		l.lastAction, l.lastSource, l.lastSide = in.FirstAction, in.FirstChange.Source, in.FirstChange.Side
	}
	if in.State != nil {
		l.state = *in.State
	} else {
		l.state = domain.LinkState{State: domain.StatePending}
		if in.Side == domain.WebCRM {
			l.state.CrmID = in.ID
		} else {
			l.state.ErpID = in.ID
		}
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryState, func() (domain.LinkState, error) {
		return l.state, nil
	}, workflow.QueryHandlerOptions{Description: "The link's ids, state, reason, versions and counters."}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateWake, func(workflow.Context) (domain.LinkState, error) {
		return l.state, nil
	}, workflow.UpdateHandlerOptions{Description: "Wake a link started at rest and return its state (a query cannot wake it)."}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApply, l.apply, workflow.UpdateHandlerOptions{
		Validator:   validateChange,
		Description: "Apply one change of a record of this link and return what was done.",
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateEnsure, l.ensure, workflow.UpdateHandlerOptions{
		Validator:   validateChange,
		Description: "Return the link's ids, syncing the record first if it is not linked yet.",
	}); err != nil {
		return err
	}
	l.publish(ctx)
	return nil
}

func validateChange(_ workflow.Context, ch domain.Change) error {
	if !ch.Side.Valid() || ch.ID == "" {
		return fmt.Errorf("a change needs side (webcrm or erp) and id; got side %q id %q", ch.Side, ch.ID)
	}
	return nil
}

func (l *link) run(ctx workflow.Context) error {
	retire := workflow.GetSignalChannel(ctx, SignalRetire)
	for {
		seen := l.applies
		var delay time.Duration
		if l.needsRetry() {
			delay = retryDelay(l.retries)
		}
		// Wake up for a retirement, a continue-as-new suggestion, or an
		// apply that may have changed whether a retry is due.
		cond := func() bool {
			return l.retireTo != "" || retire.Len() > 0 || l.applies != seen || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}
		var fired bool
		if delay > 0 {
			ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
				Timeout:      delay,
				TimerOptions: workflow.TimerOptions{Summary: fmt.Sprintf("retry in %s (%s)", delay, l.state.State)},
			}, cond)
			if err != nil {
				return err
			}
			fired = !ok
		} else if err := workflow.Await(ctx, cond); err != nil {
			return err
		}

		var target string
		for retire.ReceiveAsync(&target) {
			if target != "" && target != l.id {
				l.retireTo = target
			}
		}
		if l.retireTo != "" {
			return l.becomeAlias(ctx)
		}
		if fired && l.needsRetry() {
			if err := l.retry(ctx); err != nil {
				return err
			}
			continue
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			st := l.state
			return workflow.NewContinueAsNewError(ctx, LinkWorkflow, LinkInput{
				Pairing: l.in.Pairing, Side: l.in.Side, ID: l.in.ID, State: &st, Retries: l.retries, RetryPending: l.retryArmed,
				FirstChange: l.in.FirstChange, FirstAction: l.in.FirstAction,
			})
		}
	}
}

// needsRetry reports whether the link should try again by itself: it is
// blocked on a reference, or its last error was transient.
func (l *link) needsRetry() bool {
	return l.state.State == domain.StateBlocked || (l.state.State == domain.StateError && l.retryArmed)
}

func retryDelay(retries int) time.Duration {
	d := firstRetryDelay
	for i := 0; i < retries && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

func (l *link) retry(ctx workflow.Context) error {
	if err := l.mu.Lock(ctx); err != nil {
		return err
	}
	defer l.mu.Unlock()
	l.retries++
	side, id := l.in.Side, l.in.ID
	_, err := l.applyLocked(ctx, domain.Change{Side: side, ID: id, Source: domain.SourceRetry})
	return err
}

func (l *link) apply(ctx workflow.Context, ch domain.Change) (domain.Outcome, error) {
	if err := l.mu.Lock(ctx); err != nil {
		return domain.Outcome{}, err
	}
	defer l.mu.Unlock()
	return l.applyLocked(ctx, ch)
}

func (l *link) ensure(ctx workflow.Context, ch domain.Change) (domain.Outcome, error) {
	if err := l.mu.Lock(ctx); err != nil {
		return domain.Outcome{}, err
	}
	defer l.mu.Unlock()
	if l.state.CrmID != "" && l.state.ErpID != "" && l.state.State != domain.StatePending {
		return l.outcome(domain.ActionSeen), nil
	}
	ch.Source = domain.SourceDependency
	return l.applyLocked(ctx, ch)
}

func (l *link) outcome(action string) domain.Outcome {
	return domain.Outcome{
		Action: action, State: l.state.State, Reason: l.state.Reason,
		CrmID: l.state.CrmID, ErpID: l.state.ErpID, Forward: l.retireTo,
	}
}

// alreadySeen reports whether the change names a version this link has
// already synced, so it can be skipped without calling either API.
func (l *link) alreadySeen(ch domain.Change) bool {
	if ch.Deleted || ch.Version == "" || l.state.State != domain.StateOK {
		return false
	}
	switch ch.Side {
	case domain.WebCRM:
		return ch.ID == l.state.CrmID && ch.Version == l.state.CrmVersion
	default:
		return ch.ID == l.state.ErpID && ch.Version == l.state.ErpVersion
	}
}

func (l *link) applyLocked(ctx workflow.Context, ch domain.Change) (domain.Outcome, error) {
	if l.retireTo != "" {
		return l.outcome(domain.ActionForwarded), nil
	}
	if l.alreadySeen(ch) {
		return l.outcome(domain.ActionSeen), nil
	}
	// Apply is a regular activity: it may wait on the links of referenced
	// records and on rate-limited APIs, and the UI shows it while it is
	// pending. First contacts, the bulk of a backfill, are done by the poll
	// and backfill activities instead, so a link's own applies are few.
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		Summary:             fmt.Sprintf("apply %s change of %s record %s", ch.Source, ch.Side, ch.ID),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
			MaximumAttempts:    6,
		},
	})
	var res domain.ApplyResult
	err := workflow.ExecuteActivity(actx, ActivityApply, domain.ApplyInput{
		Pairing: l.in.Pairing, LinkID: l.id, State: l.state, Change: ch,
	}).Get(ctx, &res)
	l.lastSource, l.lastSide = ch.Source, ch.Side
	l.applies++
	if err != nil {
		if temporal.IsCanceledError(err) {
			return domain.Outcome{}, err
		}
		// The activity gave up: a permanent error (validation, not found)
		// waits for the next change or an operator; a transient one is
		// retried by the link's own timer, so nothing is dropped.
		prev := l.state
		l.state.State = domain.StateError
		l.state.Reason = errorReason(err)
		l.retryArmed = !isPermanent(err)
		l.state.UpdatedAt = workflow.Now(ctx)
		l.state.Entered(prev, l.state.UpdatedAt)
		l.lastAction = domain.ActionError
		l.logger.Warn("change not applied", "side", ch.Side, "id", ch.ID, "reason", l.state.Reason)
		l.publish(ctx)
		return l.outcome(domain.ActionError), nil
	}
	l.retryArmed = false
	if res.State.State != domain.StateBlocked {
		l.retries = 0
	}
	res.State.UpdatedAt = workflow.Now(ctx)
	res.State.Entered(l.state, res.State.UpdatedAt)
	l.state = res.State
	if res.Outcome.Forward != "" && res.Outcome.Forward != l.id {
		l.retireTo = res.Outcome.Forward
	}
	l.lastAction = res.Outcome.Action
	for _, c := range res.Conflicts {
		l.logger.Info("conflict decided", "field", c.Field, "winner", c.Winner, "rule", c.Rule)
	}
	l.publish(ctx)
	out := res.Outcome
	out.State, out.Reason = l.state.State, l.state.Reason
	out.CrmID, out.ErpID = l.state.CrmID, l.state.ErpID
	return out, nil
}

// becomeAlias turns this link into an index entry of the link named in
// retireTo, once no handler is running.
func (l *link) becomeAlias(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, LinkAliasWorkflow, AliasInput{
		Pairing: l.in.Pairing, Side: l.in.Side, ID: l.in.ID, Home: l.retireTo,
	})
}

// publish upserts the search attributes and the UI's current details.
func (l *link) publish(ctx workflow.Context) {
	updates := []temporal.SearchAttributeUpdate{
		PairingKey.ValueSet(l.in.Pairing),
		StateKey.ValueSet(l.state.State),
	}
	if l.state.CrmID != "" {
		updates = append(updates, CrmIDKey.ValueSet(l.state.CrmID))
	}
	if l.state.ErpID != "" {
		updates = append(updates, ErpIDKey.ValueSet(l.state.ErpID))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		l.logger.Warn("search attributes not updated", "error", err)
	}
	// The synced versions go in the memo, so a dispatcher can skip a change
	// this link has already seen with one Describe call, without waking it.
	seen := domain.LinkMemo{}
	if l.state.State == domain.StateOK {
		seen = domain.LinkMemo{CrmVersion: l.state.CrmVersion, ErpVersion: l.state.ErpVersion}
	}
	if seen != l.memo {
		if err := workflow.UpsertMemo(ctx, map[string]any{domain.MemoSeen: seen}); err != nil {
			l.logger.Warn("memo not updated", "error", err)
		}
		l.memo = seen
	}
	workflow.SetCurrentDetails(ctx, l.details())
}

func (l *link) details() string {
	crm, erp := l.state.CrmID, l.state.ErpID
	if crm == "" {
		crm = "—"
	}
	if erp == "" {
		erp = "—"
	}
	s := fmt.Sprintf("**%s** link: webCRM `%s` ⇄ ERP `%s`\n\nState: **%s**", l.in.Pairing, crm, erp, l.state.State)
	if l.state.Reason != "" {
		s += " — " + l.state.Reason
	}
	s += fmt.Sprintf("\n\nChanges applied: %d · writes: %d · conflicts: %d", l.state.Applied, l.state.Writes, l.state.Conflicts)
	if l.lastAction != "" {
		s += fmt.Sprintf("\n\nLast change: %s (%s, from %s)", l.lastAction, l.lastSource, l.lastSide)
	}
	if l.needsRetry() {
		s += fmt.Sprintf("\n\nRetrying by itself (attempt %d).", l.retries+1)
	}
	return s
}

// errorReason extracts a readable reason from an activity error.
func errorReason(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "timed out: " + timeoutErr.Error()
	}
	return err.Error()
}

// isPermanent reports whether an activity error will not go away by retrying.
func isPermanent(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

// AliasInput is the input of LinkAliasWorkflow.
type AliasInput struct {
	Pairing string      `json:"pairing"`
	Side    domain.Side `json:"side"`
	ID      string      `json:"id"`
	// Home is the workflow ID of the link that owns this record.
	Home string `json:"home"`
}

// LinkAliasWorkflow is the index entry of a record whose link lives under
// another workflow ID (the record on the side that was seen second). It
// rejects every change with an ErrTypeAlias error naming the home link, so a
// dispatcher that reached it sends the change there; it costs nothing while
// it waits and ends on SignalRetire.
func LinkAliasWorkflow(ctx workflow.Context, in AliasInput) error {
	if in.Home == "" {
		return temporal.NewNonRetryableApplicationError("alias input needs the home link ID", "InvalidInput", nil)
	}
	reject := func(workflow.Context, domain.Change) error {
		return temporal.NewApplicationError("record is linked by "+in.Home, ErrTypeAlias, in.Home)
	}
	forward := func(workflow.Context, domain.Change) (domain.Outcome, error) {
		return domain.Outcome{Action: domain.ActionForwarded, Forward: in.Home}, nil
	}
	for _, name := range []string{UpdateApply, UpdateEnsure} {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, name, forward, workflow.UpdateHandlerOptions{
			Validator:   reject,
			Description: "Rejected: changes of this record go to its home link.",
		}); err != nil {
			return err
		}
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryHome, func() (string, error) { return in.Home, nil },
		workflow.QueryHandlerOptions{Description: "The workflow ID of the link that owns this record."}); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("Index entry: %s record `%s` of **%s** is linked by `%s`.", in.Side, in.ID, in.Pairing, in.Home))
	retire := workflow.GetSignalChannel(ctx, SignalRetire)
	if err := workflow.Await(ctx, func() bool { return retire.Len() > 0 }); err != nil {
		return err
	}
	retire.ReceiveAsync(nil)
	return nil
}
