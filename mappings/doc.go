// Package mappings loads, validates and applies tandem's mapping files.
//
// A mapping file describes one pairing: which webCRM entity is kept in sync with which
// CustomERP resource, how records are matched the first time, which side may create and
// delete records, and, field by field, how a webCRM property corresponds to an ERP property.
// The six default files are embedded (see [Default]); a directory of edited copies can be
// loaded with [LoadDir] and checked with [Check].
//
// Records on both sides are plain JSON objects (map[string]any). Mapping a record gives a
// [Canonical]: the pairing's fields by canonical name, each value normalised so that the two
// sides compare equal when they say the same thing (decimals as exact decimal text, whole
// numbers as int64, dates as "2006-01-02", times as RFC 3339 UTC, and every kind of "no
// value" as a missing key). [Merge] compares the two sides against the last synced snapshot
// and decides, field by field, what to write where; [Hash] fingerprints a canonical record.
//
// The package does not import the webCRM or CustomERP clients: property names are checked
// through the functions in [Schemas], and ids of other pairings' records are translated
// through a [Resolver].
package mappings
