package main

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// restoreMemoryLimit puts the process's soft memory limit back after a test
// that sets it.
func restoreMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
}

// unsetenv unsets the variables for the test; they are put back after it.
func unsetenv(t *testing.T, names ...string) {
	for _, name := range names {
		t.Setenv(name, "") // registers the restore
		require.NoError(t, os.Unsetenv(name))
	}
}

func TestTheSoftMemoryLimitIsNinetyPercentOfTheContainers(t *testing.T) {
	restoreMemoryLimit(t)
	unsetenv(t, "GOMEMLIMIT", "AUTOMEMLIMIT")
	container := uint64(512 << 20)
	got := setMemoryLimit(slog.New(slog.DiscardHandler), memlimit.Limit(container))
	want := int64(float64(container) * memoryLimitRatio)
	require.Less(t, want, int64(container))
	assert.Equal(t, want, got)
	assert.Equal(t, want, debug.SetMemoryLimit(-1), "the runtime's limit")
}

func TestAUTOMEMLIMITOffLeavesTheLimitAlone(t *testing.T) {
	restoreMemoryLimit(t)
	unsetenv(t, "GOMEMLIMIT")
	t.Setenv("AUTOMEMLIMIT", "off")
	debug.SetMemoryLimit(math.MaxInt64)
	got := setMemoryLimit(slog.New(slog.DiscardHandler), memlimit.Limit(512<<20))
	assert.Equal(t, int64(math.MaxInt64), got)
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1))
}

func TestAGOMEMLIMITInTheEnvironmentWins(t *testing.T) {
	restoreMemoryLimit(t)
	t.Setenv("GOMEMLIMIT", "300MiB")
	debug.SetMemoryLimit(300 << 20) // what the runtime read from it at start
	got := setMemoryLimit(slog.New(slog.DiscardHandler), memlimit.Limit(512<<20))
	assert.Equal(t, int64(300<<20), got)
	assert.Equal(t, int64(300<<20), debug.SetMemoryLimit(-1))
}

func TestNoContainerLimitMeansNoSoftLimit(t *testing.T) {
	restoreMemoryLimit(t)
	unsetenv(t, "GOMEMLIMIT", "AUTOMEMLIMIT")
	debug.SetMemoryLimit(1 << 40)
	got := setMemoryLimit(slog.New(slog.DiscardHandler), func() (uint64, error) { return 0, memlimit.ErrNoLimit })
	require.Equal(t, int64(math.MaxInt64), got)
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1))
}
