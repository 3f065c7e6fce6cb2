package seize

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/criugo/criugo/images"
)

// The control files of the two freezers.
const (
	v1StateFile  = "freezer.state" // THAWED, FREEZING or FROZEN
	v2FreezeFile = "cgroup.freeze" // 0 or 1
	v2EventsFile = "cgroup.events" // "frozen 1" once every task is frozen
	procsFile    = "cgroup.procs"
)

// maxCgroupFile bounds what is read of a cgroup control file; cgroup.procs
// holds at most pid_max (4M) pids of 8 bytes.
const maxCgroupFile = 32 << 20

// cgroupFreezer is the freezer of one cgroup directory.
type cgroupFreezer struct {
	dir string
	v2  bool
}

// openCgroup finds the freezer of the cgroup directory path: v1 when it
// has freezer.state, v2 when it has cgroup.freeze.
func openCgroup(path string) (*cgroupFreezer, error) {
	dir, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open cgroup %s: not a directory: %w", path, ErrNoFreezer)
	}
	if _, err := os.Stat(filepath.Join(dir, v1StateFile)); err == nil {
		return &cgroupFreezer{dir: dir}, nil
	}
	if _, err := os.Stat(filepath.Join(dir, v2FreezeFile)); err == nil {
		return &cgroupFreezer{dir: dir, v2: true}, nil
	}
	return nil, fmt.Errorf("open cgroup %s: neither %s nor %s: %w", path, v1StateFile, v2FreezeFile, ErrNoFreezer)
}

// method is the freeze method of this freezer.
func (c *cgroupFreezer) method() images.CriugoFreezeMethod {
	if c.v2 {
		return images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V2
	}
	return images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V1
}

func (c *cgroupFreezer) read(name string) (string, error) {
	b, err := readBounded(filepath.Join(c.dir, name))
	return strings.TrimSpace(string(b)), err
}

func (c *cgroupFreezer) write(name, val string) error {
	p := filepath.Join(c.dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", val, p, classify(err))
	}
	_, err = f.WriteString(val)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", val, p, classify(err))
	}
	return nil
}

// frozen reports whether the cgroup is asked to be frozen (v1: FROZEN, or
// FREEZING on its way there; v2: cgroup.freeze 1).
func (c *cgroupFreezer) frozen() (bool, error) {
	if c.v2 {
		s, err := c.read(v2FreezeFile)
		return s == "1", err
	}
	s, err := c.read(v1StateFile)
	return s == "FROZEN" || s == "FREEZING", err
}

// freeze asks the kernel to freeze the cgroup.
func (c *cgroupFreezer) freeze() error {
	if c.v2 {
		return c.write(v2FreezeFile, "1")
	}
	return c.write(v1StateFile, "FROZEN")
}

// thaw asks the kernel to thaw the cgroup.
func (c *cgroupFreezer) thaw() error {
	if c.v2 {
		return c.write(v2FreezeFile, "0")
	}
	return c.write(v1StateFile, "THAWED")
}

// waitFrozen waits until every task of the cgroup is frozen. A v1 freezer
// reports FREEZING until the last task is frozen (reading the file moves it
// on); a v2 cgroup says "frozen 1" in cgroup.events.
func (c *cgroupFreezer) waitFrozen(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	nap := 100 * time.Microsecond
	last := ""
	for {
		var done bool
		if c.v2 {
			s, err := c.read(v2EventsFile)
			if err != nil {
				return fmt.Errorf("wait for cgroup %s to freeze: %w", c.dir, err)
			}
			done = hasLine(s, "frozen 1")
			last = s
		} else {
			s, err := c.read(v1StateFile)
			if err != nil {
				return fmt.Errorf("wait for cgroup %s to freeze: %w", c.dir, err)
			}
			done = s == "FROZEN"
			last = s
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wait for cgroup %s to freeze: %w", c.dir, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for cgroup %s to freeze: %q after %v: %w",
				c.dir, strings.ReplaceAll(last, "\n", " "), timeout, ErrTimeout)
		}
		time.Sleep(nap)
		if nap < 10*time.Millisecond {
			nap *= 2
		}
	}
}

// procs lists the processes of the cgroup and of every cgroup below it
// (both freezers freeze the whole subtree), sorted.
func (c *cgroupFreezer) procs() ([]int, error) {
	var pids []int
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a child cgroup removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := readBounded(filepath.Join(p, procsFile))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 0 {
				return fmt.Errorf("read %s: bad pid %q", filepath.Join(p, procsFile), f)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks of cgroup %s: %w", c.dir, err)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// freezeCgroup freezes the cgroup at path and describes the tree of its
// processes: under root when root is not 0, else under the one process
// whose parent is outside the cgroup. On failure a cgroup criu-seize froze
// is thawed.
func freezeCgroup(ctx context.Context, path string, root int, timeout time.Duration) (tree *Tree, c *cgroupFreezer, wasFrozen bool, err error) {
	if c, err = openCgroup(path); err != nil {
		return nil, nil, false, err
	}
	before, err := c.procs()
	if err != nil {
		return nil, nil, false, err
	}
	if slices.Contains(before, os.Getpid()) {
		return nil, nil, false, fmt.Errorf("freeze cgroup %s: %w", c.dir, ErrSelf)
	}
	if root != 0 {
		if err := checkRoot(root); err != nil {
			return nil, nil, false, err
		}
	}
	// A task frozen by a v1 freezer shows 'D' whatever it was doing, so
	// job-control stops are read before freezing. v2 keeps showing 'T'.
	preState := make(map[int]byte)
	if !c.v2 {
		for _, pid := range before {
			if st, err := readStat(pid, 0); err == nil {
				preState[pid] = st.State
			}
		}
	}
	if wasFrozen, err = c.frozen(); err != nil {
		return nil, nil, false, fmt.Errorf("freeze cgroup %s: %w", c.dir, err)
	}
	var undo cleanups
	defer func() {
		if err != nil {
			err = undone(err, undo.Run())
		}
	}()
	if !wasFrozen {
		if err := c.freeze(); err != nil {
			return nil, nil, false, fmt.Errorf("freeze cgroup %s: %w", c.dir, err)
		}
		undo.Add(c.thaw)
	}
	if err := c.waitFrozen(ctx, timeout); err != nil {
		return nil, nil, false, err
	}
	set, err := c.procs()
	if err != nil {
		return nil, nil, false, err
	}
	if tree, err = cgroupTree(c.dir, set, root); err != nil {
		return nil, nil, false, err
	}
	for _, task := range tree.Tasks {
		if err := cgroupTaskState(task, c.v2, preState); err != nil {
			return nil, nil, false, err
		}
	}
	if err := describe(tree); err != nil {
		return nil, nil, false, err
	}
	undo.Release()
	return tree, c, wasFrozen, nil
}

// cgroupTree builds the tree of the frozen processes set: every process
// under the root must be in the set (else it would run on), and every
// process of the set under the root.
func cgroupTree(dir string, set []int, root int) (*Tree, error) {
	if len(set) == 0 {
		return nil, fmt.Errorf("freeze cgroup %s: no tasks: %w", dir, ErrBadTree)
	}
	in := make(map[int]bool, len(set))
	for _, pid := range set {
		in[pid] = true
	}
	if root == 0 {
		var roots []int
		for _, pid := range set {
			st, err := readStat(pid, 0)
			if err != nil {
				if gone(err) {
					continue
				}
				return nil, fmt.Errorf("freeze cgroup %s: read pid %d: %w", dir, pid, err)
			}
			if !in[st.PPid] {
				roots = append(roots, pid)
			}
		}
		if len(roots) != 1 {
			return nil, fmt.Errorf("freeze cgroup %s: %d trees (roots %v), name one with a pid: %w", dir, len(roots), roots, ErrBadTree)
		}
		root = roots[0]
	} else if !in[root] {
		return nil, fmt.Errorf("freeze cgroup %s: pid %d is not in it: %w", dir, root, ErrBadTree)
	}
	tree := &Tree{Root: root, Tasks: make(map[int]*Task)}
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if tree.Tasks[pid] != nil {
			continue
		}
		task := &Task{Pid: pid, State: images.CriugoTaskState_CRIUGO_TASK_RUNNING}
		tree.Tasks[pid] = task
		tids, err := listThreads(pid)
		if err != nil {
			return nil, fmt.Errorf("freeze cgroup %s: pid %d: %w", dir, pid, classify(err))
		}
		for _, tid := range tids {
			task.Threads = append(task.Threads, Thread{Tid: tid})
		}
		if task.Children, err = readChildren(pid, tids); err != nil {
			return nil, fmt.Errorf("freeze cgroup %s: pid %d: %w", dir, pid, err)
		}
		for _, kid := range task.Children {
			if !in[kid] {
				// A zombie has left its cgroup; it runs no more anyway.
				if st, err := readStat(kid, 0); err != nil || st.State != 'Z' {
					return nil, fmt.Errorf("freeze cgroup %s: pid %d, a child of pid %d, is not in it: %w", dir, kid, pid, ErrBadTree)
				}
			}
			queue = append(queue, kid)
		}
	}
	for _, pid := range set {
		if tree.Tasks[pid] == nil {
			if !procFS.HasPid(pid) {
				continue // gone since the listing
			}
			return nil, fmt.Errorf("freeze cgroup %s: it holds pid %d outside the tree of pid %d: %w", dir, pid, root, ErrBadTree)
		}
	}
	for _, task := range tree.Tasks {
		for _, c := range task.Children {
			tree.Tasks[c].PPid = task.Pid
		}
	}
	return tree, nil
}

// cgroupTaskState sets what the task was doing: a zombie, stopped by job
// control, or running.
func cgroupTaskState(task *Task, v2 bool, preState map[int]byte) error {
	st, err := readStat(task.Pid, 0)
	if err != nil {
		return fmt.Errorf("read state of pid %d: %w", task.Pid, classify(err))
	}
	switch {
	case st.State == 'Z' && len(task.Threads) <= 1:
		task.State = images.CriugoTaskState_CRIUGO_TASK_ZOMBIE
		task.Threads = nil
	case v2 && st.State == 'T', !v2 && preState[task.Pid] == 'T':
		task.State = images.CriugoTaskState_CRIUGO_TASK_STOPPED
	}
	return nil
}

// hasLine reports whether text holds line as one of its lines.
func hasLine(text, line string) bool {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == line {
			return true
		}
	}
	return false
}

// readBounded reads a small control file whole, refusing one over
// maxCgroupFile.
func readBounded(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(f, maxCgroupFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if n > maxCgroupFile {
		return nil, fmt.Errorf("read %s: over %d bytes", p, maxCgroupFile)
	}
	return b.Bytes(), nil
}
