package inbox

import (
	"testing"
	"time"
)

func TestCauseTakesOutValues(t *testing.T) {
	cases := []struct{ in, want string }{
		{`waiting for organisations webcrm record 17 to be linked`, `waiting for organisations webcrm record <id> to be linked`},
		{`waiting for organisations erp record CU-1001 to be linked`, `waiting for organisations erp record <id> to be linked`},
		{`ERP PUT customers/CU-1002: 422 field "vatNumber": "DK 1234" is not a VAT number`, `ERP PUT customers/<id>: <id> field <value>: <value> is not a VAT number`},
		{`webCRM 400: PersonEmail 'anna@example.com' is invalid`, `webCRM <id>: PersonEmail <value> is invalid`},
		{`e-mail anna.b+x@example.co.uk taken by person 12`, `e-mail <email> taken by person <id>`},
		{`request 1b4e28ba-2fa1-11d2-883f-0016d3cca427 failed`, `request <uuid> failed`},
		{`forwarded by link/persons/erp/CT-7 at 2026-12-02T10:00:00Z`, `forwarded by <link> at <id>`},
		{`GET https://api.example.com/Organisations/5?x=1 answered 503`, `GET <url> answered <id>`},
		{"  price   3.50 below\tminimum  ", `price <id> below minimum`},
		{`3 organisations records match by vat (DK123); merge the duplicates`, `<id> organisations records match by vat (<id>); merge the duplicates`},
		{``, `(no reason given)`},
	}
	for _, c := range cases {
		if got := Cause(c.in); got != c.want {
			t.Errorf("Cause(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestCauseKeepsDifferentCausesApart(t *testing.T) {
	a := Cause(`ERP PUT customers/CU-1: 422 field "vatNumber" is required`)
	b := Cause(`ERP PUT customers/CU-2: 422 field "vatNumber" is required`)
	c := Cause(`ERP PUT customers/CU-1: 409 version conflict`)
	if a != b {
		t.Errorf("one cause, two texts: %q and %q", a, b)
	}
	if a == c {
		t.Errorf("two causes, one text: %q", a)
	}
}

func TestGroups(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	items := []Item{
		{Link: "link/persons/erp/CT-3", State: "error", Reason: `webCRM 400: PersonEmail "c@x.dk" is invalid`, Since: t0.Add(2 * time.Hour)},
		{Link: "link/persons/erp/CT-1", State: "error", Reason: `webCRM 400: PersonEmail "a@x.dk" is invalid`, Since: t0.Add(time.Hour)},
		{Link: "link/persons/erp/CT-2", State: "error", Reason: `webCRM 400: PersonEmail "b@x.dk" is invalid`, Since: t0.Add(3 * time.Hour)},
		{Link: "link/persons/erp/CT-9", State: "blocked", Reason: `waiting for organisations erp record CU-7 to be linked`, Since: t0},
		// The same text in another state is another group.
		{Link: "link/persons/erp/CT-8", State: "error", Reason: `waiting for organisations erp record CU-8 to be linked`},
	}
	gs := Groups(items)
	if len(gs) != 3 {
		t.Fatalf("got %d groups, want 3: %+v", len(gs), gs)
	}
	g := gs[0]
	if g.Count != 3 || g.State != "error" || g.Example != "link/persons/erp/CT-1" || !g.Oldest.Equal(t0.Add(time.Hour)) {
		t.Errorf("first group %+v: want 3 error links, the oldest CT-1 at %s", g, t0.Add(time.Hour))
	}
	if g.ExampleReason != `webCRM 400: PersonEmail "a@x.dk" is invalid` {
		t.Errorf("example reason %q", g.ExampleReason)
	}
	if want := []string{"link/persons/erp/CT-1", "link/persons/erp/CT-2", "link/persons/erp/CT-3"}; len(g.Links) != 3 || g.Links[0] != want[0] || g.Links[2] != want[2] {
		t.Errorf("links %v, want %v", g.Links, want)
	}
	if gs[1].State != "blocked" || gs[2].State != "error" || gs[1].Key == gs[2].Key {
		t.Errorf("groups 2 and 3: %+v %+v, want blocked then error, with two keys", gs[1], gs[2])
	}
	if gs[2].Oldest.IsZero() != true || gs[2].Example != "link/persons/erp/CT-8" {
		t.Errorf("group without times: %+v", gs[2])
	}
	if again := Groups(items); again[0].Key != g.Key || Key("error", g.Cause) != g.Key {
		t.Errorf("keys are not stable: %s, %s", again[0].Key, g.Key)
	}
}

func TestFind(t *testing.T) {
	gs := Groups([]Item{
		{Link: "link/p/erp/1", State: "error", Reason: "a"},
		{Link: "link/p/erp/2", State: "error", Reason: "a"},
		{Link: "link/p/erp/3", State: "error", Reason: "b"},
	})
	if g, ok := Find(gs, gs[1].Key); !ok || g.Cause != "b" {
		t.Errorf("by key: %+v %v", g, ok)
	}
	if g, ok := Find(gs, "1"); !ok || g.Cause != "a" {
		t.Errorf("by position 1: %+v %v", g, ok)
	}
	for _, sel := range []string{"0", "3", "", "nope", "-1"} {
		if _, ok := Find(gs, sel); ok {
			t.Errorf("Find(%q) found a group", sel)
		}
	}
}
