package devserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// RegisterSearchAttributes makes sure the namespace has the custom search
// attributes attrs (name -> type). Attributes that already exist with the
// same type are left alone, so calling it on every start is fine; one that
// exists with another type is an error. It returns once the server lists
// every attribute and accepts them in a query (a production server's
// frontend learns of new ones when its namespace cache refreshes, after it
// lists them), or when ctx ends.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	if len(attrs) == 0 {
		return nil
	}
	op := c.OperatorService()
	missing, err := missingAttrs(ctx, op, namespace, attrs)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes %s to namespace %q: %w", attrNames(missing), namespace, err)
	}
	for {
		missing, err = missingAttrs(ctx, op, namespace, attrs)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			return waitQueryable(ctx, c, namespace, attrs)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes %s not visible in namespace %q: %w", attrNames(missing), namespace, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitQueryable polls until a visibility query naming every attribute is
// accepted.
func waitQueryable(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) error {
	var conds []string
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		conds = append(conds, name+" IS NULL")
	}
	req := &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: strings.Join(conds, " OR ")}
	for {
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, req)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes %s not usable in namespace %q: %w (last error: %v)", attrNames(attrs), namespace, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// missingAttrs lists the wanted attributes the namespace lacks, and fails
// when one exists with a different type.
func missingAttrs(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string, want map[string]enumspb.IndexedValueType) (map[string]enumspb.IndexedValueType, error) {
	resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes of namespace %q: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		have, ok := resp.GetCustomAttributes()[name]
		if !ok {
			have, ok = resp.GetSystemAttributes()[name]
		}
		switch {
		case !ok:
			missing[name] = typ
		case have != typ:
			return nil, fmt.Errorf("search attribute %q in namespace %q has type %v, want %v", name, namespace, have, typ)
		}
	}
	return missing, nil
}

func attrNames(m map[string]enumspb.IndexedValueType) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
