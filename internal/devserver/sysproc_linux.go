//go:build linux

package devserver

import (
	"os/exec"
	"syscall"
)

// configureChild puts the child in its own process group (so Stop can signal
// the whole group) and asks the kernel to kill it when the thread that
// started it dies, so a crashed parent does not leave a server holding the
// ports. Go's runtime does not retire threads that run ordinary goroutines,
// so in practice this fires when the parent process exits.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the child's process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	return syscall.Kill(-cmd.Process.Pid, sig)
}
