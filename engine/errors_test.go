package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
)

// TestClassify: the engine's own errors carry their class (and details),
// a failure to reach a referenced record's link is Transient whatever it
// wraps, and every other error is the clients', as the Classifier says.
func TestClassify(t *testing.T) {
	e := newEnv(t)
	held := domain.HeldDeletes{Token: "9", IDs: []string{"CU-1"}, Records: 3}
	cases := map[string]struct {
		err  error
		want Classification
	}{
		"mass delete": {fmt.Errorf("organisations: %w", &Error{Class: MassDelete, Err: errors.New("too many"), Details: held}),
			Classification{Class: MassDelete, Details: held}},
		"validation":     {recordError("persons", "link/persons/webcrm/1", permanentf("bad %s", "record")), Classification{Class: Validation}},
		"resolve":        {fmt.Errorf("map: %w", &resolveError{clientErr(Validation, "400")}), Classification{Class: Transient}},
		"rate limited":   {fmt.Errorf("get: %w", &apiError{class: RateLimited, msg: "429", retry: 30 * time.Second}), Classification{Class: RateLimited, RetryAfter: 30 * time.Second}},
		"stale":          {clientErr(Stale, "412"), Classification{Class: Stale}},
		"not found":      {clientErr(NotFound, "404"), Classification{Class: NotFound}},
		"anything else":  {errors.New("unexpected EOF"), Classification{Class: Transient}},
		"mapping error":  {mappingError(errors.New("field x: not a number")), Classification{Class: Validation}},
		"mapping, links": {mappingError(fmt.Errorf("field x: %w", &resolveError{errors.New("down")})), Classification{Class: Transient}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, e.eng.Classify(tc.err))
		})
	}
	t.Run("without a classifier", func(t *testing.T) {
		bare := New(Options{Pairings: e.set})
		assert.Equal(t, Classification{Class: Transient}, bare.Classify(clientErr(Validation, "400")))
		assert.Equal(t, Classification{Class: Validation}, bare.Classify(permanentf("x")))
	})
}

func TestClassNamesAndPermanence(t *testing.T) {
	names := map[Class]string{Transient: "Transient", Unavailable: "Unavailable", RateLimited: "RateLimited", Stale: "Stale",
		Validation: "Validation", NotFound: "NotFound", MassDelete: "MassDelete", Class(42): "Class(42)"}
	for c, name := range names {
		assert.Equal(t, name, c.String())
	}
	for c, want := range map[Class]bool{Transient: false, Unavailable: false, RateLimited: false, Stale: false, Validation: true, NotFound: true, MassDelete: true} {
		assert.Equal(t, want, c.Permanent(), c.String())
	}
}

func TestEngineErrorsWrap(t *testing.T) {
	cause := clientErr(Validation, "PersonLastName is required")
	err := recordError("persons", "link/persons/webcrm/3", permanent(cause))
	assert.ErrorIs(t, err, cause)
	assert.Equal(t, "persons link link/persons/webcrm/3: PersonLastName is required", err.Error())
	re := &resolveError{cause}
	assert.ErrorIs(t, re, cause)
	assert.Equal(t, cause.Error(), re.Error())
	assert.Equal(t, "the record is already held by link/persons/erp/CO-1", (&ClaimedError{Home: "link/persons/erp/CO-1"}).Error())
}

func TestLinkInfoHolds(t *testing.T) {
	link := LinkInfo{Kind: HomeLink, CrmID: "7"}
	assert.True(t, link.Holds(domain.WebCRM, "7"))
	assert.False(t, link.Holds(domain.WebCRM, "8"))
	assert.True(t, link.Holds(domain.ERP, "CU-1"), "no ERP id yet: it may take one")
	assert.False(t, LinkInfo{Kind: AliasLink}.Holds(domain.WebCRM, "7"))
	assert.False(t, LinkInfo{}.Holds(domain.WebCRM, "7"))
}

// TestNewFillsInDefaults: an Engine built with only pairings, sides and
// links logs to the default logger, counts nothing, reads the real clock and
// dispatches DefaultConcurrency changes at once.
func TestNewFillsInDefaults(t *testing.T) {
	e := newEnv(t)
	eng := New(Options{Pairings: e.set, Sides: e.sides, Links: e.links, Classify: fakeClassify})
	e.links.eng = eng
	assert.Equal(t, DefaultConcurrency, eng.concurrency)
	assert.Equal(t, slog.Default(), eng.log)
	assert.Equal(t, noMetrics{}, eng.metrics)
	before := time.Now()
	assert.False(t, eng.now().Before(before))
	assert.Equal(t, 3, eng.WithConcurrency(3).concurrency)
	assert.Equal(t, DefaultConcurrency, eng.WithConcurrency(0).concurrency)
	assert.Same(t, eng.indexes, eng.WithConcurrency(3).indexes, "the merge indexes stay shared")

	oid := e.crm["Organisations"].add(crmOrg(1))
	tally, err := eng.Dispatch(context.Background(), "organisations", []domain.Change{e.crm["Organisations"].change(oid)})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{domain.ActionCreatedERP: 1}, tally.Actions)
	_, err = eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations"})
	require.NoError(t, err)
}

// TestMetrics: every apply is counted with its action (errors included),
// conflicts by their number, polls with what they saw.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	oid, _ := e.linkedOrg(1)
	assert.Equal(t, 1, e.metrics.appliedN("organisations", domain.WebCRM, domain.ActionCreatedERP))

	e.erp["customers"].fails["get"] = clientErr(Unavailable, "503")
	e.crm["Organisations"].edit(oid, map[string]any{"OrganisationCity": "Viborg"})
	e.dispatch("organisations", e.crm["Organisations"].change(oid))
	assert.Equal(t, 1, e.metrics.appliedN("organisations", domain.WebCRM, domain.ActionError))
	assert.Zero(t, e.metrics.conflicts["organisations"])

	_, err := e.eng.PollERP(context.Background(), domain.SyncInput{Pairing: "organisations", Token: "1"})
	require.NoError(t, err)
	assert.Equal(t, []polled{{"organisations", domain.ERP, 0, time.Time{}}}, e.metrics.polled)
}

// TestMappingWarningsAreReportedNotFatal: a value the mapping cuts or cannot
// translate is a warning on the apply's result and in the log; the record
// syncs.
func TestMappingWarningsAreReportedNotFatal(t *testing.T) {
	e := newEnv(t)
	customers, orgs := e.erp["customers"], e.crm["Organisations"]
	long := erpCustomer(1)
	long["name"] = strings.Repeat("Nordlys ", 30) + "ApS"
	cid := customers.add(long)
	org := crmOrg(2)
	org["OrganisationCountry"] = "Atlantis"
	oid := orgs.add(org)

	_, err := e.links.Apply(context.Background(), "organisations", customers.change(cid))
	require.NoError(t, err)
	_, err = e.links.Apply(context.Background(), "organisations", orgs.change(oid))
	require.NoError(t, err)

	res := e.links.result(erpLink(cid))
	require.Len(t, res.Warnings, 1)
	assert.Contains(t, res.Warnings[0], "organisations.name (webCRM): cut from 243 to 200 characters")
	assert.Len(t, []rune(orgs.get(res.State.CrmID)["OrganisationName"].(string)), 200)
	res = e.links.result(orgLink(oid))
	require.NotEmpty(t, res.Warnings)
	assert.Contains(t, res.Warnings[0], `organisations.country (webCRM): value "Atlantis" is not in the field's value table; treated as no value`)
	assert.Equal(t, domain.StateOK, res.State.State)
	assert.Nil(t, customers.get(res.State.ErpID)["postalAddress"].(map[string]any)["countryCode"])
	assert.Contains(t, e.logs.String(), "mapping warning")
}

func TestPathHelpers(t *testing.T) {
	rec := map[string]any{"name": "x", "postalAddress": map[string]any{"city": "Aarhus"}}
	assert.Equal(t, "Aarhus", lookupPath(rec, "postalAddress.city"))
	assert.Nil(t, lookupPath(rec, "name.first"), "through a value that is no object")
	assert.Nil(t, lookupPath(rec, "missing.city"))

	setPath(rec, "postalAddress.line1", "Havnegade 1")
	setPath(rec, "name.first", "y")
	setPath(rec, "flags.active", false)
	assert.Equal(t, map[string]any{
		"name":          map[string]any{"first": "y"},
		"postalAddress": map[string]any{"city": "Aarhus", "line1": "Havnegade 1"},
		"flags":         map[string]any{"active": false},
	}, rec)
}

// TestMatchQueries: the equality look-ups that find candidates: the first
// criterion's property on the other side, the value as it is and, when it
// differs, normalised; none without a value or a criterion.
func TestMatchQueries(t *testing.T) {
	set := defaults(t)
	orgs, _ := set.Pairing("organisations")
	products, _ := set.Pairing("products")
	opps, _ := set.Pairing("opportunities")
	assert.Equal(t, []lookup{{"organisationNumber", "dk 3100-0001"}, {"organisationNumber", "DK31000001"}},
		matchQueries(orgs, mappings.Canonical{"vat-number": "dk 3100-0001"}, domain.ERP))
	assert.Equal(t, []lookup{{"OrganisationVatNumber", "DK31000001"}},
		matchQueries(orgs, mappings.Canonical{"vat-number": "DK31000001"}, domain.WebCRM))
	assert.Equal(t, []lookup{{"ProductCustom1", "P-1"}}, matchQueries(products, mappings.Canonical{"product-number": "P-1"}, domain.WebCRM))
	assert.Nil(t, matchQueries(orgs, mappings.Canonical{"name": "x"}, domain.ERP))
	assert.Nil(t, matchQueries(orgs, mappings.Canonical{"vat-number": "  "}, domain.ERP))
	assert.Nil(t, matchQueries(opps, mappings.Canonical{"number": "T-1"}, domain.ERP))
}

// TestTheIndexHasNothingToSayWithoutAMergeValue: a pairing without merge
// criteria, or a record without a value, asks the index nothing.
func TestTheIndexHasNothingToSayWithoutAMergeValue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	opps, _ := e.set.Pairing("opportunities")
	orgs, _ := e.set.Pairing("organisations")
	_, answered, err := e.eng.indexCandidates(ctx, opps, e.sides(opps), domain.ERP, mappings.Canonical{"number": "T-1"}, e.clock.Now())
	require.NoError(t, err)
	assert.False(t, answered)
	_, answered, err = e.eng.indexCandidates(ctx, orgs, e.sides(orgs), domain.ERP, mappings.Canonical{"name": "x"}, e.clock.Now())
	require.NoError(t, err)
	assert.False(t, answered)
	assert.Zero(t, e.erp["customers"].count("index"))
}
