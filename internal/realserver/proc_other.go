//go:build !linux

package realserver

import (
	"errors"
	"syscall"
)

// Never sent: Start skips before a server runs.
const (
	sigUSR1 = syscall.Signal(10)
	sigHUP  = syscall.Signal(1)
)

func unsupported() error { return errors.New("Debian's servers are run on Linux only") }

func procAttr() *syscall.SysProcAttr { return nil }

func killGroup(int) {}
