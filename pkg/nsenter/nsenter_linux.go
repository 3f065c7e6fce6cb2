package nsenter

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run runs fn on an OS thread of its own that has joined the namespace at
// path (a /proc/PID/ns link) of type nstype (a CLONE_NEW* flag), and
// returns fn's error. A path that cannot be opened gives the
// *fs.PathError of package os; a failed setns says "join PATH" and wraps
// its errno.
func Run(path string, nstype int, fn func() error) error {
	return run(func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = unix.Setns(int(f.Fd()), nstype)
		f.Close()
		if err != nil {
			return fmt.Errorf("join %s: %w", path, err)
		}
		return nil
	}, fn)
}

// RunFd is Run for a namespace already open as nsfd (a /proc/PID/ns file,
// or what SIOCGSKNS gives for a socket's network namespace). The caller
// keeps nsfd. A failed setns says "join namespace fd N" and wraps its
// errno.
func RunFd(nsfd, nstype int, fn func() error) error {
	return run(func() error {
		if err := unix.Setns(nsfd, nstype); err != nil {
			return fmt.Errorf("join namespace fd %d: %w", nsfd, err)
		}
		return nil
	}, fn)
}

// run joins with join, then runs fn, on a goroutine locked to its thread.
func run(join, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends the thread when this
		// goroutine returns while locked.
		if err := join(); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return <-done
}
