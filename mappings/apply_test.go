package mappings

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tandemsync/tandem/domain"
)

// linkTable is an in-memory Resolver: the link table a real engine keeps, per pairing,
// webCRM id <-> ERP id.
type linkTable map[string][][2]string // pairing -> pairs {webCRM id, ERP id}

func (l linkTable) Resolve(_ context.Context, pairing string, from domain.Side, id string) (string, bool, error) {
	if pairing == "broken" {
		return "", false, errors.New("link store unavailable")
	}
	for _, pair := range l[pairing] {
		switch {
		case from == domain.WebCRM && pair[0] == id:
			return pair[1], true, nil
		case from == domain.ERP && pair[1] == id:
			return pair[0], true, nil
		}
	}
	return "", false, nil
}

func testLinks() linkTable {
	return linkTable{
		"organisations": {{"17", "cu-17"}, {"18", "cu-æøå"}},
		"persons":       {{"5", "ct-5"}},
		"users":         {{"3", "emp-3"}},
		"opportunities": {{"901", "ord-901"}},
	}
}

// mapCase is one record mapped from one side.
type mapCase struct {
	name      string
	pairing   string
	side      domain.Side
	rec       map[string]any
	want      Canonical
	warnings  []string // substrings, one per expected warning
	wantError string   // substring; empty = no error
}

func runMapCases(t *testing.T, cases []mapCase) {
	t.Helper()
	s := loadDefaults(t)
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.pairing+"/"+string(tc.side)+"/"+tc.name, func(t *testing.T) {
			p := pairing(t, s, tc.pairing)
			var got Canonical
			var warns []Warning
			var err error
			if tc.side == domain.WebCRM {
				got, warns, err = p.FromWebCRM(ctx, tc.rec, testLinks())
			} else {
				got, warns, err = p.FromERP(ctx, tc.rec, testLinks())
			}
			requireOutcome(t, tc.wantError, err, map[string]any(tc.want), map[string]any(got), tc.warnings, warns)
		})
	}
}

func TestFromWebCRM(t *testing.T) {
	t.Parallel()
	runMapCases(t, []mapCase{
		{
			name: "danish company with multi-line address", pairing: "organisations", side: domain.WebCRM,
			rec: map[string]any{
				"OrganisationId": json.Number("17"), "OrganisationName": "  Ærø Ølbryggeri ApS ",
				"OrganisationVatNumber": "DK 12.34-56 78", "OrganisationAddress": "Søndergade 5\r\n2. sal\nBagindgang",
				"OrganisationPostCode": "5970", "OrganisationCity": "Ærøskøbing", "OrganisationState": nil,
				"OrganisationCountry": " danmark ", "OrganisationTelephone": "", "OrganisationWww": "www.ærø-øl.dk",
				"OrganisationCustom15": "webcrm:Organisations:17", "OrganisationMemo": "not mapped",
			},
			want: Canonical{
				"name": "Ærø Ølbryggeri ApS", "vat-number": "DK 12.34-56 78", "address": "Søndergade 5\n2. sal\nBagindgang",
				"postcode": "5970", "city": "Ærøskøbing", "country": "DK", "website": "www.ærø-øl.dk",
			},
		},
		{
			name: "unknown country is a warning, not a failure", pairing: "organisations", side: domain.WebCRM,
			rec:      map[string]any{"OrganisationName": "Atlantis AS", "OrganisationCountry": "Atlantis"},
			want:     Canonical{"name": "Atlantis AS"},
			warnings: []string{`organisations.country (webCRM): value "Atlantis" is not in the field's value table`},
		},
		{
			name: "all empty", pairing: "organisations", side: domain.WebCRM,
			rec:  map[string]any{"OrganisationName": nil, "OrganisationAddress": "  ", "OrganisationCity": ""},
			want: Canonical{},
		},
		{
			name: "norwegian person", pairing: "persons", side: domain.WebCRM,
			rec: map[string]any{
				"PersonId": 5, "PersonOrganisationId": float64(17), "PersonFirstName": "Åse", "PersonLastName": "Bjørnstad-Øvre",
				"PersonEmail": " Aase@Fjord.NO ", "PersonDirectPhone": nil, "PersonMobilePhone": "+47 900 00 000",
				"PersonTitle": "Innkjøpssjef", "PersonBirthday": "1980-02-29T00:00:00.0000000Z", "PersonStatus": "Guest",
			},
			want: Canonical{
				"organisation": "17", "first-name": "Åse", "last-name": "Bjørnstad-Øvre", "email": "aase@fjord.no",
				"phone-mobile": "+47 900 00 000", "title": "Innkjøpssjef", "birth-date": "1980-02-29", "status": "active",
			},
		},
		{
			name: "dash is webCRM's empty last name, organisation 0 is none", pairing: "persons", side: domain.WebCRM,
			rec:  map[string]any{"PersonLastName": " - ", "PersonOrganisationId": json.Number("0"), "PersonStatus": "Resigned"},
			want: Canonical{"status": "inactive"},
		},
		{
			name: "bad birthday names the field", pairing: "persons", side: domain.WebCRM,
			rec:       map[string]any{"PersonId": 77, "PersonBirthday": "29.02.1980"},
			wantError: `persons: webCRM record 77: field birth-date: "29.02.1980" is not a date or time`,
		},
		{
			name: "unknown status fails", pairing: "persons", side: domain.WebCRM,
			rec:       map[string]any{"PersonStatus": "Retired"},
			wantError: `field status: value "Retired" is not in the field's value table`,
		},
		{
			name: "user", pairing: "users", side: domain.WebCRM,
			rec:  map[string]any{"UserId": 3, "UserName": " Ann Bø Ås ", "UserEmail": "ANN@firma.dk", "UserTelephone": "+45 70 00 00 00"},
			want: Canonical{"name": "Ann Bø Ås", "email": "ann@firma.dk", "phone-work": "+45 70 00 00 00"},
		},
		{
			name: "product with float and json.Number prices", pairing: "products", side: domain.WebCRM,
			rec: map[string]any{
				"ProductCustom1": "ØL-100", "ProductCustom2": "Økologisk øl, 33 cl", "ProductCustom3": "stk",
				"ProductPrice": 0.1 + 0.2, "ProductCostPrice": json.Number("1.50"), "ProductQuantity": "12.000",
				"ProductVatCode": "U25",
			},
			want: Canonical{
				"product-number": "ØL-100", "name": "Økologisk øl, 33 cl", "unit": "stk", "sales-price": "0.3",
				"cost-price": "1.5", "stock-quantity": "12", "vat-code": "U25",
			},
		},
		{
			name: "won opportunity", pairing: "opportunities", side: domain.WebCRM,
			rec: map[string]any{
				"OpportunityId": 901, "OpportunityNumber": "T-1001", "OpportunityOrganisationId": 17, "OpportunityPersonId": 0,
				"OpportunityAssignedTo": json.Number("3"), "OpportunityOrderDate": "2024-05-01T00:00:00",
				"OpportunityCurrencyName": "dkk", "OpportunityDiscount": 12.5, "OpportunityDescription": "Sommerøl til Ærø",
				"OpportunityWinYesNo": true, "OpportunityLostDate": "2024-06-01T00:00:00Z",
			},
			want: Canonical{
				"number": "T-1001", "organisation": "17", "sales-rep": "3", "order-date": "2024-05-01", "currency": "DKK",
				"discount": "12.5", "description": "Sommerøl til Ærø", "status": "won",
			},
		},
		{
			name: "lost opportunity", pairing: "opportunities", side: domain.WebCRM,
			rec:  map[string]any{"OpportunityWinYesNo": false, "OpportunityLostDate": "2024-06-01T00:00:00.0000000Z"},
			want: Canonical{"status": "lost"},
		},
		{
			name: "open opportunity", pairing: "opportunities", side: domain.WebCRM,
			rec:  map[string]any{"OpportunityWinYesNo": nil, "OpportunityLostDate": nil},
			want: Canonical{"status": "open"},
		},
		{
			name: "quotation line", pairing: "quotationlines", side: domain.WebCRM,
			rec: map[string]any{
				"QuotationLineId": 44, "QuotationLineOpportunityId": 901, "QuotationLineData1": "ØL-100",
				"QuotationLineQuantity": json.Number("24"), "QuotationLinePrice": 1234.5, "QuotationLineDiscount": 0,
				"QuotationLineVatPercentage": json.Number("25.00"), "QuotationLineCostPrice": 0.7,
				"QuotationLineComment": "Kasse à 24 stk", "QuotationLineSortOrder": json.Number("3"),
			},
			want: Canonical{
				"opportunity": "901", "product-number": "ØL-100", "quantity": "24", "unit-price": "1234.5",
				"discount-percent": "0", "vat-percent": "25", "cost-price": "0.7", "description": "Kasse à 24 stk",
				"sort-order": int64(3),
			},
		},
		{
			name: "fractional sort order fails", pairing: "quotationlines", side: domain.WebCRM,
			rec:       map[string]any{"QuotationLineId": 45, "QuotationLineSortOrder": 2.5},
			wantError: `quotationlines: webCRM record 45: field sort-order: "2.5" is not a whole number`,
		},
	})
}

func TestFromERP(t *testing.T) {
	t.Parallel()
	runMapCases(t, []mapCase{
		{
			name: "customer with nested address", pairing: "organisations", side: domain.ERP,
			rec: map[string]any{
				"id": "cu-17", "name": "Fjordkraft Øst AS", "organisationNumber": "NO 923 456 789 MVA",
				"postalAddress": map[string]any{"line1": "Storgata 1", "line2": "", "postalCode": "0155", "city": "Oslo", "countryCode": "no"},
				"phone":         "+47 22 00 00 00", "website": nil, "active": true,
			},
			want: Canonical{
				"name": "Fjordkraft Øst AS", "vat-number": "NO 923 456 789 MVA", "address": "Storgata 1",
				"postcode": "0155", "city": "Oslo", "country": "NO", "phone": "+47 22 00 00 00",
			},
		},
		{
			name: "address only in line2", pairing: "organisations", side: domain.ERP,
			rec:  map[string]any{"postalAddress": map[string]any{"line1": nil, "line2": "Postboks 12"}},
			want: Canonical{"address": "Postboks 12"},
		},
		{
			name: "person contact", pairing: "persons", side: domain.ERP,
			rec: map[string]any{
				"id": "ct-5", "contactType": "person", "customerId": "cu-æøå", "firstName": "Øystein", "lastName": "",
				"email": "OYSTEIN@EKSEMPEL.NO", "birthDate": "1975-12-24", "active": false,
			},
			want: Canonical{"organisation": "18", "first-name": "Øystein", "email": "oystein@eksempel.no", "birth-date": "1975-12-24", "status": "inactive"},
		},
		{
			name: "customer not linked yet", pairing: "persons", side: domain.ERP,
			rec:       map[string]any{"id": "ct-6", "customerId": "cu-404"},
			wantError: `persons: ERP record ct-6: field organisation: no organisations link yet for ERP record "cu-404"`,
		},
		{
			name: "employee name from parts", pairing: "users", side: domain.ERP,
			rec:  map[string]any{"id": "emp-3", "contactType": "employee", "fullName": "", "firstName": "Per", "lastName": "Ødegård", "email": "per@firma.no"},
			want: Canonical{"name": "Per Ødegård", "email": "per@firma.no"},
		},
		{
			name: "employee full name wins over parts", pairing: "users", side: domain.ERP,
			rec:  map[string]any{"fullName": "Per Ødegård Jr.", "firstName": "Per", "lastName": "Ødegård"},
			want: Canonical{"name": "Per Ødegård Jr."},
		},
		{
			name: "product decimals", pairing: "products", side: domain.ERP,
			rec: map[string]any{
				"productNumber": "ØL-100", "name": "Økologisk øl, 33 cl", "salesPrice": json.Number("0.30"),
				"costPrice": json.Number("1.5"), "stockQuantity": json.Number("1.2E+1"), "active": true,
			},
			want: Canonical{"product-number": "ØL-100", "name": "Økologisk øl, 33 cl", "sales-price": "0.3", "cost-price": "1.5", "stock-quantity": "12"},
		},
		{
			name: "draft order", pairing: "opportunities", side: domain.ERP,
			rec: map[string]any{
				"id": "ord-901", "orderNumber": "T-1001", "customerId": "cu-17", "contactId": "ct-5", "salesRepContactId": "emp-3",
				"orderDate": "2024-05-01", "currency": "DKK", "discount": json.Number("12.50"), "status": "draft",
			},
			want: Canonical{
				"number": "T-1001", "organisation": "17", "person": "5", "sales-rep": "3", "order-date": "2024-05-01",
				"currency": "DKK", "discount": "12.5", "status": "open",
				"erp-id": "ord-901", "erp-status": "synchronized",
			},
		},
		{
			name: "cancelled order reads as lost", pairing: "opportunities", side: domain.ERP,
			rec:  map[string]any{"status": "cancelled"},
			want: Canonical{"status": "lost", "erp-status": "synchronized"},
		},
		{
			name: "unknown order status fails", pairing: "opportunities", side: domain.ERP,
			rec:       map[string]any{"id": "ord-1", "status": "shipped"},
			wantError: `opportunities: ERP record ord-1: field status: value "shipped" is not in the field's value table`,
		},
		{
			name: "several unresolved references are all reported", pairing: "opportunities", side: domain.ERP,
			rec:       map[string]any{"id": "ord-2", "customerId": "cu-1", "contactId": "ct-1"},
			wantError: `field person: no persons link yet for ERP record "ct-1"`,
		},
		{
			name: "order line", pairing: "quotationlines", side: domain.ERP,
			rec: map[string]any{
				"id": "ol-1", "orderId": "ord-901", "productNumber": "ØL-100", "quantity": json.Number("24"),
				"unitPrice": json.Number("1234.50"), "discountPercent": json.Number("0"), "vatPercent": json.Number("25"),
				"costPrice": json.Number("0.70"), "description": "Kasse à 24 stk", "sortOrder": float64(3),
			},
			want: Canonical{
				"opportunity": "901", "product-number": "ØL-100", "quantity": "24", "unit-price": "1234.5",
				"discount-percent": "0", "vat-percent": "25", "cost-price": "0.7", "description": "Kasse à 24 stk",
				"sort-order": int64(3),
			},
		},
	})
}

func TestUnresolvedReferencesAreTyped(t *testing.T) {
	t.Parallel()
	p := pairing(t, loadDefaults(t), "opportunities")
	_, _, err := p.FromERP(context.Background(), map[string]any{"id": "ord-2", "customerId": "cu-1", "contactId": "ct-1", "salesRepContactId": "emp-3"}, testLinks())
	var u *UnresolvedReference
	require.ErrorAs(t, err, &u)
	require.Equal(t, []*UnresolvedReference{
		{Pairing: "organisations", Side: domain.ERP, ID: "cu-1"},
		{Pairing: "persons", Side: domain.ERP, ID: "ct-1"},
	}, Unresolved(err))

	_, _, err = p.ToERP(context.Background(), Canonical{"organisation": "99"}, []string{"organisation"}, testLinks())
	require.Equal(t, []*UnresolvedReference{{Pairing: "organisations", Side: domain.WebCRM, ID: "99"}}, Unresolved(err))

	// A failing resolver is an error, not "unresolved".
	q := pairing(t, loadDefaults(t), "persons")
	broken := *q
	broken.Fields = append([]Field(nil), q.Fields...)
	f, _ := broken.Field("organisation")
	f.References = "broken"
	_, _, err = broken.FromERP(context.Background(), map[string]any{"customerId": "cu-17"}, testLinks())
	require.ErrorContains(t, err, "link store unavailable")
	require.Empty(t, Unresolved(err))
	_, _, err = q.FromERP(context.Background(), map[string]any{"customerId": "cu-17"}, nil)
	require.ErrorContains(t, err, "no resolver")
}

// requireOutcome checks a mapping's result: the expected error (a substring), or the
// expected record and warnings (substrings, in order). It reports whether there was a
// record to check.
func requireOutcome(t *testing.T, wantErr string, err error, want, got map[string]any, wantWarns []string, warns []Warning) bool {
	t.Helper()
	if wantErr != "" {
		require.ErrorContains(t, err, wantErr)
		return false
	}
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Len(t, warns, len(wantWarns), "warnings: %v", warns)
	for i, w := range wantWarns {
		require.Contains(t, warns[i].String(), w)
	}
	return true
}

// writeCase maps canonical fields to one side.
type writeCase struct {
	name     string
	pairing  string
	side     domain.Side
	c        Canonical
	fields   []string
	want     map[string]any
	warnings []string
	wantErr  string
}

func TestToSides(t *testing.T) {
	t.Parallel()
	s := loadDefaults(t)
	long := strings.Repeat("Æblegårdens Økologiske Frugtplantage ", 7) // 259 characters
	cases := []writeCase{
		{
			name: "customer with nested address", pairing: "organisations", side: domain.ERP,
			c: Canonical{
				"name": "Ærø Ølbryggeri ApS", "address": "Søndergade 5\n2. sal\nBagindgang", "postcode": "5970",
				"city": "Ærøskøbing", "country": "DK",
			},
			fields: []string{"name", "address", "postcode", "city", "state", "country", "phone"},
			want: map[string]any{
				"name": "Ærø Ølbryggeri ApS", "phone": nil,
				"postalAddress": map[string]any{
					"line1": "Søndergade 5", "line2": "2. sal\nBagindgang", "postalCode": "5970",
					"city": "Ærøskøbing", "state": nil, "countryCode": "DK",
				},
			},
		},
		{
			name: "very long name is cut for webCRM with a warning", pairing: "organisations", side: domain.WebCRM,
			c:        Canonical{"name": long, "country": "NO"},
			fields:   []string{"name", "country"},
			want:     map[string]any{"OrganisationName": truncate(long, 200), "OrganisationCountry": "Norge"},
			warnings: []string{"organisations.name (webCRM): cut from 259 to 200 characters"},
		},
		{
			name: "the ERP takes the long name whole", pairing: "organisations", side: domain.ERP,
			c: Canonical{"name": long}, fields: []string{"name"},
			want: map[string]any{"name": long},
		},
		{
			name: "person to webCRM: empty last name becomes a dash, status, birthday at midnight", pairing: "persons", side: domain.WebCRM,
			c:      Canonical{"organisation": "17", "first-name": "Åse", "status": "inactive", "birth-date": "1980-02-29"},
			fields: []string{"organisation", "first-name", "last-name", "status", "birth-date"},
			want: map[string]any{
				"PersonOrganisationId": int64(17), "PersonFirstName": "Åse", "PersonLastName": "-",
				"PersonStatus": "Resigned", "PersonBirthday": "1980-02-29T00:00:00",
			},
		},
		{
			name: "person to the ERP: translated customer, constant contact type", pairing: "persons", side: domain.ERP,
			c:      Canonical{"organisation": "18", "email": "aase@fjord.no", "status": "active"},
			fields: []string{"organisation", "email", "status"},
			want:   map[string]any{"customerId": "cu-æøå", "email": "aase@fjord.no", "active": true, "contactType": "person"},
		},
		{
			name: "user name split for the ERP", pairing: "users", side: domain.ERP,
			c: Canonical{"name": "Ann Bø Ås"}, fields: []string{"name"},
			want: map[string]any{"fullName": "Ann Bø Ås", "firstName": "Ann Bø", "lastName": "Ås", "contactType": "employee"},
		},
		{
			name: "single-word user name is a last name", pairing: "users", side: domain.ERP,
			c: Canonical{"name": "Bjørk"}, fields: []string{"name"},
			want: map[string]any{"fullName": "Bjørk", "firstName": nil, "lastName": "Bjørk", "contactType": "employee"},
		},
		{
			name: "decimals go out as exact JSON numbers", pairing: "products", side: domain.ERP,
			c:      Canonical{"sales-price": "0.3", "cost-price": "1.5"},
			fields: []string{"sales-price", "cost-price"},
			want:   map[string]any{"salesPrice": json.Number("0.3"), "costPrice": json.Number("1.5")},
		},
		{
			name: "stock flows only to webCRM", pairing: "products", side: domain.ERP,
			c: Canonical{"stock-quantity": "4"}, fields: []string{"stock-quantity"},
			wantErr: "field stock-quantity is never written to ERP",
		},
		{
			name: "order with translated references", pairing: "opportunities", side: domain.ERP,
			c:      Canonical{"organisation": "17", "person": "5", "sales-rep": "3", "order-date": "2024-05-01", "status": "won", "discount": "12.5"},
			fields: []string{"organisation", "person", "sales-rep", "order-date", "status", "discount"},
			want: map[string]any{
				"customerId": "cu-17", "contactId": "ct-5", "salesRepContactId": "emp-3", "orderDate": "2024-05-01",
				"status": "won", "discount": json.Number("12.5"),
			},
		},
		{
			name: "status is never written to webCRM", pairing: "opportunities", side: domain.WebCRM,
			c: Canonical{"status": "won"}, fields: []string{"status"},
			wantErr: "field status is never written to webCRM",
		},
		{
			name: "order line", pairing: "quotationlines", side: domain.ERP,
			c:      Canonical{"opportunity": "901", "sort-order": float64(3), "quantity": "24"},
			fields: []string{"opportunity", "sort-order", "quantity", "description"},
			want:   map[string]any{"orderId": "ord-901", "sortOrder": int64(3), "quantity": json.Number("24"), "description": nil},
		},
		{
			name: "quotation line", pairing: "quotationlines", side: domain.WebCRM,
			c:      Canonical{"opportunity": "901", "sort-order": int64(3), "unit-price": "1234.5"},
			fields: []string{"opportunity", "sort-order", "unit-price"},
			want:   map[string]any{"QuotationLineOpportunityId": int64(901), "QuotationLineSortOrder": int64(3), "QuotationLinePrice": json.Number("1234.5")},
		},
		{
			name: "unknown field", pairing: "quotationlines", side: domain.WebCRM,
			c: Canonical{}, fields: []string{"colour"}, wantErr: `no field "colour"`,
		},
		{
			name: "nothing to write", pairing: "persons", side: domain.ERP,
			c: Canonical{"email": "x@y.z"}, fields: nil, want: map[string]any{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.pairing+"/"+string(tc.side)+"/"+tc.name, func(t *testing.T) {
			p := pairing(t, s, tc.pairing)
			var got map[string]any
			var warns []Warning
			var err error
			if tc.side == domain.WebCRM {
				got, warns, err = p.ToWebCRM(context.Background(), tc.c, tc.fields, testLinks())
			} else {
				got, warns, err = p.ToERP(context.Background(), tc.c, tc.fields, testLinks())
			}
			if !requireOutcome(t, tc.wantErr, err, tc.want, got, tc.warnings, warns) {
				return
			}
			// What we build must survive JSON, as it will on the wire.
			_, err = json.Marshal(got)
			require.NoError(t, err)
		})
	}
}

// TestRoundTrip checks webCRM → canonical → ERP → canonical (and the reverse) for every
// field that flows both ways, on realistic records of every pairing.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := loadDefaults(t)
	webcrm := map[string]map[string]any{
		"organisations": {
			"OrganisationName": "Ærø Ølbryggeri ApS", "OrganisationVatNumber": "DK12345678",
			"OrganisationAddress": "Søndergade 5\n2. sal\nBagindgang", "OrganisationPostCode": "5970",
			"OrganisationCity": "Ærøskøbing", "OrganisationState": "Syddanmark", "OrganisationCountry": "Danmark",
			"OrganisationTelephone": "+45 62 52 00 00", "OrganisationWww": "https://ærø-øl.dk",
		},
		"persons": {
			"PersonOrganisationId": json.Number("17"), "PersonFirstName": "Åse Marie", "PersonLastName": "Bjørnstad-Øvre",
			"PersonEmail": "aase@fjord.no", "PersonDirectPhone": "+47 22 00 00 01", "PersonMobilePhone": "+47 900 00 000",
			"PersonTitle": "Innkjøpssjef", "PersonBirthday": "1980-02-29T00:00:00Z", "PersonStatus": "Resigned",
		},
		"users": {
			"UserName": "Søren Åge Østergård", "UserEmail": "soren@firma.dk", "UserTelephone": "+45 70 00 00 00",
			"UserMobilePhone": "+45 20 00 00 00", "UserTitle": "Sælger",
		},
		"products": {
			"ProductCustom1": "ØL-100", "ProductCustom2": "Økologisk øl", "ProductCustom3": "kasse",
			"ProductPrice": 0.1 + 0.2, "ProductCostPrice": json.Number("0.10"), "ProductVatCode": "U25",
		},
		"opportunities": {
			"OpportunityNumber": "T-1001", "OpportunityOrganisationId": 17, "OpportunityPersonId": 5,
			"OpportunityAssignedTo": 3, "OpportunityOrderDate": "2024-05-01T00:00:00", "OpportunityCurrencyName": "NOK",
			"OpportunityDiscount": 7.25, "OpportunityDescription": "Julebord på Ærø",
		},
		"quotationlines": {
			"QuotationLineOpportunityId": 901, "QuotationLineData1": "ØL-100", "QuotationLineQuantity": 24,
			"QuotationLinePrice": 19.95, "QuotationLineDiscount": 2.5, "QuotationLineVatPercentage": 25,
			"QuotationLineCostPrice": 11.1, "QuotationLineComment": "Kasse à 24 stk", "QuotationLineSortOrder": 1,
		},
	}
	erp := map[string]map[string]any{
		"organisations": {
			"name": "Fjordkraft Øst AS", "organisationNumber": "NO923456789MVA",
			"postalAddress": map[string]any{"line1": "Storgata 1", "line2": "Postboks 12", "postalCode": "0155", "city": "Oslo", "state": "Oslo", "countryCode": "NO"},
			"phone":         "+47 22 00 00 00", "website": "fjordkraft.no",
		},
		"persons": {
			"contactType": "person", "customerId": "cu-æøå", "firstName": "Øystein", "lastName": "Dæhlie", "email": "oystein@eksempel.no",
			"phoneWork": "1", "phoneMobile": "2", "title": "CFO", "birthDate": "1975-12-24", "active": true,
		},
		"users":    {"contactType": "employee", "fullName": "Per Ødegård", "email": "per@firma.no", "phoneWork": "3", "phoneMobile": "4", "title": "Selger"},
		"products": {"productNumber": "SKU-1", "name": "Ærtesuppe", "unit": "ds", "salesPrice": json.Number("0.30"), "costPrice": json.Number("0.2"), "vatCode": "U25"},
		"opportunities": {
			"orderNumber": "O-1", "customerId": "cu-17", "contactId": "ct-5", "salesRepContactId": "emp-3", "orderDate": "2024-01-31",
			"currency": "SEK", "discount": json.Number("100"), "description": "Större order",
		},
		"quotationlines": {
			"orderId": "ord-901", "productNumber": "SKU-1", "quantity": json.Number("1.5"), "unitPrice": json.Number("1E+3"),
			"discountPercent": json.Number("0"), "vatPercent": json.Number("12"), "costPrice": json.Number("0.001"),
			"description": "Linje lagt til i ERP", "sortOrder": json.Number("2"),
		},
	}
	for _, name := range s.Names() {
		p := pairing(t, s, name)
		var both []string
		for _, f := range p.Fields {
			if f.Direction == Both {
				both = append(both, f.Name)
			}
		}
		t.Run(name+"/webcrm-erp-webcrm", func(t *testing.T) { roundTrip(t, p, domain.WebCRM, webcrm[name], both) })
		t.Run(name+"/erp-webcrm-erp", func(t *testing.T) { roundTrip(t, p, domain.ERP, erp[name], both) })
	}
}

// roundTrip maps rec from side `from` to canonical, writes it to the other side, maps that
// back, and checks the fields in both are unchanged.
func roundTrip(t *testing.T, p *Pairing, from domain.Side, rec map[string]any, both []string) {
	ctx := context.Background()
	read := func(s domain.Side, r map[string]any) Canonical {
		read := p.FromERP
		if s == domain.WebCRM {
			read = p.FromWebCRM
		}
		c, _, err := read(ctx, r, testLinks())
		require.NoError(t, err)
		return c
	}
	c1 := read(from, rec)
	for _, f := range both {
		require.Contains(t, c1, f, "test record should fill every both-way field")
	}
	write := p.ToWebCRM
	if from == domain.WebCRM {
		write = p.ToERP
	}
	out, _, err := write(ctx, c1, p.WritableFields(from.Other(), false), testLinks())
	require.NoError(t, err)
	c2 := read(from.Other(), out)
	for _, f := range both {
		require.Equal(t, c1[f], c2[f], f)
	}
}
