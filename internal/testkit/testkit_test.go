package testkit

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestOnlyAFirstAttemptsStaleHistoryIsAServerTransient: the SDK's warning
// about a first attempt that met a history ending early is set apart; the
// same warning on a later attempt, other SDK warnings and the worker's own
// warnings are not.
func TestOnlyAFirstAttemptsStaleHistoryIsAServerTransient(t *testing.T) {
	var sink LogSink
	sdk := slog.New(sink.Handler("sdk", 0))
	worker := slog.New(sink.Handler("worker", 0))
	stale := "history_events: premature end of stream, expectedLastEventID=6 but no more events after eventID=4"

	sdk.Warn("Failed to process workflow task.", "WorkflowType", "LinkAliasWorkflow", "Attempt", 1, "Error", stale)
	sdk.Warn("Failed to process workflow task.", "WorkflowType", "LinkAliasWorkflow", "Attempt", 2, "Error", stale)
	sdk.Warn("Failed to process workflow task.", "WorkflowType", "LinkWorkflow", "Attempt", 1, "Error", "nondeterministic workflow")
	worker.Warn("poll failed", "pairing", "organisations", "Error", stale)
	sdk.Info("Started Worker")

	assert.Len(t, sink.Warnings(), 4)
	got := sink.Unexpected()
	if assert.Len(t, got, 3) {
		assert.Contains(t, got[0].Attrs, "Attempt=2")
		assert.Contains(t, got[1].Attrs, "nondeterministic")
		assert.Equal(t, "worker", got[2].Source)
	}
}

// TestOnlyAFirstStaleApplyIsARetriedConflict: a first Apply attempt whose
// ERP write met a newer version is set apart; a second such attempt, and
// other activity errors, are not.
func TestOnlyAFirstStaleApplyIsARetriedConflict(t *testing.T) {
	var sink LogSink
	sdk := slog.New(sink.Handler("sdk", 0))
	stale := "update ERP orders OR-1001: customerp: update orders/OR-1001: stale: based on version 2, the record is at version 3 (type: Stale, retryable: true)"

	sdk.Error("Activity error.", "ActivityType", "Apply", "Attempt", 1, "Error", stale)
	sdk.Error("Activity error.", "ActivityType", "Apply", "Attempt", 2, "Error", stale)
	sdk.Error("Activity error.", "ActivityType", "Apply", "Attempt", 1, "Error", "webcrm: 500 (type: Server, retryable: true)")
	sdk.Error("Activity error.", "ActivityType", "SyncERP", "Attempt", 1, "Error", stale)

	got := sink.Unexpected()
	if assert.Len(t, got, 3) {
		assert.Contains(t, got[0].Attrs, "Attempt=2")
		assert.Contains(t, got[1].Attrs, "Server")
		assert.Contains(t, got[2].Attrs, "SyncERP")
	}
}
