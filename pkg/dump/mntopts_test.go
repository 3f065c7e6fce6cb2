package dump

import (
	"errors"
	"strings"
	"testing"

	"github.com/criugo/criugo/pkg/mounts"
	"github.com/criugo/criugo/pkg/proc"
)

// A namespace's mounts: its root, a tmpfs at /t with a tmpfs at /t/in,
// a ramfs at /r and an ext4 at /e.
var optsMounts = []proc.Mount{
	{ID: 10, ParentID: 1, Major: 8, Minor: 1, Root: "/", MountPoint: "/", FsType: "ext4", Source: "/dev/sda1", Options: "rw"},
	{ID: 11, ParentID: 10, Major: 0, Minor: 40, Root: "/", MountPoint: "/t", FsType: "tmpfs", Source: "t", Options: "rw"},
	{ID: 12, ParentID: 11, Major: 0, Minor: 41, Root: "/", MountPoint: "/t/in", FsType: "tmpfs", Source: "in", Options: "rw"},
	{ID: 13, ParentID: 10, Major: 0, Minor: 42, Root: "/", MountPoint: "/r", FsType: "ramfs", Source: "r", Options: "rw", SuperOptions: "rw,mode=750"},
	{ID: 14, ParentID: 10, Major: 8, Minor: 2, Root: "/", MountPoint: "/e", FsType: "ext4", Source: "/dev/sda2", Options: "rw"},
}

// TestSkipMounts: --skip-mnt leaves out the mounts at the paths it
// names (paths compared cleaned) and refuses one left in below one left
// out.
func TestSkipMounts(t *testing.T) {
	kept, skipped, err := skipMounts(optsMounts, []string{"/t/in/", "/e"})
	if err != nil || len(kept) != 3 || skipped[12] != "/t/in" || skipped[14] != "/e" || len(skipped) != 2 {
		t.Errorf("skip /t/in/ and /e: kept %d, skipped %v, %v", len(kept), skipped, err)
	}
	if _, _, err := skipMounts(optsMounts, []string{"/t"}); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "/t/in") {
		t.Errorf("skip /t, which /t/in is on: %v", err)
	}
	if kept, skipped, err := skipMounts(optsMounts, nil); err != nil || len(kept) != len(optsMounts) || skipped != nil {
		t.Errorf("no --skip-mnt: kept %d, skipped %v, %v", len(kept), skipped, err)
	}
	d := &dumper{}
	d.mnt.skipped = map[int]string{12: "/t/in"}
	if _, err := d.statInTree("/proc/self/exe"); err != nil {
		t.Errorf("a file on a mount not skipped: %v", err)
	}
	fs, err := statPath("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	d.mnt.skipped[fs.mntID] = "/bin-mount"
	if _, err := d.statInTree("/proc/self/exe"); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "/bin-mount") {
		t.Errorf("a file on a skipped mount: %v", err)
	}
}

// TestEnableFs: a file system criugo has no code for can be made anew
// only when --enable-fs names it (or "all"); it is then recorded as
// CRIU's auto file system, with its name. A file system CRIU knows is
// never auto.
func TestEnableFs(t *testing.T) {
	ms := optsMounts[:4]
	if _, err := mountEntries(ms, nil, nil, nil); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "ramfs") {
		t.Errorf("ramfs without --enable-fs: %v", err)
	}
	for _, enable := range [][]string{{"ramfs"}, {"xfs,ramfs"}, {"all"}} {
		es, err := mountEntries(ms, nil, nil, enable)
		if err != nil {
			t.Errorf("--enable-fs %q: %v", enable, err)
			continue
		}
		r := es[3]
		if r.GetFstype() != mounts.Auto || r.GetFsname() != "ramfs" || r.GetOptions() != "mode=750" {
			t.Errorf("--enable-fs %q: ramfs recorded as %d %q, options %q", enable, r.GetFstype(), r.GetFsname(), r.GetOptions())
		}
		if tm := es[1]; tm.GetFstype() != mounts.FsType("tmpfs") || tm.Fsname != nil {
			t.Errorf("--enable-fs %q: tmpfs recorded as %d %q", enable, tm.GetFstype(), tm.GetFsname())
		}
	}
	if mounts.AutoEnabled([]string{"all"}, "tmpfs") || mounts.AutoEnabled([]string{"all"}, "btrfs") || !mounts.AutoEnabled([]string{"all"}, "ext4") {
		t.Error("AutoEnabled: CRIU's own file systems are never auto, others are with all")
	}
}
