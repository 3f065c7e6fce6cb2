// Package seize is the first stage of the pipeline: it freezes a live
// process tree, every thread of every task, describes it, and leaves it
// frozen for the next stage after criu-seize has exited. It owns the freeze
// record (freeze.img), the way a freeze is held between stages, and Thaw,
// the one way to undo it.
//
// # What it writes
//
// Three image files, in this order, into a directory or as a tar stream:
//
//	freeze.img     the freeze record, first so that a stream cut anywhere
//	               later still says how to undo the freeze (below)
//	inventory.img  inventory_entry as CRIU 4.2 writes it (img_version 2,
//	               fdinfo_per_id, ns_per_id, NO_LSM, root_ids, root_cg_set 1,
//	               a fresh dump_criu_run_id)
//	pstree.img     one pstree_entry per task, parent before children (depth
//	               first, children in /proc's order), ids in the root's pid
//	               namespace; a zombie has the single thread id 0
//
//	freeze.img:
//	+------------+------------+----------+--------------------------------+
//	| 0x55105940 | 0x46525a45 | u32 size | criugo_freeze_entry            |
//	| IMG_SERVICE| FREEZE     | (LE)     | method, root_pid, cgroup, run  |
//	|            |            |          | id, tasks[pid, ns_pid, state,  |
//	|            |            |          | stopped_by_us, shdpnd,         |
//	|            |            |          | start_time, threads[tid,       |
//	|            |            |          | ns_tid, sigpnd]], boot_id,     |
//	|            |            |          | freeze_began, freezing_ns      |
//	+------------+------------+----------+--------------------------------+
//
// The last three time the freeze: freeze_began is CLOCK_MONOTONIC when
// criu-seize began to freeze, freezing_ns how long it took until the whole
// tree was held. The stage that writes stats-dump takes its freezing_time
// from them and counts frozen_time from freeze_began + freezing_ns (Times).
// A monotonic reading means nothing on another boot, so the record names
// its boot (/proc/sys/kernel/random/boot_id) and Times ignores the times of
// a record from another one.
//
// # Freezing with ptrace, holding with job control
//
// A ptrace relationship dies with its tracer, so a tree cannot stay
// ptrace-stopped after criu-seize exits. criu-seize seizes the tree with
// ptrace to stop it without a race, then hands the stop over to job
// control, which outlives it:
//
//	running ──PTRACE_SEIZE(TRACECLONE|TRACEFORK)──> seized, running
//	                  │ PTRACE_INTERRUPT, wait
//	                  v
//	interrupt-stop (was running)    group-stop (was stopped by job control)
//	     │ read SigPnd/ShdPnd             │ read SigPnd/ShdPnd
//	     │ kill(pid, SIGSTOP): queued     │ (no signal)
//	     │ PTRACE_DETACH, sig 0           │ PTRACE_DETACH, sig 0
//	     v                                v
//	job-control stop 'T'            job-control stop 'T' (as found)
//	stopped_by_us = true            stopped_by_us = false
//	     │                                │
//	     └── Thaw: kill(pid, SIGCONT)     └── Thaw: nothing
//
// The walk: seize and interrupt every thread of the root, list the threads
// again until no unseized one shows (a stopped thread clones no more), read
// every thread's children file, do the same for each child, and repeat the
// whole walk until a pass finds nothing new and nothing gone. Children and
// threads created while their parent was being stopped are born traced
// and stopped (TRACEFORK, TRACECLONE), so they never run free. vfork is
// the exception: a child born stopped would keep its parent blocked in
// vfork, so vfork children are found and seized like any other.
//
// A signal being delivered when the interrupt comes is delivered (its
// handler frame is built) and the interrupt stops the thread before the
// handler runs; nothing is lost. The SIGSTOP is queued while every thread
// of the task is still ptrace-stopped: each thread takes the group stop on
// its way back to user space after the detach, so no code of the tree runs
// between the seize and the next stage. The group stop makes the kernel
// send CLD_STOPPED SIGCHLDs to parents: the pending sets in the record let
// the next stage tell those from SIGCHLDs the tree really had pending.
//
// # Freezing with a cgroup
//
// With a cgroup the freezer holds the tree: v1 writes FROZEN to
// freezer.state and waits for the state to read FROZEN; v2 writes 1 to
// cgroup.freeze and waits for "frozen 1" in cgroup.events. The tree is the
// cgroup's processes (its subtree's), which must form one tree. Nothing is
// traced or signalled. Thaw writes THAWED (v1) or 0 (v2), unless the cgroup
// was frozen before criu-seize came. A v1-frozen task shows 'D' whatever it
// was doing, so job-control stops are read just before freezing.
//
// # The next stage
//
// criu-parasite reads the record before it attaches. In ptrace-stop mode it
// seizes the stopped tasks, resumes those marked stopped_by_us with SIGCONT
// while it traces them (it sees the SIGCONT's signal-delivery-stop and
// continues with signal 0), and discards from the dump the CLD_STOPPED and
// CLD_CONTINUED SIGCHLDs the freeze caused inside the tree. A task that was
// already stopped is dumped as stopped.
//
// # Failure
//
// Every step that changes the tree pushes its undo on a small stack; a
// failure runs the stack in reverse, so the tree is left as it was found:
// threads seized but not yet held are detached without a signal (and if
// criu-seize dies meanwhile the kernel detaches them when the tracer thread
// ends), held tasks get SIGCONT, a cgroup criu-seize froze is thawed. The
// error says whether the undo worked. Thaw is exported because the next
// stage undoes the freeze on its own failure paths the same way.
package seize
