//go:build !linux

package cluster

import "syscall"

// childAttr: elsewhere than on Linux, the cleanups of the tests kill the
// children; a killed test binary may leave them running.
func childAttr() *syscall.SysProcAttr { return nil }
