package restore

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/proc"
)

// zooSet opens the file objects of a CRIU 4.2 zoo image set, with its
// inventory, for tests that make files in the test process.
func zooSet(t *testing.T, set string) *fileObjs {
	t.Helper()
	s, err := openDirSet(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", set))
	if err != nil {
		t.Fatal(err)
	}
	r := &restorer{set: s, pages: dirPages{s}, self: os.Getpid()}
	if r.inv, err = single[*images.InventoryEntry](s, "inventory.img"); err != nil {
		t.Fatal(err)
	}
	if r.files, err = newFileObjs(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.files.close)
	return r.files
}

// selfFdInfo reads the fdinfo of one of the test process's files.
func selfFdInfo(t *testing.T, f *os.File) *proc.FdInfo {
	t.Helper()
	fi, err := proc.FS{}.FdInfo(os.Getpid(), int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func descOf(t *testing.T, f *fileObjs, id uint32) *os.File {
	t.Helper()
	d, err := f.descFor(id)
	if err != nil {
		t.Fatalf("file %d: %v", id, err)
	}
	return d
}

func TestEventfd(t *testing.T) {
	f := zooSet(t, "eventfs00")
	d := descOf(t, f, 9)
	fi := selfFdInfo(t, d)
	if fi.Eventfd == nil || fi.Eventfd.Count != 90 {
		t.Fatalf("eventfd state %+v, want count 90", fi.Eventfd)
	}
	if fi.Flags&unix.O_NONBLOCK == 0 || fi.Flags&unix.O_ACCMODE != unix.O_RDWR {
		t.Errorf("eventfd flags %#o, want O_RDWR|O_NONBLOCK", fi.Flags)
	}
	b := make([]byte, 8)
	if n, err := unix.Read(int(d.Fd()), b); err != nil || n != 8 || binary.NativeEndian.Uint64(b) != 90 {
		t.Errorf("read %d bytes %x (%v), want the count 90", n, b, err)
	}
}

func TestSignalfd(t *testing.T) {
	f := zooSet(t, "signalfd00")
	d := descOf(t, f, 8)
	fi := selfFdInfo(t, d)
	if fi.Signalfd == nil || fi.Signalfd.Sigmask != 0x200 {
		t.Fatalf("signalfd state %+v, want mask 0x200 (SIGUSR1)", fi.Signalfd)
	}
	if fi.Flags&unix.O_NONBLOCK == 0 {
		t.Errorf("signalfd flags %#o, want O_NONBLOCK", fi.Flags)
	}
}

func TestTimerfd(t *testing.T) {
	f := zooSet(t, "timerfd")
	d := descOf(t, f, 8)
	// The zoo's timerfd had just expired: time left 0, one expiration
	// unread, a 4 s interval.
	ent, _ := f.entry(8)
	abs := &images.TimerfdEntry{
		Id: ent.Tfd.Id, Flags: ent.Tfd.Flags, Fown: ent.Tfd.Fown,
		Clockid: ent.Tfd.Clockid, Ticks: new(uint64), SettimeFlags: new(uint32),
		Vsec: new(uint64), Vnsec: new(uint64), Isec: new(uint64), Insec: new(uint64),
	}
	*abs.SettimeFlags = unix.TFD_TIMER_ABSTIME
	*abs.Vsec, *abs.Isec, *abs.Insec = 30, 2, 500000000
	d2, err := f.timerfdDesc(abs)
	if err != nil {
		t.Fatal(err)
	}
	if fi := selfFdInfo(t, d2); fi.Timerfd == nil || fi.Timerfd.Value != (proc.Timespec{}) {
		t.Errorf("timerfd armed before the tree runs: %+v", fi.Timerfd)
	}
	if err := f.armTimerfds(); err != nil {
		t.Fatal(err)
	}
	fi := selfFdInfo(t, d)
	if tf := fi.Timerfd; tf == nil || tf.ClockID != 1 || tf.Ticks != 1 || tf.Interval != (proc.Timespec{Sec: 4}) || tf.Value != (proc.Timespec{}) {
		t.Errorf("timerfd state %+v, want clock 1, 1 tick, interval 4 s, disarmed", fi.Timerfd)
	}
	b := make([]byte, 8)
	if err := unix.SetNonblock(int(d.Fd()), true); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Read(int(d.Fd()), b); err != nil || n != 8 || binary.NativeEndian.Uint64(b) != 1 {
		t.Errorf("read %d bytes %x (%v), want 1 expiration", n, b, err)
	}
	tf := selfFdInfo(t, d2).Timerfd
	left := time.Duration(tf.Value.Sec)*time.Second + time.Duration(tf.Value.Nsec)
	if tf.SettimeFlags != unix.TFD_TIMER_ABSTIME || left <= 29*time.Second || left > 30*time.Second ||
		tf.Interval != (proc.Timespec{Sec: 2, Nsec: 500000000}) {
		t.Errorf("absolute timerfd state %+v, want 30 s left, interval 2.5 s, TFD_TIMER_ABSTIME", tf)
	}
}

// kernelDev is a device number as the kernel's fdinfo and CRIU's images
// encode it.
func kernelDev(dev uint64) uint32 {
	return unix.Major(dev)<<20 | unix.Minor(dev)
}

func TestInotify(t *testing.T) {
	testutil.RequireRoot(t) // the ghost file of the zoo belongs to root
	dir := t.TempDir()
	f := zooSet(t, "inotify00")
	// Watch 1 names its file; watch 2 is on a file deleted before the
	// dump, which comes back as ghost file 1 (of file 9). Both go to dir.
	watched := filepath.Join(dir, "inotify00.test")
	if err := os.WriteFile(watched, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removed := filepath.Join(dir, "inotify-removed")
	e, _ := f.entry(9)
	e.Reg.Name = &removed
	ie, _ := f.entry(8)
	var pathWd *images.InotifyWdEntry
	for _, w := range ie.Ify.Wd {
		if w.GetFHandle().GetPath() != "" {
			w.FHandle.Path = &watched
			pathWd = w
		}
	}
	if pathWd == nil {
		t.Fatal("no watch with a path in inotify00")
	}
	d := descOf(t, f, 8)
	var st, gst unix.Stat_t
	if err := unix.Stat(watched, &st); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(removed, &gst); err != nil {
		t.Fatalf("ghost of the deleted file: %v", err)
	}
	fi := selfFdInfo(t, d)
	if len(fi.Inotify) != 2 {
		t.Fatalf("%d watches, want 2: %+v", len(fi.Inotify), fi.Inotify)
	}
	for _, w := range fi.Inotify {
		want := map[int]uint64{int(pathWd.GetWd()): st.Ino}
		for _, zw := range ie.Ify.Wd {
			if zw != pathWd {
				want[int(zw.GetWd())] = gst.Ino
			}
		}
		if w.Ino != want[w.Wd] || w.Mask != 0x708 || w.Sdev != kernelDev(st.Dev) {
			t.Errorf("watch %+v, want inode %d, mask 0x708", w, want[w.Wd])
		}
	}
}

func TestInotifyByHandle(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a", "b", "c"}
	var watches []*images.InotifyWdEntry
	var inos []uint64
	for i, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, p, 0)
		if err != nil {
			t.Skipf("the file system of %s gives no file handles: %v", dir, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		raw := append(h.Bytes(), make([]byte, 8)...)
		var words []uint64
		for j := 0; j+8 <= len(raw); j += 8 {
			words = append(words, binary.LittleEndian.Uint64(raw[j:]))
		}
		wd := uint32(3 * (i + 1)) // 3, 6, 9: numbers skipped on the way
		watches = append(watches, &images.InotifyWdEntry{
			Id: new(uint32), IIno: &st.Ino, Mask: new(uint32), IgnoredMask: new(uint32),
			SDev: new(uint32), Wd: &wd,
			FHandle: &images.FhEntry{Bytes: new(uint32), Type: new(uint32), Handle: words},
		})
		w := watches[i]
		*w.Mask = unix.IN_MODIFY | unix.IN_ONESHOT
		*w.SDev = kernelDev(st.Dev)
		*w.FHandle.Bytes = uint32(h.Size())
		*w.FHandle.Type = uint32(h.Type())
		inos = append(inos, st.Ino)
	}
	// Out of order in the image: they are added by number.
	watches[0], watches[2] = watches[2], watches[0]
	f := &fileObjs{r: &restorer{self: os.Getpid()}}
	defer f.close()
	flags := uint32(unix.O_RDONLY)
	d, err := f.inotifyDesc(&images.InotifyFileEntry{Id: new(uint32), Flags: &flags, Wd: watches})
	if err != nil {
		t.Fatal(err)
	}
	fi := selfFdInfo(t, d)
	if len(fi.Inotify) != 3 {
		t.Fatalf("%d watches, want 3: %+v", len(fi.Inotify), fi.Inotify)
	}
	for _, w := range fi.Inotify {
		i := w.Wd/3 - 1
		if w.Wd%3 != 0 || i < 0 || i > 2 || w.Ino != inos[i] || w.Mask != unix.IN_MODIFY|unix.IN_ONESHOT {
			t.Errorf("watch %+v, want wd %d on inode %d", w, 3*(i+1), inos[max(0, min(i, 2))])
		}
	}
	// The watches work: a write to b shows as an event of wd 6.
	if err := os.WriteFile(filepath.Join(dir, "b"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	if err := unix.SetNonblock(int(d.Fd()), true); err != nil {
		t.Fatal(err)
	}
	n, err := unix.Read(int(d.Fd()), buf)
	if err != nil || n < unix.SizeofInotifyEvent {
		t.Fatalf("read event: %d bytes, %v", n, err)
	}
	if wd := int32(binary.NativeEndian.Uint32(buf)); wd != 6 {
		t.Errorf("event of wd %d, want 6", wd)
	}
}

func TestEpollDesc(t *testing.T) {
	f := zooSet(t, "epoll01")
	d := descOf(t, f, 8)
	if _, err := unix.EpollWait(int(d.Fd()), make([]unix.EpollEvent, 1), 0); err != nil {
		t.Errorf("epoll_wait on the new instance: %v", err)
	}
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(d.Fd())))
	if err != nil || link != "anon_inode:[eventpoll]" {
		t.Errorf("epoll fd is %q (%v)", link, err)
	}
}

func TestEpollHolder(t *testing.T) {
	fdi := func(id, fd uint32) *images.FdinfoEntry {
		return &images.FdinfoEntry{Id: &id, Fd: &fd, Type: images.FdTypes_EVENTPOLL.Enum()}
	}
	tfd := func(n uint32) *images.EventpollTfdEntry { return &images.EventpollTfdEntry{Tfd: &n} }
	ep := &images.EventpollFileEntry{Tfd: []*images.EventpollTfdEntry{tfd(5), tfd(7)}}
	// Parent and child share epoll 9; only the child has fd 7 open.
	parent := &taskPlan{fds: []*images.FdinfoEntry{fdi(9, 3), fdi(20, 5)}}
	child := &taskPlan{fds: []*images.FdinfoEntry{fdi(9, 3), fdi(20, 5), fdi(21, 7)}}
	other := &taskPlan{fds: []*images.FdinfoEntry{fdi(20, 5), fdi(21, 7)}}
	if m := missingTarget(parent, ep); m != 7 {
		t.Errorf("missing target of the parent: %d, want 7", m)
	}
	if m := missingTarget(child, ep); m != -1 {
		t.Errorf("missing target of the child: %d, want none", m)
	}
	r := &restorer{plans: map[int]*taskPlan{1: parent, 2: child, 3: other}}
	if !r.epollHolder(&task{pid: 1}, 9, ep) {
		t.Error("the child, which holds the epoll and its targets, is not found")
	}
	delete(r.plans, 2)
	if r.epollHolder(&task{pid: 1}, 9, ep) {
		t.Error("a task without the epoll counts as its holder")
	}
}
