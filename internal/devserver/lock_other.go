//go:build !unix

package devserver

import "os"

// tryLock always succeeds where flock is unavailable; parallel builds are
// then possible but harmless, because the result is renamed into place.
func tryLock(*os.File) (bool, error) { return true, nil }

// unlock is a no-op where flock is unavailable.
func unlock(*os.File) error { return nil }
