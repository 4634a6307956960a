// Package devserver runs the Temporal development server (Temporal CLI
// v1.5.1, `temporal server start-dev`) as a child process for `worker --dev`,
// integration tests and benchmarks.
//
// The CLI is not linked into tandem: the server it embeds pins an older
// Temporal SDK than the one tandem uses, so the binary is built once with
// `go install` into the user cache directory (see EnsureCLI) and started
// with Start.
package devserver
