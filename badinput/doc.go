// Package badinput is tandem's catalogue of malformed inputs: for each of the
// two external APIs (webCRM and CustomERP) it feeds the engine answers that
// break the contract in one way — wrong JSON types, missing or impossible
// values, references to records that do not exist, broken bodies, hostile
// statuses, redirects, hangs and resets — and checks that the record's link
// ends in a state that says what went wrong, that every other record keeps
// syncing, and that nothing is lost once the input is good again. It also
// checks that broken mapping files and configuration fail at start with a
// message naming the file and line.
//
// The package holds tests only; README.md lists the catalogue.
package badinput
