package cluster

import "syscall"

// childAttr makes a child process die with the test binary, even if the
// test binary itself is killed (a test timeout), so that no kiln process
// outlives the test run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
