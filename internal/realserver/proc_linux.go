package realserver

import "syscall"

// The signals the servers take for a graceful restart and a reopening
// of their logs.
const (
	sigUSR1 = syscall.SIGUSR1
	sigHUP  = syscall.SIGHUP
)

// unsupported says why the servers cannot run here; nil on Linux.
func unsupported() error { return nil }

// procAttr puts a server in a process group of its own, so that its
// workers and CGI scripts can be killed with it, and has it shut down
// should the test process die without its cleanups (go test's -timeout,
// say).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// killGroup kills what is left of the process group of pid.
func killGroup(pid int) { syscall.Kill(-pid, syscall.SIGKILL) }
