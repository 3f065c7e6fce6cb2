package dump

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/imgtool"
)

// Options say where a dump reads the seize stream, where it writes the
// image set and what becomes of the tree afterwards.
type Options struct {
	// Dir is the image directory (-D). When it holds criu-seize's
	// freeze.img the seize images are read from it; the image set is
	// written into it either way. Empty: the image set goes to Stdout as
	// a stream.
	Dir string
	// Stdin is the seize stream, read when Dir holds no freeze record.
	Stdin io.Reader
	// Stdout receives the image stream when Dir is empty.
	Stdout io.Writer
	// LeaveRunning lets the tree go on after the dump instead of killing
	// it.
	LeaveRunning bool
	// LeaveStopped (CRIU's --leave-stopped), with LeaveRunning: every
	// task of the tree is left stopped (SIGSTOP) after the dump.
	LeaveStopped bool
	// FileLocks records the file locks the tree holds (POSIX, OFD, flock,
	// leases) in filelocks.img; without it a tree holding one is refused.
	FileLocks bool
	// TCPEstablished records established TCP connections (CRIU's
	// --tcp-established); without it a tree holding one is refused.
	TCPEstablished bool
	// TCPClose (CRIU's --tcp-close) records TCP connections in any
	// state (established, closing, connecting) without their data and
	// without repair mode, for a restore with restore.Options.TCPClose
	// to make them closed; inventory.img says so. The connections of a
	// tree killed after the dump close as the kernel closes them.
	TCPClose bool
	// SkipInFlight (CRIU's --skip-in-flight) records a TCP listener
	// with connections not accepted yet, which are dropped (they are not
	// in the images: a restored client's peer is gone); without it such
	// a listener is refused.
	SkipInFlight bool
	// ExtUnixSk (CRIU's --ext-unix-sk) would record unix sockets whose
	// peer is outside the tree as external. criugo cannot yet: a tree
	// holding one is refused either way, the error naming the option.
	ExtUnixSk bool
	// ShellJob lets the tree's terminal be outside it, as CRIU's
	// --shell-job: a pty slave whose master no task holds, and terminals
	// of a session whose leader is not in the tree. Without it such a
	// tree is refused.
	ShellJob bool
	// LinkRemap (CRIU's --link-remap) lets a file deleted while open but
	// still linked under another name be dumped: it is linked to a new
	// name ("link_remap.ID") beside its old one, which the image set
	// names and the restore opens and removes. The link goes again if the
	// dump fails or the tree runs on. Without it such a file is refused.
	LinkRemap bool
	// GhostLimit (CRIU's --ghost-limit) is the most disk space (st_blocks)
	// a file deleted while open and linked nowhere may take for its
	// contents to be dumped (a ghost file); larger ones are refused.
	// Zero: DefaultGhostLimit, 1 MiB.
	GhostLimit uint64
	// PreDump dumps only the memory of the tree (CRIU's pre-dump): the
	// image set holds inventory.img, pagemap and pages images and
	// stats-dump. The tree is frozen only while its mappings are listed
	// and write-protected; its pages are read while it runs again. Writes
	// to its memory are tracked from the write-protect on, for a later
	// dump with PrevImagesDir. Needs Dir.
	PreDump bool
	// PrevImagesDir is the image directory of an earlier pre-dump (or dump
	// with TrackMem), relative to Dir as CRIU's --prev-images-dir, and
	// written as Dir's "parent" symlink: pages not written since it are
	// recorded as in the parent (PE_PARENT) instead of dumped. Needs Dir.
	PrevImagesDir string
	// AutoDedup (CRIU's --auto-dedup), with PrevImagesDir: once the dump
	// is complete, the pages it holds again are freed in the parent image
	// sets (imgtool.Dedup), which then no longer restore on their own.
	AutoDedup bool
	// TrackMem (CRIU's --track-mem) keeps tracking writes after a dump
	// that leaves the tree running, so that a later dump can name this
	// one as its PrevImagesDir. A pre-dump always tracks. Needs Dir.
	TrackMem bool
	// Verify, when set, is asked about the complete image set in a
	// directory (Dir, or for a stream a temporary one with every image and
	// the pages files as holes of their sizes) before a dump kills the
	// tree (not with LeaveRunning or PreDump): an error fails the dump and
	// the tree runs on.
	// criu-parasite passes restore.Check, the reading and planning
	// criu-restore does before it creates anything.
	Verify func(dir string) error
	// PostDump, when set, is called once the image set of a dump (not a
	// pre-dump) is complete and synced, while the tree is still frozen, as
	// CRIU runs its post-dump scripts and notifications: an error fails
	// the dump and the tree runs on.
	PostDump func() error
	// ManageCgroups is CRIU's --manage-cgroups mode. A dump records the
	// cgroup set of every thread in any mode (cgroup.img, when some task
	// is not in criu-parasite's own cgroups), and the cgroup directories
	// below each set's cgroups with their properties in any mode but
	// ignore. The zero value is soft, CRIU's default.
	ManageCgroups cgroup.Mode
	// CgroupRoots (--cgroup-root [CONTROLLER:]/PATH): the directories
	// recorded of a hierarchy are those below this cgroup instead of
	// below each set's.
	CgroupRoots []cgroup.Root
	// CgroupDumpControllers (--cgroup-dump-controller), when not empty:
	// only these hierarchies ("memory", "cpu,cpuacct", "name=systemd",
	// "" for v2) are recorded.
	CgroupDumpControllers []string

	// ExternalMounts names the mounts of the tree's mount namespace that
	// come from outside it, by mount point (as the namespace sees it),
	// each with the key a restore maps to a path (CRIU's --external
	// mnt[PATH]:KEY): they are recorded with the key (ext_key), not as
	// mounts to make.
	ExternalMounts map[string]string
	// ExternalNetNs are CRIU's --external net[INODE]:KEY, by inode: a
	// tree whose network namespace is one of these (runc asks so for a
	// container whose namespace it was given by path, as Podman's
	// network is) gets none of it dumped but netns-<id>.img with KEY as
	// its ext_key; the restore puts the tree into the namespace its
	// caller gives for KEY (--inherit-fd fd[N]:KEY). The namespace is
	// locked while the tree is frozen all the same, as CRIU locks it.
	// An inode that is not the tree's namespace changes nothing, as in
	// CRIU.
	ExternalNetNs map[uint64]string
	// SkipMounts (CRIU's --skip-mnt) are mount points of the tree's
	// mount namespace whose mounts are left out of the images, so that a
	// restore does not make them. A mount below one, or a file the tree
	// holds on one, is refused: the restore could not place it.
	SkipMounts []string
	// EnableFs (CRIU's --enable-fs, comma-separated, "all" for every
	// kind) names file systems criugo has no code for that a restore
	// may mount anew from their source and options, as CRIU's "auto"
	// file systems.
	EnableFs []string
	// NetworkLock is how the network namespace of a tree that has one
	// of its own is locked while it is frozen (CRIU's --network-lock):
	// "iptables" (CRIU's default, also for ""), "nftables" or "skip". It
	// goes into inventory.img's network_lock_method for the restore.
	NetworkLock string
	// EmptyNetNs (CRIU's --empty-ns net): the tree's network namespace
	// is set up by someone else (a container runtime); nothing of it is
	// dumped, and the restore makes it empty.
	EmptyNetNs bool
	// NetworkHook, when set, is called with "network-lock" before the
	// lock of the tree's own network namespace goes on (an error fails
	// the dump) and with "network-unlock" before it comes off when the
	// tree runs on (its error is the caller's to report), at CRIU's
	// action points of those names.
	NetworkHook func(action string) error
}

// ParseSize reads a size as CRIU's --ghost-limit takes it: a number of
// bytes, or of KiB, MiB or GiB with a K, M or G after it.
func ParseSize(s string) (uint64, error) {
	num, mul := s, uint64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			num, mul = s[:n-1], 1<<10
		case 'M':
			num, mul = s[:n-1], 1<<20
		case 'G':
			num, mul = s[:n-1], 1<<30
		}
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || v > math.MaxUint64/mul {
		return 0, fmt.Errorf("parse size %q: a number, then K, M or G: %w", s, ErrOptions)
	}
	return v * mul, nil
}

// Result is what a successful dump reports.
type Result struct {
	Stats Stats
}

// Stats are figures about a dump.
type Stats struct {
	Total        time.Duration // from start to end
	Frozen       time.Duration // stats-dump's frozen_time: from the tree frozen (by criu-seize when its record says when) to the image set written
	MemWrite     time.Duration // writing pages images
	PagesWritten uint64
	// PagesUnread counts the pages a pre-dump recorded as zeros because
	// the task, running again, had unmapped them or exited by the time
	// they were read. The next dump takes such pages whole.
	PagesUnread uint64
	// Dedup is what AutoDedup freed in the parents.
	Dedup imgtool.DedupStats
}
