package domain

// HeldDeletes are the ERP deletes the mass-delete guard stopped: the change-feed
// token of the batch that holds them and the ids of the deleted records.
type HeldDeletes struct {
	Token string   `json:"token"`
	IDs   []string `json:"ids"`
	// Links is the number of the pairing's links the guard compared them with.
	Links int `json:"links"`
}

// DefaultBatchSize is the number of records one poll activity reads per
// side when its input names no limit.
const DefaultBatchSize = 500
