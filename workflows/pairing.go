package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tandemsync/tandem/domain"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the pairing workflow's handlers.
const (
	// SignalPoke makes the pairing poll now (the hooks endpoint sends it).
	SignalPoke = "poke"
	// SignalPause stops polling until SignalResume; its payload is the reason.
	SignalPause = "pause"
	// SignalResume resumes polling.
	SignalResume = "resume"
	// SignalAdvance hands the pairing the Positions a finished backfill
	// started from; the pairing moves its positions forward to them (see
	// pairing.advanceTo).
	SignalAdvance = "advance"
	// SignalReleaseDeletes lets the ERP deletes the mass-delete guard holds
	// through, exactly those; its payload is a DeleteRelease.
	SignalReleaseDeletes = "release-deletes"
	// QueryStatus returns the PairingStatus.
	QueryStatus = "status"
)

// DeleteRelease is the payload of SignalReleaseDeletes.
type DeleteRelease struct {
	// By names who releases the deletes; it stays in the pairing's history.
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	// Count is the number of held deletes the operator was shown; a release
	// whose count is not the number held is refused, so that deletes held
	// after the operator looked are not let through unseen. 0 skips the check.
	Count int `json:"count,omitempty"`
}

// ReleasedDeletes are held deletes an operator let through, kept until the
// poll that reads past them.
type ReleasedDeletes struct {
	domain.HeldDeletes
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Defaults of PairingInput.
const (
	DefaultPollInterval = 30 * time.Second
	DefaultOverlap      = 5 * time.Second
	// maxBatchesPerPoll bounds the batches one poll cycle reads per side, so
	// a large backlog still lets the loop check for signals and continue-as-new.
	maxBatchesPerPoll = 20
)

// ErrTypeMassDelete is the application error type of a poll stopped by the
// mass-delete guard; the pairing pauses itself with the reason.
const ErrTypeMassDelete = "MassDeleteGuard"

// PairingInput is the input of PairingWorkflow, and its state: it continues
// as new with the state it has reached. Start it from the Temporal UI with,
// for example, {"pairing": "organisations"}; the other fields are optional.
type PairingInput struct {
	// Pairing is the name of the pairing: organisations, persons, users,
	// products, opportunities or quotationlines.
	Pairing string `json:"pairing"`
	// PollIntervalSeconds is the time between polls (default 30).
	PollIntervalSeconds int `json:"pollIntervalSeconds,omitempty"`
	// ERPPollIntervalSeconds is the time between reads of the ERP change
	// feed when it is shorter than PollIntervalSeconds (default: the poll
	// interval, both sides read together). The ERP feed costs no webCRM
	// budget, so it can be read more often; webCRM is read every
	// PollIntervalSeconds (or at a poke) all the same.
	ERPPollIntervalSeconds int `json:"erpPollIntervalSeconds,omitempty"`
	// OverlapSeconds is how far before its watermark the webCRM query starts (default 5).
	OverlapSeconds int `json:"overlapSeconds,omitempty"`
	// BatchSize is the number of records read per activity call (default 500).
	BatchSize int `json:"batchSize,omitempty"`
	// Paused starts the pairing paused, with PauseReason.
	Paused      bool   `json:"paused,omitempty"`
	PauseReason string `json:"pauseReason,omitempty"`
	// WebCRMSince is where webCRM polling starts (RFC 3339; default: the
	// beginning, so the first poll sees every record).
	WebCRMSince time.Time `json:"webcrmSince,omitempty"`
	// ERPToken is where the ERP change feed starts (default: the beginning).
	ERPToken string `json:"erpToken,omitempty"`
	// NoERPLongPoll reads the ERP feed every ERPPollIntervalSeconds, as
	// before the long poll; by default, between webCRM polls the pairing
	// long-polls the feed (a read that waits for a change), which takes an
	// ERP edit across within a second and costs at most one request per
	// wait at rest. An adapter without long poll is read every
	// ERPPollIntervalSeconds all the same.
	NoERPLongPoll bool `json:"noErpLongPoll,omitempty"`
	// Carried through continue-as-new.
	Recent []string `json:"recent,omitempty"`
	// WindowSettled is the webCRM watermark whose overlap window has been
	// read late enough that no commit can still land in it (see
	// windowSettle); polls do not read it again while the watermark stays.
	WindowSettled time.Time       `json:"windowSettled,omitzero"`
	Totals        PairingCounters `json:"totals,omitempty"`
	// HeldDeletes, ReleasedDeletes and LastRelease carry the mass-delete
	// guard's state through continue-as-new: the deletes it holds, those an
	// operator released that a poll has not read past yet, and the last
	// release (what, by whom, when).
	HeldDeletes     *domain.HeldDeletes `json:"heldDeletes,omitempty"`
	ReleasedDeletes *ReleasedDeletes    `json:"releasedDeletes,omitempty"`
	LastRelease     *ReleasedDeletes    `json:"lastRelease,omitempty"`
}

// PairingCounters counts what a pairing has done since it started.
type PairingCounters struct {
	Polls      int `json:"polls"`
	Seen       int `json:"seen"`
	Dispatched int `json:"dispatched"`
	Failed     int `json:"failed"`
}

// PairingStatus is what QueryStatus returns.
type PairingStatus struct {
	Pairing         string          `json:"pairing"`
	Paused          bool            `json:"paused"`
	PauseReason     string          `json:"pauseReason,omitempty"`
	PollInterval    time.Duration   `json:"pollInterval"`
	ERPPollInterval time.Duration   `json:"erpPollInterval,omitempty"`
	WebCRMWatermark time.Time       `json:"webcrmWatermark"`
	ERPToken        string          `json:"erpToken"`
	LastPollAt      time.Time       `json:"lastPollAt"`
	LastError       string          `json:"lastError,omitempty"`
	FailedLinks     []string        `json:"failedLinks,omitempty"`
	Totals          PairingCounters `json:"totals"`
	// HeldDeletes are the deletes the mass-delete guard holds, while it does.
	HeldDeletes *domain.HeldDeletes `json:"heldDeletes,omitempty"`
	// LastRelease is the last release of held deletes: what, by whom, when.
	LastRelease *ReleasedDeletes `json:"lastRelease,omitempty"`
}

// PairingWorkflow polls one pairing's two sides and dispatches every change
// to its link. Watermarks advance only after the dispatch of what they cover
// is done. A poll starts every poll interval (or at a poke); it can be
// paused and resumed, and continues as new when the server suggests it.
func PairingWorkflow(ctx workflow.Context, in PairingInput) error {
	p := &pairing{}
	if err := p.setup(ctx, in); err != nil {
		return err
	}
	return p.run(ctx)
}

// pairing is one run of PairingWorkflow. Its state is st, the input it
// continues as new with: positions, pause, counters, the overlap window's
// keys and the mass-delete guard's deletes. last is what the latest polls
// reported, which the status shows and a new run starts without.
type pairing struct {
	st     PairingInput
	last   pollReport
	logger log.Logger
	// Signal channels.
	poke, pause, resume, advance, release workflow.ReceiveChannel
	// longPoll: the ERP feed is long-polled between webCRM polls.
	longPoll bool
}

// pollReport is what the latest polls of a pairing reported.
type pollReport struct {
	at time.Time // the end of the last complete poll
	// webcrm and erp describe the last read of each side ("" when it went
	// well); the status's LastError shows both.
	webcrm, erp string
	failed      []string // links whose change ended in error or blocked
}

func (p *pairing) setup(ctx workflow.Context, in PairingInput) error {
	if in.Pairing == "" {
		return temporal.NewNonRetryableApplicationError(`pairing input needs "pairing" (e.g. {"pairing": "organisations"})`, "InvalidInput", nil)
	}
	if in.PollIntervalSeconds <= 0 {
		in.PollIntervalSeconds = int(DefaultPollInterval / time.Second)
	}
	if in.OverlapSeconds <= 0 {
		in.OverlapSeconds = int(DefaultOverlap / time.Second)
	}
	if in.BatchSize <= 0 {
		in.BatchSize = domain.DefaultBatchSize
	}
	if in.ERPPollIntervalSeconds >= in.PollIntervalSeconds {
		in.ERPPollIntervalSeconds = 0 // read with webCRM
	}
	p.st = in
	p.logger = log.With(workflow.GetLogger(ctx), "pairing", in.Pairing)
	p.poke = workflow.GetSignalChannel(ctx, SignalPoke)
	p.pause = workflow.GetSignalChannel(ctx, SignalPause)
	p.resume = workflow.GetSignalChannel(ctx, SignalResume)
	p.advance = workflow.GetSignalChannel(ctx, SignalAdvance)
	p.release = workflow.GetSignalChannel(ctx, SignalReleaseDeletes)
	return workflow.SetQueryHandlerWithOptions(ctx, QueryStatus, func() (PairingStatus, error) {
		return p.status(), nil
	}, workflow.QueryHandlerOptions{Description: "Paused or running, watermarks, last poll, last error and counters."})
}

// status is what QueryStatus returns: the state and the last polls' report.
func (p *pairing) status() PairingStatus {
	return PairingStatus{
		Pairing:         p.st.Pairing,
		Paused:          p.st.Paused,
		PauseReason:     p.st.PauseReason,
		PollInterval:    p.pollInterval(),
		ERPPollInterval: time.Duration(p.st.ERPPollIntervalSeconds) * time.Second,
		WebCRMWatermark: p.st.WebCRMSince,
		ERPToken:        p.st.ERPToken,
		LastPollAt:      p.last.at,
		LastError:       joinErrors(p.last.webcrm, p.last.erp),
		FailedLinks:     p.last.failed,
		Totals:          p.st.Totals,
		HeldDeletes:     p.st.HeldDeletes,
		LastRelease:     p.st.LastRelease,
	}
}

func (p *pairing) pollInterval() time.Duration {
	return time.Duration(p.st.PollIntervalSeconds) * time.Second
}

func (p *pairing) run(ctx workflow.Context) error {
	p.startFromBackfill(ctx)
	// webcrmDue is when webCRM is read next; in between, when the ERP feed
	// has an interval of its own, polls read the ERP feed only (or the wait
	// long-polls it).
	var webcrmDue time.Time
	full := true
	erpEvery := time.Duration(p.st.ERPPollIntervalSeconds) * time.Second
	if erpEvery > 0 && !p.st.NoERPLongPoll {
		p.longPoll = workflow.GetVersion(ctx, versionERPLongPoll, workflow.DefaultVersion, 1) >= 1
	}
	for {
		p.drainSignals(ctx)
		// Polls start every interval, however long a poll takes (at least
		// minPollGap apart), so a change waits at most one interval before
		// a poll reads it.
		began := workflow.Now(ctx)
		full = full || !began.Before(webcrmDue)
		if !p.st.Paused {
			p.pollOnce(ctx, full)
		}
		if full {
			webcrmDue = began.Add(p.pollInterval())
		}
		p.publish(ctx)
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return p.continueAsNew(ctx)
		}
		next := webcrmDue
		if erpEvery > 0 && !p.longPoll {
			next = minTime(next, began.Add(erpEvery))
		}
		byTimer, err := p.wait(ctx, max(next.Sub(workflow.Now(ctx)), minPollGap))
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// A poke, a resume (any wake but the timer) reads both sides.
		full = !byTimer
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// pollHeartbeatTimeout is the poll activities' heartbeat timeout: how soon
// Temporal retries a poll whose worker died. The activities heartbeat every
// few seconds while they run, whatever they wait for.
const pollHeartbeatTimeout = 20 * time.Second

// windowSettle is how long after a watermark plus its overlap the window
// before it is read one last time: the margin for the difference between
// webCRM's clock and Temporal's.
const windowSettle = 5 * time.Second

// minPollGap is the least time between the end of a poll and the start of
// the next, so a pairing whose polls take longer than its interval still
// lets signals and the server breathe.
const minPollGap = time.Second

// wait blocks until d has passed (while running) or a signal arrives, and
// reports whether it was the timer that ended it. A signal other than advance
// ends the wait.
func (p *pairing) wait(ctx workflow.Context, d time.Duration) (byTimer bool, err error) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	woke := false
	if !p.st.Paused {
		timer := workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: "wait for the next poll"})
		sel.AddFuture(timer, func(workflow.Future) { woke, byTimer = true, true })
	}
	for _, ch := range p.signals() {
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
			if p.receive(ctx, c) {
				woke = true
			}
		})
	}
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { woke = true })
	// The ERP long poll runs while the wait lasts, one read after another;
	// the timer and every signal end the wait without waiting for it, and
	// leaving the wait cancels it (tctx).
	erpReads := 0
	var readERP func()
	readERP = func() {
		began := workflow.Now(ctx)
		fut := p.startERPLongPoll(tctx)
		sel.AddFuture(fut, func(f workflow.Future) {
			erpReads++
			var res domain.SyncResult
			ok := p.finishERPRead(ctx, f.Get(ctx, &res), res)
			p.publish(ctx)
			switch {
			case workflow.GetInfo(ctx).GetContinueAsNewSuggested():
				woke, byTimer = true, true
			case !ok || p.st.Paused:
				// A failed read (its activity has retried) or the guard's
				// pause: the next poll reads the feed again after the gap.
				woke, byTimer = true, true
			case res.Seen == 0 && workflow.Now(ctx).Sub(began) < p.erpEvery():
				// Answered at once with nothing: no long poll behind it.
				// Keep the interval rather than spin.
				gap := workflow.NewTimerWithOptions(tctx, p.erpEvery()-workflow.Now(ctx).Sub(began),
					workflow.TimerOptions{Summary: "the ERP adapter does not long-poll: wait for the next read"})
				sel.AddFuture(gap, func(workflow.Future) { readERP() })
			default:
				readERP()
			}
		})
	}
	if p.longPoll && !p.st.Paused {
		readERP()
	}
	for !woke {
		sel.Select(ctx)
	}
	return byTimer, ctx.Err()
}

// versionERPLongPoll is the change ID of the ERP feed's long poll between
// webCRM polls.
const versionERPLongPoll = "erp-long-poll"

// erpLongPollWait is how long one long poll of the ERP feed waits for a
// change: shorter than the poll activities' heartbeat timeout (they heartbeat
// while they wait), and at rest one request per wait, fewer than the interval
// read's one per ERP poll interval.
const erpLongPollWait = 15 * time.Second

func (p *pairing) erpEvery() time.Duration {
	return time.Duration(p.st.ERPPollIntervalSeconds) * time.Second
}

// startERPLongPoll starts one long-poll read of the ERP feed from the token.
func (p *pairing) startERPLongPoll(ctx workflow.Context) workflow.Future {
	actx := workflow.WithTaskQueue(pollOptions(ctx), TaskQueue)
	opts := withSummary(actx, "wait for ERP changes after "+tokenLabel(p.st.ERPToken))
	opts.StartToCloseTimeout = erpLongPollWait + 15*time.Minute
	in := domain.SyncInput{Pairing: p.st.Pairing, Token: p.st.ERPToken, Limit: p.st.BatchSize,
		Wait: erpLongPollWait, Interval: p.erpEvery()}
	if released := p.st.ReleasedDeletes; released != nil && released.Token == in.Token {
		in.AllowDeletes = released.IDs
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(actx, opts), ActivitySyncERP, in)
}

// finishERPRead applies the result of an ERP feed read from the token: the
// counters, the token, a spent release; or the failure. It reports whether
// the read went well.
func (p *pairing) finishERPRead(ctx workflow.Context, err error, res domain.SyncResult) bool {
	if err != nil {
		p.last.erp = p.fail("ERP", err)
		return false
	}
	p.last.erp = ""
	p.count(res)
	if released := p.st.ReleasedDeletes; released != nil && released.Token == p.st.ERPToken {
		p.st.ReleasedDeletes = nil // read past: the release is spent
	}
	if res.NextToken != "" {
		p.st.ERPToken = res.NextToken
	}
	return true
}

// signals lists the pairing's signal channels, in the order they are drained.
func (p *pairing) signals() []workflow.ReceiveChannel {
	return []workflow.ReceiveChannel{p.poke, p.pause, p.resume, p.advance, p.release}
}

// receive takes one signal from c, which has one waiting, and applies it. It
// reports whether the signal asks for a poll now (all but advance do). Both
// the wait between polls and the drain before each poll apply signals here.
func (p *pairing) receive(ctx workflow.Context, c workflow.ReceiveChannel) bool {
	switch c {
	case p.pause:
		var reason string
		c.Receive(ctx, &reason)
		p.setPaused(reason)
	case p.resume:
		c.Receive(ctx, nil)
		p.st.Paused, p.st.PauseReason = false, ""
	case p.advance:
		var to domain.Positions
		c.Receive(ctx, &to)
		p.advanceTo(to)
		return false
	case p.release:
		var rel DeleteRelease
		c.Receive(ctx, &rel)
		p.releaseDeletes(ctx, rel)
	default: // poke
		c.Receive(ctx, nil)
	}
	return true
}

func (p *pairing) setPaused(reason string) {
	if reason == "" {
		reason = "paused by an operator"
	}
	p.st.Paused, p.st.PauseReason = true, reason
}

// drainSignals applies every buffered signal without blocking.
func (p *pairing) drainSignals(ctx workflow.Context) {
	for _, c := range p.signals() {
		for c.Len() > 0 {
			p.receive(ctx, c)
		}
	}
}

// releaseDeletes lets the deletes the guard holds through: the next read of
// the ERP feed from their batch's token passes exactly those, and the pairing
// runs again. A release when none are held, or of another number than are
// held, changes nothing.
func (p *pairing) releaseDeletes(ctx workflow.Context, rel DeleteRelease) {
	held := p.st.HeldDeletes
	switch {
	case held == nil:
		p.logger.Warn("release of held deletes ignored: the mass-delete guard holds none", "by", rel.By)
		return
	case rel.Count != 0 && rel.Count != len(held.IDs):
		p.logger.Warn("release of held deletes refused: the guard holds another number than the release names",
			"by", rel.By, "released", rel.Count, "held", len(held.IDs))
		return
	}
	r := &ReleasedDeletes{HeldDeletes: *held, By: rel.By, Reason: rel.Reason, At: workflow.Now(ctx)}
	p.logger.Info("mass-delete guard released", "by", rel.By, "deletes", len(held.IDs), "token", held.Token, "reason", rel.Reason)
	p.st.HeldDeletes, p.st.ReleasedDeletes, p.st.LastRelease = nil, r, r
	if strings.HasPrefix(p.st.PauseReason, massDeletePause) {
		p.st.Paused, p.st.PauseReason = false, ""
	}
}

// massDeletePause starts the pause reason of a pairing the guard stopped.
const massDeletePause = "mass-delete guard: "

// versionStartFromBackfill is the change ID of the start-position look-up.
const versionStartFromBackfill = "start-from-backfill"

// startFromBackfill gives a pairing that has never polled the positions its
// last completed backfills handed over, for each side its input leaves at the
// beginning, so its first polls do not read again every record a backfill
// has just visited. When the look-up fails the pairing reads from where its
// input says: slower, never wrong.
func (p *pairing) startFromBackfill(ctx workflow.Context) {
	if p.st.Totals.Polls > 0 || (!p.st.WebCRMSince.IsZero() && p.st.ERPToken != "") {
		return
	}
	if workflow.GetVersion(ctx, versionStartFromBackfill, workflow.DefaultVersion, 1) < 1 {
		return
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		Summary:             "find the positions a finished backfill handed over",
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	var from domain.Positions
	if err := workflow.ExecuteActivity(actx, ActivityStartPositions, p.st.Pairing).Get(ctx, &from); err != nil {
		p.logger.Warn("could not look up a backfill's positions; reading from the input's", "error", err)
		return
	}
	if p.st.WebCRMSince.IsZero() {
		p.st.WebCRMSince = from.WebCRMSince
	}
	if p.st.ERPToken == "" {
		p.st.ERPToken = from.ERPToken
	}
}

// advanceTo moves the positions forward to a finished backfill's. The webCRM
// watermark takes the later of the two: webCRM reports no deletes, and the
// backfill visited every record changed before its mark. The ERP token,
// which the pairing cannot compare, is taken only while the pairing has none:
// the feed also carries deletes, which a backfill does not visit.
func (p *pairing) advanceTo(to domain.Positions) {
	if to.WebCRMSince.After(p.st.WebCRMSince) {
		p.logger.Info("webCRM watermark advanced to a backfill's mark", "from", p.st.WebCRMSince, "to", to.WebCRMSince)
		p.st.WebCRMSince = to.WebCRMSince
	}
	if p.st.ERPToken == "" && to.ERPToken != "" {
		p.logger.Info("ERP feed token set to a backfill's mark", "to", to.ERPToken)
		p.st.ERPToken = to.ERPToken
	}
}

// pollOptions are the poll activities' options: on the webCRM task queue
// (the ERP poll moves to the main one), with a short heartbeat timeout and a
// few attempts; a failed poll leaves its position where it was, so the next
// poll covers the same changes again.
func pollOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           WebCRMTaskQueue,
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    pollHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{ErrTypeMassDelete},
		},
	})
}

// pollOnce reads and dispatches the changes of both sides, or of the ERP
// feed only when full is false.
func (p *pairing) pollOnce(ctx workflow.Context, full bool) {
	// The report's errors describe the last finished read of each side, so
	// a pairing whose polls keep failing shows why while the next one runs.
	p.last.erp = ""
	if full {
		p.last.webcrm, p.last.failed = "", nil
	}
	actx := pollOptions(ctx)
	if full {
		p.pollWebCRM(ctx, actx)
	}
	if p.st.Paused {
		// The guard paused the pairing: read nothing more until an operator resumes it.
		return
	}
	p.pollERP(ctx, workflow.WithTaskQueue(actx, TaskQueue))
	// Polls and the report's time count complete polls only: a poll that
	// failed on either side, or read the ERP feed only, has not seen every
	// change, and whoever waits for "two more polls" (an operator, a test for
	// quiescence) must not be misled.
	if full && p.last.webcrm == "" && p.last.erp == "" {
		p.st.Totals.Polls++
		p.last.at = workflow.Now(ctx)
	}
}

// pollWebCRM reads webCRM's changes since the watermark, a batch at a time,
// and moves the watermark on after each batch is dispatched.
func (p *pairing) pollWebCRM(ctx, actx workflow.Context) {
	overlap := time.Duration(p.st.OverlapSeconds) * time.Second
	began := workflow.Now(ctx)
	for i := 0; i < maxBatchesPerPoll; i++ {
		since := p.st.WebCRMSince
		in := domain.SyncInput{
			Pairing: p.st.Pairing, Since: since, Recent: p.st.Recent, Limit: p.st.BatchSize,
			Overlap: overlap,
			// The overlap window is read once per poll, not per batch, and
			// not at all once it has settled.
			ReadWindow: i == 0 && !since.Equal(p.st.WindowSettled),
		}
		var res domain.SyncResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(actx, withSummary(actx, fmt.Sprintf("poll webCRM changes since %s", in.Since.Format(time.RFC3339)))),
			ActivitySyncWebCRM, in).Get(ctx, &res)
		if err != nil {
			p.last.webcrm = p.fail("webCRM", err)
			return
		}
		p.count(res)
		if in.ReadWindow && began.Sub(since) >= overlap+windowSettle {
			// Read at least windowSettle past the overlap after its
			// watermark: a transaction that started in the window has
			// committed by now. A burst of records written within the
			// window (a bulk import) is read once, not every poll.
			p.st.WindowSettled = since
		}
		if !res.Next.IsZero() {
			p.st.WebCRMSince = res.Next
		}
		p.st.Recent = res.Recent
		if !res.More {
			return
		}
	}
}

// pollERP reads the ERP change feed from the token, a batch at a time, and
// moves the token on after each batch is dispatched. The batch whose deletes
// an operator released passes them.
func (p *pairing) pollERP(ctx, actx workflow.Context) {
	for i := 0; i < maxBatchesPerPoll; i++ {
		in := domain.SyncInput{Pairing: p.st.Pairing, Token: p.st.ERPToken, Limit: p.st.BatchSize}
		if released := p.st.ReleasedDeletes; released != nil && released.Token == in.Token {
			in.AllowDeletes = released.IDs
		}
		var res domain.SyncResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(actx, withSummary(actx, "read the ERP change feed from "+tokenLabel(in.Token))),
			ActivitySyncERP, in).Get(ctx, &res)
		if err != nil {
			p.last.erp = p.fail("ERP", err)
			return
		}
		p.count(res)
		if len(in.AllowDeletes) > 0 {
			p.st.ReleasedDeletes = nil // read past: the release is spent
		}
		if res.NextToken != "" {
			p.st.ERPToken = res.NextToken
		}
		if !res.More {
			return
		}
	}
}

func withSummary(ctx workflow.Context, summary string) workflow.ActivityOptions {
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = summary
	return opts
}

func tokenLabel(token string) string {
	if token == "" {
		return "the beginning"
	}
	return "token " + token
}

func (p *pairing) count(res domain.SyncResult) {
	p.st.Totals.Seen += res.Seen
	p.st.Totals.Dispatched += res.Dispatched
	p.st.Totals.Failed += res.Failed
	p.last.failed = append(p.last.failed, res.FailedLinks...)
	if len(p.last.failed) > 10 {
		p.last.failed = p.last.failed[len(p.last.failed)-10:]
	}
}

// fail records a failed read of side and returns its description; the
// mass-delete guard pauses the pairing and holds the deletes it stopped.
func (p *pairing) fail(side string, err error) string {
	p.logger.Warn("poll failed", "side", side, "error", err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeMassDelete {
		p.setPaused(massDeletePause + appErr.Message())
		var held domain.HeldDeletes
		if appErr.HasDetails() && appErr.Details(&held) == nil {
			p.st.HeldDeletes = &held
		}
	}
	return fmt.Sprintf("%s poll failed: %s", side, errorReason(err))
}

func joinErrors(a, b string) string {
	if a != "" && b != "" {
		return a + "; " + b
	}
	return a + b
}

func (p *pairing) publish(ctx workflow.Context) {
	s := p.status()
	state := "running"
	if s.Paused {
		state = "paused (" + s.PauseReason + ")"
	}
	details := fmt.Sprintf("**%s** pairing: %s\n\nwebCRM watermark: %s · ERP feed token: %s\n\nPolls: %d · changes seen: %d · dispatched: %d · failed: %d",
		s.Pairing, state, s.WebCRMWatermark.Format(time.RFC3339), tokenLabel(s.ERPToken),
		s.Totals.Polls, s.Totals.Seen, s.Totals.Dispatched, s.Totals.Failed)
	if s.LastError != "" {
		details += "\n\nLast error: " + s.LastError
	}
	if h := s.HeldDeletes; h != nil {
		details += fmt.Sprintf("\n\nThe mass-delete guard holds %d ERP deletes (feed token %s); `starter resume --allow-deletes %s` lets exactly those through.", len(h.IDs), h.Token, s.Pairing)
	}
	if r := s.LastRelease; r != nil {
		details += fmt.Sprintf("\n\nLast release of held deletes: %d by %s at %s.", len(r.IDs), r.By, r.At.Format(time.RFC3339))
	}
	workflow.SetCurrentDetails(ctx, details)
}

func (p *pairing) continueAsNew(ctx workflow.Context) error {
	p.drainSignals(ctx)
	return workflow.NewContinueAsNewError(ctx, PairingWorkflow, p.st)
}
