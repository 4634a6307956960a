package workflows

import "go.temporal.io/sdk/temporal"

// Search attributes of link workflows. They hold ids and states only, never
// names, e-mails or other personal data.
var (
	// PairingKey names the pairing a link belongs to.
	PairingKey = temporal.NewSearchAttributeKeyKeyword("TandemPairing")
	// CrmIDKey is the webCRM id of the link's record.
	CrmIDKey = temporal.NewSearchAttributeKeyKeyword("TandemCrmId")
	// ErpIDKey is the ERP id of the link's record.
	ErpIDKey = temporal.NewSearchAttributeKeyKeyword("TandemErpId")
	// StateKey is the link's state (ok, error, blocked, deleted, pending).
	StateKey = temporal.NewSearchAttributeKeyKeyword("TandemState")
)

// SearchAttributeNames lists the custom search attributes tandem needs
// registered on the namespace, all of type Keyword.
func SearchAttributeNames() []string {
	return []string{PairingKey.GetName(), CrmIDKey.GetName(), ErpIDKey.GetName(), StateKey.GetName()}
}
