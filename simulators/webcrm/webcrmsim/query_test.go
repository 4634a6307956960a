package webcrmsim

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenize(t *testing.T) {
	t.Parallel()
	toks, err := tokenize(`SELECT [Person].PersonId, x FROM person p WHERE a>=-1.5 AND b<>'it''s' OR c != 2;`)
	require.NoError(t, err)
	var got []string
	for _, tk := range toks {
		got = append(got, fmt.Sprintf("%d:%s", tk.kind, tk.text))
	}
	require.Equal(t, []string{
		"1:SELECT", "1:Person", "4:.", "1:PersonId", "4:,", "1:x", "1:FROM", "1:person", "1:p", "1:WHERE",
		"1:a", "4:>=", "4:-", "3:1.5", "1:AND", "1:b", "4:<>", "2:it's", "1:OR", "1:c", "4:!=", "3:2", "4:;", "0:",
	}, got)
	for _, bad := range []string{`SELECT 'open`, `SELECT [x`, `SELECT a FROM b WHERE c = 1x`, `SELECT # FROM x`, `SELECT [] FROM x`} {
		_, err := tokenize(bad)
		require.Error(t, err, bad)
	}
}

func TestParseAndCompile(t *testing.T) {
	t.Parallel()
	valid := []string{
		`SELECT * FROM Organisation`,
		`select * from organisation order by OrganisationUpdatedAt asc`,
		`SELECT * FROM Organisations WHERE OrganisationUpdatedAt >= '2018-10-05T12:00:00.0000000Z'`,
		`SELECT PersonId, PersonEmail, PersonOrganisationId FROM Person WHERE PersonEmail = 'x'`,
		`SELECT * FROM Person JOIN Organisation ON (Person.PersonOrganisationId = Organisation.OrganisationId) WHERE PersonUpdatedAt >= '2019-09-01T12:48:51' AND OrganisationCustom3 = 'Yes'`,
		`SELECT p.PersonId FROM Person AS p INNER JOIN Organisation o ON p.PersonOrganisationId = o.OrganisationId`,
		`SELECT * FROM Person LEFT OUTER JOIN Organisation ON PersonOrganisationId = OrganisationId`,
		`SELECT * FROM Organisation WHERE (OrganisationType = 'A Kunde' OR OrganisationType = 'B Kunde') AND NOT OrganisationCity IS NULL`,
		`SELECT * FROM Organisation WHERE OrganisationName LIKE 'fjord%' AND OrganisationId NOT IN (1, 2, 3)`,
		`SELECT * FROM Opportunity WHERE OpportunityErpStatus = 1 ORDER BY OpportunityOrderValue DESC, OpportunityId`,
		`SELECT * FROM QuotationLine WHERE QuotationLinePrice > -5 AND QuotationLineQuantity <= 10;`,
		`SELECT * FROM [User] WHERE [UserName] <> 'x'`,
	}
	for _, s := range valid {
		ast, err := parseQuery(s)
		require.NoError(t, err, s)
		_, err = compileQuery(ast)
		require.NoError(t, err, s)
	}
	invalid := []struct{ script, msg string }{
		{``, "expected SELECT"},
		{`SELECT FROM Person`, "expected a column name"},
		{`SELECT * Person`, "expected FROM"},
		{`SELECT * FROM`, "expected a table name"},
		{`SELECT * FROM Invoice`, `unknown table "Invoice"`},
		{`SELECT * FROM Person WHERE`, "expected a column, string or number"},
		{`SELECT * FROM Person WHERE PersonNope = 1`, `unknown column "PersonNope"`},
		{`SELECT * FROM Person WHERE Org.PersonId = 1`, `unknown table or alias "Org"`},
		{`SELECT * FROM Person WHERE PersonId = 1 AND`, "expected a column"},
		{`SELECT * FROM Person WHERE (PersonId = 1`, `expected ")"`},
		{`SELECT * FROM Person WHERE PersonId 1`, "expected a comparison operator"},
		{`SELECT * FROM Person WHERE PersonUpdatedAt > 'last week'`, "date-time"},
		{`SELECT * FROM Person WHERE PersonId = 'abc'`, "not a number"},
		{`SELECT * FROM Person ORDER PersonId`, "expected BY"},
		{`SELECT * FROM Person LIMIT 5`, "unexpected LIMIT"},
		{`SELECT * FROM Person JOIN Organisation`, "expected ON"},
		{`SELECT * FROM Person WHERE PersonStatus = 9`, "not an ordinal"},
		{`SELECT * FROM Person WHERE PersonId IN (PersonSortOrder)`, "literals only"},
	}
	for _, c := range invalid {
		ast, err := parseQuery(c.script)
		if err == nil {
			_, err = compileQuery(ast)
		}
		require.ErrorContains(t, err, c.msg, c.script)
	}
}

func TestLikeMatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s, p string
		want bool
	}{{"fjord tømrer", "fjord%", true}, {"fjord", "%ord", true}, {"fjord", "f_ord", true}, {"fjord", "f__ord%", false}, {"fjord", "%", true}, {"", "%", true}, {"abc", "a%c", true}, {"abc", "a%d", false}, {"aXbXc", "a%b%c", true}} {
		require.Equal(t, c.want, likeMatch([]rune(c.s), []rune(c.p)), "%q LIKE %q", c.s, c.p)
	}
}

func (e *env) query(script string, page, size int) []map[string]any {
	e.t.Helper()
	res := e.get(fmt.Sprintf("/Queries?script=%s&Page=%d&Size=%d", url.QueryEscape(script), page, size))
	require.Equal(e.t, 200, res.status, "%s: %s", script, res.body)
	return res.array(e.t)
}

func ids(t *testing.T, rows []map[string]any, field string) []string {
	t.Helper()
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprint(r[field])
	}
	return out
}

// TestQueryWatermarkManyEqualTimestamps pages the incremental-sync query
// over a run of records that share one UpdatedAt across page boundaries.
func TestQueryWatermarkManyEqualTimestamps(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(t0)
	e := newEnv(t, Options{Now: clock.Now})
	e.login()
	for i := range 5 {
		e.createID("Organisations", map[string]any{"OrganisationName": fmt.Sprintf("Før %d", i)})
	}
	clock.Advance(time.Second)
	for i := range 23 {
		_, err := e.sim.Put("Organisations", map[string]any{"OrganisationName": fmt.Sprintf("Samme %d", i)})
		require.NoError(t, err)
	}
	clock.Advance(time.Second)
	require.NoError(t, e.sim.Patch("Organisations", 2, map[string]any{"OrganisationCity": "Hørsholm"}))

	script := `SELECT * FROM Organisation WHERE OrganisationUpdatedAt >= '2025-03-04T10:00:01' ORDER BY OrganisationUpdatedAt ASC`
	var all []map[string]any
	for page := 1; ; page++ {
		rows := e.query(script, page, 10)
		all = append(all, rows...)
		if len(rows) < 10 {
			break
		}
	}
	require.Len(t, all, 24)
	var want []string
	for id := 6; id <= 28; id++ {
		want = append(want, fmt.Sprint(id))
	}
	want = append(want, "2")
	require.Equal(t, want, ids(t, all, "OrganisationId"), "equal stamps in id order, the later edit last")
	for i, r := range all {
		require.Equal(t, fmt.Sprint(i+1), fmt.Sprint(r["RowNumber"]))
	}
	require.Equal(t, "2025-03-04T10:00:02.0000000Z", all[23]["OrganisationUpdatedAt"])
	// offsets in the literal are honoured: 11:00:01+01:00 is 10:00:01Z
	require.Len(t, e.query(`SELECT OrganisationId FROM Organisation WHERE OrganisationUpdatedAt >= '2025-03-04T11:00:01+01:00'`, 1, 100), 24)
	require.Len(t, e.query(`SELECT OrganisationId FROM Organisation WHERE OrganisationUpdatedAt > '2025-03-04T10:00:01.0000000Z'`, 1, 100), 1)
}

func TestQueryJoinOrOrderSelect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	a := e.createID("Organisations", map[string]any{"OrganisationName": "Alfa A/S", "OrganisationType": "A Kunde", "OrganisationCustom3": "Yes"})
	b := e.createID("Organisations", map[string]any{"OrganisationName": "Beta AS", "OrganisationType": "B Kunde", "OrganisationCustom3": "No"})
	c := e.createID("Organisations", map[string]any{"OrganisationName": "O'Brien ApS", "OrganisationType": "Leverandør"})
	p1 := e.createID("Persons", map[string]any{"PersonOrganisationId": a, "PersonLastName": "Ås", "PersonEmail": "Ase@Alfa.dk", "PersonSortOrder": 2})
	p2 := e.createID("Persons", map[string]any{"PersonOrganisationId": b, "PersonLastName": "Berg", "PersonSortOrder": 1})
	p3 := e.createID("Persons", map[string]any{"PersonOrganisationId": a, "PersonLastName": "Dahl", "PersonSortOrder": 2})
	e.createID("Persons", map[string]any{"PersonLastName": "Uden firma"})

	rows := e.query(`SELECT * FROM Person JOIN Organisation ON (Person.PersonOrganisationId = Organisation.OrganisationId) WHERE OrganisationCustom3 = 'yes'`, 1, 50)
	require.Equal(t, []string{fmt.Sprint(p1), fmt.Sprint(p3)}, ids(t, rows, "PersonId"))
	require.Equal(t, "Alfa A/S", rows[0]["OrganisationName"])
	require.Equal(t, "Ås", rows[0]["PersonLastName"])

	rows = e.query(`SELECT * FROM Person p LEFT JOIN Organisation o ON p.PersonOrganisationId = o.OrganisationId WHERE o.OrganisationId IS NULL`, 1, 50)
	require.Equal(t, []string{"4"}, ids(t, rows, "PersonId"))

	rows = e.query(`SELECT * FROM organisations WHERE (OrganisationType = 'a kunde' OR OrganisationType = 'Leverandør') AND OrganisationName != 'nobody'`, 1, 50)
	require.Equal(t, []string{fmt.Sprint(a), fmt.Sprint(c)}, ids(t, rows, "OrganisationId"))

	rows = e.query(`SELECT OrganisationId FROM Organisation WHERE OrganisationName = 'o''brien aps'`, 1, 50)
	require.Equal(t, []string{fmt.Sprint(c)}, ids(t, rows, "OrganisationId"))

	// ORDER BY DESC with ties: ties stay in id order
	rows = e.query(`SELECT PersonId, PersonSortOrder, PersonEmail FROM Person WHERE PersonSortOrder IS NOT NULL ORDER BY PersonSortOrder DESC`, 1, 50)
	require.Equal(t, []string{fmt.Sprint(p1), fmt.Sprint(p3), fmt.Sprint(p2)}, ids(t, rows, "PersonId"))
	require.Contains(t, rows[1], "PersonEmail", "named columns are present even when NULL")
	require.Nil(t, rows[1]["PersonEmail"])
	require.Len(t, rows[0], 4, "PersonId, PersonSortOrder, PersonEmail, RowNumber")

	rows = e.query(`SELECT PersonId FROM Person ORDER BY PersonEmail ASC, PersonId DESC`, 1, 50)
	require.Equal(t, []string{"4", fmt.Sprint(p3), fmt.Sprint(p2), fmt.Sprint(p1)}, ids(t, rows, "PersonId"), "NULL e-mails first, then by id descending")

	rows = e.query(`SELECT PersonId FROM Person WHERE PersonEmail = 'ase@alfa.DK'`, 1, 50)
	require.Equal(t, []string{fmt.Sprint(p1)}, ids(t, rows, "PersonId"), "= on text ignores case")

	rows = e.query(`SELECT OrganisationId FROM Organisation WHERE OrganisationName LIKE '%S' AND OrganisationId NOT IN (3)`, 1, 50)
	require.Equal(t, []string{fmt.Sprint(a), fmt.Sprint(b)}, ids(t, rows, "OrganisationId"))

	// NOT over NULL stays unknown (SQL three-valued logic)
	rows = e.query(`SELECT OrganisationId FROM Organisation WHERE NOT OrganisationCustom3 = 'Yes'`, 1, 50)
	require.Equal(t, []string{fmt.Sprint(b)}, ids(t, rows, "OrganisationId"))

	// paging past the end, and the cache sees writes
	require.Empty(t, e.query(`SELECT * FROM Person`, 3, 2))
	require.Len(t, e.query(`SELECT * FROM Person`, 1, 50), 4)
	e.createID("Persons", map[string]any{"PersonLastName": "Ny"})
	require.Len(t, e.query(`SELECT * FROM Person`, 1, 50), 5)
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	for _, s := range []string{`SELEKT * FROM Person`, `SELECT * FROM Invoice`, `SELECT * FROM Person WHERE PersonId = `, `SELECT * FROM Person WHERE PersonUpdatedAt > 'x'`} {
		res := e.get("/Queries?script=" + url.QueryEscape(s))
		requireAPIError(t, res, 400, "BadRequestException", "Invalid query")
	}
	requireAPIError(t, e.get("/Queries"), 400, "BadRequestException", "script is required")
	res := e.get("/Queries?script=" + url.QueryEscape(`SELECT * FROM Person WHERE PersonNope = 1`))
	requireAPIError(t, res, 400, "BadRequestException", `unknown column "PersonNope" (at position 28)`)
}

func TestQueryEnumAndNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.login()
	e.createID("Organisations", map[string]any{"OrganisationName": "X"})
	f1 := e.createID("Opportunities", map[string]any{"OpportunityErpStatus": "ReadyForSynchronization", "OpportunityOrderValue": 1500.5, "OpportunityWinYesNo": true})
	f2 := e.createID("Opportunities", map[string]any{"OpportunityErpStatus": "Synchronized", "OpportunityOrderValue": 99})
	rows := e.query(`SELECT OpportunityId FROM Opportunity WHERE OpportunityErpStatus = 1`, 1, 10)
	require.Equal(t, []string{fmt.Sprint(f1)}, ids(t, rows, "OpportunityId"), "enum by ordinal")
	rows = e.query(`SELECT OpportunityId FROM Opportunity WHERE OpportunityErpStatus >= 'readyforsynchronization' ORDER BY OpportunityOrderValue`, 1, 10)
	require.Equal(t, []string{fmt.Sprint(f2), fmt.Sprint(f1)}, ids(t, rows, "OpportunityId"))
	rows = e.query(`SELECT OpportunityId FROM Opportunity WHERE OpportunityOrderValue > 100 AND OpportunityWinYesNo = 1`, 1, 10)
	require.Equal(t, []string{fmt.Sprint(f1)}, ids(t, rows, "OpportunityId"))
	rows = e.query(`SELECT OpportunityId, OpportunityOrderValue FROM Opportunity WHERE OpportunityOrderValue = '99'`, 1, 10)
	require.Equal(t, []string{fmt.Sprint(f2)}, ids(t, rows, "OpportunityId"))
	require.Equal(t, "99", fmt.Sprint(rows[0]["OpportunityOrderValue"]))
}
