package mappings

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// TestCheckReportsEveryValidationError loads one broken mapping directory per kind of
// error and checks that the problem names the file, the line and the field.
func TestCheckReportsEveryValidationError(t *testing.T) {
	t.Parallel()
	type want struct {
		file, field string
		line        int
		message     string
	}
	cases := map[string][]want{
		"unknown-webcrm-property": {{"organisations.yaml", "name", 8, `unknown webCRM property "OrganisationNme" for Organisations`}},
		"webcrm-write-excluded": {
			{"organisations.yaml", "webcrm.constants", 4, `webCRM property "OrganisationCreatedAt" is never written to webCRM (a credential or a field webCRM maintains), so it cannot be a constant`},
			{"organisations.yaml", "delete.deactivate-in-webcrm", 9, `webCRM property "OrganisationUpdatedAt" is never written to webCRM (a credential or a field webCRM maintains), so it cannot mark a record inactive`},
			{"organisations.yaml", "changed", 16, `webCRM property "OrganisationUpdatedAt" is never written to webCRM (a credential or a field webCRM maintains), so direction must be webcrm-to-erp, not both`},
		},
		"unknown-erp-property":           {{"organisations.yaml", "address", 10, `unknown ERP property "postalAddress.line3" for customers`}},
		"transform-on-int":               {{"quotationlines.yaml", "sort-order", 11, "type mismatch: transform trim needs a text field, but the field is int"}},
		"decimal-mapped-to-bool":         {{"products.yaml", "price", 10, `type mismatch: the field is decimal, but ERP property "active" holds true/false`}},
		"enum-value-kind":                {{"persons.yaml", "status", 12, `type mismatch: value "yes" does not fit ERP property "active", which holds true/false`}},
		"constant-kind":                  {{"persons.yaml", "erp.constants", 7, `type mismatch: value "yes" does not fit ERP property "active"`}},
		"max-length-on-number":           {{"products.yaml", "price", 9, "type mismatch: max-length needs a text field, but the field is decimal"}},
		"references-on-text":             {{"persons.yaml", "organisation", 8, "type mismatch: references needs type id, but the field is string"}, {"persons.yaml", "organisation", 9, `type mismatch: the field is string, but webCRM property "PersonOrganisationId" holds whole numbers`}},
		"unknown-reference":              {{"persons.yaml", "organisation", 9, `refers to pairing "companies", which does not exist`}},
		"criterion-not-mapped":           {{"organisations.yaml", "vat-number", 7, `merge criterion "vat-number" is not a mapped field of this pairing`}},
		"direction-contradicts-creation": {{"organisations.yaml", "name", 12, `direction contradicts the creation rule: ERP property "name" is required to create ERP records (create: webcrm-to-erp), but its direction erp-to-webcrm never writes ERP`}},
		"required-not-written":           {{"organisations.yaml", "erp.required-on-create", 6, `ERP property "name" is required to create ERP records (create: both), but no field or constant writes it`}},
		"derived-written":                {{"opportunities.yaml", "status", 10, "the webCRM side is derived (read-only), so direction must be webcrm-to-erp, not both"}},
		"unknown-field-key":              {{"organisations.yaml", "name", 10, `unknown key "directon" in field "name"`}},
		"unknown-top-key":                {{"organisations.yaml", "", 2, `unknown key "colour" in the file`}},
		"duplicate-name":                 {{"organisations.yaml", "name", 10, `duplicate canonical name "name" (first defined at line 7)`}},
		"cycle":                          {{"organisations.yaml", "depends-on", 6, "dependency cycle: organisations → persons → organisations"}},
		"self-reference":                 {{"organisations.yaml", "owner", 9, "dependency cycle: organisations → organisations"}},
		"bad-yaml":                       {{"organisations.yaml", "", 2, "not valid YAML"}},
		"bad-word":                       {{"organisations.yaml", "name", 10, `direction "sideways" is not one of: both, webcrm-to-erp, erp-to-webcrm`}},
		"enum-without-values":            {{"persons.yaml", "status", 7, "an enum field needs values"}},
		"filter-not-constant":            {{"persons.yaml", "erp.filter", 4, "records created in the ERP would not match the filter contactType: person; add it to erp.constants"}},
		"file-name-mismatch":             {{"organisations.yaml", "pairing", 1, `pairing "companies" must be in a file named companies.yaml`}},
		"deactivate-without-target":      {{"persons.yaml", "delete.policy", 6, "policy deactivate needs deactivate-in-webcrm or deactivate-in-erp"}},
		"won-only-without-status":        {{"opportunities.yaml", "gate", 5, "gate won-only needs an enum field named status with the canonical value won"}},
		"missing-key":                    {{"organisations.yaml", "create", 1, `missing key "create"`}},
		"property-twice":                 {{"organisations.yaml", "division", 10, `ERP property "name" is already mapped by field name`}},
		"correlation-mapped":             {{"organisations.yaml", "token", 12, `webCRM property "OrganisationCustom15" is the correlation field`}},
		"immutable-both":                 {{"persons.yaml", "email", 9, "a field cannot be immutable on both sides"}},
		"empty-dir":                      {{"", "", 0, "no mapping files (*.yaml)"}},
	}
	dirs, err := os.ReadDir("testdata/invalid")
	require.NoError(t, err)
	require.Len(t, cases, len(dirs), "every broken directory has a case and the other way round")
	for name, wants := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", "invalid", name)
			probs := Check(dir, testSchemas())
			require.Len(t, probs, len(wants), "problems: %v", probs)
			for i, w := range wants {
				p := probs[i]
				require.Equal(t, filepath.Join(dir, w.file), p.File)
				require.Equal(t, w.line, p.Line, p.String())
				require.Equal(t, w.field, p.Field, p.String())
				require.Contains(t, p.Message, w.message)
				require.Contains(t, p.String(), w.message)
			}
			// LoadDir refuses the same directory, with every problem in its error.
			set, err := LoadDir(dir, testSchemas())
			require.Nil(t, set)
			var le *LoadError
			require.True(t, errors.As(err, &le))
			require.Equal(t, probs, le.Problems)
			for _, p := range probs {
				require.Contains(t, err.Error(), p.String())
			}
		})
	}
}

func TestValidMinimalFile(t *testing.T) {
	t.Parallel()
	require.Empty(t, Check("testdata/valid/minimal", testSchemas()))
	s, err := LoadDir("testdata/valid/minimal", testSchemas())
	require.NoError(t, err)
	require.Equal(t, []string{"organisations"}, s.Names())
	p := pairing(t, s, "organisations")
	f, ok := p.Field("name")
	require.True(t, ok)
	require.Equal(t, Both, f.Direction, "direction defaults to both")
	require.Equal(t, OwnerNewest, f.Owner, "owner defaults to newest")
	require.Equal(t, TypeString, f.Type, "type defaults to string")
}

// TestServerFieldsAreReadNotWritten: a property webCRM maintains may be read into the ERP,
// but a field that writes it to webCRM is refused.
func TestServerFieldsAreReadNotWritten(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile("testdata/valid/minimal/organisations.yaml")
	require.NoError(t, err)
	read := string(base) + "  - name: changed\n    type: datetime\n    direction: webcrm-to-erp\n    webcrm: OrganisationUpdatedAt\n    erp: updatedAt\n"
	require.Empty(t, CheckFS(fstest.MapFS{"organisations.yaml": {Data: []byte(read)}}, testSchemas()))

	written := strings.Replace(read, "webcrm-to-erp", "erp-to-webcrm", 1)
	probs := CheckFS(fstest.MapFS{"organisations.yaml": {Data: []byte(written)}}, testSchemas())
	require.Len(t, probs, 1, "%v", probs)
	require.Contains(t, probs[0].String(), `changed: webCRM property "OrganisationUpdatedAt" is never written to webCRM`)
	require.Contains(t, probs[0].String(), "so direction must be webcrm-to-erp, not erp-to-webcrm")
}

func TestProblemsAcrossFiles(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile("testdata/valid/minimal/organisations.yaml")
	require.NoError(t, err)
	fsys := fstest.MapFS{
		"organisations.yaml": {Data: base},
		"persons.yml": {Data: []byte(strings.ReplaceAll(strings.ReplaceAll(string(base),
			"organisations", "persons"), "Organisations", "Persons"))},
		"notes.txt": {Data: []byte("not a mapping file")},
	}
	probs := CheckFS(fsys, testSchemas())
	// persons.yml maps an organisation's property under the Persons entity; .yml files
	// count, other files do not.
	require.Len(t, probs, 1, "%v", probs)
	require.Equal(t, "persons.yml:12: name: unknown webCRM property \"OrganisationName\" for Persons", probs[0].String())

	// The same name twice across files.
	fsys["persons.yml"] = &fstest.MapFile{Data: base}
	probs = CheckFS(fsys, testSchemas())
	require.Len(t, probs, 2, "%v", probs)
	require.Equal(t, `persons.yml:1: pairing: pairing "organisations" must be in a file named organisations.yaml`, probs[0].String())
	require.Equal(t, `persons.yml:1: pairing: pairing "organisations" is also defined in organisations.yaml`, probs[1].String())
}

// TestReadmeExampleIsValid loads the complete example of README.md, so the documentation
// cannot drift from what the loader accepts.
func TestReadmeExampleIsValid(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(readme), "```yaml\npairing: persons")
	require.True(t, ok, "README has the persons example")
	example, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	orgs, err := fs.ReadFile(DefaultFiles(), "organisations.yaml")
	require.NoError(t, err)
	fsys := fstest.MapFS{
		"persons.yaml":       {Data: []byte("pairing: persons" + example)},
		"organisations.yaml": {Data: orgs},
	}
	require.Empty(t, CheckFS(fsys, testSchemas()))
	s, err := LoadFS(fsys, testSchemas())
	require.NoError(t, err)
	def := pairing(t, loadDefaults(t), "persons")
	ex := pairing(t, s, "persons")
	require.Equal(t, def.FieldNames(), ex.FieldNames(), "the example is the default persons file")
}

// TestERPSyncTime: erp-sync-time names a webCRM date-time property of the entity that no
// field maps; the default opportunities file sets it, and anything else is refused with
// the cause.
func TestERPSyncTime(t *testing.T) {
	t.Parallel()
	require.Equal(t, "OpportunityErpSyncDateTime", pairing(t, loadDefaults(t), "opportunities").ERPSyncTime)
	require.Empty(t, pairing(t, loadDefaults(t), "organisations").ERPSyncTime, "off unless set")

	base, err := fs.ReadFile(DefaultFiles(), "opportunities.yaml")
	require.NoError(t, err)
	orgs, err := fs.ReadFile(DefaultFiles(), "organisations.yaml")
	require.NoError(t, err)
	persons, err := fs.ReadFile(DefaultFiles(), "persons.yaml")
	require.NoError(t, err)
	users, err := fs.ReadFile(DefaultFiles(), "users.yaml")
	require.NoError(t, err)
	check := func(prop string) []Problem {
		opp := strings.Replace(string(base), "erp-sync-time: OpportunityErpSyncDateTime", "erp-sync-time: "+prop, 1)
		require.NotEqual(t, string(base), opp)
		return CheckFS(fstest.MapFS{
			"opportunities.yaml": {Data: []byte(opp)}, "organisations.yaml": {Data: orgs},
			"persons.yaml": {Data: persons}, "users.yaml": {Data: users},
		}, testSchemas())
	}
	require.Empty(t, check("OpportunityNextFollowUp"))
	for prop, want := range map[string]string{
		"OpportunityNoSuch":      `erp-sync-time: unknown webCRM property "OpportunityNoSuch" for Opportunities`,
		"OpportunityComment":     `erp-sync-time: type mismatch: webCRM property "OpportunityComment" holds text, but the sync time needs dates with time`,
		"OpportunityOrderDate":   `erp-sync-time: webCRM property "OpportunityOrderDate" is mapped by field order-date`,
		"OpportunityLostDate":    `erp-sync-time: webCRM property "OpportunityLostDate" is mapped by field status`,
		"OpportunityUpdatedAt":   `erp-sync-time: webCRM property "OpportunityUpdatedAt" is never written to webCRM`,
		"[OpportunityUpdatedAt]": `erp-sync-time: the webCRM property of the sync time must be a single word or text`,
	} {
		probs := check(prop)
		require.Len(t, probs, 1, "%s: %v", prop, probs)
		require.Contains(t, probs[0].String(), want, prop)
		require.Contains(t, probs[0].String(), "opportunities.yaml:", prop)
	}
}

// TestTheERPIDIsOnlyASource: a field may show the ERP record's id in webCRM
// (erp-to-webcrm), but never write it to the ERP, which assigns it.
func TestTheERPIDIsOnlyASource(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile("testdata/valid/minimal/organisations.yaml")
	require.NoError(t, err)
	field := "  - name: erp-id\n    direction: erp-to-webcrm\n    webcrm: OrganisationCustom3\n    erp: id\n"
	require.Empty(t, CheckFS(fstest.MapFS{"organisations.yaml": {Data: append(base, field...)}}, testSchemas()))
	for _, dir := range []string{"both", "webcrm-to-erp"} {
		written := strings.Replace(field, "erp-to-webcrm", dir, 1)
		probs := CheckFS(fstest.MapFS{"organisations.yaml": {Data: append(slices.Clone(base), written...)}}, testSchemas())
		require.Len(t, probs, 1, "%s: %v", dir, probs)
		require.Contains(t, probs[0].String(), "erp-id: the ERP assigns a record's id and never takes one, so direction must be erp-to-webcrm, not "+dir)
	}
}
