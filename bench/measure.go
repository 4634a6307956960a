package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/webcrm"
)

func serveLocal(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

func countLinks(pairing string) *workflowservice.CountWorkflowExecutionsRequest {
	return &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf(
		"WorkflowType = 'LinkWorkflow' AND ExecutionStatus = 'Running' AND TandemPairing = '%s'", pairing)}
}

// pair is one linked organisation: its webCRM id and ERP id.
type pair struct {
	crm int
	erp string
}

// linkedPairs returns up to n organisations linked by tandem, read from the
// ERP customers' externalRef (the home link ID).
func linkedPairs(st *devstack.Stack, n int) []pair {
	var out []pair
	for _, rec := range st.ERP.Records("customers") {
		ref, _ := rec["externalRef"].(string)
		id, _ := rec["id"].(string)
		if crm, ok := strings.CutPrefix(ref, "link/organisations/webcrm/"); ok {
			if n, err := strconv.Atoi(crm); err == nil {
				out = append(out, pair{crm: n, erp: id})
			}
		}
		if len(out) == n {
			break
		}
	}
	return out
}

// editLatency edits n linked organisations' phone numbers on one side, one
// every pace, and measures how long each takes to show on the other side.
func editLatency(ctx context.Context, st *devstack.Stack, direction string, n int) ([]time.Duration, error) {
	pairs := linkedPairs(st, n)
	if len(pairs) < n {
		return nil, fmt.Errorf("only %d linked organisations for %d edits", len(pairs), n)
	}
	toERP := strings.HasPrefix(direction, "webCRM")
	pace := 250 * time.Millisecond
	if !toERP {
		// Each edit costs two webCRM requests (read, write); with polling's
		// share taken, 250/min leaves room for about one edit a second.
		pace = time.Second
	}
	stamp := time.Now().UnixNano() % 1000000
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, len(pairs))
	for i, p := range pairs {
		phone := fmt.Sprintf("+45 %06d %04d", stamp, i)
		start := time.Now()
		var err error
		if toERP {
			err = st.WebCRM.Patch("Organisations", p.crm, map[string]any{"OrganisationTelephone": phone})
		} else {
			_, err = st.ERP.Patch("customers", p.erp, map[string]any{"phone": phone})
		}
		if err != nil {
			return nil, fmt.Errorf("edit %d: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := start.Add(3 * time.Minute)
			for time.Now().Before(deadline) {
				var got any
				if toERP {
					rec, _ := st.ERP.Record("customers", p.erp)
					got = rec["phone"]
				} else {
					rec, _ := st.WebCRM.Record("Organisations", p.crm)
					got = rec["OrganisationTelephone"]
				}
				if got == phone {
					mu.Lock()
					lat = append(lat, time.Since(start))
					mu.Unlock()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			errs <- fmt.Errorf("%s edit of %v not visible after 3 minutes", direction, p)
		}()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pace):
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return lat, err
	}
	return lat, nil
}

// registerHooks points webCRM hooks for Organisations at the worker's
// hooks endpoint and returns their ids.
func registerHooks(ctx context.Context, cfg config.Config) ([]int64, error) {
	wc, err := hookClient(cfg)
	if err != nil {
		return nil, err
	}
	target := fmt.Sprintf("http://%s/hooks/webcrm?secret=%s", cfg.Worker.HooksAddr, cfg.Worker.HooksSecret)
	var ids []int64
	for _, ev := range []string{"Create", "Update", "Delete"} {
		id, err := wc.CreateHook(ctx, webcrm.Organisations, webcrm.Hook{EventType: ev, TargetURL: target, IsEnabled: true, Filter: []string{"All"}})
		if err != nil {
			return ids, fmt.Errorf("register hook: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// removeHooks deletes the Organisations hooks registerHooks returned.
func removeHooks(ctx context.Context, cfg config.Config, ids []int64) error {
	wc, err := hookClient(cfg)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := wc.DeleteHook(ctx, webcrm.Organisations, id); err != nil {
			return fmt.Errorf("remove hook %d: %w", id, err)
		}
	}
	return nil
}

// hookClient is the webCRM client that registers and removes hooks.
func hookClient(cfg config.Config) (*webcrm.Client, error) {
	return webcrm.New(webcrm.Config{BaseURL: cfg.WebCRM.BaseURL, APIToken: cfg.WebCRM.APIToken})
}

// createUnderLimit creates n customers in the ERP and measures how fast
// their webCRM organisations appear, with the worker's client holding the
// 250 requests/min budget.
func createUnderLimit(ctx context.Context, st *devstack.Stack, n int) (perMinute, callsPerRecord float64, err error) {
	st.WebCRM.ResetStats()
	start := time.Now()
	ids := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		rec, err := st.ERP.Put("customers", map[string]any{
			"name":               fmt.Sprintf("Bench ERP Kunde %04d A/S", i),
			"organisationNumber": fmt.Sprintf("DK8%07d", i),
			"phone":              fmt.Sprintf("+45 60 00 %04d", i),
		})
		if err != nil {
			return 0, 0, fmt.Errorf("create ERP customer %d: %w", i, err)
		}
		id, _ := rec["id"].(string)
		ids["link/organisations/erp/"+id] = true
	}
	deadline := start.Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		found := 0
		for _, rec := range st.WebCRM.Records("Organisations") {
			if tok, _ := rec["OrganisationCustom15"].(string); ids[tok] {
				found++
			}
		}
		if found == n {
			elapsed := time.Since(start)
			calls := float64(st.WebCRM.Stats().TotalRequests) / float64(n)
			return float64(n) / elapsed.Minutes(), calls, nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return 0, 0, fmt.Errorf("ERP → webCRM creation of %d customers did not finish in 30 minutes", n)
}

// pollCost measures the webCRM requests one poll of every pairing costs when
// nothing changes.
func pollCost(ctx context.Context, st *devstack.Stack, c client.Client, names []string) (float64, error) {
	if err := waitPolls(ctx, c, "organisations", 1, 5*time.Minute); err != nil {
		return 0, err
	}
	st.WebCRM.ResetStats()
	const polls = 3
	if err := waitPolls(ctx, c, "organisations", polls, 5*time.Minute); err != nil {
		return 0, err
	}
	return float64(st.WebCRM.Stats().TotalRequests) / polls, nil
}

// cpuSeconds returns the user and system CPU time a process has used, from
// /proc (0 where it cannot be read).
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; USER_HZ is 100 on Linux
}

// linkEvents counts the history events of one link of the pairing.
func linkEvents(ctx context.Context, c client.Client, pairing string) (int, error) {
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1,
		Query: fmt.Sprintf("WorkflowType = 'LinkWorkflow' AND TandemPairing = '%s'", pairing)})
	if err != nil || len(resp.GetExecutions()) == 0 {
		return 0, fmt.Errorf("no link to count: %v", err)
	}
	ex := resp.GetExecutions()[0].GetExecution()
	it := c.GetWorkflowHistory(ctx, ex.GetWorkflowId(), ex.GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
