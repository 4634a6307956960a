package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/webcrm/contract"
)

// TestGeneratedFileIsCurrent regenerates schema_gen.go from the kept contract
// (or $WEBCRM_SWAGGER) and compares it with the committed file.
func TestGeneratedFileIsCurrent(t *testing.T) {
	raw, _, err := contract.Swagger()
	require.NoError(t, err)
	want, err := Generate(raw)
	require.NoError(t, err)
	got, err := os.ReadFile("../../schema_gen.go")
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "schema_gen.go is stale: run go generate ./simulators/webcrm/webcrmsim")
}

func TestGenerateRejectsBrokenSwagger(t *testing.T) {
	_, err := Generate([]byte(`{"paths":{},"definitions":{}}`))
	require.ErrorContains(t, err, "path /Organisations missing")
	_, err = Generate([]byte(`not json`))
	require.Error(t, err)
}
