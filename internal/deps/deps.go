//go:build tools

// Package deps pins the modules tandem builds on before every package that
// uses them exists, so `go mod tidy` keeps them in go.mod.
package deps

import (
	_ "github.com/cockroachdb/apd/v3"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/hashicorp/go-retryablehttp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/require"
	_ "go.temporal.io/sdk/client"
	_ "golang.org/x/time/rate"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)
