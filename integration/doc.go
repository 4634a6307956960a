// Package integration holds the integration tests of tandem's sync engine,
// run against real parts only: a dedicated Temporal dev server per test
// (internal/testenv), the webCRM simulator and the CustomERP reference
// server on 127.0.0.1, and the worker (internal/service) in the test
// process. Tests edit records the way a person would in each system's UI
// (the simulators' direct store methods, which the API stats do not count),
// wait with deadlines for the other side to follow, and read the
// simulators' write counters to prove that nothing is echoed.
//
// Run them with
//
//	go test ./integration/
//
// TANDEM_IT_LOGS=1 prints the worker's log and every link's state at the
// end of each test, failed or not; TANDEM_IT_HISTORY=1 adds each link's
// start input and accepted updates.
package integration
