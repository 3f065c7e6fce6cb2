package seize

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strconv"

	"github.com/criugo/criugo/pkg/proc"
)

// procRoot is where /proc is mounted.
const procRoot = "/proc"

// gone reports whether err says the task (or its /proc directory) no
// longer exists.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNoProcess)
}

// taskDir is /proc/PID/task/TID, or /proc/PID for tid 0.
func taskDir(pid, tid int) string {
	if tid == 0 {
		return procRoot + "/" + strconv.Itoa(pid)
	}
	return procRoot + "/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid)
}

// readStatus parses /proc/PID/status (tid 0) or /proc/PID/task/TID/status.
func readStatus(pid, tid int) (*proc.Status, error) {
	f, err := os.Open(taskDir(pid, tid) + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := proc.ParseStatus(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return st, nil
}

// readStat parses /proc/PID/stat (tid 0) or /proc/PID/task/TID/stat.
func readStat(pid, tid int) (*proc.Stat, error) {
	f, err := os.Open(taskDir(pid, tid) + "/stat")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := proc.ParseStat(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return st, nil
}

// listThreads returns the tids of a process, ascending (the order
// /proc/PID/task lists them in).
func listThreads(pid int) ([]int, error) {
	ents, err := os.ReadDir(taskDir(pid, 0) + "/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid <= 0 {
			continue
		}
		tids = append(tids, tid)
	}
	sort.Ints(tids)
	return tids, nil
}

// readChildren returns the children of every thread of pid, thread by
// thread, each thread's as its children file lists them. A thread that
// vanished meanwhile has none.
func readChildren(pid int, tids []int) ([]int, error) {
	var kids []int
	for _, tid := range tids {
		f, err := os.Open(taskDir(pid, tid) + "/children")
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		c, err := proc.ParseChildren(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Name(), err)
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
