package domain

// HeldDeletes are the ERP deletes the mass-delete guard stopped: the change-feed
// token of the batch that holds them and the ids of the deleted records.
type HeldDeletes struct {
	Token string   `json:"token"`
	IDs   []string `json:"ids"`
	// Records is the number of the pairing's ERP records, before the
	// deletes, that the guard compared them with.
	Records int `json:"records,omitempty"`
	// Links is the number of links an earlier version compared them with.
	Links int `json:"links,omitempty"`
}

// DefaultBatchSize is the number of records one poll activity reads per
// side when its input names no limit.
const DefaultBatchSize = 500
