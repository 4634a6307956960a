// Package workflows holds tandem's Temporal workflows: one PairingWorkflow per
// pairing that polls both systems and dispatches every change, one
// LinkWorkflow per linked pair of records (with a LinkAliasWorkflow as the
// index entry for the other side's id), BackfillWorkflow for bulk runs and
// ReconcileWorkflow for what the change feeds cannot see.
//
// Everything here is deterministic workflow code: it never calls an API,
// reads the clock or iterates a map. The work itself happens in activities,
// which this package names (see the Activity* constants) and whose inputs and
// results it defines, so that the package depends on no client library.
package workflows
