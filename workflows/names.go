package workflows

// Names under which the worker registers the workflows. Workflows are
// started, listed and recognised by these names, which are the functions'
// names: a renamed function keeps its workflow type through them.
const (
	PairingWorkflowName   = "PairingWorkflow"
	LinkWorkflowName      = "LinkWorkflow"
	LinkAliasWorkflowName = "LinkAliasWorkflow"
	BackfillWorkflowName  = "BackfillWorkflow"
	ReconcileWorkflowName = "ReconcileWorkflow"
)
