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
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends the thread when this
		// goroutine returns while locked.
		f, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		err = unix.Setns(int(f.Fd()), nstype)
		f.Close()
		if err != nil {
			done <- fmt.Errorf("join %s: %w", path, err)
			return
		}
		done <- fn()
	}()
	return <-done
}
