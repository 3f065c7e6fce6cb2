// Package restore recreates a checkpointed process tree from CRIU images:
// every task and thread with its PID and TID, its memory, registers and
// FPU state, open files, signal handling, timers, limits and credentials.
//
// # Design: driving every task over ptrace from outside
//
// CRIU switches each task to its final state with a restorer blob: code
// mapped into the task that unmaps the old memory and maps the new from
// inside, because nothing else can run in the task while its memory is
// being replaced. criu-restore needs no such blob (only a small runner of
// batched calls, below). Every task of the tree is a tracee of one tracer
// thread (package ptrace) from creation to the end,
// and every change to a task is a system call injected into it: the
// thread is pointed at a `syscall` instruction in a small scratch area
// with the call in its registers and stepped with PTRACE_SYSCALL to the
// call's entry and exit stops (injector). A task never runs an instruction
// of its own until the very end, so its memory can be replaced under it
// piece by piece, and what is not a system call of the task (page
// contents, the xsave area, registers, the signal mask) is written from
// outside with process_vm_writev and ptrace requests. Why:
//
//   - no freestanding code to build, embed, relocate and keep in step with
//     the images: the restore logic is ordinary Go, with Go's errors,
//     one failure path, and every step visible to a debugger;
//   - the tracer sees every task at every step: a failure anywhere kills
//     the whole tree (PTRACE_O_EXITKILL covers a crash of criu-restore);
//   - the cost is a few dozen injected calls per task, each two ptrace
//     stops (tens of microseconds), which is small next to the page copy.
//
// Calls that need nothing from criu-restore in between go in batches
// (callBatch): the list is written into the scratch area and pie's batch
// runner, copied there with the `syscall`, makes them all in one ptrace
// stop instead of two per call, an argument taken from an earlier call's
// result where needed (the fd an openat returns, for the mmap that maps
// it). The runner ends with a SIGSTOP to its own thread that the tracer
// discards; since that drops a pending SIGCONT, pending signals are
// queued only after the last batch. Memory, fds, sigactions and each
// thread's settings are batched: about 8 batches and 24 stops per task
// of a plain tree, against 75 calls and 150 stops one by one.
//
// # Steps
//
//	prepare     read and check every image; check every PID/TID is free;
//	            pick a scratch address free in all tasks
//	create      root: a copy of criu-restore forked with clone3(set_tid),
//	            seized, given the scratch area (mmap injected from the
//	            `syscall` it sleeps in), rid of the rest of criu-restore's
//	            memory (so that forking it costs little); children: clone3(set_tid) injected
//	            into their parent once its memory is in (parents first,
//	            so that they share its private pages: cow_linux.go), traced from birth (PTRACE_O_TRACEFORK);
//	            every task starts with all signals blocked and default
//	            actions (CLONE_CLEAR_SIGHAND), and a call that would set
//	            what the task already has is skipped;
//	            setsid/setpgid right after each creation, group joins once
//	            all exist; zombies exit with their status, left unreaped
//	per task    close the inherited fds; memory (mm_linux.go); fds
//	            (fds_linux.go); umask, cwd; sigactions; itimers; rlimits;
//	            personality and friends; threads (clone3 CLONE_THREAD with
//	            set_tid); per thread: clear_child_tid, robust list, rseq,
//	            sigaltstack, name, pdeath signal, scheduling; POSIX timers
//	            with their ids; each thread's pending signals; process-wide
//	            pending signals; seccomp filters and strict mode
//	            (seccomp_linux.go); credentials last
//	finalize    per task: the leader injects munmap of the scratch area
//	            and stays in that call's syscall-exit stop; every thread
//	            gets its xsave area, registers and blocked mask; a thread
//	            that goes back into a system call is stepped into it;
//	            then every thread of the tree is detached at once
//
// # Memory
//
// A created task is a copy of its parent (of criu-restore for the root),
// forked once the parent's memory is in. Its memory is replaced in place:
// everything but the scratch area, the kernel's special mappings and the
// private VMAs it shares with its parent since a fork (kept with their
// pages, compared with its own, as CRIU does: cow_linux.go) is unmapped; [vvar], [vvar_vclock] and [vdso]
// move with mremap to their dumped addresses when the dumped vDSO is this
// kernel's (see "vDSO" below); each VMA is mapped at its address (files
// and memfds opened by the task itself through /proc/<criu-restore>/fd/N,
// shared memory as one memfd every task maps); the pages of the pagemap
// go in; AIO rings are made anew with io_setup, given the dumped ring and
// moved to its address (aio_linux.go); protections and madvise flags follow, then mlock of the VMAs
// that were locked (MAP_LOCKED in the image), so that their pages are
// written once; brk, the arg and env
// areas, auxv and the exe file are set at once with PR_SET_MM_MAP.
//
// Pages go into private anonymous memory with UFFDIO_COPY through a
// userfaultfd of the task's mm (see taskUffd): the kernel allocates each
// page and copies into it without clearing it first, and from an image
// directory a few of criu-restore's threads copy 4 MiB pieces at once,
// each straight from a populated mapping of the pages file (one copy per
// page; pread into a buffer where the file cannot be mapped). Elsewhere (the changed pages of a private file mapping)
// they go with process_vm_writev. Without a userfaultfd (a kernel without
// it, or a sysctl that forbids it) the task reads an image directory's
// pages itself with injected preadv calls of up to 512 ranges, and a
// stream's pages go with process_vm_writev, 4 MiB and up to 1024 ranges
// per call.
//
//	task address space during the restore
//	+--------+------+-----+------------------+--------+-------+-------+
//	| VMAs of the image, mapped at their addresses      ... | vvar  | vdso  |
//	+--------+------+-----+------------------+--------+-------+-------+
//	                      ^ scratch area (32 KiB: `syscall`, the batch
//	                        runner, argument data, a batch), free in every
//	                        task's image; unmapped by the task's last
//	                        injected call
//
// # vDSO
//
// A task keeps the vDSO it was dumped with: its C library holds pointers
// to the dumped entry points, and a thread may be stopped inside one.
// When the dumped [vdso] has this kernel's code (sameVdsoCode: same
// executable sections at the same offsets, same symbols), the kernel's
// own [vvar], [vvar_vclock] and [vdso] are moved to the dumped addresses
// ("kept in place" in the log). Otherwise (a dump from another kernel
// build, or areas of other sizes) the kernel's areas are parked for good
// in the room beside the scratch area, which is free in the image, and
// the dumped vDSO becomes a proxy, as CRIU's: its pages go back at its
// address as private memory, and each function it exports starts with a
// jump to this kernel's function of the same name (movabs to %rax, jmp
// *%rax: 12 bytes, checked to fit every function). The dumped [vvar] comes
// back as zeroed read-only memory, never as data: the other kernel's
// layout means nothing here. A thread dumped inside the vDSO does not go
// on in the dumped code (it would read that zeroed vvar, or land inside a
// jump): before its task runs, the leader steps through the dumped code
// with that thread's registers, this kernel's vvar lent at the dumped
// vvar's address when its size and distance match, until the call
// returns, and the thread resumes from there (leaveVdso). The log says
// "proxy", names the redirected entry points and each call finished.
//
//	dumped layout                    restored, proxied
//	+--------+--------+              +--------+---------------+      +------+------+
//	| vvar   | vdso   |     ->       | zeroes | dumped code,  |      | vvar | vdso |  parked,
//	| (data) | (code) |              | (r--)  | jmp at each   | ---> | this kernel's |  beside the
//	+--------+--------+              +--------+ entry (r-x)   |      +------+------+  scratch area
//
// # Files
//
// criu-restore opens every file object of files.img once, as the dump
// found it (flags, offset, pipe contents, ghost files recreated from their
// saved contents: regular files with their holes, directories, FIFOs,
// devices and symlinks, removed once every task has them; link remaps
// opened and removed; nsfs fds opened from a task in the namespace, or
// criu-restore's own for the host's), and sends each task the descriptions it needs with
// SCM_RIGHTS over a datagram socket the task binds; tasks that shared a
// description share it again. The task moves them to their numbers with
// dup3 (see restoreFds for the shuffle that avoids collisions).
//
// Every kind is made inside criu-restore and handed over, one file per
// kind, which registers the kind's steps in one table (fileKind: check,
// open, owner, mapping, fill in the task, finish) and keeps its state;
// no switch names the kinds. The kinds: eventfd (counter; EFD_SEMAPHORE is not in the images), signalfd
// (mask: it reads the signals of whoever reads it), timerfd (created at
// once, armed with the time it had left, its interval and its unread
// expirations only when the tree is about to run, as CRIU arms them last),
// inotify (each watch under its saved number, on the file found by its
// path, its ghost or its file handle), fanotify (its init and event
// flags, each mark's mask and ignored mask on the inode found as an
// inotify watch's or on the mount at the saved mount point), epoll, pidfds (pidfd_open of the
// restored task they named; those of a process reaped before the dump
// from a stand-in child forked, given a pidfd for each saved file of that
// process, and killed and reaped at once, as CRIU does), unix and inet
// sockets, and
// ptys (tty_linux.go: /dev/ptmx is opened until the kernel hands out the
// saved index, or the restore fails with ErrPtyTaken; then termios,
// window size, packet mode, every slave file of the pair, the data of
// tty-data.img written back as CRIU does, exclusive modes and the lock). A session leader whose session had a pty as
// controlling terminal opens its slave, takes it (TIOCSCTTY) and gives
// the foreground to the saved group, as CRIU does: tasks of the session
// other than the leader come back without a controlling terminal, as
// with CRIU. An fd of /dev/tty is opened again by its task itself once it
// has its controlling terminal (restoreDevTty), in place of a stand-in.
// A shell job (a dump with --shell-job: one pty slave whose
// master was outside the tree, the shell's terminal) needs
// Options.ShellJob, as CRIU's --shell-job: every file of that slave
// becomes criu-restore's terminal, its standard input (the first a
// duplicate of it, the others opened again), which gets the slave's
// owner, termios and window size; a root that did not lead its session
// stays in criu-restore's (see planSessions), and its group is made the
// terminal's foreground group right before the tree runs (criu-restore
// must have that terminal as its controlling terminal). Two
// things need the task itself or the whole tree:
//
//   - epoll targets are keyed by file and fd number in the fd table of the
//     task that added them, so the task adds them itself (injected
//     epoll_ctl) once all its fds are at their numbers;
//   - sockets depend on each other: all unix sockets are made at once
//     (unixsk_linux.go: pairs, names, listeners, accepted and waiting
//     connections, datagram peers, queues from sk-queues.img sent again
//     in order, with the files they pass); established and closing TCP
//     connections come back in repair mode (pkg/soccr's state) and stay frozen until
//     every task has its files, so that no end talks before its peer
//     exists; they, and the saved SO_REUSEADDR/SO_REUSEPORT of every inet
//     socket, are let go right before the tree runs.
//
// # Inherited files and a sibling root
//
// Options.InheritFds (CRIU's --inherit-fd) stand for files outside the
// tree that the caller gives again: a pipe end or regular file whose key
// matches is made from the caller's file instead (inherit_linux.go has
// CRIU's keys). Options.Sibling (--restore-sibling) forks the root with
// CLONE_PARENT, so that criu-restore's parent is its parent and can wait
// for it; criu-restore traces it all the same.
//
// # Incremental dumps
//
// An image directory made on top of an earlier dump (CRIU's
// --prev-images-dir) has a parent link, and pagemap entries flagged
// PE_PARENT (or in_parent) whose pages are in the parent's pagemap of the
// same name, or further up (package image's Chain: the link is followed,
// loops and chains over image.MaxChainDepth are refused). When a pagemap
// is read (image.ParsePagemap), each such run is resolved to pieces of
// the parents' pages files (image.ParentChain), so a missing parent, a parent pagemap that does not hold the
// pages (image.ErrNotInParent) or a short parent pages file is refused
// before anything is created. The sinks then read those pieces where they
// are (the task opens each parent pages file it needs for its preadv) and
// come back to the set's own pages file for the next present run. A
// stream has no parent: PE_PARENT entries there are ErrNotSupported.
//
// # Stopped tasks
//
// A task whose core says TASK_STOPPED is sent the signal that stopped it
// (stop_signo) while every thread of it is still traced, then detached:
// each thread takes the group stop on its way back to user space, and
// its parent sees it stopped by that signal (waitid). SIGTSTP, SIGTTIN
// and SIGTTOU do not stop a task that handles or blocks them, or whose
// process group is orphaned (the root's parent is outside the tree);
// SIGSTOP is sent instead then, as it always stops.
//
// # Registers
//
// A thread dumped inside a restartable system call (ax = -ERESTARTSYS,
// -ERESTARTNOINTR or -ERESTARTNOHAND, orig_ax >= 0) is set to execute it
// again (ax = orig_ax, ip -= 2); -ERESTART_RESTARTBLOCK becomes -EINTR, as
// in CRIU. orig_ax is -1 in the final registers so that the kernel adds no
// restart of its own when the thread leaves its syscall-exit stop. A
// thread set to execute a system call again is stepped with PTRACE_SYSCALL
// to that call's entry stop before it is detached: it is then inside the
// call, and a signal sent right after the restore interrupts the call as
// it would have interrupted the original, instead of running its handler
// before the thread re-enters the call (a lost wakeup: a program in
// pause() would never see the SIGTERM it waits for).
//
// # Streams
//
// From a stream (a tar of image files, see package image), images are
// kept in memory as they arrive; the tree is created from pstree.img when
// the first pages file comes, each task's memory is restored when its
// pages come (its mm and the files it maps came before, in stream order)
// and they go straight from the stream into the task; shared memory is
// filled when its pages come, after every task's. Only pages that come
// before what they need are held in memory; nothing is written to disk.
// The rest of each task is restored at the end of the stream.
//
// # stats-restore
//
// A restore from an image directory leaves stats-restore there once the
// tree runs, as CRIU 4.2 does (podman's restore --print-stats reads it):
// the time spent creating tasks and threads, the time from the start to
// the moment the tree is let go, both in microseconds, and the pages put
// into the tasks (stats.go says what each figure covers). It replaces any
// stats-restore of an earlier restore atomically (image.ReplaceFile);
// failing to write it is only a warning (Options.Warn), since the tree
// already runs. A stream restore has no directory and writes none: CRIU
// has no option to put it elsewhere (with --stream it writes it into -D,
// the directory of the streamer's socket, which criu-restore has not).
//
// # Limits
//
// Tasks must live in criu-restore's namespaces, except for a UTS and an
// IPC namespace of the root's own, which are recreated (with every SysV
// object at its id), and the other kinds ns_linux.go lists (a user
// namespace one level below criu-restore's first of all, with its maps:
// userns_linux.go); terminals other than ptys, /dev/tty and consoles
// (console_linux.go: opened again by their path), a pty slave whose master
// is not in the images without Options.ShellJob (or more than one; a
// hung-up one is opened on a master made for it and closed again),
// packet sockets with a ring,
// netlink sockets in a network namespace of their own, unix sockets whose peer is outside the tree,
// TCP connections neither listening nor established, connected MPTCP
// sockets, and other special
// files
// are refused with ErrNotSupported before anything is created (from a
// stream: as soon as the images that say so have come). Some task that
// holds an epoll must hold all its targets at their numbers. As with
// CRIU, an eventfd comes back in counter mode, a datagram socket connected
// to a peer that had closed comes back unconnected, and messages queued
// on a socket carry criu-restore's credentials.
// A thread whose FPU state holds an xsave feature this CPU does not
// enable (AVX-512 state on a CPU without it) is refused before anything
// is created (ErrCPUFeature), naming the core image and the features. A
// task's root other than criu-restore's is made with chroot, once its cwd
// is set. A child sharing its parent's fd table (CLONE_FILES) is cloned
// with CLONE_FILES and the parent alone restores the fds; a table shared
// otherwise (siblings) is refused, as CRIU's dump refuses it. A stream
// holds the tree's creation until it knows which tasks share a table
// (fewer fdinfo images than live tasks: until every live task's ids are
// in, the pages before held in memory); a
// session or group whose leader is outside the tree (but the root's)
// is not restored. Cgroups: cgroup_linux.go. Raising a hard rlimit needs CAP_SYS_RESOURCE, which root
// may lack (KERNEL-NOTES): the restore then fails naming the limit.
package restore
