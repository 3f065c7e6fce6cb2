package restore

import (
	"io"
	"os"
	"time"

	"github.com/criugo/criugo/pkg/cgroup"
)

// Options say what to restore and how the restored tree is left.
type Options struct {
	// Dir is the image directory to restore from (-D). When empty, the
	// images are read from Stdin.
	Dir string
	// Stdin is an image stream (a tar of image files, plain or zstd
	// compressed), read once from start to end, used when Dir is
	// empty.
	Stdin io.Reader
	// Detach makes Restore return as soon as the tree runs; the root stays
	// a child of the calling process (criu-restore -d exits, and init or
	// the nearest subreaper adopts it). Otherwise Restore makes the
	// calling process a child subreaper, waits for the root task to exit,
	// reaping every child that exits meanwhile (the tree's orphans come
	// back to it), and reports the root's status.
	Detach bool
	// ShellJob gives the tree Terminal in place of the terminal it had
	// outside (criu-restore --shell-job, as CRIU's): a dump with
	// --shell-job records a pty slave whose master no task held, and
	// each file of it comes back as Terminal, which gets the slave's
	// termios and window size; a root that did not lead its session
	// stays in criu-restore's, and its process group becomes the
	// terminal's foreground group. Without ShellJob such images are
	// refused.
	ShellJob bool
	// Terminal is the terminal of a shell job: criu-restore's standard
	// input, which must be a terminal, and, for the foreground group, its
	// controlling terminal. Nil means os.Stdin.
	Terminal *os.File
	// TCPClose restores every TCP connection of the images (established
	// or closing, with or without its tcp-stream image) closed, as CRIU's
	// --tcp-close: a socket neither bound nor connected, shut down both
	// ways, so that the program reads end of file and its writes fail
	// with EPIPE. Images dumped with TCPClose need it.
	TCPClose bool
	// PidFile, when set, gets the root's PID once the tree is ready to run.
	PidFile string
	// Log, when set, receives a line per restore step.
	Log io.Writer
	// Warn, when set, is told what went wrong once the tree was already
	// running, which does not fail the restore: stats-restore that could
	// not be written into Dir.
	Warn func(error)
	// ManageCgroups is CRIU's --manage-cgroups mode: what is done with
	// the cgroups of cgroup.img (package cgroup draws the table). The
	// zero value is soft, CRIU's default.
	ManageCgroups cgroup.Mode
	// CgroupRoots (--cgroup-root [CONTROLLER:]/PATH) put the dumped
	// root cgroup of a hierarchy (of all, without a controller) at PATH.
	CgroupRoots []cgroup.Root

	// Root is where the tree's mount namespace, when it had one of its
	// own, is built and entered with pivot_root (CRIU's --root; runc
	// passes the container's rootfs). Empty: the namespace's root is
	// criu-restore's "/" (mntns_linux.go).
	Root string
	// ExtMounts maps the key of each external mount of the images (CRIU's
	// --external mnt[KEY]:PATH, --ext-mount-map KEY:PATH) to the path
	// bind-mounted in its place.
	ExtMounts map[string]string
	// External are CRIU's --external mappings for what lies outside the
	// tree's network namespace: "veth[IFNAME]:OUTER[@BRIDGE]" names the
	// outer end of veth IFNAME (made in criu-restore's network namespace,
	// and put in bridge BRIDGE there when given), "macvlan[IFNAME]:PARENT"
	// the link of criu-restore's namespace macvlan IFNAME is made on.
	External []string
	// JoinNs are CRIU's --join-ns KIND:FILE: the tree is restored into
	// these namespaces, of kind "net", "uts" or "ipc", instead of new
	// ones (or criu-restore's, for a tree that had none of its own).
	// What the images hold of a namespace the tree had of its own goes
	// into the joined one, as CRIU's restore puts it there; a network
	// namespace the images hold as external (netns_linux.go) is joined
	// empty-handed. The caller keeps and closes the files.
	JoinNs []JoinNs
	// NetworkLock overrides inventory.img's network lock method
	// ("iptables", "nftables" or "skip"), which locks the tree's network
	// namespace until its connections exist again.
	NetworkLock string
	// WeakSysctls (CRIU's --weak-sysctls) skips a sysctl of the images
	// that this kernel has not, which otherwise fails the restore.
	WeakSysctls bool
	// EmptyNetNs (CRIU's --empty-ns net): the tree gets a new network
	// namespace, left empty, whatever the images hold of it.
	EmptyNetNs bool
	// LeaveStopped (CRIU's --leave-stopped) leaves every task of the
	// restored tree stopped (SIGSTOP) instead of running.
	LeaveStopped bool
	// Hook, when set, is called at CRIU's action points of a restore, in
	// CRIU's order: "setup-namespaces" (pid: the root) and
	// "post-setup-namespaces" once every task exists, "post-restore"
	// (the root) once every task is restored, "network-unlock" before
	// the lock of a tree's own network namespace comes off, "pre-resume"
	// right before the tree runs, "post-resume" once it runs. An error
	// before the tree runs fails the restore, and what was made is
	// killed; post-resume's and network-unlock's go to Warn, as CRIU only
	// reports them.
	Hook func(action string, pid int) error
	// InheritFds are CRIU's --inherit-fd fd[N]:KEY: the files of the
	// images whose key is Key are not made again but taken from File
	// (inherit_linux.go has the keys). The caller keeps and closes them.
	InheritFds []InheritFd
	// Sibling makes the root a child of the caller's parent rather than
	// of the caller (CRIU's --restore-sibling, which runc passes so that
	// it can wait for the restored container), and needs Detach.
	Sibling bool
}

// InheritFd is one --inherit-fd: the file that stands for Key.
type InheritFd struct {
	Key  string
	File *os.File
}

// JoinNs is one --join-ns: the namespace of kind Kind (a /proc/PID/ns
// name: "net", "uts", "ipc") open as File.
type JoinNs struct {
	Kind string
	File *os.File
}

// Result describes a restored tree.
type Result struct {
	// Root is the PID of the root task.
	Root int
	// Pids are the PIDs of every task of the tree, the root first.
	Pids []int
	// ExitStatus is, when Restore waited for the root, its exit code, or
	// 128 plus the signal that killed it.
	ExitStatus int
	// Timings says how long each step took, in order.
	Timings []Timing
}

// Timing is the duration of one step of a restore.
type Timing struct {
	Step string
	Took time.Duration
}
