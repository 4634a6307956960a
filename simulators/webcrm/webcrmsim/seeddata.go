package webcrmsim

// Word lists for the demo data generator: Danish and Norwegian names,
// streets, towns and trades.

var seedFirstNames = []string{
	"Anders", "Mette", "Søren", "Kirsten", "Jørgen", "Hanne", "Lars", "Birgitte", "Mads", "Line",
	"Rasmus", "Camilla", "Henrik", "Anne", "Niels", "Signe", "Ole", "Ida", "Jens", "Freja",
	"Bjørn", "Ingrid", "Håkon", "Solveig", "Øystein", "Kari", "Torbjørn", "Ragnhild", "Espen", "Åse",
	"Sigurd", "Marte", "Thea", "Emil", "Astrid", "Frederik", "Jørn", "Kåre", "Bodil", "Gudrun",
	"Trine", "Morten", "Louise", "Kasper", "Sofie", "Magnus", "Nora", "Ørjan", "Siv", "Tove",
}

var seedLastNames = []string{
	"Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen", "Jørgensen",
	"Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen", "Møller", "Johansen", "Berg", "Haugen", "Hagen",
	"Bakken", "Solberg", "Kristiansen", "Lund", "Strøm", "Dahl", "Lie", "Sæther", "Østergaard", "Bøgh",
	"Kjær", "Nørgaard", "Holm", "Fjeld", "Håland", "Aas", "Grønlund", "Skovgaard", "Brændstrup", "Løvås",
}

var seedCompanyPrefixes = []string{
	"Nordisk", "Dansk", "Fjord", "Skov", "Vest", "Øst", "Sønder", "Bølge", "Lyng", "Havn",
	"Kyst", "Fjell", "Bjørke", "Solvang", "Egeskov", "Grøn", "Hvide", "Nord", "Viking", "Midt",
	"Ålborg", "Ærø", "Trøndelag", "Vestland", "Sjælland", "Hardanger", "Limfjord", "Mjøsa", "Østfold", "Fyn",
}

var seedCompanyTrades = []string{
	"Maskinfabrik", "Tømrer", "Byg", "Transport", "Rådgivning", "Elektro", "Bageri", "Fiskeindustri", "Trælast", "Data",
	"Energi", "Møbler", "Handel", "Installation", "Snedkeri", "Auto", "Revision", "Logistikk", "Entreprenør", "Rør og Varme",
	"Stålindustri", "Grafisk", "Køleteknik", "Emballage", "Landbrug", "Regnskap", "Bygg", "Marine", "Smedje", "Anlæg",
}

var seedIndustries = []string{"Byggeri", "Industri", "Handel", "IT", "Transport", "Fødevarer", "Energi", "Rådgivning", "Maritim", "Offentlig"}

var seedOrgTypes = []string{"A Kunde", "B Kunde", "C Kunde", "Prospekt", "Leverandør"}

var seedTitlesDK = []string{"Indkøbschef", "Direktør", "Økonomiansvarlig", "Driftschef", "Projektleder", "Bogholder", "Salgschef", "Værkfører"}
var seedTitlesNO = []string{"Innkjøpssjef", "Daglig leder", "Økonomisjef", "Driftsleder", "Prosjektleder", "Regnskapsfører", "Salgssjef", "Formann"}

var seedUserTitles = []string{"Sælger", "Salgschef", "Key Account Manager", "Kundeservice", "Direktør", "Salgskonsulent"}

type seedTown struct{ postCode, city string }

var seedStreetsDK = []string{
	"Vestergade", "Østergade", "Nørregade", "Søndergade", "Algade", "Kongensgade", "Strandvejen", "Møllevej", "Skovvej", "Kirkevej",
	"Åboulevarden", "Bøgevej", "Ægirsvej", "Hørkær", "Industrivej", "Havnegade", "Ørstedsvej", "Ålekistevej", "Jægersborg Allé", "Fælledvej",
}

var seedTownsDK = []seedTown{
	{"1050", "København K"}, {"2100", "København Ø"}, {"2200", "København N"}, {"8000", "Aarhus C"}, {"5000", "Odense C"},
	{"9000", "Aalborg"}, {"6700", "Esbjerg"}, {"7100", "Vejle"}, {"8900", "Randers"}, {"6000", "Kolding"},
	{"8700", "Horsens"}, {"4000", "Roskilde"}, {"3000", "Helsingør"}, {"7400", "Herning"}, {"2800", "Kongens Lyngby"},
	{"8600", "Silkeborg"}, {"4700", "Næstved"}, {"5700", "Svendborg"}, {"9800", "Hjørring"}, {"6400", "Sønderborg"},
	{"3400", "Hillerød"}, {"2970", "Hørsholm"}, {"9400", "Nørresundby"}, {"8800", "Viborg"}, {"5970", "Ærøskøbing"},
}

var seedStreetsNO = []string{
	"Storgata", "Kirkegata", "Kongens gate", "Drammensveien", "Bygdøy allé", "Thereses gate", "Sjøgata", "Fjordveien", "Løkkeveien", "Øvre Slottsgate",
	"Strandgata", "Bjørnstjerne Bjørnsons gate", "Håkon VIIs gate", "Sandviksveien", "Tøyengata", "Møllergata", "Nedre Storgate", "Åsveien", "Skøyen terrasse", "Grønnegata",
}

var seedTownsNO = []seedTown{
	{"0150", "Oslo"}, {"0557", "Oslo"}, {"5003", "Bergen"}, {"7011", "Trondheim"}, {"4006", "Stavanger"},
	{"9008", "Tromsø"}, {"3015", "Drammen"}, {"4612", "Kristiansand"}, {"1606", "Fredrikstad"}, {"2317", "Hamar"},
	{"6002", "Ålesund"}, {"8006", "Bodø"}, {"3111", "Tønsberg"}, {"2609", "Lillehammer"}, {"1532", "Moss"},
	{"3724", "Skien"}, {"5525", "Haugesund"}, {"4838", "Arendal"}, {"2821", "Gjøvik"}, {"1440", "Drøbak"},
}

var seedProductNouns = []string{
	"Hydraulikpumpe", "Kontorstol", "Serviceaftale", "Montagetime", "Kabeltromle", "Skruesæt", "Tagplade", "Fjernvarmeunit", "Ventilationsaggregat", "Sikkerhedssko",
	"Arbejdsbord", "Trykluftslange", "Varmepumpe", "Lagerreol", "Gaffeltruck-batteri", "Løftebord", "Filterpakke", "Svejsetråd", "Solcellepanel", "Kølemøbel",
}

var seedProductVariants = []string{"Basis", "Plus", "Pro", "XL", "Kompakt", "Rustfri", "Premium", "Light", "HD", "Eco"}

var seedUnits = []string{"stk", "stk", "stk", "time", "m", "kg", "sæt"}

var seedOppDescriptions = []string{
	"Tilbud på %s", "Serviceaftale %d", "Udvidelse af lager", "Rammeaftale %d", "Udskiftning af %s", "Pilotprojekt", "Årlig genbestilling %d", "Tilbud: %s til nyt anlæg",
}

var seedLevels = []string{"Kvalificering", "Behovsanalyse", "Tilbud sendt", "Forhandling", "Afsluttet"}
