package criucli

import (
	"errors"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// TestCheckFeature: the kernel features criugo uses are there on the
// kernels the project supports (6.7 on: uffd-wp async), so an answer of
// not supported is a failure; what criugo lacks is not supported whatever
// the kernel; a name CRIU does not know is unknown.
func TestCheckFeature(t *testing.T) {
	testutil.RequireRoot(t)
	for _, f := range []string{"mem_dirty_track", "clone3_set_tid", "timerfd", "ns_pid", "kcmp_epoll", "seccomp_suspend", "seccomp_filters",
		// This kernel (6.18) has each, and criugo dumps and restores what
		// zdtm's tests behind them hold.
		"timens", "cgroupns", "userns", "loginuid", "fdinfo_lock", "sockopt_buf_lock", "ipv6_freebind",
		"net_diag_raw", "pagemap_scan_guard_pages", "get_rseq_conf", "tcp_half_closed"} {
		if err := CheckFeature(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, f := range []string{"uffd-noncoop", "pidfd_store", "tun"} {
		if err := CheckFeature(f); !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: %v, want ErrNotSupported", f, err)
		}
	}
	if err := CheckFeature("no_such_feature"); !errors.Is(err, ErrUnknownFeature) {
		t.Errorf("no_such_feature: %v", err)
	}
}
