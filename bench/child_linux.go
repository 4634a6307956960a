//go:build linux

package main

import (
	"os/exec"
	"syscall"
)

// configureChild puts the child in its own process group (so a Ctrl-C in
// the terminal reaches only the bench, which then stops it) and asks the
// kernel to kill it when this process dies, so a bench killed without a
// chance to clean up leaves no worker behind.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
