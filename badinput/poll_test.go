package badinput

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/internal/testenv"
	"github.com/tandemsync/tandem/webcrm"
	"github.com/tandemsync/tandem/workflows"
)

// pollWait bounds how long a poll case waits for something the next poll
// or two should do (the pairings poll every second).
const pollWait = 15 * time.Second

// pollCase is one malformed input that only a poll reads: a /Queries row
// or a change-feed item, or a whole poll answer.
type pollCase struct {
	name, input, where, outcome string
	run                         func(p *pollRun)
}

// pollRun is one running poll case. Its records are organisations born in
// webCRM for the webCRM cases, products born in the ERP for the ERP cases.
type pollRun struct {
	t       reporter
	e       *env
	n       int
	pairing string
	side    domain.Side
}

// TestBadInputPolls feeds malformed /Queries rows and change-feed items to
// running pairings (organisations for webCRM rows, products for the ERP
// feed) on a dedicated dev server, since a bad poll answer concerns every
// record of its pairing. The webCRM and ERP cases run side by side, each
// side's cases one after the other.
func TestBadInputPolls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testenv.StartTemporal(t, testenv.Options{}), pOrgs, pProducts)
	crm := startPollCases(t.Name(), e, pOrgs, domain.WebCRM, webcrmPollCases())
	erp := startPollCases(t.Name(), e, pProducts, domain.ERP, erpPollCases())
	t.Run("webcrm", func(t *testing.T) { replayAll(t, crm) })
	t.Run("erp", func(t *testing.T) { replayAll(t, erp) })
	e.workerAlive(t)
}

func startPollCases(prefix string, e *env, pairing string, side domain.Side, cases []pollCase) []*caseRun {
	names := make([]string, len(cases))
	fns := make([]func(r reporter), len(cases))
	for i, c := range cases {
		names[i] = prefix + "/" + string(side) + "/" + c.name
		fns[i] = func(r reporter) { c.run(&pollRun{t: r, e: e, n: e.next(), pairing: pairing, side: side}) }
	}
	return startSequence(names, fns)
}

// ---- the webCRM side: /Queries rows ----

func webcrmPollCases() []pollCase {
	const where = "a /Queries page of the poll (SELECT * FROM Organisation WHERE OrganisationUpdatedAt >= …)"
	return []pollCase{
		{
			name: "row-without-updated-at", input: "a /Queries row without OrganisationUpdatedAt", where: where,
			outcome: "the other rows of the page sync; that record's link shows an error naming it and the missing UpdatedAt (or it syncs from a read of its own)",
			run: func(p *pollRun) {
				rule := p.crmRowRule(drop("OrganisationUpdatedAt"))
				x, y := p.pair()
				p.all(p.syncedCond(y, "the good organisation in the same poll"),
					p.handledCond(x, "OrganisationUpdatedAt"))
				p.e.crmPx.remove(rule)
				p.touchSynced(x)
			},
		},
		{
			name: "row-id-null", input: "a /Queries row whose OrganisationId is null", where: where,
			outcome: "the other rows of the page sync; the poll reports the row without id; the record syncs once its row is right",
			run: func(p *pollRun) {
				rule := p.crmRowRule(set("OrganisationId", nil))
				x, y := p.pair()
				p.all(p.syncedCond(y, "the good organisation in the same poll"), p.pollErrorCond(pOrgs, "OrganisationId"))
				p.e.crmPx.remove(rule)
				p.touchSynced(x)
			},
		},
		{
			name: "row-id-negative", input: "a /Queries row whose OrganisationId is negative", where: where,
			outcome: "no counterpart is created for an id that cannot exist; the other rows sync; once the row is right the record gets exactly one counterpart",
			run: func(p *pollRun) {
				var bad atomic.Int64 // set once the organisation exists
				rule := p.crmRowRule(func(rec map[string]any) { rec["OrganisationId"] = -bad.Load() })
				x, y := p.pair()
				bad.Store(int64(mustAtoi(p.t, x)))
				p.synced(y, "the good organisation in the same poll")
				ref := domain.LinkWorkflowID(pOrgs, domain.WebCRM, "-"+x)
				if recs := p.e.erpByRef(customerp.Customers, ref); len(recs) > 0 {
					p.t.Errorf("an ERP customer (%s) was created for the row with id -%s", str(recs[0], "id"), x)
				}
				p.e.crmPx.remove(rule)
				p.touchSynced(x)
				p.oneERPCustomer(x)
			},
		},
		{
			name: "duplicate-rows", input: "the same record twice in one /Queries page (different phone numbers)", where: where,
			outcome: "synced once: one counterpart, no error; the other rows sync",
			run: func(p *pollRun) {
				rule := crmRows(p.t.Name(), webcrm.Organisations, func(rows []any) ([]any, bool) {
					var dups []any
					for _, row := range rows {
						if rec, ok := row.(map[string]any); ok && p.marked(rec["OrganisationName"]) {
							dup := map[string]any{}
							for k, v := range rec {
								dup[k] = v
							}
							dup["OrganisationTelephone"] = "+45 99 99 99 99"
							dups = append(dups, dup)
						}
					}
					return append(rows, dups...), len(dups) > 0
				})
				p.e.crmPx.add(p.t, rule)
				x, y := p.pair()
				p.synced(y, "the good organisation in the same poll")
				p.synced(x, "the duplicated organisation")
				p.oneERPCustomer(x)
				p.e.crmPx.remove(rule)
				p.touchSynced(x)
			},
		},
		{
			name: "queries-html-200", input: "every /Queries answer of the poll is an HTML page with status 200", where: where,
			outcome: "the poll fails with a reason naming the HTML answer and its watermark stays; ERP records, which need no poll answer, still sync; once the API answers, every record changed meanwhile syncs",
			run: func(p *pollRun) {
				rule := answer(p.t.Name(), func(c *call) bool {
					return c.r.URL.Path == "/Queries" && strings.EqualFold(queryTable(c.r), "Organisation") &&
						strings.Contains(c.r.URL.Query().Get("script"), "UpdatedAt >=")
				}, http.StatusOK, "text/html", htmlPage)
				p.e.crmPx.add(p.t, rule)
				x, y := p.pair()
				z := p.e.erpPut(p.t, customerp.Customers, erpCustomer(p.e.next()))
				p.all(p.pollErrorCond(pOrgs, "HTML"), p.otherSideCond(pOrgs, domain.ERP, z))
				p.e.crmPx.remove(rule)
				p.synced(x, "an organisation changed while the poll failed")
				p.synced(y, "an organisation changed while the poll failed")
			},
		},
	}
}

// marker is the text in the names of the records a poll case makes bad.
func (p *pollRun) marker() string { return fmt.Sprintf("[bad-%d]", p.n) }

func (p *pollRun) marked(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, p.marker())
}

// crmRowRule rewrites the marked organisation wherever webCRM shows it.
func (p *pollRun) crmRowRule(ed func(rec map[string]any)) *rule {
	r := crmEdit(p.t.Name(), webcrm.Organisations, func(rec map[string]any) bool { return p.marked(rec["OrganisationName"]) }, ed)
	p.e.crmPx.add(p.t, r)
	return r
}

// waitFor waits until cond returns nil, up to pollWait, and reports its
// last answer if it never does.
func (p *pollRun) waitFor(what string, c func() error) bool { return p.all(cond{what, c}) }

// cond is one condition a poll case waits for.
type cond struct {
	what string
	cond func() error
}

// all waits until every condition holds, up to pollWait in all, and
// reports those that never did.
func (p *pollRun) all(conds ...cond) bool {
	deadline := time.Now().Add(pollWait)
	last := make([]error, len(conds))
	for {
		pending := 0
		for i, c := range conds {
			if last[i] = c.cond(); last[i] != nil {
				pending++
			}
		}
		if pending == 0 {
			return true
		}
		if time.Now().After(deadline) {
			for i, c := range conds {
				if last[i] != nil {
					p.t.Errorf("waited %s for %s: %v", pollWait, c.what, last[i])
				}
			}
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pair creates the marked record x and a good one y at once.
func (p *pollRun) pair() (x, y string) {
	if p.side == domain.WebCRM {
		bad := crmOrg(p.n)
		bad["OrganisationName"] = bad["OrganisationName"].(string) + " " + p.marker()
		x = itoa(p.e.crmPut(p.t, webcrm.Organisations, bad))
		y = itoa(p.e.crmPut(p.t, webcrm.Organisations, crmOrg(p.e.next())))
	} else {
		bad := erpProduct(p.n)
		bad["name"] = bad["name"].(string) + " " + p.marker()
		x = p.e.erpPut(p.t, customerp.Products, bad)
		y = p.e.erpPut(p.t, customerp.Products, erpProduct(p.e.next()))
	}
	p.t.Logf("bad %s record %s, good one %s", p.side, x, y)
	return x, y
}

func (p *pollRun) synced(id, what string) bool { return p.all(p.syncedCond(id, what)) }

// syncedCond holds when the record's link is ok with both ids.
func (p *pollRun) syncedCond(id, what string) cond {
	return cond{fmt.Sprintf("%s (%s %s %s) to be linked", what, p.pairing, p.side, id), func() error {
		st, found, err := p.e.linkState(p.pairing, p.side, id)
		switch {
		case err != nil:
			return err
		case !found:
			return fmt.Errorf("no link")
		case !linked(st):
			return fmt.Errorf("link is %s (%s)", st.State, st.Reason)
		}
		return nil
	}}
}

// otherSideCond holds when a record born on the other side of the pairing
// is linked.
func (p *pollRun) otherSideCond(pairing string, side domain.Side, id string) cond {
	q := *p
	q.pairing, q.side = pairing, side
	return q.syncedCond(id, fmt.Sprintf("the %s record synced by the other side's poll", side))
}

// handledCond holds when a record's link is linked, or in error with a
// reason naming the record and saying want.
func (p *pollRun) handledCond(id, want string) cond {
	return cond{fmt.Sprintf("the link of %s %s record %s to be linked, or in error naming it and %q", p.pairing, p.side, id, want), func() error {
		st, found, err := p.e.linkState(p.pairing, p.side, id)
		switch {
		case err != nil:
			return err
		case !found:
			return fmt.Errorf("no link")
		case linked(st):
			return nil
		case st.State != domain.StateError || !strings.Contains(st.Reason, want) || !namesID(st.Reason, id):
			return fmt.Errorf("link is %s (%s)", st.State, st.Reason)
		}
		return nil
	}}
}

// pollErrorCond holds when the pairing reports a failed poll whose reason
// says want: in its status (which a new poll clears) or in the worker's
// "poll failed" warning.
func (p *pollRun) pollErrorCond(pairing, want string) cond {
	return cond{fmt.Sprintf("pairing %s to report a poll error saying %q", pairing, want), func() error {
		if len(p.e.logs.Warnings("poll failed", pairing, want)) > 0 {
			return nil
		}
		// A row that cannot be synced at all is passed over with a warning
		// that names it, so the rest of the poll goes on.
		if len(p.e.logs.Warnings("passes over", want)) > 0 {
			return nil
		}
		st, err := p.e.pairingStatus(pairing)
		if err != nil {
			return err
		}
		if !strings.Contains(st.LastError, want) {
			return fmt.Errorf("last error: %q, and no such warning in the worker log", st.LastError)
		}
		return nil
	}}
}

// touchSynced edits a record and waits for the edit to reach its
// counterpart.
func (p *pollRun) touchSynced(id string) {
	v := fmt.Sprintf("fix%d", p.n)
	tf := touchField[p.pairing]
	if p.side == domain.WebCRM {
		p.e.crmPatch(p.t, crmEntity[p.pairing], mustAtoi(p.t, id), map[string]any{tf.crm: v})
	} else {
		p.e.erpPatch(p.t, erpResource[p.pairing], id, map[string]any{tf.erp: v})
	}
	p.waitFor(fmt.Sprintf("the edit of %s %s record %s to reach the other side", p.pairing, p.side, id), func() error {
		st, found, err := p.e.linkState(p.pairing, p.side, id)
		switch {
		case err != nil:
			return err
		case !found || !linked(st):
			return fmt.Errorf("link is %s (%s)", st.State, st.Reason)
		}
		var got string
		if p.side == domain.WebCRM {
			rec, _ := p.e.erp.Record(string(erpResource[p.pairing]), st.ErpID)
			got = str(rec, tf.erp)
		} else {
			rec, _ := p.e.crm.Record(string(crmEntity[p.pairing]), mustAtoi(p.t, st.CrmID))
			got = str(rec, tf.crm)
		}
		if got != v {
			return fmt.Errorf("the counterpart has %q", got)
		}
		return nil
	})
}

// oneERPCustomer requires exactly one ERP customer for webCRM organisation x.
func (p *pollRun) oneERPCustomer(x string) {
	ref := domain.LinkWorkflowID(pOrgs, domain.WebCRM, x)
	vat := str(p.e.crmGet(p.t, webcrm.Organisations, x), "OrganisationVatNumber")
	var found []string
	for _, rec := range p.e.erp.Records(string(customerp.Customers)) {
		if rec["externalRef"] == ref || strings.EqualFold(str(rec, "organisationNumber"), vat) {
			found = append(found, str(rec, "id"))
		}
	}
	if len(found) != 1 {
		p.t.Errorf("webCRM organisation %s has %d ERP customers (%v), want exactly one", x, len(found), found)
	}
}

func (e *env) pairingStatus(name string) (workflows.PairingStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var st workflows.PairingStatus
	v, err := e.c.QueryWorkflow(ctx, workflows.PairingWorkflowID(name), "", workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// ---- the ERP side: change-feed items ----

func erpPollCases() []pollCase {
	const where = "a page of the ERP change feed (GET /products/changes?since=…)"
	return []pollCase{
		{
			name: "item-without-version", input: "a change-feed item without version", where: where,
			outcome: "the other items of the page sync; that record's link shows an error naming it and the missing version (or it syncs from a read of its own)",
			run: func(p *pollRun) {
				rule := p.erpItemRule(func(it map[string]any) { delete(it, "version") })
				x, y := p.pair()
				p.all(p.syncedCond(y, "the good product in the same feed page"), p.handledCond(x, "version"))
				p.e.erpPx.remove(rule)
				p.touchSynced(x)
			},
		},
		{
			name: "item-without-id", input: "a change-feed item without id", where: where,
			outcome: "the other items of the page sync; the record syncs once its item is right",
			run: func(p *pollRun) {
				rule := p.erpItemRule(func(it map[string]any) { delete(it, "id") })
				x, y := p.pair()
				p.synced(y, "the good product in the same feed page")
				p.e.erpPx.remove(rule)
				p.touchSynced(x)
			},
		},
		{
			name: "token-backwards", input: "the feed's next token goes backwards (below the since token)", where: where,
			outcome: "the page is refused as malformed and the pairing keeps its token, reporting why; records still sync",
			run: func(p *pollRun) {
				before := p.erpToken()
				rule := erpFeed(p.t.Name(), customerp.Products, func(c *call, page map[string]any) bool {
					since, err := strconv.ParseInt(c.r.URL.Query().Get("since"), 10, 64)
					if err != nil || since < 2 {
						return false
					}
					page["next"] = "1"
					return true
				})
				p.e.erpPx.add(p.t, rule)
				x, _ := p.pair()
				lowest := before
				reported := p.pollErrorCond(pProducts, "token")
				var lastReport error
				deadline := time.Now().Add(8 * time.Second)
				for time.Now().Before(deadline) {
					if tok := p.erpToken(); tok < lowest {
						lowest = tok
					}
					if lastReport = reported.cond(); lastReport == nil {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				if lowest < before {
					p.t.Errorf("the pairing's ERP feed token went back from %d to %d", before, lowest)
				}
				if lastReport != nil {
					p.t.Errorf("%s: %v", reported.what, lastReport)
				}
				p.e.erpPx.remove(rule)
				p.synced(x, "a product changed while the feed misbehaved")
			},
		},
		{
			name: "duplicate-items", input: "the same record twice in one feed page (different names)", where: where,
			outcome: "synced once: one counterpart, no error; the other items sync",
			run: func(p *pollRun) {
				rule := erpFeed(p.t.Name(), customerp.Products, func(_ *call, page map[string]any) bool {
					items, _ := page["items"].([]any)
					var dups []any
					for _, it := range items {
						m, _ := it.(map[string]any)
						rec, _ := m["record"].(map[string]any)
						if rec != nil && p.marked(rec["name"]) {
							dup := map[string]any{}
							for k, v := range m {
								dup[k] = v
							}
							dups = append(dups, dup)
						}
					}
					page["items"] = append(items, dups...)
					return len(dups) > 0
				})
				p.e.erpPx.add(p.t, rule)
				x, y := p.pair()
				p.synced(y, "the good product in the same feed page")
				p.synced(x, "the duplicated product")
				ref := domain.LinkWorkflowID(pProducts, domain.ERP, x)
				if recs := p.e.crmByField(webcrm.Products, "ProductCustom15", ref); len(recs) != 1 {
					p.t.Errorf("ERP product %s has %d webCRM products, want exactly one", x, len(recs))
				}
				p.e.erpPx.remove(rule)
				p.touchSynced(x)
			},
		},
		{
			name: "feed-truncated-json", input: "every feed answer is truncated JSON with status 200", where: where,
			outcome: "the poll fails with a reason naming the broken answer and its token stays; webCRM records, which need no feed answer, still sync; once the API answers, every record changed meanwhile syncs",
			run: func(p *pollRun) {
				rule := reshape(p.t.Name(), on(http.MethodGet, "/products/changes"), func(b []byte) []byte { return b[:len(b)/2] })
				p.e.erpPx.add(p.t, rule)
				x, y := p.pair()
				z := itoa(p.e.crmPut(p.t, webcrm.Products, crmProduct(p.e.next())))
				p.all(p.pollErrorCond(pProducts, "malformed"), p.otherSideCond(pProducts, domain.WebCRM, z))
				p.e.erpPx.remove(rule)
				p.synced(x, "a product changed while the poll failed")
				p.synced(y, "a product changed while the poll failed")
			},
		},
	}
}

// erpItemRule rewrites the feed items of the marked product.
func (p *pollRun) erpItemRule(ed func(item map[string]any)) *rule {
	r := erpFeed(p.t.Name(), customerp.Products, func(_ *call, page map[string]any) bool {
		items, _ := page["items"].([]any)
		changed := false
		for _, it := range items {
			m, _ := it.(map[string]any)
			rec, _ := m["record"].(map[string]any)
			if rec != nil && p.marked(rec["name"]) {
				ed(m)
				changed = true
			}
		}
		return changed
	})
	p.e.erpPx.add(p.t, r)
	return r
}

// erpToken is the products pairing's ERP feed token as a number (0 when
// it has none).
func (p *pollRun) erpToken() int64 {
	st, err := p.e.pairingStatus(pProducts)
	if err != nil {
		p.t.Fatalf("status of pairing %s: %v", pProducts, err)
	}
	n, _ := strconv.ParseInt(st.ERPToken, 10, 64)
	return n
}
