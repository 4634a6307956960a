package badinput

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/testenv"
	"github.com/tandemsync/tandem/webcrm"
)

// recordCase is one malformed input about one record, fed to a running
// engine by the fault proxy in front of one simulator.
type recordCase struct {
	name    string // subtest name
	input   string // catalogue: the malformed input
	where   string // catalogue: where it enters
	outcome string // catalogue: what tandem does with it

	pairing string        // default organisations
	home    domain.Side   // side the record is born on (default: the catalogue's side)
	linked  bool          // sync the record (create its counterpart) before the input goes bad
	make    func(k *kase) // custom set-up (default: a good record of the pairing on home)
	fault   func(k *kase) // makes the input bad: proxy rules or edits in a simulator
	// trigger makes tandem read the bad input and returns the record to
	// resync (default: the home record, with no edit).
	trigger func(k *kase) (domain.Side, string)
	want    string   // link state while the input is bad
	reason  []string // text the link's reason must contain (case-insensitive)
	noID    bool     // the reason names the record through the texts in reason
	check   func(k *kase, st domain.LinkState)
	fix     func(k *kase) // puts the data right (rules are removed anyway)
	after   func(k *kase, st domain.LinkState)
	special func(k *kase) // runs the whole case itself
}

// kase is one running case.
type kase struct {
	t     reporter
	e     *env
	c     *recordCase
	side  domain.Side // whose API gives the bad input
	home  domain.Side
	n     int
	id    string // the home record's id
	other string // its counterpart's id, once linked
	extra map[string]string
	rules []*rule
}

// TestBadInput runs both catalogues of record-level malformed inputs
// against one worker on the shared dev server, all cases at once: each
// case's record ends in the expected state while every other case's
// records keep syncing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.Temporal(t))
	crm := startRecordCases(t, e, domain.WebCRM, webcrmCases())
	erp := startRecordCases(t, e, domain.ERP, erpCases())
	t.Run("webcrm", func(t *testing.T) { replayAll(t, crm) })
	t.Run("erp", func(t *testing.T) { replayAll(t, erp) })
	e.workerAlive(t)
}

// startRecordCases starts every case of a catalogue in its own goroutine.
func startRecordCases(t *testing.T, e *env, side domain.Side, cases []recordCase) []*caseRun {
	runs := make([]*caseRun, len(cases))
	for i := range cases {
		c := &cases[i]
		if c.pairing == "" {
			c.pairing = pOrgs
		}
		runs[i] = startCase(t.Name()+"/"+string(side)+"/"+c.name, func(r reporter) {
			k := &kase{t: r, e: e, c: c, side: side, home: c.home, n: e.next(), extra: map[string]string{}}
			if k.home == "" {
				k.home = side
			}
			k.run()
		})
	}
	return runs
}

// replayAll reports each case as a subtest named after it.
func replayAll(t *testing.T, runs []*caseRun) {
	for _, r := range runs {
		t.Run(r.name[strings.LastIndex(r.name, "/")+1:], r.replay)
	}
}

func (k *kase) run() {
	t, e, c := k.t, k.e, k.c
	if c.special != nil {
		c.special(k)
		return
	}
	k.make()
	if c.linked {
		k.setLinked(e.syncLinked(t, c.pairing, k.home, k.id))
	}
	c.fault(k)
	sib := k.sibling()
	side, id := k.home, k.id
	if c.trigger != nil {
		side, id = c.trigger(k)
	}
	res := <-e.dispatchAsync(c.pairing, side, id)
	if res.err != nil {
		t.Fatalf("deliver the change of %s %s record %s: %v", c.pairing, side, id, res.err)
	}
	st, found, err := e.linkState(c.pairing, k.home, k.id)
	if err != nil || !found {
		t.Fatalf("look up the link of %s %s record %s: found %v, %v", c.pairing, k.home, k.id, found, err)
	}
	k.expect(st)
	if c.check != nil {
		c.check(k, st)
	}
	k.checkSibling(sib)
	e.workerAlive(t)

	// Nothing lost: with the input good again, an edit of the record syncs.
	k.clear()
	if c.fix != nil {
		c.fix(k)
	}
	st = k.recover()
	if c.after != nil {
		c.after(k, st)
	}
}

// expect checks the link's state and reason against the case.
func (k *kase) expect(st domain.LinkState) {
	t, c := k.t, k.c
	t.Logf("link %s: state %s, reason: %.600s", domain.LinkWorkflowID(c.pairing, k.home, k.id), st.State, st.Reason)
	if st.State != c.want {
		t.Errorf("link of %s %s record %s is %s, want %s (reason: %.1000s)", c.pairing, k.home, k.id, st.State, c.want, st.Reason)
	}
	low := strings.ToLower(st.Reason)
	for _, want := range c.reason {
		if !strings.Contains(low, strings.ToLower(want)) {
			t.Errorf("the reason does not say %q: %.1000s", want, st.Reason)
		}
	}
	if c.want == domain.StateError && !c.noID {
		if id := k.faultyID(); !namesID(st.Reason, id) {
			t.Errorf("the reason does not name %s record %s: %.1000s", k.side, id, st.Reason)
		}
	}
	if strings.Contains(low, "panic") {
		t.Errorf("the reason reports a panic: %.2000s", st.Reason)
	}
	if len(st.Reason) > 4096 {
		t.Errorf("the reason is %d bytes long; it should say what is wrong, not carry the input", len(st.Reason))
	}
}

// namesID reports whether text names id as a whole word.
func namesID(text, id string) bool {
	if id == "" {
		return false
	}
	re := regexp.MustCompile(`(^|[^0-9A-Za-z-])` + regexp.QuoteMeta(id) + `($|[^0-9A-Za-z])`)
	return re.MatchString(text)
}

// faultyID is the id of the record whose input is bad: the one on the
// catalogue's side.
func (k *kase) faultyID() string {
	if k.side == domain.WebCRM {
		return k.crmID()
	}
	return k.erpID()
}

func (k *kase) setLinked(st domain.LinkState) {
	if k.home == domain.WebCRM {
		k.other = st.ErpID
	} else {
		k.other = st.CrmID
	}
}

func (k *kase) crmID() string {
	if k.home == domain.WebCRM {
		return k.id
	}
	return k.other
}

func (k *kase) erpID() string {
	if k.home == domain.ERP {
		return k.id
	}
	return k.other
}

func (k *kase) crmInt() int {
	n, err := strconv.Atoi(k.crmID())
	if err != nil {
		k.t.Fatalf("webCRM id %q of the case is not a number", k.crmID())
	}
	return n
}

func (k *kase) entity() webcrm.Entity        { return crmEntity[k.c.pairing] }
func (k *kase) resource() customerp.Resource { return erpResource[k.c.pairing] }

// rule installs rules on the proxy of the catalogue's side.
func (k *kase) rule(rules ...*rule) {
	if k.side == domain.WebCRM {
		k.e.crmPx.add(k.t, rules...)
	} else {
		k.e.erpPx.add(k.t, rules...)
	}
	k.rules = append(k.rules, rules...)
}

// clear removes the case's rules.
func (k *kase) clear() {
	k.e.crmPx.remove(k.rules...)
	k.e.erpPx.remove(k.rules...)
	k.rules = nil
}

// edit rewrites the record on the catalogue's side in the answers to its
// own GET. Record-level cases resync the record, which reads it there;
// pages and feeds that show it belong to the poll cases.
func (k *kase) edit(ed func(rec map[string]any)) {
	k.rule(objectEdit(k.t.Name(), k.onGet(), ed))
}

// set returns an edit that sets one field (nil writes null).
func set(field string, v any) func(rec map[string]any) { return patch(map[string]any{field: v}) }

// drop returns an edit that removes one field.
func drop(field string) func(rec map[string]any) {
	return func(rec map[string]any) { delete(rec, field) }
}

// patch returns an edit that writes p into the record; an object in p is
// merged into the record's object of that name.
func patch(p map[string]any) func(rec map[string]any) {
	return func(rec map[string]any) { mergeInto(rec, p) }
}

func mergeInto(dst, p map[string]any) {
	for k, v := range p {
		sub, isObj := v.(map[string]any)
		if cur, ok := dst[k].(map[string]any); ok && isObj {
			mergeInto(cur, sub)
			continue
		}
		if isObj {
			// A copy: the encoder writes markers into the maps it encodes.
			cp := map[string]any{}
			mergeInto(cp, sub)
			v = cp
		}
		dst[k] = v
	}
}

// path of the record on the catalogue's side.
func (k *kase) path() string {
	if k.side == domain.WebCRM {
		return crmPath(k.entity(), k.crmInt())
	}
	return erpPath(k.resource(), k.erpID())
}

// onGet matches reads of the record on the catalogue's side.
func (k *kase) onGet() func(*call) bool { return on("GET", k.path()) }

// onPut matches writes of the record on the catalogue's side.
func (k *kase) onPut() func(*call) bool { return on("PUT", k.path()) }

// editOther edits the counterpart, so that tandem writes to the record on
// the catalogue's side; it returns the counterpart to resync.
func editOther(k *kase) (domain.Side, string) {
	v := fmt.Sprintf("edit-%d", k.n)
	tf := touchField[k.c.pairing]
	if k.side == domain.WebCRM {
		k.e.erpPatch(k.t, k.resource(), k.erpID(), map[string]any{tf.erp: v})
		return domain.ERP, k.erpID()
	}
	k.e.crmPatch(k.t, k.entity(), k.crmInt(), map[string]any{tf.crm: v})
	return domain.WebCRM, k.crmID()
}

// make creates the case's record.
func (k *kase) make() {
	if k.c.make != nil {
		k.c.make(k)
		return
	}
	t, e, n := k.t, k.e, k.n
	if k.home == domain.WebCRM {
		switch k.c.pairing {
		case pOrgs:
			k.id = itoa(e.crmPut(t, webcrm.Organisations, crmOrg(n)))
		case pPersons:
			org := e.crmPut(t, webcrm.Organisations, crmOrg(n))
			k.extra["org"] = itoa(org)
			k.id = itoa(e.crmPut(t, webcrm.Persons, crmPerson(n, org)))
		case pProducts:
			k.id = itoa(e.crmPut(t, webcrm.Products, crmProduct(n)))
		case pOpps:
			org := e.crmPut(t, webcrm.Organisations, crmOrg(n))
			k.extra["org"] = itoa(org)
			k.id = itoa(e.crmPut(t, webcrm.Opportunities, crmOpp(n, org)))
		case pLines:
			org := e.crmPut(t, webcrm.Organisations, crmOrg(n))
			opp := e.crmPut(t, webcrm.Opportunities, crmOpp(n, org))
			prod := e.erpPut(t, customerp.Products, erpProduct(n))
			k.extra["product"] = str(e.erpGet(t, customerp.Products, prod), "productNumber")
			k.id = itoa(e.crmPut(t, webcrm.QuotationLines, crmLine(opp, k.extra["product"])))
		default:
			t.Fatalf("no webCRM record maker for pairing %s", k.c.pairing)
		}
		return
	}
	switch k.c.pairing {
	case pOrgs:
		k.id = e.erpPut(t, customerp.Customers, erpCustomer(n))
	case pPersons:
		cu := e.erpPut(t, customerp.Customers, erpCustomer(n))
		k.extra["customer"] = cu
		k.id = e.erpPut(t, customerp.Contacts, erpContact(n, cu))
	case pProducts:
		k.id = e.erpPut(t, customerp.Products, erpProduct(n))
	case pLines:
		// An ERP line needs an order that is linked to an opportunity.
		org := e.crmPut(t, webcrm.Organisations, crmOrg(n))
		opp := e.crmPut(t, webcrm.Opportunities, crmOpp(n, org))
		order := e.syncLinked(t, pOpps, domain.WebCRM, itoa(opp)).ErpID
		k.extra["order"] = order
		prod := e.erpGet(t, customerp.Products, e.erpPut(t, customerp.Products, erpProduct(n)))
		k.extra["product"] = str(prod, "productNumber")
		k.id = e.erpPut(t, customerp.OrderLines, map[string]any{
			"orderId": order, "productNumber": k.extra["product"], "quantity": 3, "unitPrice": 20.5, "description": "Sprockets",
		})
	default:
		t.Fatalf("no ERP record maker for pairing %s", k.c.pairing)
	}
}

// sibling creates a good organisation on the catalogue's side and syncs it
// at the same time as the case's record.
func (k *kase) sibling() siblingRun {
	t, e, n := k.t, k.e, k.e.next()
	var id string
	if k.side == domain.WebCRM {
		id = itoa(e.crmPut(t, webcrm.Organisations, crmOrg(n)))
	} else {
		id = e.erpPut(t, customerp.Customers, erpCustomer(n))
	}
	return siblingRun{id: id, res: e.dispatchAsync(pOrgs, k.side, id)}
}

type siblingRun struct {
	id  string
	res <-chan outcome
}

// checkSibling requires the sibling to have synced while the case's record
// failed: the bad input held up nothing else.
func (k *kase) checkSibling(s siblingRun) {
	r := <-s.res
	switch {
	case r.err != nil:
		k.t.Errorf("the good organisation %s synced at the same time failed to deliver: %v", s.id, r.err)
	case r.out.State != domain.StateOK || r.out.CrmID == "" || r.out.ErpID == "":
		k.t.Errorf("the good organisation %s synced at the same time is %s (%s)", s.id, r.out.State, r.out.Reason)
	}
}

// recover edits the record once its input is good again and requires the
// edit to reach the other side.
func (k *kase) recover() domain.LinkState {
	t, e, c := k.t, k.e, k.c
	v := fmt.Sprintf("fixed-%d", k.n)
	tf := touchField[c.pairing]
	if k.home == domain.WebCRM {
		e.crmPatch(t, k.entity(), mustAtoi(t, k.id), map[string]any{tf.crm: v})
	} else {
		e.erpPatch(t, k.resource(), k.id, map[string]any{tf.erp: v})
	}
	out, err := e.dispatch(c.pairing, k.home, k.id)
	if err != nil {
		t.Fatalf("after the input is good again: deliver the edit of %s %s %s: %v", c.pairing, k.home, k.id, err)
	}
	if out.State != domain.StateOK || out.CrmID == "" || out.ErpID == "" {
		t.Fatalf("after the input is good again, the edit of %s %s %s left the link %s (%s)", c.pairing, k.home, k.id, out.State, out.Reason)
	}
	st, _, err := e.linkState(c.pairing, k.home, k.id)
	if err != nil {
		t.Fatalf("look up the link after recovery: %v", err)
	}
	if k.home == domain.WebCRM {
		if got := str(e.erpGet(t, k.resource(), st.ErpID), tf.erp); got != v {
			t.Errorf("after recovery the ERP %s %s has %s %q, want %q", k.resource(), st.ErpID, tf.erp, got, v)
		}
	} else {
		if got := str(e.crmGet(t, k.entity(), st.CrmID), tf.crm); got != v {
			t.Errorf("after recovery the webCRM %s %s has %s %q, want %q", k.entity(), st.CrmID, tf.crm, got, v)
		}
	}
	k.setLinked(st)
	return st
}

func mustAtoi(t reporter, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }

// ---- the hang ----

// hangCase runs a read that never finishes: the client must give up after
// its timeout (30 s with the service's settings) rather than wait forever,
// the worker must go on with other records meanwhile, and the record must
// sync once the endpoint answers again.
func hangCase(k *kase) {
	t, e, c := k.t, k.e, k.c
	k.make()
	log := &hangLog{}
	k.rule(hang(t.Name(), k.onGet(), log))
	res := e.dispatchAsync(c.pairing, k.home, k.id)
	k.checkSibling(k.sibling())
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, waited := log.snapshot()
		if len(waited) > 0 {
			d := waited[0]
			t.Logf("the client abandoned the hung answer after %s", d.Round(time.Millisecond))
			if d < 15*time.Second || d > 35*time.Second {
				t.Errorf("the client waited %s for the hung answer; want about the worker's 20 s timeout", d)
			}
			break
		}
		if time.Now().After(deadline) {
			started, _ := log.snapshot()
			t.Fatalf("after 90 s the client still waits for the hung answer (%d hung requests)", started)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st, found, err := e.linkState(c.pairing, k.home, k.id); err == nil && found && st.State != domain.StatePending && st.State != domain.StateError {
		t.Errorf("while the answer hangs the link is %s (%s); want pending or error", st.State, st.Reason)
	}
	k.clear() // the hung request is cut off; the client's next attempt gets the real answer
	r := <-res
	if r.err != nil {
		t.Fatalf("deliver the resync: %v", r.err)
	}
	if r.out.State != domain.StateOK || r.out.CrmID == "" || r.out.ErpID == "" {
		t.Errorf("once the endpoint answers again the link is %s (%s), want ok", r.out.State, r.out.Reason)
	}
	e.workerAlive(t)
	k.recover()
}
