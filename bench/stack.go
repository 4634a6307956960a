package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/tandemsync/tandem/internal/config"
	"github.com/tandemsync/tandem/internal/devserver"
	"github.com/tandemsync/tandem/internal/devstack"
	"github.com/tandemsync/tandem/internal/service"
)

// benchStack is a measurement's stack: a Temporal server (the dev server,
// or the one of -temporal-address), both simulators and a worker with its
// hooks endpoint on a free port.
type benchStack struct {
	st   *devstack.Stack
	cfg  config.Config
	svc  *service.Service
	stop func()
}

// startStack brings a benchStack up in a new temporary directory, its
// worker in this process; close stops it and removes the directory.
func startStack(ctx context.Context, s settings, opts devstack.Options) (*benchStack, error) {
	return newStack(ctx, s, opts, true)
}

// newStack is startStack; without inProcess it runs no worker, and the
// service serves only as the Temporal client and the mappings of a worker
// run elsewhere with b.cfg.
func newStack(ctx context.Context, s settings, opts devstack.Options, inProcess bool) (*benchStack, error) {
	dir, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return nil, err
	}
	var logOut io.Writer = io.Discard
	cleanup := func() { _ = os.RemoveAll(dir) }
	if s.logFile != "" {
		f, err := os.Create(s.logFile)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("worker log: %w", err)
		}
		logOut, cleanup = f, func() { _ = f.Close(); _ = os.RemoveAll(dir) }
	}
	logger := slog.New(slog.NewTextHandler(logOut, nil))
	opts.DataDir, opts.UIPort, opts.HookSecret, opts.Progress, opts.Logger = dir, -1, "bench-secret", os.Stderr, logger
	st, err := devstack.Start(ctx, opts)
	if err != nil {
		cleanup()
		return nil, err
	}
	b := &benchStack{st: st, stop: func() { st.Stop(); cleanup() }}
	cfg := st.Config()
	cfg.Sync.Concurrency = s.concurrency
	cfg.Sync.PollInterval = s.poll
	cfg.Worker.MetricsAddr = "off"
	port, err := devserver.FreePort()
	if err != nil {
		b.close()
		return nil, err
	}
	cfg.Worker.HooksAddr = "127.0.0.1:" + strconv.Itoa(port)
	b.cfg = cfg
	b.svc, err = service.New(cfg, service.Options{Logger: logger, WebCRMActivitiesPerSecond: 1000})
	if err != nil {
		b.close()
		return nil, err
	}
	if !inProcess {
		stopStack := b.stop
		b.stop = func() { b.svc.Close(); stopStack() }
		return b, nil
	}
	wctx, stopWorker := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = b.svc.Run(wctx) })
	stopStack := b.stop
	b.stop = func() { stopWorker(); wg.Wait(); b.svc.Close(); stopStack() }
	return b, nil
}

func (b *benchStack) close() { b.stop() }
