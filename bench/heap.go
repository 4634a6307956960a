package main

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"

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
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "inuse_space" {
			idx = i
		}
	}
	if idx < 0 {
		return 0, 0, fmt.Errorf("heap profile has no inuse_space")
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
