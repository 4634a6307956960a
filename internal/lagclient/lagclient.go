// Package lagclient wraps a Temporal client so that its visibility answers
// trail the workflows they describe, as a production visibility store
// (Elasticsearch, or SQL visibility fed by a queue) does: a workflow started,
// or whose search attributes or status changed, appears in ListWorkflow and
// CountWorkflow answers only Lag after the change, and one that stopped
// matching a query is still listed for Lag. Tests run tandem's worker on it
// to show that no decision about data waits on visibility being current.
//
// Every other call, Describe and queries included, goes straight to the
// server, which answers them from the workflow itself.
package lagclient

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
)

// Options tune a Client.
type Options struct {
	// Lag is how long a change takes to reach the answers.
	Lag time.Duration
	// Now is the clock (default time.Now); tests move it by hand.
	Now func() time.Time
}

// Client is a client.Client whose list and count answers lag.
type Client struct {
	client.Client
	lag time.Duration
	now func() time.Time

	mu sync.Mutex
	// execs is what the server last showed of each execution, and since
	// when: an execution first met is taken to have changed when it started.
	execs map[string]*execState
	// shown is, per namespace and query, what answers have shown of each
	// execution.
	shown map[string]map[string]*shownState
}

type execState struct {
	fingerprint []byte
	since       time.Time
}

type shownState struct {
	info *workflowpb.WorkflowExecutionInfo
	// goneSince is when the server stopped listing the execution for the
	// query; zero while it lists it.
	goneSince time.Time
}

// Wrap returns c with lagging visibility answers.
func Wrap(c client.Client, o Options) *Client {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{Client: c, lag: o.Lag, now: o.Now, execs: map[string]*execState{}, shown: map[string]map[string]*shownState{}}
}

// ListWorkflow answers with the executions matching the query as visibility
// showed them Lag ago, in one page.
func (c *Client) ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	execs, err := c.view(ctx, req.GetNamespace(), req.GetQuery())
	if err != nil {
		return nil, err
	}
	return &workflowservice.ListWorkflowExecutionsResponse{Executions: execs}, nil
}

// CountWorkflow counts what ListWorkflow would answer. A query that groups
// (GROUP BY) goes to the server unchanged.
func (c *Client) CountWorkflow(ctx context.Context, req *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	if strings.Contains(strings.ToUpper(req.GetQuery()), "GROUP BY") {
		return c.Client.CountWorkflow(ctx, req)
	}
	execs, err := c.view(ctx, req.GetNamespace(), req.GetQuery())
	if err != nil {
		return nil, err
	}
	return &workflowservice.CountWorkflowExecutionsResponse{Count: int64(len(execs))}, nil
}

// view reads every page the server has for the query and returns what a
// lagging store would show.
func (c *Client) view(ctx context.Context, namespace, query string) ([]*workflowpb.WorkflowExecutionInfo, error) {
	var current []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := c.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return nil, err
		}
		current = append(current, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	shown := c.shown[namespace+"\x00"+query]
	if shown == nil {
		shown = map[string]*shownState{}
		c.shown[namespace+"\x00"+query] = shown
	}
	var out []*workflowpb.WorkflowExecutionInfo
	listed := map[string]bool{}
	for _, info := range current {
		key := namespace + "\x00" + info.GetExecution().GetWorkflowId() + "\x00" + info.GetExecution().GetRunId()
		listed[key] = true
		fp, err := fingerprint(info)
		if err != nil {
			return nil, err
		}
		st := c.execs[key]
		switch {
		case st == nil:
			st = &execState{fingerprint: fp, since: info.GetStartTime().AsTime()}
			c.execs[key] = st
		case !bytes.Equal(st.fingerprint, fp):
			st.fingerprint, st.since = fp, now
		}
		if !now.Before(st.since.Add(c.lag)) {
			shown[key] = &shownState{info: info}
			out = append(out, info)
			continue
		}
		// Not visible yet as it is now: as it was, if an answer showed it.
		if old := shown[key]; old != nil {
			old.goneSince = time.Time{}
			out = append(out, old.info)
		}
	}
	for key, old := range shown {
		if listed[key] {
			continue
		}
		if old.goneSince.IsZero() {
			old.goneSince = now
		}
		if now.Before(old.goneSince.Add(c.lag)) {
			out = append(out, old.info)
		} else {
			delete(shown, key)
		}
	}
	return out, nil
}

// fingerprint is what a query can match on: type, status and search
// attributes.
func fingerprint(info *workflowpb.WorkflowExecutionInfo) ([]byte, error) {
	attrs, err := proto.MarshalOptions{Deterministic: true}.Marshal(info.GetSearchAttributes())
	if err != nil {
		return nil, fmt.Errorf("fingerprint %s: %w", info.GetExecution().GetWorkflowId(), err)
	}
	return append([]byte(info.GetType().GetName()+"\x00"+info.GetStatus().String()+"\x00"), attrs...), nil
}
