package pgtemporal

import (
	"os/exec"
	"syscall"
)

// detachGroup puts cmd in a process group of its own and has the kernel send
// it sig should this process die first, so no server outlives its owner.
func detachGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = sig
}
