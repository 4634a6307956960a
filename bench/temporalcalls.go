package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// temporalCalls sums the Temporal SDK's request counter (every call the
// worker and its client make to the Temporal frontend) by operation.
func temporalCalls(g prometheus.Gatherer) (map[string]float64, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "temporal_request" {
			continue
		}
		for _, m := range f.GetMetric() {
			op := "?"
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && l.GetValue() != "" {
					op = l.GetValue()
				}
			}
			out[op] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// callsPer prints the calls made between before and after, by operation
// (the most first), each per n of what was done.
func callsPer(before, after map[string]float64, n float64, unit string) string {
	type row struct {
		op string
		d  float64
	}
	var rows []row
	var total float64
	for op, v := range after {
		if d := v - before[op]; d > 0 {
			rows = append(rows, row{op, d})
			total += d
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].d > rows[j].d || rows[i].d == rows[j].d && rows[i].op < rows[j].op })
	parts := []string{fmt.Sprintf("%.2f in all per %s", total/max(n, 1), unit)}
	for _, r := range rows {
		parts = append(parts, fmt.Sprintf("%s %.2f", r.op, r.d/max(n, 1)))
	}
	return strings.Join(parts, ", ")
}

// workflowBacklog is the approximate number of workflow tasks waiting on the
// task queue: tasks the worker has not yet taken (the first task of every
// index entry started, for one).
func workflowBacklog(ctx context.Context, c client.Client, namespace, taskQueue string) (int64, error) {
	resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace:     namespace,
		TaskQueue:     &taskqueuepb.TaskQueue{Name: taskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
		ReportStats:   true,
	})
	if err != nil {
		return 0, fmt.Errorf("describe task queue %s: %w", taskQueue, err)
	}
	return resp.GetStats().GetApproximateBacklogCount(), nil
}
