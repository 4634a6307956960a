//go:build unix

package pgtemporal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// lockFile takes an exclusive lock on path, calling waiting about every ten
// seconds while another process holds it. The returned func releases it.
func lockFile(ctx context.Context, path string, waiting func(time.Duration)) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	start, last := time.Now(), time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Since(last) >= progressInterval {
			last = time.Now()
			waiting(time.Since(start))
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// dbUser is the operating-system account PostgreSQL runs as: the current
// one, or "postgres" when running as root (PostgreSQL refuses root).
type dbUser struct {
	cred     *syscall.Credential // nil: the current user
	uid, gid int
}

func lookupDBUser() (dbUser, error) {
	if os.Geteuid() != 0 {
		return dbUser{uid: os.Getuid(), gid: os.Getgid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return dbUser{}, fmt.Errorf("running as root, PostgreSQL needs the system user \"postgres\" (the Debian package creates it): %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return dbUser{}, fmt.Errorf("uid of postgres: %w", err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return dbUser{}, fmt.Errorf("gid of postgres: %w", err)
	}
	return dbUser{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}, nil
}

// own gives path to the database user.
func (u dbUser) own(path string) error {
	if u.cred == nil {
		return nil
	}
	if err := os.Chown(path, u.uid, u.gid); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", path, err)
	}
	return nil
}

// configure makes cmd run as the database user.
func (u dbUser) configure(cmd *exec.Cmd) {
	if u.cred == nil {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = u.cred
}

// isRoot reports whether this process may install packages.
func isRoot() bool { return os.Geteuid() == 0 }

// signalGroup signals the process group cmd leads (see detachGroup).
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	return syscall.Kill(-cmd.Process.Pid, sig)
}

// alive reports whether a process with pid exists.
func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }
