package main

import (
	"errors"
	"log/slog"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryLimitRatio is the share of the container's memory limit that the Go
// runtime's soft limit is set to: the rest is room for what the runtime does
// not count (the binary, thread stacks outside the heap) before the kernel's
// limit kills the worker.
const memoryLimitRatio = 0.9

// setMemoryLimit gives the Go runtime a soft memory limit (GOMEMLIMIT) of
// memoryLimitRatio of the memory limit that provider reports, the container's
// cgroup limit in the worker. Near the limit the garbage collector runs more
// often instead of letting the heap double over its live data, so a worker
// holding a large merge index stays inside its container. A GOMEMLIMIT set in
// the environment wins, AUTOMEMLIMIT=off turns this off and AUTOMEMLIMIT=0.8
// sets another ratio; no limit leaves Go's default. It returns the limit in
// force, math.MaxInt64 for none.
func setMemoryLimit(logger *slog.Logger, provider memlimit.Provider) int64 {
	limit, err := memlimit.Set(memlimit.WithRatio(memoryLimitRatio), memlimit.WithProvider(provider))
	switch {
	case errors.Is(err, memlimit.ErrCgroupsNotSupported):
		// Not Linux: there is no container limit to follow.
		logger.Debug("memory limit: no cgroups here; the Go runtime has no soft limit unless GOMEMLIMIT gives one")
	case err != nil:
		logger.Warn("memory limit: the container's limit could not be read; the Go runtime has no soft limit (set GOMEMLIMIT to give it one)", "error", err)
	case limit < math.MaxInt64:
		logger.Info("memory limit: the garbage collector keeps the heap under GOMEMLIMIT", "GOMEMLIMIT_bytes", limit)
	}
	return limit
}
