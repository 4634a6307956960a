//go:build unix && !linux

package pgtemporal

import (
	"os/exec"
	"syscall"
)

// detachGroup puts cmd in a process group of its own.
func detachGroup(cmd *exec.Cmd, _ syscall.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}
