package criucli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/netns"
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
	{"timens", notByCriugo("time namespaces")},
	{"external_net_ns", notByCriugo("network namespaces")},
}

// criuFeatures are the rest of CRIU 4.2's feature names: known, but not
// answered by criugo.
var criuFeatures = map[string]bool{
	"mnt_id": true, "aio_remap": true, "tun": true, "tun_ns": true,
	"userns": true, "fdinfo_lock": true,
	"loginuid": true, "cgroupns": true, "autofs": true, "tcp_half_closed": true,
	"compat_cr": true, "can_map_vdso": true, "sk_ns": true, "sk_unix_file": true,
	"net_diag_raw": true, "nsid": true, "link_nsid": true,
	"newifindex": true, "nftables": true, "has_ipt_legacy": true,
	"apparmor_stacking": true, "sockopt_buf_lock": true, "memfd_hugetlb": true,
	"move_mount_set_group": true, "openat2": true, "get_rseq_conf": true,
	"ipv6_freebind": true, "pagemap_scan": true, "timer_cr_ids": true,
	"overlayfs_maps": true, "breakpoints": true, "pagemap_scan_guard_pages": true,
}

// ErrUnknownFeature: a feature name CRIU does not know either.
var ErrUnknownFeature = errors.New("unknown feature")

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
