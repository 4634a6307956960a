package reliability

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// outage is how long each fault test keeps a part unavailable. The promise
// is about outages of minutes; 20 seconds keeps CI short while still
// outlasting every retry inside one apply (six attempts, about 30 s in all,
// are what a link tries before it reports an error).
const outage = 20 * time.Second

// baseSeed makes the fault tests' operations the same on every run.
const baseSeed = 20240611

// baseline lays the ground for a fault test: records of all six pairings on
// both sides, synced and checked, with no faults.
func baseline(t *testing.T, e *env, ops int) *runner {
	t.Helper()
	r := newRunner(t, e, baseSeed)
	r.ops = ops
	if !r.scenario(0) {
		t.FailNow()
	}
	return r
}

// TestTemporalUnavailable stops the Temporal server for a while, makes
// edits and creates on both sides meanwhile, and starts the server again on
// its SQLite file: the worker (never restarted) reconnects and every change
// made meanwhile arrives.
func TestTemporalUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := baseline(t, e, 24)

	before, began := e.counters(), time.Now()
	tl := tally{crmDeletes: map[string]bool{}}
	log := editLog{}
	g := r.gen(1)
	g.noDeletes = true
	e.stopTemporal()
	stopped := time.Now()
	for time.Since(stopped) < outage {
		o := g.next(false)
		r.add(o)
		r.exec(o, &tl, log)
		time.Sleep(500 * time.Millisecond)
	}
	e.restartTemporal()
	restarted := time.Now()
	t.Logf("Temporal was down %s; %d creates and %d edits meanwhile", restarted.Sub(stopped).Round(100*time.Millisecond), tl.creates, tl.edits)
	if !r.finish(1, tl, log, before, began, nil) {
		return
	}
	t.Logf("every change made while Temporal was down arrived within %s of its restart", time.Since(restarted).Round(100*time.Millisecond))
}

// TestERPUnavailable stops the CustomERP server for a while and edits and
// creates webCRM records meanwhile: the records wait and complete, nothing
// is skipped, and no pairing's webCRM watermark passes a change that has not
// reached the ERP.
func TestERPUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := baseline(t, e, 24)

	before, began := e.counters(), time.Now()
	tl := tally{crmDeletes: map[string]bool{}}
	log := editLog{}
	g := r.gen(1)
	g.noDeletes = true
	w := r.watch()
	if err := e.stopERP(); err != nil {
		t.Fatalf("stop the ERP: %v", err)
	}
	stopped := time.Now()
	for time.Since(stopped) < outage {
		o := g.next(true)
		r.add(o)
		r.exec(o, &tl, log)
		w.record(o)
		time.Sleep(500 * time.Millisecond)
	}
	e.restartERP()
	restarted := time.Now()
	t.Logf("the ERP was down %s; %d creates and %d edits in webCRM meanwhile", restarted.Sub(stopped).Round(100*time.Millisecond), tl.creates, tl.edits)
	ok := r.finish(1, tl, log, before, began, nil)
	w.stop()
	w.report()
	if ok {
		t.Logf("every webCRM change made while the ERP was down arrived within %s of its restart", time.Since(restarted).Round(100*time.Millisecond))
	}
}

// TestWebCRMRateLimited makes webCRM answer every request with 429 for a
// while and edits and creates records on both sides meanwhile: the records
// wait and complete, nothing is skipped, and neither watermark of a pairing
// (the webCRM time, the ERP feed position) passes a change that has neither
// reached the other side nor been taken by its link (which, when the rate
// limit outlasts its attempts, holds it in state error and retries by
// itself).
func TestWebCRMRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := baseline(t, e, 24)

	before, began := e.counters(), time.Now()
	tl := tally{crmDeletes: map[string]bool{}}
	log := editLog{}
	g := r.gen(1)
	g.noDeletes = true
	w := r.watch()
	if err := e.crm.Faults().Force429(0, outage, 1); err != nil {
		t.Fatalf("webCRM faults: %v", err)
	}
	limited := time.Now()
	for time.Since(limited) < outage {
		o := g.next(false)
		r.add(o)
		r.exec(o, &tl, log)
		w.record(o)
		time.Sleep(500 * time.Millisecond)
	}
	e.clearCRMFaults()
	t.Logf("webCRM answered 429 for %s (%d answers); %d creates and %d edits meanwhile",
		time.Since(limited).Round(100*time.Millisecond), e.crm.Stats().RateLimited, tl.creates, tl.edits)
	ok := r.finish(1, tl, log, before, began, nil)
	w.stop()
	w.report()
	if ok {
		t.Logf("every change made while webCRM answered 429 arrived within %s of the end", time.Since(limited.Add(outage)).Round(100*time.Millisecond))
	}
}

// TestPoisonRecord syncs records the ERP always rejects (an organisation
// whose postcode is longer than the contract's 20 characters, one created
// so and one edited so) among ordinary changes: the poison never blocks the
// others, its link ends in state error with a reason naming the record and
// the cause, a visibility query on TandemState = 'error' finds it, and once
// the cause is fixed in webCRM it syncs.
func TestPoisonRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := baseline(t, e, 18)

	const badPostcode = "DK-8000 Aarhus C, Denmark" // 25 characters; the ERP takes 20
	before, began := e.counters(), time.Now()
	tl := tally{crmDeletes: map[string]bool{}}
	log := editLog{}
	g := r.gen(1)
	g.noDeletes = true

	created, err := e.crm.Put("Organisations", map[string]any{"OrganisationName": "Poison Created A/S",
		"OrganisationVatNumber": "DK 99 00 0001", "OrganisationPostCode": badPostcode, "OrganisationCity": "Aarhus"})
	if err != nil {
		t.Fatalf("create the poison organisation: %v", err)
	}
	tl.creates++
	r.add(&op{made: &rec{pairing: "organisations", home: domain.WebCRM, crmID: created, born: 1, retired: true}})
	// Poison the webCRM organisation with the most records depending on it,
	// then edit one of those in the ERP: translating its customer reference
	// goes through the poisoned organisation's link.
	orgs := r.m.live("organisations", func(x *rec) bool { return x.home == domain.WebCRM && !x.twin })
	if len(orgs) == 0 {
		t.Fatalf("the baseline made no webCRM organisation to poison")
	}
	sort.SliceStable(orgs, func(a, b int) bool { return orgs[a].children > orgs[b].children })
	edited := orgs[0]
	if err := e.crm.Patch("Organisations", edited.crmID, map[string]any{"OrganisationPostCode": badPostcode}); err != nil {
		t.Fatalf("edit the poison into organisation %d: %v", edited.crmID, err)
	}
	edited.retired = true // the model no longer predicts it
	tl.edits++
	for _, x := range r.m.recs {
		if x.retired || x.parents["organisation"] != edited || !g.has(x, domain.ERP) {
			continue
		}
		field, prop := "title", "title"
		if x.pairing == "opportunities" {
			field, prop = "description", "description"
		}
		o := &op{kind: opEdit, pairing: x.pairing, side: domain.ERP, target: x, field: field,
			props: map[string]any{prop: fmt.Sprintf("After the poison %d", x.n)}}
		t.Logf("%s, which refers to the poisoned organisation", o)
		r.exec(o, &tl, log)
	}
	for k := 0; k < 16; k++ {
		o := g.next(false)
		r.add(o)
		r.exec(o, &tl, log)
		time.Sleep(200 * time.Millisecond)
	}

	poison := map[string]string{ // link ID -> webCRM id
		domain.LinkWorkflowID("organisations", domain.WebCRM, strconv.Itoa(created)):      strconv.Itoa(created),
		domain.LinkWorkflowID("organisations", domain.WebCRM, strconv.Itoa(edited.crmID)): strconv.Itoa(edited.crmID),
	}
	allowed := map[string]bool{}
	for id := range poison {
		allowed[id] = true
	}
	for id, crmID := range poison {
		err := waitFor(time.Minute, 200*time.Millisecond, func() error {
			st, err := e.queryLink(id)
			if err != nil {
				return err
			}
			if st.State != domain.StateError {
				return fmt.Errorf("link is %s (%s)", st.State, st.Reason)
			}
			// The reason names the record and the cause (the field the ERP refused).
			if !strings.Contains(st.Reason, crmID) || !strings.Contains(st.Reason, "postalCode") {
				return fmt.Errorf("the reason %q does not name webCRM organisation %s and the postcode", st.Reason, crmID)
			}
			t.Logf("poison %s: %s", id, st.Reason)
			return nil
		})
		if err != nil {
			t.Errorf("poison organisation %s: %v", crmID, err)
		}
	}
	// Everything else syncs past the poison, the records that refer to the
	// poisoned organisation included.
	if !r.finish(1, tl, log, before, began, allowed) {
		return
	}
	got, err := e.listWorkflows(fmt.Sprintf("WorkflowType = 'LinkWorkflow' AND %s = 'error'", workflows.StateKey.GetName()))
	if err != nil {
		t.Fatalf("%v", err)
	}
	var ids []string
	for _, w := range got {
		ids = append(ids, w.id)
	}
	if len(ids) != len(poison) || !allowed[ids[0]] || !allowed[ids[len(ids)-1]] {
		t.Errorf("TandemState = 'error' finds %v, want the two poison links %v", ids, sortedKeys(allowed))
	}
	// Retried when its cause changes: fixing the postcode in webCRM syncs it.
	for _, id := range []int{created, edited.crmID} {
		if err := e.crm.Patch("Organisations", id, map[string]any{"OrganisationPostCode": "8000"}); err != nil {
			t.Fatalf("fix organisation %d: %v", id, err)
		}
	}
	for id, crmID := range poison {
		err := waitFor(time.Minute, 200*time.Millisecond, func() error {
			st, err := e.queryLink(id)
			if err != nil {
				return err
			}
			if st.State != domain.StateOK || st.ErpID == "" {
				return fmt.Errorf("link is %s (%s)", st.State, st.Reason)
			}
			rec, ok := e.erpServer().Record("customers", st.ErpID)
			if !ok || lookupPath(rec, "postalAddress.postalCode") != "8000" {
				return fmt.Errorf("ERP customer %s has postcode %v", st.ErpID, lookupPath(rec, "postalAddress.postalCode"))
			}
			return nil
		})
		if err != nil {
			t.Errorf("fixed organisation %s did not sync: %v", crmID, err)
		}
	}
}

// ---- watermarks ----

// watch follows the changes made during a fault and checks, several times
// a second, that no pairing's watermark passes one of them before it has
// reached the other side.
type watch struct {
	r   *runner
	erp *customerp.Client

	mu      sync.Mutex
	cursor  map[string]string // ERP resource -> feed position already read
	pending map[watchKey]*watched
	found   []string
	samples int
	checked int // watermark comparisons made while a change was unsynced

	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

type watchKey struct {
	r    *rec
	side domain.Side
}

// watched is the latest change of one record on one side.
type watched struct {
	fields  map[string]bool // canonical fields edited ("" for the create)
	at      time.Time       // webCRM: the record's UpdatedAt after the change
	seq     int64           // ERP: the change's position in the feed
	op      string
	flagged bool
}

// watch starts watching; record adds changes, stop ends it.
func (r *runner) watch() *watch {
	ec, err := customerp.New(customerp.Config{BaseURL: "http://" + r.e.erpAddr, APIKey: erpKey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		r.t.Fatalf("CustomERP client: %v", err)
	}
	w := &watch{r: r, erp: ec, cursor: map[string]string{}, pending: map[watchKey]*watched{}, done: make(chan struct{})}
	// Start each feed where it is now.
	for _, res := range []customerp.Resource{customerp.Customers, customerp.Contacts, customerp.Products, customerp.Orders, customerp.OrderLines} {
		w.cursor[string(res)] = w.head(res)
	}
	w.wg.Add(1)
	go w.loop()
	r.t.Cleanup(w.halt) // a test that stops early must not leave the loop running
	return w
}

// halt ends the sampling loop.
func (w *watch) halt() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

// head reads a resource's feed to its end and returns the position.
func (w *watch) head(res customerp.Resource) string {
	pos := ""
	for {
		ctx, cancel := callCtx()
		items, next, err := w.erp.Changes(ctx, res, pos, 1000)
		cancel()
		if err != nil {
			w.r.t.Fatalf("read the ERP %s feed: %v", res, err)
		}
		if next != "" {
			pos = next
		}
		if len(items) < 1000 {
			return pos
		}
	}
}

// record notes the change an operation made.
func (w *watch) record(o *op) {
	x := o.target
	if x == nil {
		x = o.made
	}
	if x == nil || x.retired {
		return
	}
	field := o.field // "" for a create
	p, _ := w.r.e.set.Pairing(o.pairing)
	ch := &watched{op: o.String()}
	if o.side == domain.WebCRM {
		id, _ := x.idOn(domain.WebCRM)
		n, _ := strconv.Atoi(id)
		rec, ok := w.r.e.crm.Record(p.WebCRMEntity, n)
		if !ok {
			return
		}
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(rec[webcrm.Entity(p.WebCRMEntity).UpdatedAtField()]))
		if err != nil {
			w.r.t.Errorf("webCRM %s %d: UpdatedAt: %v", p.WebCRMEntity, n, err)
			return
		}
		ch.at = at
	} else {
		id, _ := x.idOn(domain.ERP)
		ctx, cancel := callCtx()
		defer cancel()
		items, next, err := w.erp.Changes(ctx, customerp.Resource(p.ERPResource), w.cursor[p.ERPResource], 1000)
		if err != nil {
			w.r.t.Errorf("read the ERP %s feed: %v", p.ERPResource, err)
			return
		}
		for _, it := range items {
			if it.ID == id {
				ch.seq, _ = strconv.ParseInt(it.Seq, 10, 64)
			}
		}
		w.mu.Lock()
		if next != "" {
			w.cursor[p.ERPResource] = next
		}
		w.mu.Unlock()
		if ch.seq == 0 {
			return // the edit wrote what was there: no new version, nothing to sync
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	k := watchKey{x, o.side}
	prev := w.pending[k]
	ch.fields = map[string]bool{field: true}
	if prev != nil {
		for f := range prev.fields {
			ch.fields[f] = true
		}
	}
	w.pending[k] = ch
}

func (w *watch) loop() {
	defer w.wg.Done()
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			w.sample()
		}
	}
}

// sample reads the pairings' watermarks, then both systems: a change still
// unsynced afterwards was unsynced when the watermark was read.
func (w *watch) sample() {
	e := w.r.e
	statuses := map[string]workflows.PairingStatus{}
	for _, name := range allPairings {
		st, err := e.pairingStatus(name)
		if err != nil {
			return
		}
		statuses[name] = st
	}
	var s *snap
	snapAt := time.Now()
	if e.erpServer() != nil {
		var err error
		if s, err = e.takeSnap(); err != nil {
			return
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	if os.Getenv("RELIABILITY_DEBUG") != "" && w.samples%5 == 0 {
		var b strings.Builder
		for _, name := range allPairings {
			st := statuses[name]
			fmt.Fprintf(&b, " %s[w=%s t=%s polls=%d err=%.60q]", name, st.WebCRMWatermark.Format("15:04:05.000"), st.ERPToken, st.Totals.Polls, st.LastError)
		}
		n := 0
		for k, ch := range w.pending {
			if s == nil || !w.synced(s, k, ch) {
				n++
				if k.side == domain.ERP {
					fmt.Fprintf(&b, "\n   unsynced ERP change %s seq %d one-sided %v", ch.op, ch.seq, k.r.oneSided)
				}
			}
		}
		w.r.t.Logf("sample %d: %d unsynced;%s", w.samples, n, b.String())
	}
	for k, ch := range w.pending {
		if s != nil && w.synced(s, k, ch) {
			delete(w.pending, k)
			continue
		}
		if ch.flagged {
			continue
		}
		w.checked++
		st := statuses[k.r.pairing]
		switch k.side {
		case domain.WebCRM:
			if st.WebCRMWatermark.After(ch.at) && !w.heldByLink(s, k, ch, snapAt) {
				ch.flagged = true
				w.found = append(w.found, fmt.Sprintf("pairing %s: the webCRM watermark %s passed %s (changed at %s) before it reached the ERP; %s",
					k.r.pairing, st.WebCRMWatermark.Format(time.RFC3339Nano), ch.op, ch.at.Format(time.RFC3339Nano), w.linkNote(k)))
			}
		default:
			if tok, err := strconv.ParseInt(st.ERPToken, 10, 64); err == nil && tok >= ch.seq && !w.heldByLink(s, k, ch, snapAt) {
				ch.flagged = true
				w.found = append(w.found, fmt.Sprintf("pairing %s: the ERP feed token %d passed %s (feed position %d) before it reached webCRM; %s",
					k.r.pairing, tok, ch.op, ch.seq, w.linkNote(k)))
			}
		}
	}
}

// heldByLink reports whether the link of a watched record holds its change:
// it is in state error or blocked (the change was delivered, and the link
// retries it by itself when a rate limit outlasted the activity's attempts,
// or waits for what blocks it), or its state changed after the snapshot the
// change was judged unsynced in was taken (it was holding the change then
// and has just applied it: the delivery that let the watermark pass ended
// before that snapshot). A watermark may pass such a change; that it still
// arrives is checked by report.
//
// It also reports a change that had in fact arrived when the snapshot was
// taken: the snapshot names links as the visibility store lists them, which
// trails the links' own state (on a loaded machine by seconds: a link just
// started by a poll, or one that applied a change a moment before the
// snapshot, is not listed as it is yet). Judged with the link's own state,
// the records the snapshot read may already agree.
func (w *watch) heldByLink(s *snap, k watchKey, ch *watched, snapAt time.Time) bool {
	id := domain.LinkWorkflowID(k.r.pairing, k.r.home, k.r.homeID())
	st, err := w.r.e.queryLink(id)
	if err != nil {
		return false
	}
	if st.State == domain.StateError || st.State == domain.StateBlocked || st.UpdatedAt.After(snapAt) {
		return true
	}
	own := &linkRef{id: id, pairing: k.r.pairing, crmID: st.CrmID, erpID: st.ErpID, state: st.State}
	return s != nil && w.agreeIn(s, k, ch, own)
}

// linkNote describes the link of a watched record.
func (w *watch) linkNote(k watchKey) string {
	id := domain.LinkWorkflowID(k.r.pairing, k.r.home, k.r.homeID())
	st, err := w.r.e.queryLink(id)
	if err != nil {
		return fmt.Sprintf("link %s: %v", id, err)
	}
	return fmt.Sprintf("its link %s is %s: %s", id, st.State, st.Reason)
}

// synced reports whether a watched change has reached the other side: the
// record is linked (with its counterpart unless it is one-sided by design)
// and the fields edited agree on both sides.
func (w *watch) synced(s *snap, k watchKey, ch *watched) bool {
	return w.agreeIn(s, k, ch, s.linkOf(k.r.pairing, k.r.home, k.r.homeID()))
}

// agreeIn reports whether a watched change had reached the other side in s,
// with l as the record's link.
func (w *watch) agreeIn(s *snap, k watchKey, ch *watched, l *linkRef) bool {
	x := k.r
	if l == nil || l.state != domain.StateOK {
		return false
	}
	if x.oneSided {
		return true
	}
	crm, erp := s.crm[x.pairing][l.crmID], s.erp[x.pairing][l.erpID]
	if crm == nil || erp == nil {
		return false
	}
	p, _ := w.r.e.set.Pairing(x.pairing)
	ctx := context.Background()
	cw, _, err1 := canonical(ctx, p, s, domain.WebCRM, crm)
	ce, _, err2 := canonical(ctx, p, s, domain.ERP, erp)
	if err1 != nil || err2 != nil {
		return false
	}
	for field := range ch.fields {
		if field == "" {
			continue
		}
		f, ok := p.Field(field)
		if !ok || !agreeStored(ctx, p, s, f, crm, cw, ce) {
			return false
		}
	}
	return true
}

// stop ends the watch after a last sample.
func (w *watch) stop() {
	w.halt()
	w.sample()
}

// report fails the test for every watermark that passed an unsynced
// change, and for changes that never arrived.
func (w *watch) report() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.r.t.Logf("watermarks sampled %d times, %d comparisons with an unsynced change", w.samples, w.checked)
	if w.checked == 0 {
		w.r.t.Errorf("the watch never saw an unsynced change: it proves nothing")
	}
	for _, f := range w.found {
		w.r.t.Errorf("%s", f)
	}
	for k, ch := range w.pending {
		w.r.t.Errorf("%s: never reached the other side (%s)", ch.op, w.linkNote(k))
	}
}

// TestWebCRMMaintenancePage makes webCRM answer 40 % of all requests with
// an HTML maintenance page (status 200, the request not carried out) while
// product names are edited in the ERP. Every edit must reach webCRM: an
// update answered with such a page did not happen, and taking it for a
// write leaves the two sides apart for good (the link remembers a value
// webCRM never got, and webCRM has no newer version to poll).
func TestWebCRMMaintenancePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := newRunner(t, e, baseSeed)
	g := r.gen(0)
	tl := tally{crmDeletes: map[string]bool{}}
	log := editLog{}
	var products []*rec
	for k := 0; k < 10; k++ {
		o := &op{kind: opCreate, pairing: "products", side: domain.WebCRM,
			made: &rec{pairing: "products", home: domain.WebCRM, born: 0, parents: map[string]*rec{}, number: productNumber(900 + k)}}
		o.props = g.productProps(domain.WebCRM, 900+k, o.made.number)
		r.add(o)
		r.exec(o, &tl, log)
		products = append(products, o.made)
	}
	if err := e.waitQuiet(faultQuietTimeout, nil); err != nil {
		t.Fatalf("no quiescence: %v", err)
	}
	s, err := e.takeSnap()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if found := r.checkModel(s); len(found) > 0 {
		t.Fatalf("the products did not sync: %v", found)
	}

	before, began := e.counters(), time.Now()
	tl = tally{crmDeletes: map[string]bool{}}
	log = editLog{}
	if err := e.crm.Faults().SetMalformed(0.4, webcrmsim.MalformedHTML); err != nil {
		t.Fatalf("webCRM faults: %v", err)
	}
	versions := map[string]string{} // ERP id -> version after the edit
	for _, x := range products {
		o := &op{kind: opEdit, pairing: "products", side: domain.ERP, target: x, field: "name",
			props: map[string]any{"name": fmt.Sprintf("Renamed during maintenance %d", x.n)}}
		r.exec(o, &tl, log)
		rec, _ := e.erpServer().Record("products", x.linkErp)
		versions[x.linkErp] = fmt.Sprint(rec["version"])
	}
	// Wait until the engine has taken in every edit, still under the fault.
	// A link whose apply ran out of attempts (each fails 40 % per request)
	// retries on its own timer, 30 s and then 60 s and 120 s later: allow
	// for three of those rounds.
	if err := waitFor(4*time.Minute, 200*time.Millisecond, func() error {
		for erpID, v := range versions {
			_, st, _, err := e.lookupLink("products", domain.ERP, erpID)
			if err != nil {
				return err
			}
			if st.ErpVersion != v {
				return fmt.Errorf("the link of ERP product %s has synced version %q, the edit made %s", erpID, st.ErpVersion, v)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("webCRM answered %d requests with a maintenance page", e.crm.Stats().Faults["html"])
	e.clearCRMFaults()
	r.finish(1, tl, log, before, began, nil)
}
