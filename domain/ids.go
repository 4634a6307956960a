package domain

import (
	"fmt"
	"strings"
)

// Side names one of the two systems a pairing connects.
type Side string

// The two sides of every pairing.
const (
	WebCRM Side = "webcrm"
	ERP    Side = "erp"
)

// Other returns the opposite side.
func (s Side) Other() Side {
	if s == WebCRM {
		return ERP
	}
	return WebCRM
}

// Valid reports whether s is one of the two sides.
func (s Side) Valid() bool { return s == WebCRM || s == ERP }

// Label is the side's name as people write it: webCRM or ERP.
func (s Side) Label() string {
	if s == WebCRM {
		return "webCRM"
	}
	return "ERP"
}

// LinkWorkflowID is the workflow ID of the link (or alias) of one record:
// link/<pairing>/<side>/<id>.
func LinkWorkflowID(pairing string, side Side, id string) string {
	return "link/" + pairing + "/" + string(side) + "/" + id
}

// ParseLinkWorkflowID splits a link workflow ID into its parts.
func ParseLinkWorkflowID(workflowID string) (pairing string, side Side, id string, err error) {
	parts := strings.SplitN(workflowID, "/", 4)
	if len(parts) != 4 || parts[0] != "link" || parts[1] == "" || parts[3] == "" {
		return "", "", "", fmt.Errorf("%q is not a link workflow ID (want link/<pairing>/<side>/<id>)", workflowID)
	}
	side = Side(parts[2])
	if !side.Valid() {
		return "", "", "", fmt.Errorf("link workflow ID %q: unknown side %q", workflowID, parts[2])
	}
	return parts[1], side, parts[3], nil
}
