// Package reliability proves tandem's six promises under load and faults.
//
// It holds tests only. TestConvergence runs seeded random sequences of
// creates, edits and deletes on both simulators while the real engine runs
// (a Temporal dev server on a SQLite file, the worker in this process) and
// faults are injected: webCRM 5xx answers, 429 bursts, added latency and
// malformed bodies, the worker killed and restarted, the Temporal server and
// the CustomERP server stopped and restarted on their files. When the edits
// stop it waits for quiescence and checks that both sides agree on every
// mapped field, that no record has two counterparts or two links, that no
// link lacks its records, and that the API writes stay bounded by the edits.
// The fault tests (Temporal, CustomERP and webCRM unavailable for a while,
// a poison record) check that nothing is lost or blocked. See README.md.
package reliability
