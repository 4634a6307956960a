package workflows

// Activity names. The activities package registers its methods under these
// names; workflows call them by name so that they depend on no client.
const (
	ActivityApply         = "Apply"
	ActivitySyncWebCRM    = "SyncWebCRM"
	ActivitySyncERP       = "SyncERP"
	ActivityBackfillCount = "BackfillCount"
	ActivityBackfillPage  = "BackfillPage"
	ActivityReconcile     = "Reconcile"
	// ActivityBackfillMark reads where a pairing may start reading a side
	// once a backfill of that side, starting now, is done.
	ActivityBackfillMark = "BackfillMark"
	// ActivityStartPositions finds the positions the pairing's last
	// completed backfills handed over.
	ActivityStartPositions = "StartPositions"
)
