//go:build unix && !linux

package devserver

import (
	"os/exec"
	"syscall"
)

// configureChild puts the child in its own process group so Stop can signal
// the whole group. There is no parent-death signal outside Linux.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to the child's process group.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	return syscall.Kill(-cmd.Process.Pid, sig)
}
