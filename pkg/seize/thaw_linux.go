package seize

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// Thaw undoes the freeze rec describes: it sends SIGCONT to every task
// criu-seize stopped (a task that was already stopped stays stopped), or
// thaws the cgroup unless it was frozen before criu-seize came. A task that
// is gone, or whose pid now belongs to another task (its start time
// differs), is skipped: it is not frozen. Thaw tries every task even after
// a failure and returns the failures joined.
//
// Thaw is for a tree that no stage is attached to any more: a stage that
// still traces tasks detaches from them first.
func Thaw(rec *images.CriugoFreezeEntry) error {
	if err := CheckRecord(rec); err != nil {
		return err
	}
	switch rec.GetMethod() {
	case images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V1, images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V2:
		if rec.GetCgroupWasFrozen() {
			return nil
		}
		c := &cgroupFreezer{dir: rec.GetCgroup(), v2: rec.GetMethod() == images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V2}
		if err := c.thaw(); err != nil {
			return fmt.Errorf("thaw cgroup %s: %w", c.dir, err)
		}
		return nil
	}
	var errs []error
	for _, t := range rec.GetTasks() {
		if !t.GetStoppedByUs() {
			continue
		}
		pid := int(t.GetPid())
		same, err := sameTask(pid, t.GetStartTime())
		if err != nil {
			errs = append(errs, fmt.Errorf("thaw pid %d: %w", pid, err))
			continue
		}
		if !same {
			continue
		}
		if err := unix.Kill(pid, unix.SIGCONT); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("thaw pid %d: %w", pid, classify(err)))
		}
	}
	return errors.Join(errs...)
}

// sameTask reports whether pid still names the task that started at
// startTime (clock ticks after boot).
func sameTask(pid int, startTime uint64) (bool, error) {
	st, err := readStat(pid, 0)
	if err != nil {
		if gone(err) {
			return false, nil
		}
		return false, err
	}
	return st.StartTime == startTime && st.Pid == pid, nil
}
