package seize

import (
	"fmt"
)

// describe fills in what /proc says about each task of a stopped tree:
// ids in the root's pid namespace, pending signals and start times. It
// runs before criu-seize sends any signal of its own, so the pending sets
// are the tree's.
func describe(tree *Tree) error {
	rst, err := readStatus(tree.Root, 0)
	if err != nil {
		return fmt.Errorf("describe pid %d: %w", tree.Root, classify(err))
	}
	level := rootLevel(rst)
	for _, task := range tree.Order() {
		if err := describeTask(task, level); err != nil {
			return fmt.Errorf("describe pid %d: %w", task.Pid, err)
		}
	}
	return nil
}

func describeTask(task *Task, level int) error {
	st, err := readStatus(task.Pid, 0)
	if err != nil {
		return classify(err)
	}
	stat, err := readStat(task.Pid, 0)
	if err != nil {
		return classify(err)
	}
	if task.NsPid, err = nsID(st.NSpid, level, task.Pid); err != nil {
		return err
	}
	if task.Pgid, err = nsID(st.NSpgid, level, stat.Pgrp); err != nil {
		return err
	}
	if task.Sid, err = nsID(st.NSsid, level, stat.Session); err != nil {
		return err
	}
	task.ShdPnd = st.ShdPnd
	task.StartTime = stat.StartTime
	for i := range task.Threads {
		th := &task.Threads[i]
		tst, err := readStatus(task.Pid, th.Tid)
		if err != nil {
			return fmt.Errorf("thread %d: %w", th.Tid, classify(err))
		}
		if th.NsTid, err = nsID(tst.NSpid, level, th.Tid); err != nil {
			return err
		}
		th.SigPnd = tst.SigPnd
	}
	return nil
}
