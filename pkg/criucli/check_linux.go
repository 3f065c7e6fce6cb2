package criucli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/netns"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/uffd"
)

// A feature is one of CRIU's `criu check --feature` names that criugo
// answers: probe says whether this kernel and criugo support it.
type feature struct {
	name  string
	probe func() error
}

// features are the names criugo answers for. A feature criugo lacks
// whatever the kernel has answers ErrNotSupported.
var features = []feature{
	{"mem_dirty_track", probeDirtyTrack},
	{"clone3_set_tid", probeClone3},
	{"timerfd", probeTimerfd},
	{"ns_pid", probeStatusField("NSpid:")},
	{"kcmp_epoll", probeKcmpEpoll},
	// PTRACE_O_SUSPEND_SECCOMP and PTRACE_SECCOMP_GET_FILTER, which
	// the dump uses, are there with CONFIG_SECCOMP and
	// CONFIG_CHECKPOINT_RESTORE: "Seccomp:" in /proc/PID/status and
	// /proc/PID/map_files say those are.
	{"seccomp_suspend", probeSeccompCR},
	{"seccomp_filters", probeSeccompCR},
	{"uffd", notByCriugo("lazy pages")},
	{"uffd-noncoop", notByCriugo("lazy pages")},
	{"pidfd_store", notByCriugo("a pidfd store")},
	// --network-lock nftables runs nft in the tree's namespace.
	{"network_lock_nftables", func() error {
		if !netns.Has("nft") {
			return fmt.Errorf("nft is not installed: %w", ErrNotSupported)
		}
		return nil
	}},
	{"timens", probeNs("time")},
	{"cgroupns", probeNs("cgroup")},
	{"userns", probeNs("user")},
	{"external_net_ns", notByCriugo("network namespaces")},
	// The dump reads and the restore writes /proc/PID/loginuid (audit).
	{"loginuid", func() error { return probeFile("/proc/self/loginuid") }},
	// The dump finds each fd's locks and leases in its fdinfo.
	{"fdinfo_lock", probeFdinfoLock},
	{"sockopt_buf_lock", probeSockopt(unix.AF_INET, unix.SOL_SOCKET, unix.SO_BUF_LOCK)},
	{"ipv6_freebind", probeSockopt(unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_FREEBIND)},
	// CRIU finds raw sockets through sock_diag (raw_diag); criugo reads
	// them from the socket itself (getsockname, getsockopt), which every
	// kernel allows.
	{"net_diag_raw", func() error { return nil }},
	// Guard regions are found with PAGEMAP_SCAN's PAGE_IS_GUARD.
	{"pagemap_scan_guard_pages", probeGuardPages},
	// A thread's rseq area is read with PTRACE_GET_RSEQ_CONFIGURATION
	// (Linux 5.13).
	{"get_rseq_conf", probeKernel(5, 13)},
	// The dump and restore put connections that are closing (FIN_WAIT1
	// and on) into repair: the kernel must allow it on a half-closed one.
	{"tcp_half_closed", probeTCPHalfClosed},
}

// criuFeatures are the rest of CRIU 4.2's feature names: known, but not
// answered by criugo.
var criuFeatures = map[string]bool{
	"mnt_id": true, "aio_remap": true, "tun": true, "tun_ns": true,

	"autofs":    true,
	"compat_cr": true, "can_map_vdso": true, "sk_ns": true, "sk_unix_file": true,
	"nsid": true, "link_nsid": true,
	"newifindex": true, "nftables": true, "has_ipt_legacy": true,
	"apparmor_stacking": true, "memfd_hugetlb": true,
	"move_mount_set_group": true, "openat2": true,
	"pagemap_scan": true, "timer_cr_ids": true,
	"overlayfs_maps": true, "breakpoints": true,
}

// ErrUnknownFeature: a feature name CRIU does not know either.
var ErrUnknownFeature = errors.New("unknown feature")

// probeNs: this kernel has namespaces of kind ns, and criugo dumps and
// restores them.
func probeNs(ns string) func() error {
	return func() error { return probeFile("/proc/self/ns/" + ns) }
}

func probeFile(p string) error {
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("%w: %w", err, ErrNotSupported)
	}
	return nil
}

// probeSockopt: a socket of family takes option opt of level.
func probeSockopt(family, level, opt int) func() error {
	return func() error {
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w: %w", err, ErrNotSupported)
		}
		defer unix.Close(fd)
		if _, err := unix.GetsockoptInt(fd, level, opt); err != nil {
			return fmt.Errorf("getsockopt %d/%d: %w: %w", level, opt, err, ErrNotSupported)
		}
		return nil
	}
}

// probeFdinfoLock: a lock shows in its fd's fdinfo (Linux 4.1).
func probeFdinfoLock() error {
	f, err := os.CreateTemp("", "criugo-lock")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		return fmt.Errorf("flock: %w", err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
	if err != nil || !strings.Contains(string(b), "lock:") {
		return fmt.Errorf("no lock in fdinfo: %w", ErrNotSupported)
	}
	return nil
}

// probeGuardPages: PAGEMAP_SCAN knows guard regions (Linux 6.15).
func probeGuardPages() error {
	pm, err := proc.FS{}.OpenPagemap(os.Getpid())
	if err != nil {
		return err
	}
	defer pm.Close()
	_, ok, err := pm.GuardRegions(1 << 16)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("PAGEMAP_SCAN without PAGE_IS_GUARD: %w", ErrNotSupported)
	}
	return nil
}

// probeKernel: this kernel is major.minor or later.
func probeKernel(major, minor int) func() error {
	return func() error {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return err
		}
		var ma, mi int
		if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
			return fmt.Errorf("kernel release %q: %w", u.Release, err)
		}
		if ma < major || ma == major && mi < minor {
			return fmt.Errorf("kernel %d.%d, before %d.%d: %w", ma, mi, major, minor, ErrNotSupported)
		}
		return nil
	}
}

// probeTCPHalfClosed: a loopback connection shut down for writing takes
// TCP_REPAIR (Linux 4.11 allows repair in every state but listen and
// the handshake's).
func probeTCPHalfClosed() error {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fmt.Errorf("bind 127.0.0.1: %w", err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		return fmt.Errorf("getsockname: %w", err)
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(c)
	if err := unix.Connect(c, sa); err != nil {
		return fmt.Errorf("connect %v: %w", sa, err)
	}
	if err := unix.Shutdown(c, unix.SHUT_WR); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := unix.SetsockoptInt(c, unix.SOL_TCP, unix.TCP_REPAIR, 1); err != nil {
		return fmt.Errorf("TCP_REPAIR on a half-closed connection: %w: %w", err, ErrNotSupported)
	}
	return nil
}

func notByCriugo(what string) func() error {
	return func() error { return fmt.Errorf("criugo has no %s: %w", what, ErrNotSupported) }
}

// probeDirtyTrack: criugo tracks writes between a pre-dump and the next
// dump with asynchronous userfaultfd write-protection (uffd-wp), which
// needs UFFD_FEATURE_WP_ASYNC and WP_UNPOPULATED (Linux 6.7).
func probeDirtyTrack() error {
	fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	if errno != 0 {
		return fmt.Errorf("userfaultfd: %w: %w", errno, ErrNotSupported)
	}
	defer unix.Close(int(fd))
	if err := uffd.Handshake(int(fd), uffd.FeatureWPAsync|uffd.FeatureWPUnpopulated); err != nil {
		return fmt.Errorf("userfaultfd write-protect: %w: %w", err, ErrNotSupported)
	}
	return nil
}

// probeClone3: the restore creates every task with its pid through
// clone3's set_tid (Linux 5.5). clone3 with an invalid size says whether
// the call exists without creating anything.
func probeClone3() error {
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	if errno == unix.ENOSYS {
		return fmt.Errorf("clone3: %w", ErrNotSupported)
	}
	return nil
}

// CheckFeature answers `criu check --feature NAME`: nil when this kernel
// and criugo support it.
func CheckFeature(name string) error {
	for _, f := range features {
		if f.name == name {
			return f.probe()
		}
	}
	if criuFeatures[name] {
		return fmt.Errorf("feature %s: criugo does not check it: %w", name, ErrNotSupported)
	}
	return fmt.Errorf("feature %s: %w", name, ErrUnknownFeature)
}

// Check is `criu check`: what criugo needs of the kernel for a dump and a
// restore. Write tracking is optional: its absence is a warning.
func Check(l *Log) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("check: needs root: %w", unix.EPERM)
	}
	for _, c := range []struct {
		what string
		err  error
	}{
		{"clone3 with set_tid", probeClone3()},
		{"/proc/self/map_files", probeMapFiles()},
	} {
		if c.err != nil {
			return fmt.Errorf("check %s: %w", c.what, c.err)
		}
	}
	if err := probeDirtyTrack(); err != nil {
		l.Warnf("memory write tracking (pre-dump, --track-mem): %v", err)
		l.Msgf("Looks good but some kernel features are missing\nwhich, depending on your process tree, may cause\ndump or restore failure.")
		return nil
	}
	l.Msgf("Looks good.")
	return nil
}

func probeMapFiles() error {
	_, err := os.ReadDir("/proc/self/map_files")
	return err
}

// probeTimerfd: the dump reads a timerfd's clock and times from its
// fdinfo (Linux 3.17).
func probeTimerfd() error {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("timerfd_create: %w: %w", err, ErrNotSupported)
	}
	defer unix.Close(fd)
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil || !strings.Contains(string(b), "it_value:") {
		return fmt.Errorf("timerfd fdinfo without it_value: %w", ErrNotSupported)
	}
	return nil
}

// probeStatusField: /proc/self/status has the field.
func probeStatusField(field string) func() error {
	return func() error {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return fmt.Errorf("read /proc/self/status: %w", err)
		}
		if !strings.Contains(string(b), "\n"+field) {
			return fmt.Errorf("no %s in /proc/self/status: %w", field, ErrNotSupported)
		}
		return nil
	}
}

func probeSeccompCR() error {
	if err := probeStatusField("Seccomp:")(); err != nil {
		return err
	}
	if err := probeMapFiles(); err != nil {
		return fmt.Errorf("no /proc/self/map_files (CONFIG_CHECKPOINT_RESTORE): %w", ErrNotSupported)
	}
	return nil
}
