package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tandemsync/tandem/domain"
)

// Record is one side's record as the engine sees it.
type Record struct {
	// Fields are the record's properties as the system's API has them.
	Fields map[string]any
	// Version is the webCRM UpdatedAt (RFC 3339) or the ERP version; "" when
	// unknown.
	Version string
	// UpdatedAt is when the record last changed, for the "newest wins" rule.
	UpdatedAt time.Time
	// Gone marks a record that no longer exists (a tombstone, a 404).
	Gone bool
	// Delivered marks a record that came with the change, or from a read of
	// many, rather than from a read of it just now: a write must not be based
	// on it.
	Delivered bool
	// ReadBack marks a record read from the server after tandem wrote it: it
	// says what the server stored.
	ReadBack bool
}

// A Store reads and writes one pairing's records on one side. Its errors are
// the clients' errors; the engine's Classify tells them apart.
type Store interface {
	// Label names the records in messages: "webCRM Organisations".
	Label() string
	// Get reads a record; a record that does not exist is Gone, not an error.
	Get(ctx context.Context, id string) (Record, error)
	// Decode reads a record a change delivered (Delivered is set).
	Decode(raw json.RawMessage) (Record, error)
	// Find returns the ids of the records whose property equals value.
	Find(ctx context.Context, property, value string) ([]string, error)
	// Create creates a record carrying the correlation token and returns its
	// id and the record as stored (ReadBack when the store read it back).
	// Retried, it finds the record an earlier attempt created by the token.
	Create(ctx context.Context, body map[string]any, token string) (id string, rec Record, err error)
	// Update writes changes on top of current (a record read just now, or
	// nothing: the store reads it) and returns the record as stored.
	Update(ctx context.Context, id string, current Record, changes map[string]any) (Record, error)
	// Remove deletes a record; one already gone is no error.
	Remove(ctx context.Context, id string) error
	// Token returns the correlation token (a home link's id) a record
	// tandem created carries, or "".
	Token(fields map[string]any) string
	// CarriesToken reports whether records the engine creates here carry
	// their link's token, which leads a change of them to the link without an
	// index entry of their own.
	CarriesToken() bool
}

// A BatchStore creates many records of a side in one request (webCRM's bulk
// PATCH). Creates on a side whose store is one are gathered and written in
// batches.
type BatchStore interface {
	Store
	// MaxBatch is the most records one CreateBatch takes.
	MaxBatch() int
	// CreateBatch creates the records, keyed by their correlation tokens, and
	// returns the records that carry each token afterwards, as stored
	// (created now or by an earlier attempt). A token it does not return was
	// not created; rejected says why when the batch was refused as a whole.
	// An error means nothing is known of what it did: it must be called
	// again, not replaced by creates of another kind. unseen says that a
	// read of the side begun after every earlier attempt ended found no
	// record carrying any of the tokens, so the store need not look them up
	// before it writes.
	CreateBatch(ctx context.Context, bodies map[string]map[string]any, unseen bool) (created map[string]CreatedRecord, rejected string, err error)
	// GetMany reads records by id in as few requests as it can; ids that do
	// not exist are absent. The records are Delivered.
	GetMany(ctx context.Context, ids []string) (map[string]Record, error)
}

// CreatedRecord is one record a batch create made, with its new id.
type CreatedRecord struct {
	ID     string
	Record Record
}

// An IndexFeed reads the merge values of one side's records, for the
// normalised merge index: all of them from the cursor "", and those changed
// since a cursor it returned before.
type IndexFeed interface {
	// ReadIndex calls put with every record read and returns the cursor to
	// read on from.
	ReadIndex(ctx context.Context, path, cursor string, put func(IndexEntry)) (next string, err error)
}

// IndexEntry is one record an IndexFeed read.
type IndexEntry struct {
	ID string
	// Value is the record's value of the indexed property (nil when it has
	// none).
	Value any
	// Token is the correlation token the record carries (Store.Token), or "".
	Token string
	// Gone marks a record that no longer exists or no longer belongs to the
	// pairing.
	Gone bool
}

// WebCRMFeed reads webCRM's changes for polls.
type WebCRMFeed interface {
	// ChangedSince returns the changes stamped at or after since, at most
	// about limit (more to finish a run of equal stamps), and the watermark
	// to pass next time. skipped counts rows it could not turn into changes.
	ChangedSince(ctx context.Context, since time.Time, limit int) (changes []domain.Change, next time.Time, skipped int, err error)
	// ChangedBetween returns the changes stamped in [from, to).
	ChangedBetween(ctx context.Context, from, to time.Time) ([]domain.Change, error)
}

// FeedItem is one entry of the ERP change feed.
type FeedItem struct {
	ID      string
	Version string
	Deleted bool
	Record  map[string]any
}

// ERPFeed reads the ERP's change feed.
type ERPFeed interface {
	// Changes returns the entries after token, at most limit, and the token
	// after them ("" when the feed gave none).
	Changes(ctx context.Context, token string, limit int) ([]FeedItem, string, error)
}

// A WaitFeed is an ERPFeed that can wait for a change (a long poll).
type WaitFeed interface {
	// WaitChanges is Changes, but when the feed has nothing after token it
	// waits until a change commits or wait passes. A feed whose server does
	// not wait returns no sooner than interval after the call began when it
	// has nothing, so that reads back to back do not spin.
	WaitChanges(ctx context.Context, token string, limit int, wait, interval time.Duration) ([]FeedItem, string, error)
}

// A Lister lists one side's records in a stable order, for backfills and
// reconciliation.
type Lister interface {
	// Page returns the changes of the records after cursor ("" for the
	// first page), at most size, the cursor of the next page and whether this
	// was the last. since, when set, limits them to records changed at or
	// after it.
	Page(ctx context.Context, cursor string, since time.Time, size int) (changes []domain.Change, next string, last bool, err error)
	// Count counts the records Page visits.
	Count(ctx context.Context, since time.Time) (int, error)
	// IDs returns the ids of every record, calling progress as it goes.
	IDs(ctx context.Context, progress func(n int)) (map[string]bool, error)
	// Mark returns where a pairing may start reading the side once a backfill
	// of it that starts now is done (the newest webCRM change, the head of
	// the ERP feed); zero when the side is empty or names no position.
	Mark(ctx context.Context, progress func(n int)) (domain.Positions, error)
}

// Sides is what the engine needs of one pairing's two sides.
type Sides struct {
	Store map[domain.Side]Store
	Index map[domain.Side]IndexFeed
	List  map[domain.Side]Lister
	// WebCRM and ERP read each side's changes for polls.
	WebCRM WebCRMFeed
	ERP    ERPFeed
}

// LinkKind is what runs under a link workflow ID.
type LinkKind int

// Kinds of link workflow IDs.
const (
	NoLink    LinkKind = iota // nothing runs there
	HomeLink                  // a link
	AliasLink                 // an index entry of another link
)

// LinkInfo is what one look at a link workflow ID tells.
type LinkInfo struct {
	Kind LinkKind
	// Seen holds the versions a link in state ok has synced.
	Seen domain.LinkMemo
	// CrmID, ErpID and State are a link's record ids and state, as its search
	// attributes say.
	CrmID, ErpID, State string
	// Home is an index entry's home link, when its memo names it.
	Home string
}

// Holds reports whether the link holds, or may take, the record (side, id):
// its id on that side is that id, or not known yet.
func (i LinkInfo) Holds(side domain.Side, id string) bool {
	if i.Kind != HomeLink {
		return false
	}
	have := i.idOf(side)
	return have == "" || have == id
}

// idOf is the id of the link's record on side, as its search attributes
// tell ("" when it has none there yet).
func (i LinkInfo) idOf(side domain.Side) string {
	if side == domain.ERP {
		return i.ErpID
	}
	return i.CrmID
}

// LinkRef is what the visibility listing tells of one link.
type LinkRef struct {
	CrmID, ErpID, State string
}

// ClaimedError says that another link already holds a record and stays its
// home: the caller's link becomes an index entry of Home.
type ClaimedError struct{ Home string }

func (e *ClaimedError) Error() string { return "the record is already held by " + e.Home }

// Links is what the engine needs of the link workflows.
type Links interface {
	// Inspect looks at a link workflow ID (one call).
	Inspect(ctx context.Context, linkID string) (LinkInfo, error)
	// FindHome returns the ID of the link that holds a record, or "".
	FindHome(ctx context.Context, pairing string, side domain.Side, id string) (string, error)
	// Apply delivers a change to the link of its record, starting it when
	// there is none, and returns what the link did.
	Apply(ctx context.Context, pairing string, ch domain.Change) (domain.Outcome, error)
	// ApplyTo delivers a change to the link with the given ID.
	ApplyTo(ctx context.Context, pairing, linkID string, ch domain.Change) (domain.Outcome, error)
	// Ensure returns the ids of the link of a record, syncing it first when
	// it is not linked yet.
	Ensure(ctx context.Context, pairing string, ch domain.Change) (domain.Outcome, error)
	// Start starts the link of a record with a state the engine computed;
	// started is false when a link runs there already.
	Start(ctx context.Context, pairing string, side domain.Side, id string, st domain.LinkState, first domain.Change, action string) (started bool, err error)
	// RegisterAlias makes a record an index entry of the link home; a
	// *ClaimedError says another link holds the record and stays its home.
	RegisterAlias(ctx context.Context, pairing string, side domain.Side, id, home string) error
	// Count counts a pairing's links.
	Count(ctx context.Context, pairing string) (int, error)
	// List lists a pairing's links, calling fn with each page.
	List(ctx context.Context, pairing string, fn func([]LinkRef) error) error
}

// Metrics receives what the engine counts. Its methods must be safe for
// concurrent use.
type Metrics interface {
	Applied(pairing string, from domain.Side, action string)
	Conflicts(pairing string, n int)
	Polled(pairing string, side domain.Side, n int, watermark time.Time)
}

type noMetrics struct{}

func (noMetrics) Applied(string, domain.Side, string)        {}
func (noMetrics) Conflicts(string, int)                      {}
func (noMetrics) Polled(string, domain.Side, int, time.Time) {}
