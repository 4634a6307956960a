// Package swaggerpath locates webCRM's published swagger file, which lives
// outside the repository: $WEBCRM_SWAGGER when set, else
// ../shared/reference/webcrm-swagger.json relative to the directory that
// holds go.mod (found by walking up from the working directory).
package swaggerpath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvVar names the environment variable that overrides the location.
const EnvVar = "WEBCRM_SWAGGER"

// Find returns the swagger path; it does not check that the file exists.
func Find() (string, error) {
	if p := os.Getenv(EnvVar); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("swagger path: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "reference", "webcrm-swagger.json"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("swagger path: no go.mod above the working directory; set " + EnvVar)
		}
		dir = parent
	}
}
