//go:build !unix

package pgtemporal

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

var errUnsupported = errors.New("the PostgreSQL-backed Temporal runs on Linux and other Unix systems only")

func lockFile(context.Context, string, func(time.Duration)) (func(), error) {
	return nil, errUnsupported
}

type dbUser struct{}

func lookupDBUser() (dbUser, error)                     { return dbUser{}, errUnsupported }
func (dbUser) own(string) error                         { return errUnsupported }
func (dbUser) configure(*exec.Cmd)                      {}
func isRoot() bool                                      { return false }
func detachGroup(*exec.Cmd, syscall.Signal)             {}
func alive(int) bool                                    { return false }
func signalGroup(cmd *exec.Cmd, _ syscall.Signal) error { return cmd.Process.Kill() }
