package reliability

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/simulators/customerp/erpsim"
	"github.com/tandemsync/tandem/simulators/webcrm/webcrmsim"
)

// Flags of TestConvergence (see README.md).
var (
	flagSeed      = flag.Int64("seed", 0, "TestConvergence: seed of the random operations and faults (0: a new one, printed)")
	flagScenarios = flag.Int("scenarios", 20, "TestConvergence: number of scenarios")
	flagOps       = flag.Int("ops", 0, "TestConvergence: operations per scenario (0: 10, or 24 with 100 scenarios or more)")
)

// quietTimeout bounds the wait for quiescence after a scenario. It covers
// a poll activity lost with a killed worker or a restarted server, which
// Temporal retries only after the activity's one-minute heartbeat timeout,
// and a link's first 30-second retry.
const quietTimeout = 150 * time.Second

// faultQuietTimeout bounds the wait for quiescence in the fault tests, which
// kill no worker. After a fault the engine can need a poll activity lost with
// the restarted Temporal server (retried after one minute), or a link's own
// retries of a change whose apply outlasted the fault (after 30 s, then
// 60 s), before it is quiet; on a loaded 2-core machine, which builds and
// runs the other packages' tests beside these, each of those takes longer
// still. The wait ends as soon as the engine is quiet; the bound is only how
// long a test waits before it calls the engine stuck.
const faultQuietTimeout = 5 * time.Minute

// TestConvergence runs seeded random scenarios of creates, edits and
// deletes on both simulators while the engine runs and faults are injected,
// and checks the promises after each: convergence, no duplicates, one link
// per record, no link without its records, no echoes, bounded writes.
func TestConvergence(t *testing.T) {
	t.Parallel()
	seed := *flagSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	n := max(*flagScenarios, 1)
	ops := *flagOps
	if ops <= 0 {
		ops = 10
		if n >= 100 {
			ops = 24
		}
	}
	t.Logf("seed %d, %d scenarios of %d operations", seed, n, ops)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reproduce the operations and faults with: go test ./reliability -run 'TestConvergence$' -seed %d -scenarios %d -ops %d", seed, n, ops)
		}
	})
	e := newEnv(t, envOptions{Hooks: true, SuggestContinueAsNew: 500})
	r := newRunner(t, e, seed)
	r.scenarios, r.ops, r.quiet = n, ops, quietTimeout
	for i := 0; i < n; i++ {
		if !r.scenario(i) {
			break
		}
		r.passed++
	}
	r.summary()
}

// runner runs the scenarios of one TestConvergence.
type runner struct {
	t         *testing.T
	e         *env
	m         *model
	seed      int64
	scenarios int
	ops       int
	began     time.Time
	quiet     time.Duration // the wait for quiescence after a scenario
	journal   []string      // what the current scenario did, for a failure report

	// totals
	passed                           int // scenarios whose checks passed
	creates, edits, deletes, refused int
	writes                           int64
	slowest                          time.Duration
}

// newRunner returns a runner over e with an empty model.
func newRunner(t *testing.T, e *env, seed int64) *runner {
	return &runner{t: t, e: e, m: &model{}, seed: seed, scenarios: 1, ops: 10, began: time.Now(), quiet: faultQuietTimeout}
}

// gen returns the generator of scenario i.
func (r *runner) gen(i int) *gen {
	return &gen{rng: rand.New(rand.NewPCG(uint64(r.seed), uint64(i))), m: r.m, scenario: i}
}

// add puts a record an operation makes into the model.
func (r *runner) add(o *op) {
	if o.made != nil {
		o.made.n = len(r.m.recs)
		r.m.recs = append(r.m.recs, o.made)
	}
}

// mentionsAny reports whether text names one of the links.
func mentionsAny(text string, links map[string]bool) bool {
	for id := range links {
		if strings.Contains(text, id+" ") || strings.HasSuffix(text, id) {
			return true
		}
	}
	return false
}

// tally counts the operations of one scenario.
type tally struct {
	creates, edits, deletes, refused int
	// writeBacks are webCRM creates whose ERP counterpart gives values back
	// to them (an order's id and ERP status): one more webCRM write each.
	writeBacks int
	crmDeletes map[string]bool // pairings with a webCRM delete
}

// event is a disruptive fault at an operation index.
type event struct {
	at   int
	kind string // stop-worker, start-worker, stop-temporal, start-temporal, stop-erp, start-erp
	wait time.Duration
}

// plan is the faults of one scenario.
type plan struct {
	// crm is webCRM's behaviour in the scenario: the environment's (as a
	// real webCRM may behave) with the classic faults drawn on top.
	crm    webcrmsim.FaultConfig
	erp    erpsim.FaultConfig
	events []event
}

func (p plan) String() string {
	var parts []string
	c := p.crm
	if b := behaviours(c); b != "" {
		parts = append(parts, "webCRM "+b)
	}
	if c.ServerErrorRate > 0 {
		parts = append(parts, fmt.Sprintf("webCRM 5xx %.0f%%", 100*c.ServerErrorRate))
	}
	if c.Latency > 0 {
		parts = append(parts, fmt.Sprintf("webCRM latency %s", time.Duration(c.Latency)))
	}
	if c.Force429Requests > 0 {
		parts = append(parts, fmt.Sprintf("webCRM 429 × %d", c.Force429Requests))
	}
	if c.MalformedRate > 0 {
		parts = append(parts, fmt.Sprintf("webCRM malformed %.0f%%", 100*c.MalformedRate))
	}
	if c.DropRate > 0 {
		parts = append(parts, fmt.Sprintf("webCRM dropped %.0f%%", 100*c.DropRate))
	}
	x := p.erp
	if x.ErrorRate > 0 {
		parts = append(parts, fmt.Sprintf("ERP 5xx %.0f%%", 100*x.ErrorRate))
	}
	if x.DropAfterWriteRate > 0 {
		parts = append(parts, fmt.Sprintf("ERP answers lost after writes %.0f%%", 100*x.DropAfterWriteRate))
	}
	if x.LatencyMillis > 0 {
		parts = append(parts, fmt.Sprintf("ERP latency %dms", x.LatencyMillis))
	}
	if x.RateLimitBurst > 0 {
		parts = append(parts, fmt.Sprintf("ERP 429 × %d", x.RateLimitBurst))
	}
	if x.MalformedRate > 0 {
		parts = append(parts, fmt.Sprintf("ERP malformed %.0f%%", 100*x.MalformedRate))
	}
	for _, ev := range p.events {
		parts = append(parts, fmt.Sprintf("%s@%d", ev.kind, ev.at))
	}
	if len(parts) == 0 {
		return "no faults"
	}
	return strings.Join(parts, ", ")
}

// behaviours names the switches of c that make webCRM behave as a real one
// may ("" when none is on); "hostile profile" for all of
// webcrmsim.HostileProfile.
func behaviours(c webcrmsim.FaultConfig) string {
	h := webcrmsim.HostileProfile()
	if c.UnorderedPages == h.UnorderedPages && c.LostAnswerRate == h.LostAnswerRate && c.MaxURLLength == h.MaxURLLength &&
		c.PatchShuffle == h.PatchShuffle && c.PatchShortRate == h.PatchShortRate && c.PatchItemErrorRate == h.PatchItemErrorRate &&
		c.MaskSecrets == h.MaskSecrets && c.RewriteOnWrite == h.RewriteOnWrite && c.HookBody == h.HookBody &&
		c.TimeStamps == h.TimeStamps && c.TimeZone == h.TimeZone {
		return "hostile profile"
	}
	var on []string
	add := func(ok bool, what string) {
		if ok {
			on = append(on, what)
		}
	}
	add(c.UnorderedPages, "pages unordered")
	add(c.LostAnswerRate > 0, fmt.Sprintf("answers lost after writes %.0f%%", 100*c.LostAnswerRate))
	add(c.MaxURLLength > 0, fmt.Sprintf("URLs up to %d", c.MaxURLLength))
	add(c.PatchShuffle || c.PatchShortRate > 0 || c.PatchItemErrorRate > 0, "PATCH answers unreliable")
	add(c.MaskSecrets, "secrets masked")
	add(c.RewriteOnWrite, "values rewritten on write")
	add(c.HookBody != "", "hook bodies "+c.HookBody)
	add(c.TimeStamps != "", "time stamps "+c.TimeStamps)
	return strings.Join(on, ", ")
}

// planFaults draws the faults of scenario i. webCRM keeps behaving as the
// environment makes it (as a real webCRM may) in every scenario; the
// classic faults drawn here come on top. In a small run one scenario, the
// middle one, stops and restarts everything (the worker, Temporal, the
// ERP), since a worker killed mid-poll can hold a pairing up for a minute;
// in a large run a tenth of the scenarios stop one or two of them.
func (r *runner) planFaults(rng *rand.Rand, i int) plan {
	p := plan{crm: r.e.crmBase}
	if i == 0 {
		return p // the first scenario lays the ground without classic faults
	}
	hit := func(prob float64) bool { return rng.Float64() < prob }
	if hit(0.4) {
		p.crm.ServerErrorRate = 0.05 + 0.2*rng.Float64()
	}
	if hit(0.3) {
		p.crm.Latency = webcrmsim.Duration(time.Duration(10+rng.IntN(70)) * time.Millisecond)
		p.crm.Jitter = webcrmsim.Duration(40 * time.Millisecond)
	}
	if hit(0.3) {
		p.crm.Force429Requests = 5 + rng.IntN(40)
	}
	if hit(0.25) {
		p.crm.MalformedRate = 0.03 + 0.07*rng.Float64()
		p.crm.MalformedKind = webcrmsim.MalformedMixed
	}
	if hit(0.15) {
		p.crm.DropRate = 0.05
	}
	if hit(0.25) {
		p.erp.ErrorRate = 0.05 + 0.15*rng.Float64()
	}
	if hit(0.2) {
		p.erp.DropAfterWriteRate = 0.1 + 0.2*rng.Float64()
	}
	if hit(0.2) {
		p.erp.LatencyMillis = 10 + rng.IntN(50)
	}
	if hit(0.15) {
		p.erp.RateLimitBurst = 5 + rng.IntN(15)
	}
	if hit(0.1) {
		p.erp.MalformedRate = 0.05
	}
	var kinds []string
	if r.scenarios < 100 {
		if i == r.scenarios/2 {
			kinds = []string{"worker", "temporal", "erp"}
		}
	} else if hit(0.1) {
		all := []string{"worker", "temporal", "erp"}
		rng.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
		kinds = all[:1+rng.IntN(2)]
	}
	rng.Shuffle(len(kinds), func(a, b int) { kinds[a], kinds[b] = kinds[b], kinds[a] })
	at := rng.IntN(3)
	for _, k := range kinds {
		down := time.Duration(rng.IntN(4)) * time.Second
		if r.scenarios >= 100 {
			down = time.Duration(rng.IntN(10)) * time.Second
		}
		p.events = append(p.events, event{at: at, kind: "stop-" + k, wait: down})
		at += 1 + rng.IntN(3)
		p.events = append(p.events, event{at: at, kind: "start-" + k})
		at += rng.IntN(2)
	}
	return p
}

// applyFaults sets the plan's API faults on the running simulators.
func (r *runner) applyFaults(p plan) {
	if err := r.e.crm.Faults().Set(p.crm); err != nil {
		r.t.Fatalf("webCRM faults: %v", err)
	}
	if erp := r.e.erpServer(); erp != nil {
		if err := erp.Faults().Set(p.erp); err != nil {
			r.t.Fatalf("ERP faults: %v", err)
		}
	}
}

// clearFaults turns the classic faults off; webCRM keeps behaving as the
// environment makes it.
func (r *runner) clearFaults() {
	r.e.clearCRMFaults()
	if erp := r.e.erpServer(); erp != nil {
		erp.Faults().Clear()
	}
}

// disrupt runs one disruptive event.
func (r *runner) disrupt(ev event, p plan, down map[string]bool) {
	r.t.Logf("  %s", ev.kind)
	r.note("%s", ev.kind)
	switch ev.kind {
	case "stop-worker":
		r.e.stopWorker()
	case "start-worker":
		r.e.restartWorker()
	case "stop-temporal":
		r.e.stopTemporal()
	case "start-temporal":
		r.e.restartTemporal()
	case "stop-erp":
		if err := r.e.stopERP(); err != nil {
			r.t.Errorf("stop the ERP: %v", err)
		}
	case "start-erp":
		r.e.restartERP()
		if err := r.e.erpServer().Faults().Set(p.erp); err != nil {
			r.t.Fatalf("ERP faults: %v", err)
		}
	}
	kind := strings.TrimPrefix(strings.TrimPrefix(ev.kind, "stop-"), "start-")
	down[kind] = strings.HasPrefix(ev.kind, "stop-")
	if ev.wait > 0 {
		time.Sleep(ev.wait) // the outage lasts a while: operations wait too
	}
}

// scenario runs scenario i and checks the promises; false means stop.
func (r *runner) scenario(i int) bool {
	t, e := r.t, r.e
	g := r.gen(i)
	rng := g.rng
	p := r.planFaults(rng, i)
	began := time.Now()
	before := e.counters()
	t.Logf("scenario %d: %s", i, p)
	r.applyFaults(p)

	tl := tally{crmDeletes: map[string]bool{}}
	log := editLog{}
	down := map[string]bool{}
	events := slices.Clone(p.events)
	for k := 0; k < r.ops; k++ {
		for len(events) > 0 && events[0].at <= k {
			r.disrupt(events[0], p, down)
			events = events[1:]
		}
		o := g.next(down["erp"])
		r.add(o)
		r.exec(o, &tl, log)
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
	}
	for _, ev := range events {
		r.disrupt(ev, p, down)
	}
	r.clearFaults()

	return r.finish(i, tl, log, before, began, nil)
}

// finish ends scenario i: it runs the reconcile webCRM deletes need, waits
// for quiescence and checks every promise. allowed names links that may be
// in state error (poison records the caller checks itself). It returns
// false when something is wrong.
func (r *runner) finish(i int, tl tally, log editLog, before counters, began time.Time, allowed map[string]bool) bool {
	t, e := r.t, r.e
	defer func() { r.journal = nil }()
	quietStart := time.Now()
	// webCRM has no tombstones: the reconcile schedule finds deletes whose
	// hook was lost (the worker was down), whose hook named no record (a
	// real webCRM's hook body need not: the simulator's "mixed" bodies), or
	// whose hook came before the record's link existed (the engine drops a
	// delete it has no link for). Run it, as an operator would for a small
	// pairing (the guard's 10 % would stop it here), once the engine has
	// settled: a reconcile sees only the links that exist and are listed
	// when it starts, as the next scheduled run would.
	if len(tl.crmDeletes) > 0 {
		if err := e.waitQuiet(r.quiet, allowed); err != nil {
			t.Errorf("scenario %d: no quiescence before the reconcile: %v", i, err)
		}
		for _, name := range sortedKeys(tl.crmDeletes) {
			if _, err := e.reconcile(name, 1, i); err != nil {
				t.Errorf("scenario %d: %v", i, err)
			}
		}
	}
	if err := e.waitQuiet(r.quiet, allowed); err != nil {
		t.Errorf("scenario %d: no quiescence: %v", i, err)
	}
	settle := time.Since(quietStart)
	after := e.counters()
	writes := after.total() - before.total()

	s, err := e.takeSnap()
	if err != nil {
		t.Errorf("scenario %d: snapshot: %v", i, err)
		return false
	}
	var found []string
	for _, f := range e.checkAll(s) {
		if !mentionsAny(f, allowed) {
			found = append(found, f)
		}
	}
	found = append(found, r.checkModel(s)...)
	found = append(found, r.checkEdits(s, log)...)
	found = append(found, r.checkSecrets(s)...)
	if n := after.behaviours["secrets overwritten"] - before.behaviours["secrets overwritten"]; n > 0 {
		found = append(found, fmt.Sprintf("tandem wrote webCRM's mask %q back into %d credentials, destroying them", webcrmsim.SecretMask, n))
	}
	// A write-back is an update like an edit's: one whose answer is lost is
	// made again.
	bound := int64(2*(tl.edits+tl.deletes+tl.writeBacks) + tl.creates)
	if writes > bound {
		found = append(found, fmt.Sprintf("%d API writes for %d creates (%d with a write-back), %d edits and %d deletes: more than the bound %d (echoes or ping-pong?): %s",
			writes, tl.creates, tl.writeBacks, tl.edits, tl.deletes, bound, after.diff(before)))
	}
	t.Logf("scenario %d: %d creates (%d with a write-back), %d edits, %d deletes (%d refused), %d writes (bound %d), quiet after %s, took %s",
		i, tl.creates, tl.writeBacks, tl.edits, tl.deletes, tl.refused, writes, bound, settle.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	if settle > 10*time.Second {
		var b strings.Builder
		for _, le := range e.logs.since(began, 40) {
			b.WriteString("\n    ")
			b.WriteString(le.String())
		}
		t.Logf("scenario %d: slow to settle; warnings since it began:%s", i, b.String())
	}
	r.creates += tl.creates
	r.edits += tl.edits
	r.deletes += tl.deletes
	r.refused += tl.refused
	r.writes += writes
	r.slowest = max(r.slowest, settle)
	if len(found) > 0 {
		t.Logf("scenario %d did:\n  %s", i, strings.Join(r.journal, "\n  "))
		if ids := indexEntryIDs(found); len(ids) > 0 {
			t.Logf("scenario %d: what runs under the records that have an index entry but no link:%s", i, e.historiesOf(ids))
		}
		if ids := recordLinkIDs(r.m, found, 3); len(ids) > 0 {
			t.Logf("scenario %d: what ran under the records the findings name:%s", i, e.historiesOf(ids))
		}
		sort.Strings(found)
		for j, f := range found {
			if j == 60 {
				t.Errorf("… and %d more", len(found)-j)
				break
			}
			t.Errorf("scenario %d: %s", i, f)
		}
		return false
	}
	return true
}

// summary prints the one-line summary of the run.
func (r *runner) summary() {
	c := r.e.counters()
	restarts := r.e.restartCounts()
	var rs []string
	for _, k := range sortedKeys(restarts) {
		rs = append(rs, fmt.Sprintf("%s %d", k, restarts[k]))
	}
	var fs []string
	for _, k := range sortedKeys(c.faults) {
		if c.faults[k] > 0 {
			fs = append(fs, fmt.Sprintf("%s %d", k, c.faults[k]))
		}
	}
	hooks := r.e.crm.Stats().Hooks
	var bs []string
	for _, k := range sortedKeys(c.behaviours) {
		bs = append(bs, fmt.Sprintf("%s %d", k, c.behaviours[k]))
	}
	line := fmt.Sprintf("convergence: seed %d, %d of %d scenarios passed, %d operations (%d creates, %d edits, %d deletes, %d deletes refused), %d API writes, "+
		"faults: %d injected (%s), webCRM %s (%s; hooks delivered %d, failed %d), restarts: %s; slowest quiescence %s; %s in all",
		r.seed, r.passed, r.scenarios, r.creates+r.edits+r.deletes, r.creates, r.edits, r.deletes, r.refused, r.writes,
		c.faultTotal(), strings.Join(fs, ", "), behaviours(r.e.crmBase), strings.Join(bs, ", "), hooks.Delivered, hooks.Failed,
		strings.Join(rs, ", "), r.slowest.Round(100*time.Millisecond), time.Since(r.began).Round(time.Second))
	r.t.Log(line)
	fmt.Println(line)
}

// ---- running operations ----

// editLog remembers, per record and side, the properties last written to
// each field in this scenario.
type editLog map[*rec]map[domain.Side]map[string]map[string]any

func (l editLog) add(r *rec, side domain.Side, field string, props map[string]any) {
	if l[r] == nil {
		l[r] = map[domain.Side]map[string]map[string]any{}
	}
	if l[r][side] == nil {
		l[r][side] = map[string]map[string]any{}
	}
	l[r][side][field] = props
}

// resolve replaces references with the parents' ids on side.
func (r *runner) resolve(props map[string]any, side domain.Side) (map[string]any, error) {
	out := make(map[string]any, len(props))
	for k, v := range props {
		switch x := v.(type) {
		case *ref:
			id, ok := x.to.idOn(side)
			if !ok {
				return nil, fmt.Errorf("%s has no known id in %s", x.to, side)
			}
			if side == domain.WebCRM {
				n, err := strconv.Atoi(id)
				if err != nil {
					return nil, fmt.Errorf("%s: webCRM id %q", x.to, id)
				}
				out[k] = n
			} else {
				out[k] = id
			}
		case map[string]any:
			sub, err := r.resolve(x, side)
			if err != nil {
				return nil, err
			}
			out[k] = sub
		default:
			out[k] = v
		}
	}
	return out, nil
}

// note adds a line to the scenario's journal.
func (r *runner) note(format string, args ...any) {
	r.journal = append(r.journal, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
}

// exec runs one operation against the simulators' stores, as a person
// editing in each system's UI would.
func (r *runner) exec(o *op, tl *tally, log editLog) {
	var shown map[string]any // the properties written, references resolved
	var remark string        // what the journal adds
	defer func(start time.Time) {
		what := o.String()
		if o.made != nil {
			what += fmt.Sprintf(": made webCRM %d, ERP %s", o.made.crmID, o.made.erpID)
		}
		if o.kind == opEdit {
			what += fmt.Sprintf(" %v", shown)
		}
		r.journal = append(r.journal, start.Format("15:04:05.000")+" "+what+remark)
	}(time.Now())
	t, e := r.t, r.e
	p, _ := e.set.Pairing(o.pairing)
	erp := e.erpServer()
	fail := func(err error) {
		t.Errorf("%s: %v", o, err)
		if o.made != nil {
			o.made.retired = true
		}
	}
	if erp == nil && (o.side == domain.ERP || o.kind == opTwin) {
		fail(errDown)
		return
	}
	props, err := r.resolve(o.props, o.side)
	if err != nil {
		fail(err)
		return
	}
	shown = props
	switch o.kind {
	case opTwin:
		erpProps, err := r.resolve(o.erp, domain.ERP)
		if err != nil {
			fail(err)
			return
		}
		// The ERP twin first: the engine looks it up when it sees the webCRM one.
		out, err := erp.Put(p.ERPResource, erpProps)
		if err != nil {
			fail(fmt.Errorf("ERP %s: %w", p.ERPResource, err))
			return
		}
		o.made.erpID = fmt.Sprint(out["id"])
		id, err := e.crm.Put(p.WebCRMEntity, props)
		if err != nil {
			fail(fmt.Errorf("webCRM %s: %w", p.WebCRMEntity, err))
			return
		}
		o.made.crmID = id
		o.made.secrets = secretsOf(p.WebCRMEntity, props)
		tl.creates += 2
	case opCreate:
		if o.side == domain.WebCRM {
			id, err := e.crm.Put(p.WebCRMEntity, props)
			if err != nil {
				fail(fmt.Errorf("webCRM %s: %w", p.WebCRMEntity, err))
				return
			}
			o.made.crmID = id
			o.made.secrets = secretsOf(p.WebCRMEntity, props)
			if givesBack(p) {
				tl.writeBacks++
			}
		} else {
			out, err := erp.Put(p.ERPResource, props)
			if err != nil {
				fail(fmt.Errorf("ERP %s: %w", p.ERPResource, err))
				return
			}
			o.made.erpID = fmt.Sprint(out["id"])
		}
		tl.creates++
	case opEdit:
		id, ok := o.target.idOn(o.side)
		if !ok {
			fail(fmt.Errorf("no id in %s", o.side))
			return
		}
		changed := true
		if o.side == domain.WebCRM {
			n, _ := strconv.Atoi(id)
			if before, ok := e.crm.Record(p.WebCRMEntity, n); ok {
				changed = !holdsAll(before, props)
			}
			err = e.crm.Patch(p.WebCRMEntity, n, props)
		} else {
			var before, after map[string]any
			before, _ = erp.Record(p.ERPResource, id)
			if after, err = erp.Patch(p.ERPResource, id, props); err == nil && before != nil {
				changed = fmt.Sprint(before["version"]) != fmt.Sprint(after["version"])
			}
		}
		if err != nil {
			fail(err)
			return
		}
		if !changed {
			// The record held these values already (the other twin's, which
			// the model does not know): nothing changed, nothing to sync.
			remark = " (changed nothing)"
			return
		}
		log.add(o.target, o.side, o.field, props)
		tl.edits++
	case opDelete:
		id, ok := o.target.idOn(o.side)
		if !ok {
			fail(fmt.Errorf("no id in %s", o.side))
			return
		}
		if o.side == domain.WebCRM {
			n, _ := strconv.Atoi(id)
			err = e.crm.Remove(p.WebCRMEntity, n)
		} else {
			err = erp.Remove(p.ERPResource, id)
		}
		if err != nil {
			// The ERP refuses to delete a record others refer to (a product
			// on an order line); a person would be told so.
			t.Logf("  %s refused: %v", o, err)
			tl.refused++
			return
		}
		if o.side == domain.WebCRM {
			tl.crmDeletes[o.pairing] = true
		}
		tl.deletes++
	}
}

// holdsAll reports whether rec holds every property of props at its value.
func holdsAll(rec, props map[string]any) bool {
	for k, v := range props {
		if fmt.Sprint(rec[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// ---- checks against the model ----

// checkModel checks the generator's records: each live record is linked,
// with its counterpart unless it is one-sided by design; twins are linked
// to each other; and every record in either system is one the generator
// made or the counterpart its link names, so the engine made no record
// twice (quotation lines carry no token in webCRM, so this is the only
// check that sees a second one). It remembers the counterparts for the next
// scenario.
func (r *runner) checkModel(s *snap) []string {
	var out []string
	known := map[string]bool{} // pairing/side/id
	mark := func(pairing string, side domain.Side, id string) {
		if id != "" && id != "0" {
			known[pairing+"/"+string(side)+"/"+id] = true
		}
	}
	for _, x := range r.m.recs {
		mark(x.pairing, domain.WebCRM, strconv.Itoa(x.crmID))
		mark(x.pairing, domain.ERP, x.erpID)
		l := s.linkOf(x.pairing, x.home, x.homeID())
		if l != nil {
			mark(x.pairing, domain.WebCRM, l.crmID)
			mark(x.pairing, domain.ERP, l.erpID)
		}
		// A twin deleted on one side before the engine matched the two
		// leaves the other one to get a counterpart of its own, rightly:
		// that counterpart is named by the other twin's link.
		if x.twin && x.erpID != "" {
			if ol := s.linkOf(x.pairing, domain.ERP, x.erpID); ol != nil {
				mark(x.pairing, domain.WebCRM, ol.crmID)
				mark(x.pairing, domain.ERP, ol.erpID)
			}
		}
		if x.retired {
			continue
		}
		if l == nil {
			out = append(out, fmt.Sprintf("%s: no link (or more than one)", x))
			continue
		}
		if x.twin && (l.crmID != strconv.Itoa(x.crmID) || l.erpID != x.erpID) {
			out = append(out, fmt.Sprintf("%s: twins webCRM %d and ERP %s were not matched: %s", x, x.crmID, x.erpID, l))
		}
		if !x.oneSided && (l.state != domain.StateOK || l.crmID == "" || l.erpID == "") {
			out = append(out, fmt.Sprintf("%s: not synced: %s", x, l))
			continue
		}
		x.linkCrm, x.linkErp = l.crmID, l.erpID
	}
	for _, name := range allPairings {
		for _, side := range []domain.Side{domain.WebCRM, domain.ERP} {
			recs := s.crm[name]
			if side == domain.ERP {
				recs = s.erp[name]
			}
			for _, id := range sortedKeys(recs) {
				if !known[name+"/"+string(side)+"/"+id] {
					out = append(out, fmt.Sprintf("%s: %s record %s is neither one the test made nor the counterpart of one (made twice?); its link: %v",
						name, side, id, s.linkOf(name, side, id)))
				}
			}
		}
	}
	return out
}

// checkEdits checks promise 5 for records edited on one side only in this
// scenario: the values written there are still there (the engine did not
// overwrite them), for every field that flows to the other side; the field
// comparison has shown that the other side agrees. A person's webCRM edit is
// stored as typed, but a later write of the whole record by tandem (a
// GET-modify-PUT for another field) makes a real webCRM store it again, in
// its own form: that form is the edit still there.
func (r *runner) checkEdits(s *snap, log editLog) []string {
	var out []string
	for x, sides := range log {
		if x.retired || x.oneSided || len(sides) != 1 {
			continue
		}
		p, _ := r.e.set.Pairing(x.pairing)
		for side, fields := range sides {
			other := domain.Side(side.Other())
			flows := p.WritableFields(other, true)
			id, _ := x.idOn(side)
			cur := s.crm[x.pairing][id]
			if side == domain.ERP {
				cur = s.erp[x.pairing][id]
			}
			if cur == nil {
				out = append(out, fmt.Sprintf("%s: %s record %s is gone", x, side, id))
				continue
			}
			for field, props := range fields {
				if !slices.Contains(flows, field) {
					continue // put back by design (one-way or immutable on the other side)
				}
				for k, want := range props {
					if got := cur[k]; !sameValue(got, want) && !(side == domain.WebCRM && storedAs(s, p.WebCRMEntity, k, got, want)) {
						out = append(out, fmt.Sprintf("%s: the %s edit of %s (%s = %v) was lost: it is %v now (promise 5)", x, side, field, k, text(want), text(got)))
					}
				}
			}
		}
	}
	return out
}

// secretsOf returns the credentials among the properties of a webCRM record
// (nil when there are none).
func secretsOf(entity string, props map[string]any) map[string]string {
	var out map[string]string
	for _, name := range webcrmsim.SecretProperties()[entity] {
		if v, ok := props[name].(string); ok {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

// checkSecrets checks that the credentials the test gave webCRM records are
// still there: webCRM answers them masked, and a record written back with
// the mask (or without them, on a webCRM that clears what a PUT leaves out)
// would lose them. No mapping carries them, so nothing else may change them.
func (r *runner) checkSecrets(s *snap) []string {
	var out []string
	for _, x := range r.m.recs {
		if x.retired || len(x.secrets) == 0 {
			continue
		}
		p, _ := r.e.set.Pairing(x.pairing)
		cur := s.crm[x.pairing][strconv.Itoa(x.crmID)]
		if cur == nil {
			out = append(out, fmt.Sprintf("%s: webCRM %s %d is gone", x, p.WebCRMEntity, x.crmID))
			continue
		}
		for _, name := range sortedKeys(x.secrets) {
			if got := text(cur[name]); got != x.secrets[name] {
				out = append(out, fmt.Sprintf("%s: the credential %s of webCRM %s %d is %q, want %q (destroyed by a write)", x, name, p.WebCRMEntity, x.crmID, got, x.secrets[name]))
			}
		}
	}
	return out
}

// givesBack reports whether a record of p created in webCRM gets values back
// from its new ERP counterpart: p has a field only the ERP is the source of
// whose value every new ERP record has (its id, or a value derived there).
func givesBack(p *mappings.Pairing) bool {
	for i := range p.Fields {
		f := &p.Fields[i]
		if erp := f.Side(domain.ERP); f.Direction == mappings.ERPToWebCRM && (erp.Property == "id" || len(erp.Derived) > 0) {
			return true
		}
	}
	return false
}
