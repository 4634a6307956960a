package domain

import (
	"encoding/json"
	"time"
)

// Link states, as shown in the TandemState search attribute.
const (
	StatePending = "pending" // the link exists but has not applied a change yet
	StateOK      = "ok"      // both records agree (or the counterpart is deliberately absent; see Reason)
	StateError   = "error"   // the last change could not be applied; Reason says why
	StateBlocked = "blocked" // waiting for a referenced record to be linked; Reason says which
	StateDeleted = "deleted" // a record was deleted and the pairing's delete policy was applied
	// StatePending also holds a first contact that waits for an operator's
	// approval (mapping option review); its Reason says so and what it would do.
	StateRejected = "rejected" // an operator rejected the record's first contact: it is not synced
)

// Sources of a change, recorded on the link's timeline.
const (
	SourcePoll       = "poll"
	SourceHook       = "hook"
	SourceBackfill   = "backfill"
	SourceResync     = "resync"
	SourceDependency = "dependency"
	SourceRetry      = "retry"
	SourceReconcile  = "reconcile"
	SourceReview     = "review"
)

// Change tells a link that one of its records changed, was deleted or should
// be read again.
type Change struct {
	Side    Side   `json:"side"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted,omitempty"`
	// Version is the webCRM UpdatedAt (RFC 3339) or the ERP version of the
	// record as delivered, when known. A link that has already synced this
	// version skips the change without calling either API.
	Version string `json:"version,omitempty"`
	// Record is the record as the poll delivered it, when it did; the link
	// then reads only the counterpart.
	Record json.RawMessage `json:"record,omitempty"`
	Source string          `json:"source,omitempty"`
	// Review is an operator's decision on a first contact held for review:
	// ReviewApprove lets it match or create, ReviewReject leaves the record
	// unsynced. Empty for every other change.
	Review string `json:"review,omitempty"`
	// Choose is the counterpart an operator picked for a record whose merge
	// key several records share (with ReviewApprove).
	Choose string `json:"choose,omitempty"`
}

// Operator decisions on a first contact held for review.
const (
	ReviewApprove = "approve"
	ReviewReject  = "reject"
)

// Outcome is what a link did with one change; the dispatcher gets it back
// from the update.
type Outcome struct {
	Action    string `json:"action"`
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	CrmID     string `json:"crmId,omitempty"`
	ErpID     string `json:"erpId,omitempty"`
	Conflicts int    `json:"conflicts,omitempty"`
	// Forward is set when the change belongs to another link (this one is,
	// or has just become, an alias of it): the dispatcher sends it there.
	Forward string `json:"forward,omitempty"`
}

// Actions reported in Outcome.Action.
const (
	ActionCreatedWebCRM = "created-in-webcrm"
	ActionCreatedERP    = "created-in-erp"
	ActionMatched       = "matched"
	ActionUpdated       = "updated"
	ActionNoop          = "no-op"
	ActionSeen          = "already-seen"
	ActionDeleted       = "deleted"
	ActionBlocked       = "blocked"
	ActionError         = "error"
	ActionForwarded     = "forwarded"
	ActionSkipped       = "skipped"
	ActionHeld          = "held-for-review"
	ActionRejected      = "rejected"
)

// LinkState is the compact state of a link, carried through continue-as-new.
// It holds ids, versions, a hash and the last synced canonical record (a few
// hundred bytes), never the raw records.
type LinkState struct {
	CrmID      string          `json:"crmId,omitempty"`
	ErpID      string          `json:"erpId,omitempty"`
	Snapshot   json.RawMessage `json:"snapshot,omitempty"`
	Hash       string          `json:"hash,omitempty"`
	CrmVersion string          `json:"crmVersion,omitempty"`
	ErpVersion string          `json:"erpVersion,omitempty"`
	// CrmStored and ErpStored are canonical values of fields that side's server
	// stored differently from what tandem wrote (a name cut at its limit, a phone
	// number reformatted): that side holding them holds the snapshot's value.
	CrmStored json.RawMessage `json:"crmStored,omitempty"`
	ErpStored json.RawMessage `json:"erpStored,omitempty"`
	// Unread is the side tandem last wrote without reading the record back
	// (the read failed): its server's form of a value written is not known
	// yet, and the next merge takes such a form for the written value.
	Unread Side   `json:"unread,omitempty"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// BlockedOn names the link this one waits for, when State is blocked.
	BlockedOn string    `json:"blockedOn,omitempty"`
	Applied   int       `json:"applied,omitempty"`
	Writes    int       `json:"writes,omitempty"`
	Conflicts int       `json:"conflicts,omitempty"`
	UpdatedAt time.Time `json:"updatedAt,omitempty"`
	// Since is when the link entered its State: an error retried and failing
	// again keeps it, so an error's age is how long the link has been stuck.
	// Zero in states recorded before it existed.
	Since time.Time `json:"since,omitzero"`
}

// EnteredAt returns when the link entered its state: Since, or UpdatedAt for
// a state recorded before Since existed.
func (s LinkState) EnteredAt() time.Time {
	if !s.Since.IsZero() {
		return s.Since
	}
	return s.UpdatedAt
}

// Entered sets the state's Since for a state that follows prev at now: now
// when the state changed (or prev has no time), prev's time when it did not.
func (s *LinkState) Entered(prev LinkState, now time.Time) {
	s.Since = now
	if s.State == prev.State {
		if at := prev.EnteredAt(); !at.IsZero() {
			s.Since = at
		}
	}
}

// Positions are where a pairing reads each side from: the webCRM watermark
// and the ERP change-feed token. A zero field means "from the beginning" (or
// "nothing to hand over").
type Positions struct {
	WebCRMSince time.Time `json:"webcrmSince,omitzero"`
	ERPToken    string    `json:"erpToken,omitempty"`
}

// IsZero reports whether p names no position on either side.
func (p Positions) IsZero() bool { return p.WebCRMSince.IsZero() && p.ERPToken == "" }

// ApplyInput is the input of the Apply activity: one change for one link.
type ApplyInput struct {
	Pairing string    `json:"pairing"`
	LinkID  string    `json:"linkId"`
	State   LinkState `json:"state"`
	Change  Change    `json:"change"`
}

// ConflictNote records one conflict decision. It names the field and the
// rule, not the values, which stay out of search and logs.
type ConflictNote struct {
	Field  string `json:"field"`
	Winner Side   `json:"winner"`
	Rule   string `json:"rule"`
}

// ApplyResult is the result of the Apply activity.
type ApplyResult struct {
	State     LinkState      `json:"state"`
	Outcome   Outcome        `json:"outcome"`
	Conflicts []ConflictNote `json:"conflicts,omitempty"`
	Warnings  []string       `json:"warnings,omitempty"`
}

// SyncInput is the input of the SyncWebCRM and SyncERP activities: read the
// changes of one side since a watermark and dispatch each to its link.
type SyncInput struct {
	Pairing string `json:"pairing"`
	// Since is the webCRM watermark (SyncWebCRM).
	Since time.Time `json:"since,omitempty"`
	// Overlap is the window before Since that is read again, to catch
	// records committed late with an earlier UpdatedAt; ReadWindow says
	// whether this call reads it (the first call of a poll does).
	Overlap    time.Duration `json:"overlap,omitempty"`
	ReadWindow bool          `json:"readWindow,omitempty"`
	// Recent lists "id@version" of records already dispatched inside the
	// overlap window, so they are not dispatched again.
	Recent []string `json:"recent,omitempty"`
	// Token is the ERP change-feed token (SyncERP).
	Token string `json:"token,omitempty"`
	// AllowDeletes are ids of ERP records whose deletes an operator released
	// from the mass-delete guard (SyncERP): they pass it.
	AllowDeletes []string `json:"allowDeletes,omitempty"`
	// Limit bounds the records read in one call.
	Limit int `json:"limit,omitempty"`
	// Wait, when set, makes SyncERP a long poll: with nothing after Token,
	// the feed read waits up to Wait for a change to commit. Interval is the
	// least time such a read takes when the ERP adapter does not wait.
	Wait     time.Duration `json:"wait,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
}

// SyncResult is the result of SyncWebCRM and SyncERP.
type SyncResult struct {
	Next       time.Time `json:"next,omitempty"`
	NextToken  string    `json:"nextToken,omitempty"`
	Recent     []string  `json:"recent,omitempty"`
	Seen       int       `json:"seen"`
	Dispatched int       `json:"dispatched"`
	Skipped    int       `json:"skipped"`
	Failed     int       `json:"failed"`
	// FailedLinks names up to ten links whose change ended in error or blocked.
	FailedLinks []string `json:"failedLinks,omitempty"`
	// More is true when the call stopped at Limit and another call should follow.
	More bool `json:"more"`
}

// ID returns the link's record id on side s ("" when it has none yet).
func (st *LinkState) ID(s Side) string {
	if s == WebCRM {
		return st.CrmID
	}
	return st.ErpID
}

// SetID sets the link's record id on side s.
func (st *LinkState) SetID(s Side, id string) {
	if s == WebCRM {
		st.CrmID = id
	} else {
		st.ErpID = id
	}
}

// Version returns the version of side s's record the link last synced.
func (st *LinkState) Version(s Side) string {
	if s == WebCRM {
		return st.CrmVersion
	}
	return st.ErpVersion
}

// SetVersion records the version of side s's record the link synced.
func (st *LinkState) SetVersion(s Side, v string) {
	if s == WebCRM {
		st.CrmVersion = v
	} else {
		st.ErpVersion = v
	}
}

// Stored returns side s's stored-as values (see CrmStored), as JSON.
func (st *LinkState) Stored(s Side) json.RawMessage {
	if s == WebCRM {
		return st.CrmStored
	}
	return st.ErpStored
}

// SetStored sets side s's stored-as values (nil for none).
func (st *LinkState) SetStored(s Side, raw json.RawMessage) {
	if s == WebCRM {
		st.CrmStored = raw
	} else {
		st.ErpStored = raw
	}
}

// Sides lists the two sides, webCRM first.
func Sides() []Side { return []Side{WebCRM, ERP} }
