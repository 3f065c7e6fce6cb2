package criucli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/restore"
)

// CRIU's release whose images and interfaces criugo matches: what
// --version and the VERSION request name.
const (
	VersionMajor    = 4
	VersionMinor    = 2
	VersionSublevel = 0
)

// Log levels, CRIU's -v0..-v4.
const (
	LogMsg   = 0
	LogError = 1
	LogWarn  = 2
	LogInfo  = 3
	LogDebug = 4

	// DefaultLogLevel is CRIU's when no -v is given.
	DefaultLogLevel = LogWarn
)

// Errors callers test with errors.Is.
var (
	// ErrNotSupported: an option or request criugo does not implement;
	// the error names it.
	ErrNotSupported = errors.New("not supported by criugo")
	// ErrBadOptions: options that do not make sense together or lack
	// what they need.
	ErrBadOptions = errors.New("bad options")
	// ErrNotify: an RPC client answered a notification with failure.
	ErrNotify = errors.New("notify script failed")
)

// Notifier is told when a dump or restore reaches one of CRIU's action
// script points ("pre-dump", "post-restore", ...); pid is the restored
// root where CRIU gives one, else 0. An error aborts what is going on.
type Notifier func(script string, pid int) error

// Options are CRIU's options that criugo implements, from the command
// line or a criu_opts.
type Options struct {
	// Pid is the root of the tree to dump (-t, --tree).
	Pid int
	// FreezeCgroup freezes through this cgroup instead of ptrace
	// (--freeze-cgroup).
	FreezeCgroup string
	// ManageCgroups is --manage-cgroups's mode (soft, CRIU's default,
	// when not given); CgroupRoots are the --cgroup-root values and
	// CgroupDumpControllers the --cgroup-dump-controller ones.
	ManageCgroups         cgroup.Mode
	CgroupRoots           []cgroup.Root
	CgroupDumpControllers []string
	// Root is --root: where a restore builds the tree's mount namespace
	// and pivots into it.
	Root string
	// ExtMounts are --ext-mount-map's pairs (RPC ext_mnt): on dump the
	// key is a mount point of the tree's namespace and the value its
	// key in the images; on restore the key is that key and the value
	// the path bind-mounted in its place.
	ExtMounts map[string]string
	// External are the veth and macvlan values of --external, for a
	// restore (restore.Options.External).
	External []string
	// EmptyNetNs is --empty-ns net: the network namespace is the
	// caller's to set up.
	EmptyNetNs bool
	// NetworkLock is a dump's --network-lock method (iptables,
	// nftables, skip; "" is iptables). A restore uses the dump's, as
	// CRIU's does.
	NetworkLock string
	// DisplayStats prints the stats a dump or restore wrote
	// (--display-stats).
	DisplayStats bool
	// ActionScripts are the --action-script programs, run at each
	// action point (scripts.go).
	ActionScripts []string
	// Timeout bounds the freeze (--timeout); 0 is the stage's default.
	Timeout time.Duration
	// ImagesDir is the image directory (-D); "" is the current one.
	ImagesDir string
	// WorkDir holds the log and a relative pid file (-W); "" is ImagesDir.
	WorkDir string
	// LogFile is the log (-o), relative to WorkDir; "" logs to LogTo.
	LogFile string
	// LogTo receives the log when LogFile is empty.
	LogTo io.Writer
	// MsgTo receives the messages CRIU prints on standard output
	// ("Looks good."); nil is os.Stdout.
	MsgTo io.Writer
	// LogLevel is -v's level, LogMsg..LogDebug.
	LogLevel int

	LeaveRunning   bool   // -R, --leave-running
	LeaveStopped   bool   // -s, --leave-stopped: after a dump (not killed) or a restore
	TCPEstablished bool   // --tcp-established
	TCPClose       bool   // --tcp-close
	SkipInFlight   bool   // --skip-in-flight
	ExtUnixSk      bool   // -x, --ext-unix-sk (a tree that needs it is still refused)
	ShellJob       bool   // -j, --shell-job
	FileLocks      bool   // -l, --file-locks
	PrevImagesDir  string // --prev-images-dir, relative to ImagesDir
	TrackMem       bool   // --track-mem
	AutoDedup      bool   // --auto-dedup
	LinkRemap      bool   // --link-remap
	GhostLimit     uint64 // --ghost-limit; 0: dump.DefaultGhostLimit
	Detach         bool   // -d, --restore-detached
	// Sibling is --restore-sibling (RPC rst_sibling): the restored root
	// is a child of criu's parent, not of criu; it needs Detach.
	Sibling bool
	// InheritFds are --inherit-fd's files (RPC inherit_fd), by key.
	InheritFds []restore.InheritFd
	// ExtNetNs are a dump's --external net[INODE]:KEY, inode to key.
	ExtNetNs map[uint64]string
	// JoinNs are --join-ns's namespaces (RPC join_ns), open, for a
	// restore.
	JoinNs []restore.JoinNs
	// EvasiveDevices is --evasive-devices: CRIU 4.2 reads it only when
	// it dumps, and criugo's dump records devices by path anyway; it
	// changes nothing on restore, in CRIU as here.
	EvasiveDevices bool
	// SkipMounts are --skip-mnt's mount points, EnableFs --enable-fs's
	// file systems (dump.Options).
	SkipMounts []string
	EnableFs   []string
	// WeakSysctls is --weak-sysctls: a restore skips the sysctls of the
	// images this kernel has not.
	WeakSysctls bool
	PidFile     string // --pidfile, relative to WorkDir

	// Notify, when set, is told at each action script point.
	Notify Notifier

	// initPid is the tree's root for CRTOOLS_INIT_PID, once known; log
	// gets the scripts' output.
	initPid int
	log     *Log
}

// imagesDir is ImagesDir, "." when unset, as CRIU's default.
func (o *Options) imagesDir() string {
	if o.ImagesDir == "" {
		return "."
	}
	return o.ImagesDir
}

// workDir is where the log and relative pid files go.
func (o *Options) workDir() string {
	if o.WorkDir != "" {
		return o.WorkDir
	}
	return o.imagesDir()
}

// inWorkDir resolves a name given relative to the work directory.
func (o *Options) inWorkDir(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(o.workDir(), name)
}

// notify tells the RPC client, then the action scripts, that script's
// point is reached (CRIU's run_scripts: RPC first, then the scripts).
func (o *Options) notify(script string, pid int) error {
	if o.Notify != nil {
		if err := o.Notify(script, pid); err != nil {
			return err
		}
	}
	return o.runScripts(script, pid)
}

// statsToWorkDir puts a copy of the stats file name (stats-dump,
// stats-restore), which the stages write into the images directory, into
// the work directory, where CRIU writes it (its current directory) and
// Podman reads it; a failure is only logged, as CRIU's.
func statsToWorkDir(o *Options, l *Log, name string) {
	src, dst := filepath.Join(o.imagesDir(), name), filepath.Join(o.workDir(), name)
	si, err := os.Stat(o.imagesDir())
	if err != nil {
		return
	}
	if di, err := os.Stat(o.workDir()); err != nil || os.SameFile(si, di) {
		return
	}
	b, err := os.ReadFile(src)
	if err == nil {
		tmp := dst + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			if err = os.Rename(tmp, dst); err != nil {
				os.Remove(tmp)
			}
		}
	}
	if err != nil {
		l.Warnf("copy %s into the work directory: %v", name, err)
	}
}
