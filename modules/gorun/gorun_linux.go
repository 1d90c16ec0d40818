package gorun

import (
	"os"
	"syscall"
)

// FollowParent asks the kernel to send this process SIGTERM when its parent
// dies, if the parent is `go run`, so that `kill -TERM` on `go run` ends in the
// program's own graceful shutdown. Elsewhere it does nothing.
func FollowParent() {
	if !underGoRun() {
		return
	}
	ppid := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return
	}
	// The parent may have died before the request took effect.
	if os.Getppid() != ppid {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}
