package mappings

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tandemsync/tandem/domain"
)

// BenchmarkMapAndHash maps realistic records of several pairings from both sides to
// canonical form and hashes them, one record per iteration. It reports records/s (wall
// clock) and records/cpu-s (per second of CPU the process used, garbage collection
// included), which stays meaningful on a machine busy with other work.
// Run: go test ./mappings -run '^$' -bench MapAndHash -cpu 1
func BenchmarkMapAndHash(b *testing.B) {
	s := loadDefaults(b)
	type input struct {
		p    *Pairing
		side domain.Side
		rec  map[string]any
	}
	inputs := []input{
		{pairing(b, s, "organisations"), domain.WebCRM, map[string]any{
			"OrganisationId": json.Number("17"), "OrganisationName": "Ærø Ølbryggeri ApS", "OrganisationVatNumber": "DK12345678",
			"OrganisationAddress": "Søndergade 5\n2. sal", "OrganisationPostCode": "5970", "OrganisationCity": "Ærøskøbing",
			"OrganisationCountry": "Danmark", "OrganisationTelephone": "+45 62 52 00 00", "OrganisationWww": "ærø-øl.dk",
			"OrganisationUpdatedAt": "2024-05-01T10:00:00.0000000Z", "OrganisationMemo": "unmapped text that is just carried",
		}},
		{pairing(b, s, "organisations"), domain.ERP, map[string]any{
			"id": "cu-17", "version": json.Number("4"), "name": "Fjordkraft Øst AS", "organisationNumber": "NO923456789MVA",
			"postalAddress": map[string]any{"line1": "Storgata 1", "line2": "", "postalCode": "0155", "city": "Oslo", "countryCode": "NO"},
			"phone":         "+47 22 00 00 00", "website": "fjordkraft.no", "active": true,
		}},
		{pairing(b, s, "persons"), domain.WebCRM, map[string]any{
			"PersonId": json.Number("5"), "PersonOrganisationId": json.Number("17"), "PersonFirstName": "Åse", "PersonLastName": "Bjørnstad",
			"PersonEmail": "aase@fjord.no", "PersonMobilePhone": "+47 900 00 000", "PersonBirthday": "1980-02-29T00:00:00.0000000Z",
			"PersonStatus": "Active",
		}},
		{pairing(b, s, "persons"), domain.ERP, map[string]any{
			"id": "ct-5", "contactType": "person", "customerId": "cu-17", "firstName": "Øystein", "lastName": "Dæhlie",
			"email": "oystein@eksempel.no", "birthDate": "1975-12-24", "active": true,
		}},
		{pairing(b, s, "products"), domain.WebCRM, map[string]any{
			"ProductId": json.Number("9"), "ProductCustom1": "ØL-100", "ProductCustom2": "Økologisk øl", "ProductPrice": json.Number("19.95"),
			"ProductCostPrice": json.Number("11.10"), "ProductQuantity": json.Number("240"), "ProductVatCode": "U25",
		}},
		{pairing(b, s, "quotationlines"), domain.ERP, map[string]any{
			"id": "ol-1", "orderId": "ord-901", "productNumber": "ØL-100", "quantity": json.Number("24"), "unitPrice": json.Number("19.95"),
			"discountPercent": json.Number("2.5"), "vatPercent": json.Number("25"), "costPrice": json.Number("11.1"),
			"description": "Kasse à 24 stk", "sortOrder": json.Number("1"),
		}},
	}
	links := testLinks()
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := processCPUTime()
	var sink string
	for i := 0; b.Loop(); i++ {
		in := inputs[i%len(inputs)]
		var c Canonical
		var err error
		if in.side == domain.WebCRM {
			c, _, err = in.p.FromWebCRM(ctx, in.rec, links)
		} else {
			c, _, err = in.p.FromERP(ctx, in.rec, links)
		}
		if err != nil {
			b.Fatal(err)
		}
		sink = Hash(c)
	}
	_ = sink
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
	}
}
