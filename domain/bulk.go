package domain

import "time"

// BackfillCountInput is the input of the BackfillCount activity.
type BackfillCountInput struct {
	Pairing string    `json:"pairing"`
	Side    Side      `json:"side"`
	Since   time.Time `json:"since,omitempty"`
}

// BackfillPageInput is the input of the BackfillPage activity.
type BackfillPageInput struct {
	Pairing     string    `json:"pairing"`
	Side        Side      `json:"side"`
	Cursor      string    `json:"cursor,omitempty"`
	Since       time.Time `json:"since,omitempty"`
	PageSize    int       `json:"pageSize"`
	Concurrency int       `json:"concurrency"`
}

// BackfillPageResult is the result of the BackfillPage activity.
type BackfillPageResult struct {
	Next    string         `json:"next,omitempty"`
	Last    bool           `json:"last"`
	Seen    int            `json:"seen"`
	Failed  int            `json:"failed"`
	Actions map[string]int `json:"actions,omitempty"`
}

// ReconcileInput is the input of ReconcileWorkflow.
type ReconcileInput struct {
	Pairing string `json:"pairing"`
	// MaxDeleteShare is the share of a pairing's links that one run may treat
	// as deleted before the mass-delete guard stops it (default 0.1).
	MaxDeleteShare float64 `json:"maxDeleteShare,omitempty"`
}

// ReconcileResult is the result of the Reconcile activity and workflow.
type ReconcileResult struct {
	Links   int `json:"links"`
	Missing int `json:"missing"`
	// Unlisted counts linked records missing from a listing that a read by id
	// found: they were not taken for deleted.
	Unlisted   int    `json:"unlisted,omitempty"`
	Dispatched int    `json:"dispatched"`
	Guarded    bool   `json:"guarded"`
	Reason     string `json:"reason,omitempty"`
}
