package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedFileIsCurrent regenerates the DTOs from the swagger document and
// compares them with the committed webcrm/dtos_gen.go.
func TestGeneratedFileIsCurrent(t *testing.T) {
	swagger, err := defaultSwagger()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(swagger); err != nil {
		t.Fatalf("webCRM swagger document needed (set WEBCRM_SWAGGER): %v", err)
	}
	out := filepath.Join(t.TempDir(), "dtos_gen.go")
	if err := run(swagger, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "dtos_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Fatal("webcrm/dtos_gen.go is stale: run `go generate ./webcrm`")
	}
}

func TestFieldName(t *testing.T) {
	for prop, want := range map[string]string{
		"OrganisationId":             "ID",
		"PersonOrganisationId":       "OrganisationID",
		"OrganisationOverlayUrl":     "OverlayURL",
		"OrganisationIdentity":       "Identity",
		"QuotationLineLinkedDataId":  "LinkedDataID",
		"OrganisationXInt1":          "XInt1",
		"Organisation1st":            "Organisation1st",
		"OrganisationMarketDataId":   "MarketDataID",
		"UserDefaultSupportCaseIdle": "DefaultSupportCaseIdle",
	} {
		prefix := "Organisation"
		switch {
		case prop[:6] == "Person":
			prefix = "Person"
		case prop[:4] == "User":
			prefix = "User"
		case prop[:9] == "Quotation":
			prefix = "QuotationLine"
		}
		if got := fieldName(prefix, prop); got != want {
			t.Errorf("fieldName(%q, %q) = %q, want %q", prefix, prop, got, want)
		}
	}
}
