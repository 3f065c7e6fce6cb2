package seize

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/criugo/criugo/pkg/proc"
)

// procFS is where tasks are read: the zero FS, /proc.
var procFS proc.FS

// gone reports whether err says the task (or its /proc directory) no
// longer exists.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNoProcess)
}

// readStatus parses /proc/PID/status (tid 0) or /proc/PID/task/TID/status.
func readStatus(pid, tid int) (*proc.Status, error) {
	return procFS.Status(pid, tid)
}

// readStat parses /proc/PID/stat (tid 0) or /proc/PID/task/TID/stat.
func readStat(pid, tid int) (*proc.Stat, error) {
	return procFS.Stat(pid, tid)
}

// listThreads returns the tids of a process, ascending (the order
// /proc/PID/task lists them in).
func listThreads(pid int) ([]int, error) {
	return procFS.Tasks(pid)
}

// readChildren returns the children of every thread of pid, thread by
// thread, each thread's as its children file lists them. A thread that
// vanished meanwhile has none.
func readChildren(pid int, tids []int) ([]int, error) {
	var kids []int
	for _, tid := range tids {
		c, err := procFS.Children(pid, tid)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		kids = append(kids, c...)
	}
	return kids, nil
}

// nsID picks the id at the root's pid-namespace level from an NS* list of
// /proc/PID/status. Without NS* lists (a kernel too old to print them)
// every id is taken to be in criu-seize's namespace.
func nsID(list []int, level int, own int) (int, error) {
	if len(list) == 0 {
		return own, nil
	}
	if level >= len(list) {
		return 0, fmt.Errorf("id %d has no id at pid namespace level %d: %w", own, level, ErrNotSupported)
	}
	return list[level], nil
}

// rootLevel is the depth of the root's pid namespace below criu-seize's,
// counted as NSpid counts it (0 when they share one).
func rootLevel(rootStatus *proc.Status) int {
	if n := len(rootStatus.NSpid); n > 0 {
		return n - 1
	}
	return 0
}
