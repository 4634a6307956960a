package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// heapSplit collects garbage, takes a heap profile of this process and
// splits its in-use bytes between the simulators (allocated under the
// simulators' packages: their stores, the ERP's SQLite pages) and the rest
// (the worker, the Temporal SDK, the clients and the bench itself), so that
// the worker's share can be told apart in a process that hosts all three.
// The profile samples allocations, so the figures are estimates.
func heapSplit() (simulators, rest int64, err error) {
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		return 0, 0, fmt.Errorf("write heap profile: %w", err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		return 0, 0, fmt.Errorf("parse heap profile: %w", err)
	}
	idx, err := inUseSpace(p)
	if err != nil {
		return 0, 0, err
	}
	for _, s := range p.Sample {
		if allocatedBySimulator(s) {
			simulators += s.Value[idx]
		} else {
			rest += s.Value[idx]
		}
	}
	return simulators, rest, nil
}

func allocatedBySimulator(s *profile.Sample) bool {
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil && strings.Contains(line.Function.Name, "/simulators/") {
				return true
			}
		}
	}
	return false
}

// liveHeap asks the worker for a heap profile taken right after a garbage
// collection (its pprof endpoint's gc=1) and returns the in-use bytes the
// profile accounts for: the heap the worker's data holds, which its resident
// memory exceeds by the collector's headroom and the runtime's own. The
// profile samples allocations, so the figure is an estimate.
func (w *workerProcess) liveHeap(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.metricsAddr+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("the worker's heap profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("the worker's heap profile: %s", resp.Status)
	}
	p, err := profile.Parse(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("parse the worker's heap profile: %w", err)
	}
	idx, err := inUseSpace(p)
	if err != nil {
		return 0, fmt.Errorf("the worker's %w", err)
	}
	var n int64
	for _, s := range p.Sample {
		n += s.Value[idx]
	}
	return n, nil
}

// inUseSpace returns the index of a heap profile's in-use bytes among its
// sample values.
func inUseSpace(p *profile.Profile) (int, error) {
	idx := slices.IndexFunc(p.SampleType, func(st *profile.ValueType) bool { return st.Type == "inuse_space" })
	if idx < 0 {
		return 0, fmt.Errorf("heap profile has no inuse_space")
	}
	return idx, nil
}
