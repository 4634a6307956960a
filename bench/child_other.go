//go:build unix && !linux

package main

import (
	"os/exec"
	"syscall"
)

// configureChild puts the child in its own process group, so a Ctrl-C in
// the terminal reaches only the bench, which then stops it (only Linux can
// also kill it with its parent).
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
