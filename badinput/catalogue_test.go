package badinput

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// minPerAPI is the least number of malformed inputs the catalogue holds
// for each external API.
const minPerAPI = 30

const (
	catalogueStart = "<!-- catalogue:start (generated from the case tables; TestCatalogueREADME checks it) -->"
	catalogueEnd   = "<!-- catalogue:end -->"
)

// TestCatalogueREADME checks that the catalogue is large enough and that
// README.md lists exactly the cases the tests run.
func TestCatalogueREADME(t *testing.T) {
	crm := len(webcrmCases()) + len(webcrmPollCases())
	erp := len(erpCases()) + len(erpPollCases())
	t.Logf("catalogue: %d webCRM inputs, %d CustomERP inputs, %d start-up inputs", crm, erp, len(startupCases()))
	if crm < minPerAPI || erp < minPerAPI {
		t.Errorf("the catalogue has %d webCRM and %d CustomERP inputs; want at least %d each", crm, erp, minPerAPI)
	}
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i, j := strings.Index(text, catalogueStart), strings.Index(text, catalogueEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no catalogue block; it should hold:\n%s", renderCatalogue())
	}
	if got, want := text[i:j+len(catalogueEnd)], renderCatalogue(); got != want {
		t.Errorf("README.md's catalogue differs from the case tables; it should read:\n%s", want)
	}
}

type row struct{ name, input, where, outcome string }

// renderCatalogue renders the case tables as Markdown.
func renderCatalogue() string {
	var b strings.Builder
	b.WriteString(catalogueStart + "\n")
	section := func(title, test string, rows []row) {
		fmt.Fprintf(&b, "\n### %s (%d)\n\nTest: `%s/<case>`.\n\n", title, len(rows), test)
		b.WriteString("| Case | Input | Where it enters | Expected outcome |\n|---|---|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.name, cell(r.input), cell(r.where), cell(r.outcome))
		}
	}
	records := func(cs []recordCase) []row {
		out := make([]row, len(cs))
		for i, c := range cs {
			out[i] = row{c.name, c.input, c.where, c.outcome}
		}
		return out
	}
	polls := func(cs []pollCase) []row {
		out := make([]row, len(cs))
		for i, c := range cs {
			out[i] = row{c.name, c.input, c.where, c.outcome}
		}
		return out
	}
	starts := make([]row, 0)
	for _, c := range startupCases() {
		starts = append(starts, row{c.name, c.input, c.where, c.outcome})
	}
	section("webCRM: answers about one record", "TestBadInput/webcrm", records(webcrmCases()))
	section("webCRM: poll answers", "TestBadInputPolls/webcrm", polls(webcrmPollCases()))
	section("CustomERP: answers about one record", "TestBadInput/erp", records(erpCases()))
	section("CustomERP: change-feed answers", "TestBadInputPolls/erp", polls(erpPollCases()))
	section("Start-up: mapping files and configuration", "TestBadStartup", starts)
	b.WriteString("\n" + catalogueEnd)
	return b.String()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
