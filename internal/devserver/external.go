package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ExternalOptions describes a Temporal server that this package did not
// start, for External.
type ExternalOptions struct {
	// Address is the frontend's host:port.
	Address string
	// Namespace the caller uses on it.
	Namespace string
	// PID of the server process when known (0 otherwise).
	PID int
	// Stop, if set, is called once by Server.Stop, e.g. to stop a server
	// process someone else started for this caller. Nil: Stop does nothing.
	Stop func() error
}

// External returns a Server for a Temporal frontend that runs elsewhere (a
// production server, another process's server), so code written for the dev
// server can use it. Its UIURL is empty; Exited is closed once Stop returns.
func External(opts ExternalOptions) (*Server, error) {
	host, portStr, err := net.SplitHostPort(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("external Temporal address %q: %w", opts.Address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("external Temporal address %q: port: %w", opts.Address, err)
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	return &Server{
		ip:          host,
		port:        port,
		namespace:   opts.Namespace,
		tail:        newTailBuffer(0),
		exited:      make(chan struct{}),
		externalPID: opts.PID,
		externalStop: func() error {
			if opts.Stop == nil {
				return nil
			}
			return opts.Stop()
		},
	}, nil
}

// EnsureNamespace registers namespace with the given retention unless it
// exists, and returns once the frontend serves requests in it (a new
// namespace reaches the server's caches a little after it is registered).
func EnsureNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration) error {
	ws := c.WorkflowService()
	_, err := ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(retention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %q: %w", namespace, err)
	}
	for {
		// Listing goes through the frontend's namespace cache, unlike Describe.
		_, err := ws.ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: 1})
		if err == nil {
			return nil
		}
		var notFound *serviceerror.NamespaceNotFound
		if !errors.As(err, &notFound) {
			return fmt.Errorf("namespace %q: %w", namespace, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %q not served yet: %w", namespace, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
