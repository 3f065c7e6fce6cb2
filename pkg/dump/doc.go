// Package dump turns a process tree that criu-seize froze into a complete
// CRIU 4.2 image set: the stage behind criu-parasite.
//
// # Input and output
//
// The input is criu-seize's output: inventory.img, pstree.img and the
// freeze record freeze.img (see pkg/seize), from a directory or a stream.
// The output is the image set, into a directory or as a stream in the
// order pkg/image defines (image.StreamOrder):
//
//	inventory.img  pstree.img                      as criu-seize wrote them
//	files.img fdinfo-N.img pipes-data.img ...      the whole tree
//	core-T.img... ids-P mm-P fs-P pagemap-P pages-N   per task, pages last
//	pagemap-shmem-I.img pages-N                    shared memory objects
//	stats-dump                                     times and page counts; freezing
//	                                               and frozen from criu-seize's
//	                                               freeze on (see dumpStats)
//
// Pages are read from the frozen tasks while they are written: a pages
// image is never held in memory, and with a directory several chunks, and
// the pages images of several tasks (pagesWriter), are read and written
// at once. A directory is synced once at the end (syncfs), not file by
// file.
//
// # Attaching without a trace
//
// Every thread is seized (PTRACE_SEIZE, no EXITKILL: if criu-parasite dies
// the kernel detaches the tree and it runs on). A tree criu-seize stopped
// with SIGSTOP is then taken out of that job-control stop, so that it is
// dumped, and later released, as it was before the freeze:
//
//	group-stop (criu-seize's SIGSTOP)
//	    | tgkill(SIGCONT) to one thread that does not block it
//	    v
//	trap "group continued"  --resume-->  signal-delivery-stop SIGCONT
//	                                         | interrupt, resume with 0 (SIGCONT dropped)
//	                                         v
//	                                     interrupt-stop  <-- other threads: interrupt, resume
//
// No user instruction runs on the way: a seized thread takes a pending
// trap before anything else. Tasks go children first, so that the SIGCHLD
// a child's stop and continue raise in its parent is queued when the
// parent's turn comes; it is dropped the same way unless the freeze record
// says one was pending before the freeze. A task that was already stopped
// before criu-seize (or had a SIGSTOP queued, which criu-seize's own
// merged with) stays stopped and is recorded as TASK_STOPPED with the
// signal that stopped it (stop_signo). Stop signals queued for it are
// discarded, as CRIU's dump does: they could never act (the SIGCONT that
// ends the stop flushes them), and a thread resumed to run injected code
// would take them first. Each thread dequeues them with every other
// signal blocked and is stopped again at once.
// For the cgroup freezers, every thread is interrupted while frozen and the
// cgroup thawed: the interrupt comes before any user instruction.
//
// # What is read, and how
//
//	/proc/PID/{stat,status,smaps,fd,fdinfo,map_files,auxv,...}   layout, files, creds
//	ptrace (pkg/ptrace)        registers, xsave, signal masks and queues, rseq, seccomp
//	kcmp(2)                    which tasks share an mm, fd table, fs, sighand, file
//	pidfd_getfd(2)             the tasks' own open files: owners, pipe contents (tee)
//	sock_diag (pkg/sockdiag)   unix socket peers, names, connections not accepted yet;
//	                           TCP, UDP and MPTCP states, addresses, backlogs;
//	                           packet sockets' interfaces, options, memberships
//	MSG_PEEK with SO_PEEK_OFF  unix socket queues, read in place (sk-queues.img)
//	TCP repair (pkg/soccr)     established connections (tcp-stream-I.img); they stay
//	                           in repair mode until the dump ends
//	kcmp KCMP_EPOLL_TFD        which open file an epoll target is
//	open_by_handle_at(2)       the paths of inotify watches
//	tty ioctls (TIOCG*)        pty index, session and foreground group (a
//	                           master's; a slave's from /proc/PID/stat when it
//	                           is the task's controlling terminal), lock,
//	                           packet and exclusive modes, termios, window
//	read(2), non-blocking      data queued in a pty pair both of whose sides
//	                           the tree holds, each way (tty-data.img), as
//	                           CRIU 4.2 reads it once every task is dumped;
//	                           written back into the pair when the tree goes
//	                           on (LeaveRunning, or a failed dump). Unlike
//	                           CRIU, a packet-mode master's status bytes are
//	                           not kept as data
//	injected syscalls          clear_child_tid, securebits (pkg/compel)
//	the parasite blob          sigactions, itimers, POSIX timers, brk, umask,
//	                           prctl state, sigaltstack, parent-death signal
//	process_vm_readv           memory, in 1 MiB chunks; /proc/PID/mem for
//	                           mappings without PROT_READ and for pages
//	                           shared copy-on-write with another task
//	                           (pagemap: present, not exclusive), which
//	                           process_vm_readv's pin would unshare;
//	                           none of a MAP_DROPPABLE mapping (as CRIU)
//	SEEK_DATA, a mapping       the pages of memfds and shared anonymous
//	                           memory, the last one whole (past the end of
//	                           the object it holds what mappings wrote)
//
// An fd's kind is told from its link (a pipe, the name of an anonymous
// inode, a socket's domain, a test of the file's stat) and its file is
// recorded by the kind's own file, which registers both in one table
// (fdKind); no switch names the kinds.
//
// The images follow CRIU 4.2 field for field, including its numbering:
// ids of files come from one counter in the order CRIU meets them (mapped
// files, then fds, then the exe link, then cwd and root of each task);
// kernel objects get kcmp-based ids with criu itself as 1; pages are
// grouped into pagemap entries as CRIU's page pipes group them (see
// pagePlan), down to its PE_LAZY marks.
//
// # Pre-dumps and incremental dumps
//
// This kernel has no soft-dirty bits, so writes are tracked with a
// userfaultfd per mm in asynchronous write-protect mode
// (UFFD_FEATURE_WP_ASYNC and WP_UNPOPULATED; pkg/uffd): the kernel
// resolves the faults itself and PAGEMAP_SCAN reports PAGE_IS_WRITTEN
// for each page written, or populated afresh, since it was protected.
//
//	pre-dump (Options.PreDump)          dump --prev-images-dir ../dir1
//	  inject userfaultfd(2), take it      take the uffds from dir1's holder
//	  (pidfd_getfd), close it there       scan: PAGE_IS_WPALLOWED, not WRITTEN,
//	  register + write-protect the        and in dir1's pagemap -> PE_PARENT
//	  private anonymous mappings          every other page -> dumped
//	  release the tree                    parent -> ../dir1 symlink
//	  dump every page (tree running)      tell the holder: taken; it exits
//	  spawn the holder
//
// A pre-dump holds the tree frozen only while it lists the mappings and
// write-protects them; the pages are read after the tree runs again
// (liveMem), as CRIU's pre-dump drains its page pipes after it lets the
// tree go. That is sound because of the order: a page written after the
// write-protect, even while it is being read, is one the next dump takes
// whole, so what this pre-dump holds of it is never restored. The same
// goes for a page unmapped (read as zeros) or a task gone by the time it
// is read; each read is kept only if the task's pidfd, taken while it was
// frozen, still names it afterwards, so a reused pid is never read.
//
// A uffd lives only as long as someone holds it: closing it drops the
// registration and the protection. Between a pre-dump and the next dump
// a holder keeps them (pkg/tracker): criu-parasite (whatever binary Dump
// runs in) started again in holder mode (tracker.HolderMode, RunHolder), in a session of
// its own, with the uffds and a pidfd per task. It serves them over
// dir1/criugo-track.sock (SOCK_SEQPACKET, SCM_RIGHTS; mode 0600 in a 0700
// directory) to one dump at a time, and exits once a dump says it has
// taken them, or once every tracked task is gone. A separate process
// rather than criu-parasite staying behind: the pipeline's stage ends as
// CRIU's pre-dump does, and nothing but the fds outlives it. A dump that
// write-protects again (a pre-dump after a pre-dump, or TrackMem with
// LeaveRunning) releases the old holder at once, before changing the
// state: should it fail, no one is left with tracking that no longer
// describes writes since dir1.
//
// Every doubt means a page is dumped, never left to the parent: no holder
// (gone, killed, never started: every page is dumped); a task whose pidfd
// shows another pid (exited, pid reused); a mapping not registered now
// (created, moved or replaced since: PAGEMAP_SCAN gives it no
// PAGE_IS_WPALLOWED); a mapping other than private anonymous memory
// (file-backed private pages, hugetlb: not tracked); a page the parent's
// pagemap does not cover. As CRIU, a final dump leaves no page of a
// mapping without PROT_READ to the parent. The tree itself holds no
// userfaultfd (the dump refuses one), so a registered mapping is ours.
// A pre-dump directory holds what CRIU's does: inventory.img with
// pre_dump_mode, pagemap-P.img, pages-N.img and stats-dump (shared memory
// is dumped whole by the final dump, so none of it).
//
// # Not recorded
//
// A tree holding what this package cannot record fails the dump with
// ErrNotSupported, naming the task and the resource, and runs on:
// terminals other than ptys, /dev/tty (see ctty), the console and
// virtual consoles (console_linux.go): serial lines, and a console that is
// a session's controlling terminal;
// io_uring instances, by fd or mapping (AIO contexts are dumped, as CRIU
// dumps them: aio_linux.go, which says what is not seen); a pty
// slave whose master is outside the tree, or a terminal whose session
// leader is, unless Options.ShellJob (CRIU's --shell-job), which allows
// one such slave; anonymous-inode files other than eventfd, epoll,
// signalfd, timerfd, inotify, fanotify and pidfd; fanotify marks on a
// whole file system or set with FAN_MARK_IGNORE (events queued in a
// fanotify or inotify group are not kept, as with CRIU); a pidfd of a process outside the
// tree, or of a thread (PIDFD_THREAD); a semaphore eventfd (the image has no
// place for EFD_SEMAPHORE); an epoll whose target is open in another task
// only; sockets other than unix, TCP, UDP and MPTCP listening or not
// connected; a connected MPTCP socket (no repair mode in the kernel; the
// TCP fallback an MPTCP listener accepts is a TCP socket, dumped as one);
// a unix socket connected to
// a socket no task of the tree holds, or with file descriptors in flight
// in its queue; a listening TCP socket with connections not accepted yet,
// TCP connections in other states than established, and established ones
// unless Options.TCPEstablished; a corked UDP socket; SysV shared memory
// mappings of the host's IPC namespace; devices other than /dev/null and
// its kin; deleted files still linked elsewhere unless Options.LinkRemap
// (or whose path is another file now), taking more disk space than
// Options.GhostLimit (1 MiB), or of a kind other than regular files,
// directories, FIFOs, devices and symlinks; an nsfs fd of a namespace no
// task of the tree is in and not criu-parasite's; tasks sharing an fs
// (CLONE_FS), as CRIU refuses them; a task whose UTS or IPC namespace
// differs from the root's.
// Namespaces are given ids; the contents of the root's own UTS and IPC
// namespaces (names; SysV shm, semaphores, message queues) are dumped,
// those of mount, network, pid, user and time namespaces by their own
// files (mntns_linux.go, netns_linux.go, userns_linux.go, ...); a
// cgroup namespace of the tree's own is kept in cgroup.img
// (cgroup_linux.go).
// The three GDT TLS slots are
// recorded unused: pkg/ptrace has no PTRACE_GET_THREAD_AREA, and a 64-bit
// task only fills them through int 0x80. A SIGCONT or SIGCHLD that every
// thread of a task blocks cannot be taken back from the live task; the
// image leaves it out. As in CRIU 4.2's images, the credentials of queued
// unix packets and the datagrams queued at UDP, raw, ping and packet
// sockets are not kept, nor
// what waits in a unix connection not accepted yet.
//
// # Failure
//
// Each step that changes the tree or the output pushes its undo on one
// stack (internal/cleanup), and any error runs them newest first:
//
//	step                               undo
//	criu-seize's freeze (the record)   seize.Thaw, minus the tasks already resumed
//	attach, resume (seccomp suspended) cgroup frozen again if it was; detach
//	TCP repair                         connections out of repair mode
//	tty data read                      written back into the pairs
//	the output                         half-written images removed
//
// The parasite is cured by the task step that injected it. One place,
// finish (CRIU's cr_dump_finish), drops the undos and kills or releases
// the tree: a final dump only after the whole image set is written and
// synced (a stream is flushed), a pre-dump once its mappings are
// write-protected, before its pages are read. Cancelling the context
// (SIGTERM to criu-parasite) is a failure like any other.
package dump
