package erpsim

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tandemsync/tandem/customerp"
)

// country holds the demo data of one country.
type country struct {
	code, tld, currency, phonePrefix string
	cities                           []struct{ name, postal string }
	streets, suffixes, first, last   []string
	titles                           []string
}

var demoCountries = []country{
	{
		code: "DK", tld: "dk", currency: "DKK", phonePrefix: "+45",
		cities: []struct{ name, postal string }{{"København K", "1050"}, {"Aarhus C", "8000"}, {"Odense C", "5000"},
			{"Aalborg", "9000"}, {"Esbjerg", "6700"}, {"Vejle", "7100"}, {"Roskilde", "4000"}, {"Horsens", "8700"},
			{"Kolding", "6000"}, {"Herning", "7400"}},
		streets:  []string{"Vestergade", "Østergade", "Nørregade", "Søndergade", "Strandvejen", "Industrivej", "Havnegade", "Kongensgade"},
		suffixes: []string{"ApS", "A/S", "ApS", "I/S"},
		first:    []string{"Mette", "Lars", "Sofie", "Anders", "Camilla", "Jens", "Ida", "Mads", "Line", "Rasmus", "Freja", "Søren"},
		last:     []string{"Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen", "Jørgensen"},
		titles:   []string{"Indkøbschef", "Direktør", "Økonomiansvarlig", "Projektleder", "Driftschef"},
	},
	{
		code: "NO", tld: "no", currency: "NOK", phonePrefix: "+47",
		cities: []struct{ name, postal string }{{"Oslo", "0150"}, {"Bergen", "5003"}, {"Trondheim", "7010"},
			{"Stavanger", "4006"}, {"Drammen", "3015"}, {"Kristiansand", "4610"}, {"Tromsø", "9008"}, {"Fredrikstad", "1606"}},
		streets:  []string{"Storgata", "Kirkegata", "Dronningens gate", "Sjøgata", "Industriveien", "Strandgata", "Kongens gate", "Bryggen"},
		suffixes: []string{"AS", "AS", "ASA"},
		first:    []string{"Ingrid", "Ola", "Kari", "Sindre", "Marte", "Eirik", "Silje", "Håkon", "Ragnhild", "Torbjørn", "Nora", "Jonas"},
		last:     []string{"Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Berg", "Haugen", "Bakken", "Solberg", "Dahl"},
		titles:   []string{"Innkjøpsleder", "Daglig leder", "Økonomisjef", "Prosjektleder", "Driftsleder"},
	},
}

var (
	namePrefixes = []string{"Nordlys", "Fjord", "Havblik", "Skov", "Bølge", "Granit", "Vestkyst", "Polar", "Lyng", "Elv",
		"Birke", "Tinde", "Solvang", "Klippe", "Strand", "Nordvest", "Ask", "Isbre", "Kyst", "Dal"}
	nameTrades = []string{"Rør", "Tømrer", "Data", "Transport", "Energi", "Byg", "Maskin", "Elektro", "Handel", "Consult",
		"Ventilation", "Logistik", "Print", "Service"}
	demoProducts = []struct {
		name, unit string
		price      string
	}{
		{"Kontorstol Ergo", "stk", "2495"}, {"Hæve-sænkebord 160 cm", "stk", "4995"}, {"Konsulenttime", "time", "1150"},
		{"Installation", "time", "895"}, {"Serviceaftale", "md", "499"}, {"Kabel CAT6 305 m", "rulle", "1299"},
		{"Netværksswitch 24 porte", "stk", "3450"}, {"Bærbar PC 14\"", "stk", "8999"}, {"Skærm 27\"", "stk", "2299"},
		{"Printerpapir A4", "kasse", "289"}, {"Softwarelisens", "år", "3600"}, {"Kursusdag", "dag", "6500"},
		{"Rørbøjning 90°", "stk", "45.5"}, {"Ventil DN25", "stk", "312.75"}, {"Varmepumpe luft/vand", "stk", "64900"},
		{"Filtersæt", "sæt", "129.95"}, {"Kørsel", "km", "3.79"}, {"Montagebeslag", "stk", "18.25"},
		{"Fjernsupport", "time", "795"}, {"Backup 1 TB", "md", "149"},
	}
)

// asciiSlug makes a host-name-safe lower-case slug of a Scandinavian name.
func asciiSlug(s string) string {
	r := strings.NewReplacer("æ", "ae", "Æ", "ae", "ø", "o", "Ø", "o", "å", "aa", "Å", "aa", "/", "", " ", "", "-", "", ".", "")
	return strings.ToLower(r.Replace(s))
}

// SeedData adds demo data through the commit path (so the feeds see it): size customers in
// Denmark and Norway with one to three contacts each, four employees, a product catalogue and
// about one order (with lines) per three customers. The same seed gives the same data.
func (s *Server) SeedData(ctx context.Context, seed int64, size int) error {
	if size <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	digits := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	num := func(s string) json.Number { return json.Number(s) }
	return s.store.write(ctx, func(t *tx) error {
		add := func(r customerp.Resource, body map[string]any) (map[string]any, error) {
			norm, err := s.v.normalize(r, body)
			if err != nil {
				return nil, fmt.Errorf("erpsim: seed %s: %w", r, err)
			}
			if err := rules(r, norm); err != nil {
				return nil, fmt.Errorf("erpsim: seed %s: %w", r, err)
			}
			return t.insert(r, norm)
		}
		var employees []string
		for i := 0; i < 4; i++ {
			c := demoCountries[i%2]
			first, last := pick(c.first), pick(c.last)
			rec, err := add(customerp.Contacts, map[string]any{
				"contactType": "employee", "firstName": first, "lastName": last, "fullName": first + " " + last,
				"email":     fmt.Sprintf("%s.%s@tandemdemo.%s", asciiSlug(first), asciiSlug(last), c.tld),
				"phoneWork": c.phonePrefix + " " + digits(8), "title": pick([]string{"Sælger", "Key account manager", "Salgssjef"}),
			})
			if err != nil {
				return err
			}
			employees = append(employees, rec["id"].(string))
		}
		type product struct{ id, number, price, cost string }
		var products []product
		nProducts := min(max(size, 5), len(demoProducts)*3)
		for i := 0; i < nProducts; i++ {
			p := demoProducts[i%len(demoProducts)]
			name := p.name
			if i >= len(demoProducts) {
				name = fmt.Sprintf("%s (variant %d)", p.name, i/len(demoProducts)+1)
			}
			price := decimalOf(num(p.price))
			cost := new(decimalType)
			_, _ = decimalCtx.Mul(cost, price, decimalOf(num("0.6")))
			number := fmt.Sprintf("P-%d", 10001+i)
			costText := decimalText(roundTo2(cost))
			rec, err := add(customerp.Products, map[string]any{
				"productNumber": number, "name": name, "unit": p.unit, "salesPrice": num(p.price),
				"costPrice": num(costText), "vatCode": "25", "stockQuantity": num(fmt.Sprint(rng.IntN(500))),
			})
			if err != nil {
				return err
			}
			products = append(products, product{rec["id"].(string), number, p.price, costText})
		}
		type customer struct {
			id       string
			currency string
			persons  []string
		}
		var customers []customer
		for i := 0; i < size; i++ {
			c := demoCountries[rng.IntN(len(demoCountries))]
			name := pick(namePrefixes) + " " + pick(nameTrades) + " " + pick(c.suffixes)
			slug := asciiSlug(strings.Fields(name)[0] + strings.Fields(name)[1])
			city := c.cities[rng.IntN(len(c.cities))]
			orgNo := "DK" + digits(8)
			if c.code == "NO" {
				orgNo = "NO " + "9" + digits(8) + " MVA"
			}
			addr := map[string]any{"line1": fmt.Sprintf("%s %d", pick(c.streets), 1+rng.IntN(120)),
				"postalCode": city.postal, "city": city.name, "countryCode": c.code}
			body := map[string]any{
				"customerNumber": fmt.Sprint(20000 + i), "name": name, "organisationNumber": orgNo,
				"email": "post@" + slug + "." + c.tld, "phone": c.phonePrefix + " " + digits(8),
				"website": "https://www." + slug + "." + c.tld, "postalAddress": addr,
			}
			if rng.IntN(4) == 0 {
				body["deliveryAddress"] = map[string]any{"line1": fmt.Sprintf("%s %d", pick(c.streets), 1+rng.IntN(120)),
					"postalCode": city.postal, "city": city.name, "countryCode": c.code}
			}
			rec, err := add(customerp.Customers, body)
			if err != nil {
				return err
			}
			cu := customer{id: rec["id"].(string), currency: c.currency}
			for j := 0; j < 1+rng.IntN(3); j++ {
				first, last := pick(c.first), pick(c.last)
				p, err := add(customerp.Contacts, map[string]any{
					"contactType": "person", "customerId": cu.id, "firstName": first, "lastName": last,
					"fullName": first + " " + last, "email": fmt.Sprintf("%s.%s@%s.%s", asciiSlug(first), asciiSlug(last), slug, c.tld),
					"phoneMobile": c.phonePrefix + " " + digits(8), "title": pick(c.titles),
				})
				if err != nil {
					return err
				}
				cu.persons = append(cu.persons, p["id"].(string))
			}
			customers = append(customers, cu)
		}
		base := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
		for i := 0; i < max(1, size/3); i++ {
			cu := customers[rng.IntN(len(customers))]
			order, err := add(customerp.Orders, map[string]any{
				"orderNumber": fmt.Sprintf("SO-%d", 50001+i), "customerId": cu.id, "contactId": cu.persons[0],
				"salesRepContactId": employees[rng.IntN(len(employees))],
				"orderDate":         base.AddDate(0, 0, rng.IntN(365)).Format(time.DateOnly), "currency": cu.currency,
				"status": pick([]string{"draft", "open", "open", "won", "lost"}), "description": "Tilbud " + fmt.Sprint(50001+i),
			})
			if err != nil {
				return err
			}
			for j := 0; j < 1+rng.IntN(4); j++ {
				p := products[rng.IntN(len(products))]
				line := map[string]any{
					"orderId": order["id"], "productNumber": p.number, "quantity": num(fmt.Sprint(1 + rng.IntN(20))),
					"unitPrice": num(p.price), "vatPercent": num("25"), "costPrice": num(p.cost), "sortOrder": num(fmt.Sprint(10 * (j + 1))),
				}
				if rng.IntN(3) == 0 {
					line["discountPercent"] = num("10")
				}
				if _, err := add(customerp.OrderLines, line); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
