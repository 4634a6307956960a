package badinput

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/tandemsync/tandem/domain"
)

// pick returns w for webCRM and e for the ERP.
func pick(side domain.Side, w, e string) string {
	if side == domain.WebCRM {
		return w
	}
	return e
}

// valueCases are the malformed values both APIs can send, each in that
// API's own property names: wrong types, numbers that are none, broken
// text, deep nesting, impossible timestamps.
func valueCases(side domain.Side) []recordCase {
	by := func(w, e string) string { return pick(side, w, e) }
	org := by("GET /Organisations/{id}", "GET /customers/{id}")
	product := by("GET /Products/{id}", "GET /products/{id}")
	const outField = "error naming the record, the field and the value; not retried; the next edit syncs"
	name, price, cost := by("OrganisationName", "name"), by("ProductPrice", "salesPrice"), by("ProductCostPrice", "costPrice")
	updatedAt := by("OrganisationUpdatedAt", "updatedAt")
	// other reads the counterpart's value of one field (webCRM property,
	// ERP path).
	other := func(k *kase, st domain.LinkState, crmProp, erpPath string) string {
		if side == domain.WebCRM {
			return str(k.e.erpGet(k.t, k.resource(), st.ErpID), erpPath)
		}
		return str(k.e.crmGet(k.t, k.entity(), st.CrmID), crmProp)
	}
	return []recordCase{
		{
			name: "name-is-object", input: name + ` is a JSON object ({"first": "Fjord"})`, where: org, outcome: outField,
			fault: func(k *kase) { k.edit(set(name, map[string]any{"first": "Fjord"})) },
			want:  domain.StateError, reason: []string{"field name", "not text"},
		},
		{
			name: "price-is-word", input: price + ` is a string that is no number ("twelve")`, where: product, outcome: outField,
			pairing: pProducts,
			fault:   func(k *kase) { k.edit(set(price, "twelve")) },
			want:    domain.StateError, reason: []string{"sales-price", "twelve"},
		},
		{
			name: "price-is-numeric-string", input: price + ` is a numeric string ("12.50")`, where: product,
			outcome: "tolerated: read as the decimal 12.5",
			pairing: pProducts,
			fault:   func(k *kase) { k.edit(set(price, "12.50")) },
			want:    domain.StateOK,
			check: func(k *kase, st domain.LinkState) {
				if got := other(k, st, "ProductPrice", "salesPrice"); got != "12.5" {
					k.t.Errorf("the counterpart's price is %q, want 12.5", got)
				}
			},
		},
		{
			name: "price-decimal-comma", input: price + ` with a decimal comma ("1,5")`, where: product, outcome: outField,
			pairing: pProducts,
			fault:   func(k *kase) { k.edit(set(price, "1,5")) },
			want:    domain.StateError, reason: []string{"sales-price", "1,5"},
		},
		{
			name: "price-infinity", input: price + ` is "Infinity"`, where: product, outcome: outField,
			pairing: pProducts,
			fault:   func(k *kase) { k.edit(set(price, "Infinity")) },
			want:    domain.StateError, reason: []string{"sales-price", "Infinity"},
		},
		{
			name: "cost-nan", input: cost + ` is "NaN"`, where: product, outcome: outField,
			pairing: pProducts,
			fault:   func(k *kase) { k.edit(set(cost, "NaN")) },
			want:    domain.StateError, reason: []string{"cost-price", "NaN"},
		},
		{
			name: "price-huge-exponent", input: price + " is the JSON number 1e999999", where: product, outcome: outField,
			pairing: pProducts,
			fault:   func(k *kase) { k.edit(set(price, json.Number("1e999999"))) },
			want:    domain.StateError, reason: []string{"sales-price", "1e999999"},
		},
		{
			name: "name-invalid-utf8", input: name + " holds invalid UTF-8 bytes (0xff 0xfe)", where: org,
			outcome: "error naming the record and the invalid UTF-8 (not silently replaced by U+FFFD)",
			fault:   func(k *kase) { k.edit(set(name, raw("\"Fjord \xff\xfe Tech\""))) },
			want:    domain.StateError, reason: []string{"UTF-8"},
			check: func(k *kase, st domain.LinkState) {
				if st.CrmID == "" || st.ErpID == "" {
					return
				}
				if got := other(k, st, "OrganisationName", "name"); strings.ContainsRune(got, utf8.RuneError) {
					k.t.Errorf("the counterpart's name became %q", got)
				}
			},
		},
		{
			name: "name-nested-object", input: name + " is an object nested 1,000 levels deep", where: org, outcome: outField,
			fault: func(k *kase) { k.edit(set(name, nested(1000, `"x"`))) },
			want:  domain.StateError, reason: []string{"field name", "not text"},
		},
		{
			name:    "unmapped-nested-too-deep",
			input:   "an unmapped property (" + by("OrganisationCustom5", "description") + ") nested 20,000 levels deep, beyond the JSON decoder's limit",
			where:   org,
			outcome: outTransient,
			fault:   func(k *kase) { k.edit(set(by("OrganisationCustom5", "description"), nested(20000, "1"))) },
			want:    domain.StateError, reason: []string{"malformed", "depth"},
		},
		{
			name: "updated-at-missing", input: updatedAt + " is missing", where: org, outcome: outTransient,
			fault: func(k *kase) { k.edit(drop(updatedAt)) },
			want:  domain.StateError, reason: []string{updatedAt},
		},
		{
			name: "updated-at-impossible", input: updatedAt + ` is "2026-02-30T10:00:00Z"`, where: org, outcome: outTransient,
			fault: func(k *kase) { k.edit(set(updatedAt, "2026-02-30T10:00:00Z")) },
			want:  domain.StateError, reason: []string{updatedAt, "2026-02-30"},
		},
		{
			name:    "country-unknown",
			input:   by(`OrganisationCountry is "Atlantis"`, `postalAddress.countryCode is "XX"`) + " (not in the country table)",
			where:   org,
			outcome: "tolerated with a warning: the counterpart gets no country",
			fault: func(k *kase) {
				if side == domain.WebCRM {
					k.edit(set("OrganisationCountry", "Atlantis"))
				} else {
					k.edit(patch(map[string]any{"postalAddress": map[string]any{"countryCode": "XX"}}))
				}
			},
			want: domain.StateOK,
			check: func(k *kase, st domain.LinkState) {
				if got := other(k, st, "OrganisationCountry", "postalAddress.countryCode"); got != "" {
					k.t.Errorf("the counterpart's country is %q, want none", got)
				}
			},
		},
	}
}
