package webcrmsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Seed data layout (deterministic for a seed and size):
//
//   - Users: 5 + size/50 sales people of the CRM's own company, each with
//     a UserPassword, UserAuthenticationCode and UserTicket (what
//     FaultConfig.MaskSecrets masks).
//   - Products: 20 + size/10; the product number ("P-10001") is in
//     ProductCustom1, the name in ProductCombined, the unit in ProductCustom2.
//   - Organisations: size, Danish or Norwegian, with a unique VAT number
//     (valid CVR / organisation-number check digits; about 8% have none),
//     a multi-line address, and an owner (OrganisationOwner -> a user).
//   - Persons: 1-3 per organisation (PersonOrganisationId), unique e-mails;
//     about one in four has a PersonPassword, fewer a campaign or member
//     password.
//   - Opportunities: 0-3 per organisation (about 0.8 on average), each with
//     1-4 quotation lines; a line holds the product number in
//     QuotationLineData1, name in Data2 and unit in Data3.
//
// Timestamps lie between 2023-01-01 and 2025-06-01 UTC; about one record in
// five carries one of a few shared "bulk import" UpdatedAt values, so
// watermark queries meet many equal timestamps.

var (
	seedStart = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	seedEnd   = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
)

type seeder struct {
	rng *rand.Rand
	// secrets draws the credentials from a stream of its own, so the rest
	// of the data is what it was before they were added.
	secrets  *rand.Rand
	s        *Server
	importTs []time.Time
	maxTs    time.Time
	vats     map[string]struct{}
	slugs    map[string]int
	emails   map[string]int
	users    []record
	products []record
}

// seedLocked fills the (empty) store; caller holds s.mu or owns s.
func (s *Server) seedLocked(seed int64, size int) {
	g := &seeder{
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x5eed5eed)),
		secrets: rand.New(rand.NewPCG(uint64(seed), 0x5ec2e75)),
		s:       s,
		vats:    make(map[string]struct{}, size),
		slugs:   make(map[string]int, size),
		emails:  map[string]int{},
	}
	for range 8 {
		g.importTs = append(g.importTs, g.between(seedStart, seedEnd).Truncate(time.Hour))
	}
	nUsers := 5 + size/50
	for i := range nUsers {
		g.user(i + 1)
	}
	nProducts := 20 + size/10
	for i := range nProducts {
		g.product(i + 1)
	}
	personID, oppID, lineID := 1, 1, 1
	for i := range size {
		org := g.organisation(i + 1)
		persons := g.persons(org, &personID)
		for range g.oppCount() {
			g.opportunity(org, persons, &oppID, &lineID)
		}
	}
	if g.maxTs.After(s.lastStamp) {
		s.lastStamp = g.maxTs
	}
	s.version++
}

func (g *seeder) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *seeder) between(a, b time.Time) time.Time {
	return a.Add(time.Duration(g.rng.Int64N(int64(b.Sub(a)))))
}

// stamps sets CreatedAt/UpdatedAt/CreatedBy/UpdatedBy of a seeded record.
func (g *seeder) stamps(e *entity, rec record, by string) {
	created := g.between(seedStart, seedEnd.Add(-24*time.Hour))
	var updated time.Time
	if g.rng.IntN(5) == 0 {
		updated = g.importTs[g.rng.IntN(len(g.importTs))]
		if created.After(updated) {
			created = updated
		}
	} else {
		limit := created.Add(200 * 24 * time.Hour)
		if limit.After(seedEnd) {
			limit = seedEnd
		}
		updated = g.between(created, limit)
	}
	if updated.After(g.maxTs) {
		g.maxTs = updated
	}
	rec[e.createdAt], rec[e.updatedAt] = FormatTime(created), FormatTime(updated)
	rec[e.createdBy], rec[e.updatedBy] = by, by
}

func (g *seeder) insert(name string, id int, rec record) {
	e, _ := entities.find(name)
	rec[e.IDField] = int64(id)
	g.s.tables[e.Name].insert(id, rec)
}

var asciiFold = strings.NewReplacer("æ", "ae", "ø", "oe", "å", "aa", "Æ", "ae", "Ø", "oe", "Å", "aa", "ü", "u", "é", "e")

// ascii turns a name into a lower-case ASCII slug for e-mails and domains.
func ascii(s string) string {
	s = strings.ToLower(asciiFold.Replace(s))
	var b strings.Builder
	for _, c := range s {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// unique returns key, or key plus a counter when key was used before.
func unique(used map[string]int, key string) string {
	n := used[key]
	used[key] = n + 1
	if n == 0 {
		return key
	}
	return key + strconv.Itoa(n+1)
}

// secret returns n random letters and digits from the secrets stream.
func (g *seeder) secret(n int) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.secrets.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *seeder) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.rng.IntN(10))
	}
	return string(b)
}

// cvr returns a Danish CVR number with a valid modulus-11 check.
func (g *seeder) cvr() string {
	w := []int{2, 7, 6, 5, 4, 3, 2, 1}
	for {
		d := []byte(strconv.Itoa(1+g.rng.IntN(9)) + g.digits(6))
		sum := 0
		for i := range 7 {
			sum += int(d[i]-'0') * w[i]
		}
		check := (11 - sum%11) % 11
		if check == 10 {
			continue
		}
		return string(d) + strconv.Itoa(check)
	}
}

// orgNumber returns a Norwegian organisation number with a valid check digit.
func (g *seeder) orgNumber() string {
	w := []int{3, 2, 7, 6, 5, 4, 3, 2}
	for {
		d := []byte(strconv.Itoa(8+g.rng.IntN(2)) + g.digits(7))
		sum := 0
		for i := range 8 {
			sum += int(d[i]-'0') * w[i]
		}
		check := 11 - sum%11
		if check == 11 {
			check = 0
		}
		if check == 10 {
			continue
		}
		return string(d) + strconv.Itoa(check)
	}
}

func (g *seeder) phone(norway bool) string {
	if norway {
		return fmt.Sprintf("+47 %s %s %s", g.digits(3), g.digits(2), g.digits(3))
	}
	return fmt.Sprintf("+45 %s %s %s %s", g.digits(2), g.digits(2), g.digits(2), g.digits(2))
}

func (g *seeder) user(id int) {
	e, _ := entities.find("Users")
	first, last := g.pick(seedFirstNames), g.pick(seedLastNames)
	name := first + " " + last
	email := unique(g.emails, ascii(first)+"."+ascii(last)) + "@tandem-demo.dk"
	rec := record{
		"UserName":      name,
		"UserInitials":  strings.ToUpper(string([]rune(first)[:1]) + string([]rune(last)[:2])),
		"UserEmail":     email,
		"UserLoginName": email,
		"UserTitle":     g.pick(seedUserTitles),
		"UserTelephone": g.phone(false),
	}
	rec["UserPassword"] = g.secret(12)
	rec["UserAuthenticationCode"] = g.secret(32)
	rec["UserTicket"] = g.secret(24)
	g.stamps(e, rec, "Administrator")
	g.insert("Users", id, rec)
	g.users = append(g.users, rec)
}

func (g *seeder) price() float64 {
	p := math.Round(math.Exp(g.rng.Float64()*math.Log(50000/49.0))*49) + []float64{0, 0.5, 0.95}[g.rng.IntN(3)]
	return p
}

func (g *seeder) product(id int) {
	e, _ := entities.find("Products")
	name := g.pick(seedProductNouns) + " " + g.pick(seedProductVariants)
	price := g.price()
	rec := record{
		"ProductCustom1":     fmt.Sprintf("P-%05d", 10000+id),
		"ProductCustom2":     g.pick(seedUnits),
		"ProductCombined":    name,
		"ProductComment":     name + " - standardvare",
		"ProductPrice":       price,
		"ProductListPrice":   price,
		"ProductCostPrice":   math.Round(price*(0.55+g.rng.Float64()*0.25)*100) / 100,
		"ProductVatCode":     "25",
		"ProductQuantity":    float64(g.rng.IntN(500)),
		"ProductStockStatus": []string{"På lager", "På lager", "Restordre", "Udgået"}[g.rng.IntN(4)],
	}
	g.stamps(e, rec, "Administrator")
	g.insert("Products", id, rec)
	g.products = append(g.products, rec)
}

func (g *seeder) organisation(id int) record {
	e, _ := entities.find("Organisations")
	norway := g.rng.IntN(3) == 0
	var name string
	switch g.rng.IntN(4) {
	case 0:
		name = g.pick(seedLastNames) + " & Søn"
	case 1:
		name = "Brødrene " + g.pick(seedLastNames)
	default:
		name = g.pick(seedCompanyPrefixes) + " " + g.pick(seedCompanyTrades)
	}
	suffixes := []string{"A/S", "ApS", "ApS", "I/S"}
	tld, country, vatCountry := ".dk", "Danmark", "DK"
	streets, towns := seedStreetsDK, seedTownsDK
	if norway {
		suffixes = []string{"AS", "AS", "ASA", "DA"}
		tld, country, vatCountry = ".no", "Norge", "NO"
		streets, towns = seedStreetsNO, seedTownsNO
	}
	name += " " + suffixes[g.rng.IntN(len(suffixes))]
	slug := unique(g.slugs, ascii(name))
	town := towns[g.rng.IntN(len(towns))]
	lines := []string{fmt.Sprintf("%s %d", g.pick(streets), 1+g.rng.IntN(180))}
	switch g.rng.IntN(4) {
	case 0:
		if norway {
			lines = append(lines, fmt.Sprintf("%d. etasje", 1+g.rng.IntN(6)))
		} else {
			lines = append(lines, fmt.Sprintf("%d. %s", 1+g.rng.IntN(5), []string{"th.", "tv.", "mf."}[g.rng.IntN(3)]))
		}
	case 1:
		if norway {
			lines = append(lines, fmt.Sprintf("Postboks %d", 100+g.rng.IntN(9000)))
		} else {
			lines = append(lines, "Bygning "+strconv.Itoa(1+g.rng.IntN(9)), "Att. Bogholderiet")
		}
	}
	owner := g.users[g.rng.IntN(len(g.users))]
	rec := record{
		"OrganisationName":       name,
		"OrganisationAddress":    strings.Join(lines, "\n"),
		"OrganisationPostCode":   town.postCode,
		"OrganisationCity":       town.city,
		"OrganisationCountry":    country,
		"OrganisationTelephone":  g.phone(norway),
		"OrganisationWww":        "www." + slug + tld,
		"OrganisationDomain":     slug + tld,
		"OrganisationType":       g.pick(seedOrgTypes),
		"OrganisationIndustry":   g.pick(seedIndustries),
		"OrganisationVatCountry": vatCountry,
		"OrganisationOwner":      owner["UserId"],
	}
	if g.rng.IntN(12) != 0 {
		for {
			var vat string
			if norway {
				vat = "NO" + g.orgNumber() + "MVA"
			} else {
				vat = "DK" + g.cvr()
			}
			if _, dup := g.vats[vat]; !dup {
				g.vats[vat] = struct{}{}
				rec["OrganisationVatNumber"] = vat
				break
			}
		}
	}
	g.stamps(e, rec, owner["UserName"].(string))
	g.insert("Organisations", id, rec)
	return rec
}

func (g *seeder) persons(org record, nextID *int) []record {
	e, _ := entities.find("Persons")
	norway := org["OrganisationCountry"] == "Norge"
	titles := seedTitlesDK
	if norway {
		titles = seedTitlesNO
	}
	n := 1 + g.rng.IntN(3)
	out := make([]record, 0, n)
	local := map[string]int{}
	for range n {
		first, last := g.pick(seedFirstNames), g.pick(seedLastNames)
		rec := record{
			"PersonOrganisationId": org["OrganisationId"],
			"PersonFirstName":      first,
			"PersonLastName":       last,
			"PersonName":           first + " " + last,
			"PersonEmail":          unique(local, ascii(first)+"."+ascii(last)) + "@" + org["OrganisationDomain"].(string),
			"PersonDirectPhone":    g.phone(norway),
			"PersonMobilePhone":    g.phone(norway),
			"PersonTitle":          g.pick(titles),
			"PersonStatus":         "Active",
		}
		if g.rng.IntN(20) == 0 {
			rec["PersonStatus"] = "Resigned"
		}
		if g.secrets.IntN(4) == 0 {
			rec["PersonPassword"] = g.secret(10)
		}
		if g.secrets.IntN(8) == 0 {
			rec["PersonCampaignPassword"] = g.secret(8)
		}
		if g.secrets.IntN(8) == 0 {
			rec["PersonMemberPassword"] = g.secret(8)
		}
		g.stamps(e, rec, org["OrganisationCreatedBy"].(string))
		g.insert("Persons", *nextID, rec)
		*nextID++
		out = append(out, rec)
	}
	return out
}

func (g *seeder) oppCount() int {
	switch x := g.rng.IntN(100); {
	case x < 45:
		return 0
	case x < 80:
		return 1
	case x < 95:
		return 2
	default:
		return 3
	}
}

func (g *seeder) opportunity(org record, persons []record, oppID, lineID *int) {
	eo, _ := entities.find("Opportunities")
	el, _ := entities.find("QuotationLines")
	person := persons[g.rng.IntN(len(persons))]
	currency := "DKK"
	if org["OrganisationCountry"] == "Norge" {
		currency = "NOK"
	}
	level := 1 + g.rng.IntN(len(seedLevels))
	first := g.products[g.rng.IntN(len(g.products))]
	desc := g.pick(seedOppDescriptions)
	switch {
	case strings.Contains(desc, "%s"):
		desc = fmt.Sprintf(desc, first["ProductCombined"])
	case strings.Contains(desc, "%d"):
		desc = fmt.Sprintf(desc, 2023+g.rng.IntN(3))
	}
	by := org["OrganisationCreatedBy"].(string)
	id := *oppID
	*oppID++
	opp := record{
		"OpportunityOrganisationId": org["OrganisationId"],
		"OpportunityPersonId":       person["PersonId"],
		"OpportunityAssignedTo":     org["OrganisationOwner"],
		"OpportunityNumber":         fmt.Sprintf("T-%06d", id),
		"OpportunityDescription":    desc,
		"OpportunityCurrencyName":   currency,
		"OpportunityLevel":          int64(level),
		"OpportunityLevelText":      seedLevels[level-1],
		"OpportunityPercent":        int64(level * 20),
		"OpportunityWinYesNo":       level == len(seedLevels),
		"OpportunityErpStatus":      "NotReadyForSynchronization",
	}
	if level == len(seedLevels) {
		opp["OpportunityErpStatus"] = "ReadyForSynchronization"
	}
	g.stamps(eo, opp, by)
	opp["OpportunityOrderDate"] = opp[eo.createdAt].(string)[:10] + "T00:00:00.0000000Z"
	total := 0.0
	n := 1 + g.rng.IntN(4)
	for i := range n {
		p := first
		if i > 0 {
			p = g.products[g.rng.IntN(len(g.products))]
		}
		qty := float64(1 + g.rng.IntN(20))
		price := p["ProductPrice"].(float64)
		discount := []float64{0, 0, 0, 5, 10}[g.rng.IntN(5)]
		total += qty * price * (1 - discount/100)
		line := record{
			"QuotationLineOpportunityId":  int64(id),
			"QuotationLineOrganisationId": org["OrganisationId"],
			"QuotationLinePersonId":       person["PersonId"],
			"QuotationLineData1":          p["ProductCustom1"],
			"QuotationLineData2":          p["ProductCombined"],
			"QuotationLineData3":          p["ProductCustom2"],
			"QuotationLinePrice":          price,
			"QuotationLineListPrice":      p["ProductListPrice"],
			"QuotationLineCostPrice":      p["ProductCostPrice"],
			"QuotationLineQuantity":       qty,
			"QuotationLineDiscount":       discount,
			"QuotationLineVatPercentage":  25.0,
			"QuotationLineSortOrder":      int64(i + 1),
		}
		g.stamps(el, line, by)
		g.insert("QuotationLines", *lineID, line)
		*lineID++
	}
	opp["OpportunityOrderValue"] = math.Round(total*100) / 100
	g.insert("Opportunities", id, opp)
}
