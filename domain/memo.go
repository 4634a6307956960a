package domain

// MemoSeen is the memo key under which a link keeps its LinkMemo.
const MemoSeen = "seen"

// LinkMemo holds the record versions a link in state ok has synced. It holds
// versions only, never record contents.
type LinkMemo struct {
	CrmVersion string `json:"crmVersion,omitempty"`
	ErpVersion string `json:"erpVersion,omitempty"`
}

// Seen reports whether a change names a version the memo records as synced.
func (m LinkMemo) Seen(ch Change) bool {
	if ch.Deleted || ch.Version == "" {
		return false
	}
	if ch.Side == WebCRM {
		return ch.Version == m.CrmVersion
	}
	return ch.Version == m.ErpVersion
}
