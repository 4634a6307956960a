package reliability

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/domain"
)

// The generator makes random operations from a seeded source. Its choices
// depend only on the seed and on its own model of the records it made, never
// on what the engine did meanwhile, so a seed always yields the same
// sequence of operations (the engine's interleaving with them varies).

// rec is one logical record the generator made: a record born on one side
// (or two twins born on both sides with the same merge key), whatever the
// engine makes of it on the other side.
type rec struct {
	n       int
	pairing string
	home    domain.Side
	crmID   int    // webCRM id when the generator made it there (home webCRM or twin)
	erpID   string // ERP id when the generator made it there (home ERP or twin)
	born    int    // scenario
	// oneSided is set for records that never get a counterpart by design:
	// ERP-born employees and orders, and lines of ERP-born orders.
	oneSided bool
	parents  map[string]*rec // canonical reference field -> parent
	children int             // live records that refer to it
	retired  bool            // deleted (or its delete was tried): no more operations
	number   string          // products: current product number
	twin     bool
	// linkCrm and linkErp are the ids the record's link names, as the check
	// at the end of the last scenario found them.
	linkCrm string
	linkErp string
	// secrets are the credentials the test gave the webCRM record (property
	// -> value), which no mapping carries and tandem must never destroy.
	secrets map[string]string
}

// idOn returns the id of r on side s: the one the generator made, or the
// counterpart its link names.
func (r *rec) idOn(s domain.Side) (string, bool) {
	if s == domain.WebCRM {
		if r.crmID != 0 {
			return strconv.Itoa(r.crmID), true
		}
		return r.linkCrm, r.linkCrm != ""
	}
	if r.erpID != "" {
		return r.erpID, true
	}
	return r.linkErp, r.linkErp != ""
}

// homeID is the id of the record on its home side.
func (r *rec) homeID() string {
	if r.home == domain.WebCRM {
		return strconv.Itoa(r.crmID)
	}
	return r.erpID
}

func (r *rec) String() string {
	return fmt.Sprintf("%s #%d (%s %s)", r.pairing, r.n, r.home, r.homeID())
}

// model is the generator's state.
type model struct {
	recs   []*rec
	serial int // makes values unique
}

// live returns the records of a pairing that may still be operated on.
func (m *model) live(pairing string, ok func(*rec) bool) []*rec {
	var out []*rec
	for _, r := range m.recs {
		if r.pairing == pairing && !r.retired && (ok == nil || ok(r)) {
			out = append(out, r)
		}
	}
	return out
}

// opKind is what an operation does.
type opKind string

const (
	opCreate opKind = "create"
	opTwin   opKind = "twin"
	opEdit   opKind = "edit"
	opDelete opKind = "delete"
)

// op is one generated operation. Side records are filled in when it runs:
// ids of counterparts come from the links of earlier scenarios.
type op struct {
	kind    opKind
	pairing string
	side    domain.Side
	target  *rec           // edit, delete
	field   string         // edit: canonical field
	props   map[string]any // create or edit: properties for side (references as *ref)
	erp     map[string]any // twin: the ERP twin's properties
	made    *rec           // create, twin
}

func (o *op) String() string {
	switch o.kind {
	case opCreate, opTwin:
		return fmt.Sprintf("%s %s in %s", o.kind, o.pairing, o.side)
	case opEdit:
		return fmt.Sprintf("edit %s of %s in %s", o.field, o.target, o.side)
	}
	return fmt.Sprintf("%s %s in %s", o.kind, o.target, o.side)
}

// ref is a reference property whose id is resolved when the op runs: the
// parent's id on the side being written.
type ref struct {
	to *rec
}

// gen draws operations.
type gen struct {
	rng      *rand.Rand
	m        *model
	scenario int
	// noDeletes leaves deletes out (tests that follow each change).
	noDeletes bool
}

// next draws one operation. erpDown forces webCRM-side operations.
func (g *gen) next(erpDown bool) *op {
	for {
		var o *op
		switch x := g.rng.IntN(100); {
		case x < 35 || len(g.m.recs) < 12:
			o = g.create(erpDown)
		case x < 40:
			o = g.twin(erpDown)
		case x < 93:
			o = g.edit(erpDown)
		default:
			if !g.noDeletes {
				o = g.remove(erpDown)
			}
		}
		if o != nil {
			return o
		}
	}
}

// pickSide picks webCRM or the ERP (webCRM only while the ERP is down).
func (g *gen) pickSide(erpDown bool) domain.Side {
	if erpDown || g.rng.IntN(2) == 0 {
		return domain.WebCRM
	}
	return domain.ERP
}

// settled reports whether r's counterpart is known (from the links checked
// at the end of an earlier scenario).
func (g *gen) settled(r *rec) bool { return r.born < g.scenario && !r.oneSided }

// has reports whether r can be named on side s in this scenario.
func (g *gen) has(r *rec, s domain.Side) bool {
	if s == domain.WebCRM && r.crmID != 0 || s == domain.ERP && r.erpID != "" {
		return true
	}
	return g.settled(r)
}

// pick returns a random element, or nil.
func pick[T any](g *gen, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[g.rng.IntN(len(xs))], true
}

// parent picks a live record of pairing that can be named on side s.
func (g *gen) parent(pairing string, s domain.Side, ok func(*rec) bool) *rec {
	r, _ := pick(g, g.m.live(pairing, func(r *rec) bool { return g.has(r, s) && (ok == nil || ok(r)) }))
	return r
}

// mergeKeys names each pairing's merge criterion, where it has one.
var mergeKeys = map[string]string{"organisations": "vat-number", "persons": "email", "users": "email", "products": "product-number"}

var createWeights = []struct {
	pairing string
	weight  int
}{{"organisations", 4}, {"persons", 4}, {"users", 2}, {"products", 3}, {"opportunities", 3}, {"quotationlines", 4}}

func (g *gen) create(erpDown bool) *op {
	total := 0
	for _, w := range createWeights {
		total += w.weight
	}
	x := g.rng.IntN(total)
	pairing := ""
	for _, w := range createWeights {
		if x < w.weight {
			pairing = w.pairing
			break
		}
		x -= w.weight
	}
	side := g.pickSide(erpDown)
	o := &op{kind: opCreate, pairing: pairing, side: side}
	made := &rec{pairing: pairing, home: side, born: g.scenario, parents: map[string]*rec{}}
	o.made = made
	n := g.serial()
	switch pairing {
	case "organisations":
		o.props = g.orgProps(side, n, vat(n))
	case "persons":
		org := g.parent("organisations", side, nil)
		if org == nil {
			return nil
		}
		made.parents["organisation"] = org
		o.props = g.personProps(side, n, org)
	case "users":
		o.props = g.userProps(side, n)
		made.oneSided = side == domain.ERP
	case "products":
		made.number = productNumber(n)
		o.props = g.productProps(side, n, made.number)
	case "opportunities":
		org := g.parent("organisations", side, nil)
		if org == nil {
			return nil
		}
		made.parents["organisation"] = org
		if p := g.parent("persons", side, nil); p != nil && g.rng.IntN(3) > 0 {
			made.parents["person"] = p
		}
		// Only users that exist in webCRM: an order whose sales rep is an
		// ERP-only employee is not synced, by design.
		if u := g.parent("users", side, func(r *rec) bool { return !r.oneSided }); u != nil && g.rng.IntN(3) > 0 {
			made.parents["sales-rep"] = u
		}
		made.oneSided = side == domain.ERP
		o.props = g.oppProps(side, n, made.parents)
	case "quotationlines":
		opp := g.parent("opportunities", side, nil)
		if opp == nil {
			return nil
		}
		product := g.lineProduct()
		if product == nil {
			return nil
		}
		made.parents["opportunity"] = opp
		made.parents["product-number"] = product // not a reference: keeps the number in use
		made.oneSided = opp.oneSided
		o.props = g.lineProps(side, n, opp, product)
	}
	for _, p := range made.parents {
		p.children++
	}
	return o
}

// twin creates a record on both sides with the same merge key, so the
// engine must match them instead of creating either.
func (g *gen) twin(erpDown bool) *op {
	if erpDown {
		return nil
	}
	pairings := []string{"organisations", "persons", "users", "products"}
	pairing, _ := pick(g, pairings)
	n := g.serial()
	made := &rec{pairing: pairing, home: domain.WebCRM, born: g.scenario, parents: map[string]*rec{}, twin: true}
	o := &op{kind: opTwin, pairing: pairing, side: domain.WebCRM, made: made}
	switch pairing {
	case "organisations":
		o.props = g.orgProps(domain.WebCRM, n, vat(n))
		// The same number as the other system writes it.
		o.erp = g.orgProps(domain.ERP, n, strings.ToLower(strings.ReplaceAll(vat(n), " ", "")))
	case "persons":
		// Twins need a parent known on both sides.
		org := g.parent("organisations", domain.WebCRM, func(r *rec) bool { return g.has(r, domain.ERP) })
		if org == nil {
			return nil
		}
		made.parents["organisation"] = org
		o.props = g.personProps(domain.WebCRM, n, org)
		o.erp = g.personProps(domain.ERP, n, org)
	case "users":
		o.props = g.userProps(domain.WebCRM, n)
		o.erp = g.userProps(domain.ERP, n)
	case "products":
		made.number = productNumber(n)
		o.props = g.productProps(domain.WebCRM, n, made.number)
		o.erp = g.productProps(domain.ERP, n, made.number)
	}
	// The twins differ in one field besides the key, so the first match
	// has something to merge.
	if g.rng.IntN(2) == 0 {
		g.vary(o.erp, pairing)
	}
	for _, p := range made.parents {
		p.children++
	}
	return o
}

// vary changes one non-key property of an ERP twin.
func (g *gen) vary(props map[string]any, pairing string) {
	switch pairing {
	case "organisations":
		props["phone"] = phone(g.rng)
	case "persons":
		props["title"] = title(g.rng)
	case "users":
		props["title"] = title(g.rng)
	case "products":
		props["unit"], _ = pick(g, []string{"stk", "kg", "box", "hour"})
	}
}

func (g *gen) edit(erpDown bool) *op {
	pairing, _ := pick(g, allPairings)
	target, _ := pick(g, g.m.live(pairing, nil))
	if target == nil {
		return nil
	}
	side := g.pickSide(erpDown)
	if !g.has(target, side) {
		side = side.Other()
		if erpDown && side == domain.ERP || !g.has(target, side) {
			return nil
		}
	}
	field, props := g.editProps(target, side)
	if props == nil {
		return nil
	}
	if target.twin && target.born == g.scenario && mergeKeys[target.pairing] == field {
		// The engine may not have matched the twins yet: a new key would
		// make them two different records, rightly.
		return nil
	}
	return &op{kind: opEdit, pairing: pairing, side: side, target: target, field: field, props: props}
}

func (g *gen) remove(erpDown bool) *op {
	pairing, _ := pick(g, allPairings)
	target, _ := pick(g, g.m.live(pairing, func(r *rec) bool { return r.children == 0 }))
	if target == nil {
		return nil
	}
	side := g.pickSide(erpDown)
	if !g.has(target, side) {
		side = side.Other()
		if erpDown && side == domain.ERP || !g.has(target, side) {
			return nil
		}
	}
	target.retired = true
	for _, p := range target.parents {
		p.children--
	}
	return &op{kind: opDelete, pairing: pairing, side: side, target: target}
}

func (g *gen) serial() int {
	g.m.serial++
	return g.m.serial
}

// ---- values ----

func vat(n int) string           { return fmt.Sprintf("DK %02d %02d %04d", 10+n%90, n%100, n) }
func productNumber(n int) string { return fmt.Sprintf("P-%05d", n) }

var (
	cities    = []string{"Aarhus", "Odense", "Aalborg", "Oslo", "Bergen", "Malmö", "Berlin"}
	countries = []struct{ crm, erp string }{{"Danmark", "DK"}, {"Norge", "NO"}, {"Sverige", "SE"}, {"Tyskland", "DE"}, {"Finland", "FI"}}
	firsts    = []string{"Bo", "Ann", "Kari", "Lars", "Sofie", "Jens", "Mette"}
	lasts     = []string{"Berg", "Ås", "Holm", "Dahl", "Lund", "Vik"}
	titles    = []string{"CFO", "CEO", "Buyer", "Sales", "Engineer", "Manager"}
	words     = []string{"north", "fjord", "pine", "harbour", "granite", "amber", "birch"}
	currs     = []string{"DKK", "EUR", "NOK", "SEK", "USD"}
	vatCodes  = []string{"25", "0", "12", "EU"}
)

func phone(r *rand.Rand) string {
	return fmt.Sprintf("+45 %02d %02d %02d %02d", r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100))
}
func title(r *rand.Rand) string { return titles[r.IntN(len(titles))] }
func word(r *rand.Rand) string  { return words[r.IntN(len(words))] }

// money returns a positive decimal with two places.
func money(r *rand.Rand, max int) float64 { return float64(1+r.IntN(max*100)) / 100 }

// percent returns a decimal in 0..100 with at most two places.
func percent(r *rand.Rand) float64 { return float64(r.IntN(5001)) / 100 }

// day returns a date in 2020..2027.
func day(r *rand.Rand) time.Time {
	return time.Date(2020+r.IntN(8), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
}

func crmDate(t time.Time) string { return t.Format("2006-01-02T15:04:05.0000000Z") }
func erpDate(t time.Time) string { return t.Format("2006-01-02") }

func (g *gen) orgProps(side domain.Side, n int, vatNumber string) map[string]any {
	r := g.rng
	street := fmt.Sprintf("%s Street %d", strings.ToUpper(word(r)[:1])+word(r)[1:], 1+r.IntN(200))
	floor := fmt.Sprintf("%d. floor", 1+r.IntN(9))
	c := countries[r.IntN(len(countries))]
	city := cities[r.IntN(len(cities))]
	code := strconv.Itoa(1000 + r.IntN(9000))
	name := fmt.Sprintf("Org %d %s", n, word(r))
	if side == domain.WebCRM {
		return map[string]any{
			"OrganisationName": name, "OrganisationVatNumber": vatNumber, "OrganisationAddress": street + "\n" + floor,
			"OrganisationPostCode": code, "OrganisationCity": city, "OrganisationCountry": c.crm,
			"OrganisationTelephone": phone(r), "OrganisationWww": fmt.Sprintf("www.org%d.example", n),
		}
	}
	return map[string]any{
		"name": name, "organisationNumber": vatNumber, "phone": phone(r), "website": fmt.Sprintf("www.org%d.example", n),
		"postalAddress": map[string]any{"line1": street, "line2": floor, "postalCode": code, "city": city, "countryCode": c.erp},
	}
}

func (g *gen) personProps(side domain.Side, n int, org *rec) map[string]any {
	r := g.rng
	first, last := firsts[r.IntN(len(firsts))], lasts[r.IntN(len(lasts))]
	email := fmt.Sprintf("p%d@example.com", n)
	born := day(r).AddDate(-40, 0, 0)
	if side == domain.WebCRM {
		p := map[string]any{
			"PersonOrganisationId": &ref{org}, "PersonFirstName": first, "PersonLastName": last, "PersonEmail": email,
			"PersonDirectPhone": phone(r), "PersonMobilePhone": phone(r), "PersonTitle": title(r),
			"PersonBirthday": crmDate(born), "PersonStatus": "Active",
		}
		if n%2 == 0 { // some persons have a password, as in a real webCRM
			p["PersonPassword"] = fmt.Sprintf("pw-p%d", n)
		}
		return p
	}
	return map[string]any{
		"contactType": "person", "customerId": &ref{org}, "firstName": first, "lastName": last, "email": email,
		"phoneWork": phone(r), "phoneMobile": phone(r), "title": title(r), "birthDate": erpDate(born), "active": true,
	}
}

func (g *gen) userProps(side domain.Side, n int) map[string]any {
	r := g.rng
	first, last := firsts[r.IntN(len(firsts))], lasts[r.IntN(len(lasts))]
	email := fmt.Sprintf("u%d@tandem.example", n)
	if side == domain.WebCRM {
		return map[string]any{"UserName": first + " " + last, "UserEmail": email, "UserTelephone": phone(r),
			"UserMobilePhone": phone(r), "UserTitle": title(r), "UserPassword": fmt.Sprintf("pw-u%d", n)}
	}
	return map[string]any{"contactType": "employee", "fullName": first + " " + last, "firstName": first, "lastName": last,
		"email": email, "phoneWork": phone(r), "phoneMobile": phone(r), "title": title(r), "active": true}
}

func (g *gen) productProps(side domain.Side, n int, number string) map[string]any {
	r := g.rng
	name := fmt.Sprintf("Widget %d %s", n, word(r))
	vc := vatCodes[r.IntN(len(vatCodes))]
	if side == domain.WebCRM {
		return map[string]any{"ProductCustom1": number, "ProductCustom2": name, "ProductCustom3": "stk",
			"ProductPrice": money(r, 500), "ProductCostPrice": money(r, 200), "ProductVatCode": vc}
	}
	return map[string]any{"productNumber": number, "name": name, "unit": "stk", "salesPrice": money(r, 500),
		"costPrice": money(r, 200), "vatCode": vc, "stockQuantity": float64(r.IntN(1000)), "active": true}
}

func (g *gen) oppProps(side domain.Side, n int, parents map[string]*rec) map[string]any {
	r := g.rng
	d := day(r)
	number := fmt.Sprintf("T-%06d", n)
	desc := fmt.Sprintf("Deal %d %s", n, word(r))
	cur := currs[r.IntN(len(currs))]
	disc := percent(r)
	if side == domain.WebCRM {
		p := map[string]any{"OpportunityOrganisationId": &ref{parents["organisation"]}, "OpportunityNumber": number,
			"OpportunityDescription": desc, "OpportunityCurrencyName": cur, "OpportunityOrderDate": crmDate(d),
			"OpportunityDiscount": disc, "OpportunityWinYesNo": false}
		if p2 := parents["person"]; p2 != nil {
			p["OpportunityPersonId"] = &ref{p2}
		}
		if u := parents["sales-rep"]; u != nil {
			p["OpportunityAssignedTo"] = &ref{u}
		}
		return p
	}
	p := map[string]any{"customerId": &ref{parents["organisation"]}, "orderNumber": number, "description": desc,
		"currency": cur, "orderDate": erpDate(d), "discount": disc, "status": "open"}
	if p2 := parents["person"]; p2 != nil {
		p["contactId"] = &ref{p2}
	}
	if u := parents["sales-rep"]; u != nil {
		p["salesRepContactId"] = &ref{u}
	}
	return p
}

// lineProduct picks a live product for a line: a line's product number must
// name a product in one of the systems (the engine reports one that names
// none as an error). Nil when there is none yet.
func (g *gen) lineProduct() *rec {
	p, _ := pick(g, g.m.live("products", nil))
	return p
}

func (g *gen) lineProps(side domain.Side, n int, opp, product *rec) map[string]any {
	r := g.rng
	if side == domain.WebCRM {
		return map[string]any{"QuotationLineOpportunityId": &ref{opp}, "QuotationLineData1": product.number,
			"QuotationLineQuantity": float64(1 + r.IntN(20)), "QuotationLinePrice": money(r, 300),
			"QuotationLineDiscount": percent(r), "QuotationLineVatPercentage": 25.0, "QuotationLineCostPrice": money(r, 100),
			"QuotationLineComment": fmt.Sprintf("Line %d %s", n, word(r)), "QuotationLineSortOrder": 1 + r.IntN(20)}
	}
	return map[string]any{"orderId": &ref{opp}, "productNumber": product.number, "quantity": float64(1 + r.IntN(20)),
		"unitPrice": money(r, 300), "discountPercent": percent(r), "vatPercent": 25.0, "costPrice": money(r, 100),
		"description": fmt.Sprintf("Line %d %s", n, word(r)), "sortOrder": 1 + r.IntN(20)}
}

// editProps draws a field of target to edit on side and its new properties.
func (g *gen) editProps(target *rec, side domain.Side) (string, map[string]any) {
	r := g.rng
	crm := side == domain.WebCRM
	n := g.serial()
	both := func(field string, crmProp string, crmVal any, erpProp string, erpVal any) (string, map[string]any) {
		if crm {
			return field, map[string]any{crmProp: crmVal}
		}
		return field, map[string]any{erpProp: erpVal}
	}
	addr := func(k string, v any) map[string]any { return map[string]any{"postalAddress": map[string]any{k: v}} }
	switch target.pairing {
	case "organisations":
		switch r.IntN(9) {
		case 0:
			v := fmt.Sprintf("Org %d %s renamed %d", target.n, word(r), n)
			return both("name", "OrganisationName", v, "name", v)
		case 1:
			return both("vat-number", "OrganisationVatNumber", vat(n), "organisationNumber", vat(n))
		case 2:
			street, floor := fmt.Sprintf("Quay %d", n%300), fmt.Sprintf("%d. th.", 1+r.IntN(5))
			if crm {
				return "address", map[string]any{"OrganisationAddress": street + "\n" + floor}
			}
			return "address", map[string]any{"postalAddress": map[string]any{"line1": street, "line2": floor}}
		case 3:
			v := strconv.Itoa(1000 + r.IntN(9000))
			if crm {
				return "postcode", map[string]any{"OrganisationPostCode": v}
			}
			return "postcode", addr("postalCode", v)
		case 4:
			v := cities[r.IntN(len(cities))] + " " + strconv.Itoa(n)
			if crm {
				return "city", map[string]any{"OrganisationCity": v}
			}
			return "city", addr("city", v)
		case 5:
			v := "Region " + word(r)
			if crm {
				return "state", map[string]any{"OrganisationState": v}
			}
			return "state", addr("state", v)
		case 6:
			c := countries[r.IntN(len(countries))]
			if crm {
				return "country", map[string]any{"OrganisationCountry": c.crm}
			}
			return "country", addr("countryCode", c.erp)
		case 7:
			v := phone(r)
			return both("phone", "OrganisationTelephone", v, "phone", v)
		default:
			v := fmt.Sprintf("www.%s%d.example", word(r), n)
			return both("website", "OrganisationWww", v, "website", v)
		}
	case "persons":
		switch r.IntN(9) {
		case 0:
			v := firsts[r.IntN(len(firsts))]
			return both("first-name", "PersonFirstName", v, "firstName", v)
		case 1:
			v := lasts[r.IntN(len(lasts))] + strconv.Itoa(n)
			return both("last-name", "PersonLastName", v, "lastName", v)
		case 2:
			v := fmt.Sprintf("p%d.e%d@example.com", target.n, n)
			return both("email", "PersonEmail", v, "email", v)
		case 3:
			v := phone(r)
			return both("phone-work", "PersonDirectPhone", v, "phoneWork", v)
		case 4:
			v := phone(r)
			return both("phone-mobile", "PersonMobilePhone", v, "phoneMobile", v)
		case 5:
			v := title(r)
			return both("title", "PersonTitle", v, "title", v)
		case 6:
			d := day(r).AddDate(-35, 0, 0)
			return both("birth-date", "PersonBirthday", crmDate(d), "birthDate", erpDate(d))
		case 7:
			active := r.IntN(2) == 0
			status := "Resigned"
			if active {
				status = "Active"
			}
			return both("status", "PersonStatus", status, "active", active)
		default:
			// Move the person to another organisation: webCRM's UI may;
			// an ERP move is put back (webCRM refuses it through the API).
			org := g.parent("organisations", side, func(o *rec) bool { return o != target.parents["organisation"] && (crm || g.has(o, domain.WebCRM)) })
			if org == nil {
				return "", nil
			}
			if crm {
				g.reparent(target, "organisation", org)
				return "organisation", map[string]any{"PersonOrganisationId": &ref{org}}
			}
			return "organisation", map[string]any{"customerId": &ref{org}}
		}
	case "users":
		switch r.IntN(5) {
		case 0:
			first, last := firsts[r.IntN(len(firsts))], lasts[r.IntN(len(lasts))]+strconv.Itoa(n)
			if crm {
				return "name", map[string]any{"UserName": first + " " + last}
			}
			return "name", map[string]any{"fullName": first + " " + last, "firstName": first, "lastName": last}
		case 1:
			v := fmt.Sprintf("u%d.e%d@tandem.example", target.n, n)
			return both("email", "UserEmail", v, "email", v)
		case 2:
			v := phone(r)
			return both("phone-work", "UserTelephone", v, "phoneWork", v)
		case 3:
			v := phone(r)
			return both("phone-mobile", "UserMobilePhone", v, "phoneMobile", v)
		default:
			v := title(r)
			return both("title", "UserTitle", v, "title", v)
		}
	case "products":
		switch r.IntN(7) {
		case 0:
			if target.children > 0 || target.twin && target.born == g.scenario {
				return "", nil // lines use the number, or the twins are not matched yet
			}
			v := productNumber(n)
			target.number = v
			return both("product-number", "ProductCustom1", v, "productNumber", v)
		case 1:
			v := fmt.Sprintf("Widget %d %s v%d", target.n, word(r), n)
			return both("name", "ProductCustom2", v, "name", v)
		case 2:
			v, _ := pick(g, []string{"stk", "kg", "box", "hour", "m"})
			return both("unit", "ProductCustom3", v, "unit", v)
		case 3:
			v := money(r, 500)
			return both("sales-price", "ProductPrice", v, "salesPrice", v)
		case 4:
			v := money(r, 200)
			return both("cost-price", "ProductCostPrice", v, "costPrice", v)
		case 5:
			v := vatCodes[r.IntN(len(vatCodes))]
			return both("vat-code", "ProductVatCode", v, "vatCode", v)
		default:
			// The ERP keeps the stock: a webCRM edit is put back.
			v := float64(r.IntN(1000))
			return both("stock-quantity", "ProductQuantity", v, "stockQuantity", v)
		}
	case "opportunities":
		switch r.IntN(9) {
		case 0:
			v := fmt.Sprintf("Deal %d %s v%d", target.n, word(r), n)
			return both("description", "OpportunityDescription", v, "description", v)
		case 1:
			v := percent(r)
			return both("discount", "OpportunityDiscount", v, "discount", v)
		case 2:
			v := currs[r.IntN(len(currs))]
			return both("currency", "OpportunityCurrencyName", v, "currency", v)
		case 3:
			d := day(r)
			return both("order-date", "OpportunityOrderDate", crmDate(d), "orderDate", erpDate(d))
		case 4:
			// webCRM decides the status; an ERP status is put back.
			if crm {
				switch r.IntN(3) {
				case 0:
					return "status", map[string]any{"OpportunityWinYesNo": true, "OpportunityLostDate": nil}
				case 1:
					return "status", map[string]any{"OpportunityWinYesNo": false, "OpportunityLostDate": crmDate(day(r))}
				default:
					return "status", map[string]any{"OpportunityWinYesNo": false, "OpportunityLostDate": nil}
				}
			}
			v, _ := pick(g, []string{"open", "won", "lost"})
			return "status", map[string]any{"status": v}
		case 5:
			v := fmt.Sprintf("T-%06d", n)
			return both("number", "OpportunityNumber", v, "orderNumber", v)
		case 6:
			p := g.parent("persons", side, nil)
			if p == nil {
				return "", nil
			}
			g.reparent(target, "person", p)
			if crm {
				return "person", map[string]any{"OpportunityPersonId": &ref{p}}
			}
			return "person", map[string]any{"contactId": &ref{p}}
		default:
			u := g.parent("users", side, func(u *rec) bool { return !u.oneSided })
			if u == nil {
				return "", nil
			}
			g.reparent(target, "sales-rep", u)
			if crm {
				return "sales-rep", map[string]any{"OpportunityAssignedTo": &ref{u}}
			}
			return "sales-rep", map[string]any{"salesRepContactId": &ref{u}}
		}
	case "quotationlines":
		switch r.IntN(8) {
		case 0:
			p := g.lineProduct()
			if p == nil {
				return "", nil
			}
			g.reparent(target, "product-number", p)
			return both("product-number", "QuotationLineData1", p.number, "productNumber", p.number)
		case 1:
			v := float64(1 + r.IntN(50))
			return both("quantity", "QuotationLineQuantity", v, "quantity", v)
		case 2:
			v := money(r, 300)
			return both("unit-price", "QuotationLinePrice", v, "unitPrice", v)
		case 3:
			v := percent(r)
			return both("discount-percent", "QuotationLineDiscount", v, "discountPercent", v)
		case 4:
			v := float64(r.IntN(26))
			return both("vat-percent", "QuotationLineVatPercentage", v, "vatPercent", v)
		case 5:
			v := money(r, 100)
			return both("cost-price", "QuotationLineCostPrice", v, "costPrice", v)
		case 6:
			v := fmt.Sprintf("Line %d %s v%d", target.n, word(r), n)
			return both("description", "QuotationLineComment", v, "description", v)
		default:
			v := r.IntN(100)
			return both("sort-order", "QuotationLineSortOrder", v, "sortOrder", v)
		}
	}
	return "", nil
}

// reparent moves a reference of r to a new parent, keeping the children
// counts right.
func (g *gen) reparent(r *rec, field string, to *rec) {
	if old := r.parents[field]; old != nil {
		old.children--
	}
	r.parents[field] = to
	to.children++
}
