package workflows

import (
	"fmt"
	"time"

	"github.com/tandemsync/tandem/domain"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// QueryProgress returns a backfill's BackfillProgress.
const QueryProgress = "progress"

// Backfill sides.
const (
	BackfillWebCRM = "webcrm"
	BackfillERP    = "erp"
	BackfillBoth   = "both"
)

// BackfillInput is the input of BackfillWorkflow. Start it from the Temporal
// UI with, for example, {"pairing": "organisations", "side": "webcrm"}.
type BackfillInput struct {
	// Pairing is the pairing to backfill.
	Pairing string `json:"pairing"`
	// Side is webcrm, erp or both (default both: webCRM first).
	Side string `json:"side,omitempty"`
	// Since limits the webCRM side to records updated at or after it (RFC 3339).
	Since time.Time `json:"since,omitempty"`
	// PageSize is the number of records read per page (default 1000, the most
	// one webCRM /Queries page or one CustomERP list page holds).
	PageSize int `json:"pageSize,omitempty"`
	// Concurrency is the number of records dispatched at once (default 64).
	Concurrency int `json:"concurrency,omitempty"`
	// CountWebCRM counts the webCRM side before reading it, for a total in
	// the progress. webCRM has no count: it costs one request per 1,000
	// records, as many as reading them, so by default that side is not
	// counted and the total is unknown (-1) while and after it is read.
	CountWebCRM bool `json:"countWebcrm,omitempty"`
	// Progress is carried through continue-as-new; leave it out when starting.
	Progress *BackfillProgress `json:"progress,omitempty"`
}

// BackfillProgress is what QueryProgress returns.
type BackfillProgress struct {
	// Phase is the side being read (webcrm or erp), or "done".
	Phase string `json:"phase"`
	// Cursor is where the next page of the current phase starts.
	Cursor string `json:"cursor,omitempty"`
	// Total is the number of records to visit, counted when a phase starts;
	// -1 when a side was not counted (see BackfillInput.CountWebCRM).
	Total int `json:"total"`
	// Uncounted is set once a side was read without a count: Total stays -1.
	Uncounted bool `json:"uncounted,omitempty"`
	// Done counts records dispatched so far, Failed those that ended in error or blocked.
	Done      int            `json:"done"`
	Failed    int            `json:"failed"`
	Actions   map[string]int `json:"actions,omitempty"`
	StartedAt time.Time      `json:"startedAt"`
	Pages     int            `json:"pages"`
	// From is where the pairing can start reading once this backfill is
	// done: for each side read in full, its newest change (webCRM) or the
	// head of its change feed (ERP) when that side's phase began. Every
	// record changed before then has been visited, so a pairing that starts
	// (or is) behind it skips re-reading them. Zero for a side not read, or
	// read with Since.
	From domain.Positions `json:"from,omitzero"`
}

// BackfillWorkflow pages through one side of a pairing, or both, and
// dispatches every record to its link like the poller does, in bounded
// windows. Running it twice is harmless: links skip what they have synced.
// It is resumable (continue-as-new carries the cursor) and reports progress
// through QueryProgress. When it is done it hands the pairing the positions
// it started from (BackfillProgress.From), by signal when the pairing runs
// and through StartPositions when the pairing starts later, so the pairing
// does not read again every record the backfill has just visited.
func BackfillWorkflow(ctx workflow.Context, in BackfillInput) (BackfillProgress, error) {
	if in.Pairing == "" {
		return BackfillProgress{}, temporal.NewNonRetryableApplicationError(`backfill input needs "pairing"`, "InvalidInput", nil)
	}
	phases, err := backfillPhases(in.Side)
	if err != nil {
		return BackfillProgress{}, err
	}
	if in.Concurrency <= 0 {
		in.Concurrency = 64
	}
	// Backfills started before the hand-over existed neither mark nor signal.
	handOver := workflow.GetVersion(ctx, versionBackfillHandOver, workflow.DefaultVersion, 1) >= 1
	if in.PageSize <= 0 {
		// Backfills started before it read pages of 500: one webCRM request
		// per 1,000 records is half the budget.
		in.PageSize = 500
		if workflow.GetVersion(ctx, versionBackfillFullPages, workflow.DefaultVersion, 1) >= 1 {
			in.PageSize = backfillPageSize
		}
	}
	// Backfills started before it counted the webCRM side always.
	optionalCount := workflow.GetVersion(ctx, versionBackfillOptionalCount, workflow.DefaultVersion, 1) >= 1
	progress := BackfillProgress{Phase: phases[0], StartedAt: workflow.Now(ctx), Total: -1}
	if in.Progress != nil {
		progress = *in.Progress
	}
	if err := workflow.SetQueryHandlerWithOptions(ctx, QueryProgress, func() (BackfillProgress, error) {
		return progress, nil
	}, workflow.QueryHandlerOptions{Description: "Phase, records done of total, failures and actions so far."}); err != nil {
		return progress, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           WebCRMTaskQueue,
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumInterval: time.Minute},
	})
	for progress.Phase != "done" {
		side := progress.Phase
		qctx := actx
		if side == BackfillERP {
			qctx = workflow.WithTaskQueue(actx, TaskQueue)
		}
		phaseStart := progress.Total < 0 || (progress.Cursor == "" && progress.Pages == 0)
		if optionalCount {
			// A total of -1 is also an uncounted side's, met again after a
			// continue-as-new.
			phaseStart = progress.Cursor == "" && progress.Pages == 0
		}
		if phaseStart {
			if handOver {
				if err := markPhase(ctx, qctx, in, side, &progress.From); err != nil {
					return progress, err
				}
			}
			if optionalCount && side == BackfillWebCRM && !in.CountWebCRM {
				progress.Total, progress.Uncounted = -1, true
			} else {
				var n int
				if err := workflow.ExecuteActivity(workflow.WithActivityOptions(qctx, withSummary(qctx, "count "+side+" records")),
					ActivityBackfillCount, domain.BackfillCountInput{Pairing: in.Pairing, Side: domain.Side(side), Since: in.Since}).Get(ctx, &n); err != nil {
					return progress, err
				}
				if !progress.Uncounted {
					progress.Total = max(progress.Total, 0) + n
				}
			}
		}
		for {
			var page domain.BackfillPageResult
			summary := fmt.Sprintf("backfill %s page %d", side, progress.Pages+1)
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(qctx, withSummary(qctx, summary)), ActivityBackfillPage, domain.BackfillPageInput{
				Pairing: in.Pairing, Side: domain.Side(side), Cursor: progress.Cursor, Since: in.Since,
				PageSize: in.PageSize, Concurrency: in.Concurrency,
			}).Get(ctx, &page)
			if err != nil {
				return progress, err
			}
			progress.Pages++
			progress.Done += page.Seen
			progress.Failed += page.Failed
			progress.Cursor = page.Next
			progress.Actions = addCounts(progress.Actions, page.Actions)
			workflow.SetCurrentDetails(ctx, fmt.Sprintf("Backfill of **%s** (%s): %d of %d records, %d failed, %d pages",
				in.Pairing, side, progress.Done, progress.Total, progress.Failed, progress.Pages))
			if page.Last {
				break
			}
			if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
				next := in
				p := progress
				next.Progress = &p
				return progress, workflow.NewContinueAsNewError(ctx, BackfillWorkflow, next)
			}
		}
		progress.Phase = nextPhase(phases, side)
		progress.Cursor = ""
		progress.Pages = 0
	}
	if handOver && !progress.From.IsZero() {
		handOverTo(ctx, in.Pairing, progress.From)
	}
	return progress, nil
}

// versionBackfillHandOver is the change ID of the backfill's position hand-over.
const versionBackfillHandOver = "backfill-hand-over"

// versionBackfillFullPages is the change ID of the default page size of
// backfillPageSize.
const versionBackfillFullPages = "backfill-full-pages"

// versionBackfillOptionalCount is the change ID of BackfillInput.CountWebCRM:
// the webCRM side is counted only when asked.
const versionBackfillOptionalCount = "backfill-optional-count"

// backfillPageSize is a backfill's default page size: the most records one
// webCRM /Queries page (and one CustomERP list page) holds.
const backfillPageSize = 1000

// markPhase records where the pairing may read side from once this phase is
// done. A webCRM side read with Since is not read in full and hands nothing.
func markPhase(ctx, qctx workflow.Context, in BackfillInput, side string, from *domain.Positions) error {
	if side == BackfillWebCRM && !in.Since.IsZero() {
		return nil
	}
	var mark domain.Positions
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(qctx, withSummary(qctx, "mark where "+side+" stands before reading it")),
		ActivityBackfillMark, domain.BackfillCountInput{Pairing: in.Pairing, Side: domain.Side(side)}).Get(ctx, &mark)
	if err != nil {
		return err
	}
	switch side {
	case BackfillWebCRM:
		from.WebCRMSince = mark.WebCRMSince
	case BackfillERP:
		from.ERPToken = mark.ERPToken
	}
	return nil
}

// handOverTo signals the positions to the pairing. A pairing that does not
// run picks them up when it starts (StartPositions), so a failed signal is
// only logged.
func handOverTo(ctx workflow.Context, pairing string, from domain.Positions) {
	err := workflow.SignalExternalWorkflow(ctx, PairingWorkflowID(pairing), "", SignalAdvance, from).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Info("pairing not running; it takes the backfill's positions when it starts",
			"pairing", pairing, "error", err)
	}
}

func backfillPhases(side string) ([]string, error) {
	switch side {
	case "", BackfillBoth:
		return []string{BackfillWebCRM, BackfillERP}, nil
	case BackfillWebCRM, BackfillERP:
		return []string{side}, nil
	}
	return nil, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("backfill side %q is not one of webcrm, erp, both", side), "InvalidInput", nil)
}

func nextPhase(phases []string, current string) string {
	for i, p := range phases {
		if p == current && i+1 < len(phases) {
			return phases[i+1]
		}
	}
	return "done"
}

// addCounts adds b's counts to a, visiting keys in sorted order.
func addCounts(a, b map[string]int) map[string]int {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = make(map[string]int, len(b))
	}
	for _, k := range workflow.DeterministicKeys(b) {
		a[k] += b[k]
	}
	return a
}

// ReconcileWorkflow finds the linked records that disappeared, from webCRM
// (which has no tombstones and no deletes in its API) and from the ERP (whose
// tombstone a pairing started from a backfill's position never read), and
// hands each to its link, which applies the pairing's delete policy. More
// than MaxDeleteShare missing stops the run (the mass-delete guard) and
// reports it. Run it on a Temporal Schedule.
func ReconcileWorkflow(ctx workflow.Context, in domain.ReconcileInput) (domain.ReconcileResult, error) {
	if in.Pairing == "" {
		return domain.ReconcileResult{}, temporal.NewNonRetryableApplicationError(`reconcile input needs "pairing"`, "InvalidInput", nil)
	}
	if in.MaxDeleteShare <= 0 {
		in.MaxDeleteShare = 0.1
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           WebCRMTaskQueue,
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    2 * time.Minute,
		Summary:             "list ids on both sides and hand missing records to their links",
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var res domain.ReconcileResult
	err := workflow.ExecuteActivity(actx, ActivityReconcile, in).Get(ctx, &res)
	if err == nil {
		summary := fmt.Sprintf("Reconciled **%s**: %d links, %d missing records, %d dispatched", in.Pairing, res.Links, res.Missing, res.Dispatched)
		if res.Guarded {
			summary += "\n\nStopped by the mass-delete guard: " + res.Reason
		}
		workflow.SetCurrentDetails(ctx, summary)
	}
	return res, err
}
