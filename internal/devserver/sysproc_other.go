//go:build !unix

package devserver

import (
	"os"
	"os/exec"
	"syscall"
)

// configureChild needs no settings where process groups do not exist.
func configureChild(*exec.Cmd) {}

// signalGroup signals only the child itself; a graceful signal is not
// available everywhere, so anything but SIGKILL becomes os.Interrupt.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return cmd.Process.Kill()
	}
	return cmd.Process.Signal(os.Interrupt)
}
