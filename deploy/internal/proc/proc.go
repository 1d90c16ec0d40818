// Package proc starts the servers that pglocal and kafkalocal run as children.
package proc

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// Process is a started child, reaped in the background.
type Process struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd on an OS thread that stays locked until the child is gone:
// the kernel sends a parent-death signal (SysProcAttr.Pdeathsig) when the
// forking thread exits, not the process (go.dev/issue/27505). It returns once
// the child has started; everything cmd needed only for the start, such as a
// log file it was handed, may then be closed.
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(p.done)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
	}()
	if err := <-started; err != nil {
		<-p.done
		return nil, err
	}
	return p, nil
}

// Done is closed once the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the child exited; read it only after Done.
func (p *Process) Err() error { return p.err }

// PID is the child's process id.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Signal sends sig to the child.
func (p *Process) Signal(sig os.Signal) { _ = p.Cmd.Process.Signal(sig) }

// Kill kills the child.
func (p *Process) Kill() { _ = p.Cmd.Process.Kill() }

// WithDefaultTimeout bounds ctx by d unless it has a deadline already.
func WithDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
