package workflows

// Task queues. Workflows and most activities run on TaskQueue; activities
// whose cost is dominated by webCRM calls run on WebCRMTaskQueue, whose
// worker sets TaskQueueActivitiesPerSecond to stay inside the token's budget.
const (
	TaskQueue       = "tandem"
	WebCRMTaskQueue = "tandem-webcrm"
)

// PairingWorkflowID is the workflow ID of a pairing's poller.
func PairingWorkflowID(pairing string) string { return "pairing/" + pairing }

// BackfillWorkflowID is the workflow ID of a pairing's backfill for a side
// ("webcrm", "erp" or "both").
func BackfillWorkflowID(pairing, side string) string { return "backfill/" + pairing + "/" + side }

// ReconcileWorkflowID is the workflow ID (and schedule ID) of a pairing's reconciliation.
func ReconcileWorkflowID(pairing string) string { return "reconcile/" + pairing }
