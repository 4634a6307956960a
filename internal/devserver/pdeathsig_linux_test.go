//go:build linux

package devserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const helperEnv = "TANDEM_DEVSERVER_HELPER"

// TestHelperStartsServerAndWaits is not a test on its own: run with
// TANDEM_DEVSERVER_HELPER=1 it starts a server, prints its pid and blocks,
// so TestServerDiesWithParent can kill it.
func TestHelperStartsServerAndWaits(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	srv, err := Start(context.Background(), Options{Headless: true})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("pid", srv.PID())
	select {}
}

func TestServerDiesWithParent(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartsServerAndWaits$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var pid int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		require.False(t, strings.HasPrefix(line, "error:"), line)
		if p, ok := strings.CutPrefix(line, "pid "); ok {
			pid, err = strconv.Atoi(p)
			require.NoError(t, err)
			break
		}
	}
	require.NotZero(t, pid, "helper printed no pid")
	require.True(t, alive(pid), "server not running")

	require.NoError(t, cmd.Process.Kill()) // the parent dies without calling Stop
	require.Eventually(t, func() bool { return !alive(pid) }, 15*time.Second, 50*time.Millisecond,
		"server pid %d outlived its parent", pid)
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat))
	return len(fields) > 2 && fields[2] != "Z"
}
