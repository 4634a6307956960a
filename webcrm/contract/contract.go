// Package contract holds tandem's kept copy of the webCRM API contract,
// webcrm-contract.json: the part of webCRM's published swagger 2.0 document that the
// client calls and the simulator serves (entity CRUD and bulk PATCH, hooks, /Queries,
// /Auth/ApiLogin, /Auth/ApiRefresh), the schemas those operations reference, and every
// type, format, enum, length and parameter limit, without the published prose. Tests and
// generators load it from here, so none of them needs a file outside the repository.
//
// The file is written by webcrm/internal/contractgen (go generate ./webcrm) from the
// published swagger and is itself a valid swagger 2.0 document. Object keys are sorted,
// except a schema's properties, which keep the published order (the generated Go types
// and the simulator follow it); indentation is two spaces; the top-level field
// x-derived-from holds "sha256:" and the hex sha256 of the published file it came from,
// and x-content-sha256 the hex sha256 of the file as written without these two fields (so
// a value edited by hand no longer matches what the generator writes).
package contract

import (
	"embed"
	"fmt"
	"os"
)

// File is the kept contract's file name in this directory.
const File = "webcrm-contract.json"

// EnvVar names the environment variable that points at a full published swagger file;
// when it is set, Swagger returns that file instead of the kept contract.
const EnvVar = "WEBCRM_SWAGGER"

// DerivedFromKey is the top-level field recording the published source's sha256.
const DerivedFromKey = "x-derived-from"

// ContentHashKey is the top-level field recording the sha256 of the contract itself.
const ContentHashKey = "x-content-sha256"

//go:embed webcrm-contract.json
var files embed.FS

// Kept returns the kept contract (a fresh copy on every call).
func Kept() []byte {
	b, err := files.ReadFile(File)
	if err != nil { // cannot happen: the file is embedded at build time
		panic(fmt.Sprintf("contract: embedded %s: %v", File, err))
	}
	return b
}

// Swagger returns the document tests and generators validate against: the file named by
// $WEBCRM_SWAGGER when that is set, else the kept contract. source says which, for
// messages.
func Swagger() (raw []byte, source string, err error) {
	if p := os.Getenv(EnvVar); p != "" {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, p, fmt.Errorf("contract: reading $%s: %w", EnvVar, err)
		}
		return raw, p, nil
	}
	return Kept(), "webcrm/contract/" + File + " (embedded)", nil
}

// Published locates webCRM's full published swagger, which is not kept in the
// repository: $WEBCRM_SWAGGER. ok is false when the variable is unset; a path it
// names is returned whether or not it exists, so reading it fails loudly.
func Published() (path string, ok bool, err error) {
	if p := os.Getenv(EnvVar); p != "" {
		return p, true, nil
	}
	return "", false, nil
}
