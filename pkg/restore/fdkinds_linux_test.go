package restore

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
)

// zooEntry returns a copy of file entry id of a zoo image set, renumbered
// to newID.
func zooEntry(t *testing.T, set string, id, newID uint32) *images.FileEntry {
	t.Helper()
	s, err := openDirSet(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", set))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := s.files()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := tab[id]
	if !ok {
		t.Fatalf("no file %d in %s", id, set)
	}
	c := proto.Clone(e).(*images.FileEntry)
	c.Id = proto.Uint32(newID)
	// Every kind's entry repeats the id as its first field.
	c.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() {
			sub := v.Message()
			if f := sub.Descriptor().Fields().ByName("id"); f != nil {
				sub.Set(f, protoreflect.ValueOfUint32(newID))
			}
		}
		return true
	})
	return c
}

// addImage appends entries to an image of dir (made if missing).
func addImage(t *testing.T, dir, name string, kind *image.Kind, ents ...image.Entry) {
	t.Helper()
	img, err := image.ReadFile(dir, name)
	if err != nil {
		img = &image.Image{Kind: kind}
	}
	img.Entries = append(img.Entries, ents...)
	var buf bytes.Buffer
	if err := image.WriteImage(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreFdKinds restores the loop fixture with fds of every kind
// added from the zoo's images (the program leaves them alone), and reads
// their state back from the kernel: fdinfo, and the sockets themselves,
// taken from the restored task with pidfd_getfd.
func TestRestoreFdKinds(t *testing.T) {
	dir := fixtureSet(t, "loop")
	port := freePort(t, unix.SOCK_STREAM)
	type add struct {
		set    string
		id, to uint32
		fd     uint32
	}
	adds := []add{
		{"eventfs00", 10, 100, 40}, // pipe, read end
		{"eventfs00", 11, 101, 41}, // its write end
		{"eventfs00", 9, 102, 42},  // eventfd, counter 90
		{"eventfs00", 8, 103, 43},  // epoll
		{"signalfd00", 8, 104, 44}, // mask SIGUSR1
		{"timerfd", 8, 105, 45},    // expired, one tick, 4 s interval
		{"socket_queues", 8, 106, 46},
		{"socket_queues", 9, 107, 47},
		{"socket_listen", 8, 108, 48},
	}
	var files, fds []image.Entry
	for _, a := range adds {
		e := zooEntry(t, a.set, a.id, a.to)
		switch {
		case e.GetEpfd() != nil:
			// Targets: the pipe's read end and the eventfd, by their
			// numbers in the task.
			tg := e.Epfd.Tfd[0]
			tg.Tfd = proto.Uint32(40)
			ev := proto.Clone(tg).(*images.EventpollTfdEntry)
			ev.Tfd, ev.Events, ev.Data = proto.Uint32(42), proto.Uint32(unix.EPOLLIN|unix.EPOLLET), proto.Uint64(0x42)
			e.Epfd.Tfd = append(e.Epfd.Tfd, ev)
		case e.GetIsk() != nil:
			e.Isk.SrcPort = proto.Uint32(port)
		}
		files = append(files, image.Entry{Msg: e})
		fds = append(fds, image.Entry{Msg: &images.FdinfoEntry{Id: proto.Uint32(a.to), Flags: proto.Uint32(0), Type: e.Type, Fd: proto.Uint32(a.fd)}})
	}
	addImage(t, dir, "files.img", image.Files, files...)
	addImage(t, dir, fdinfoOf(t, dir, setTree(t, dir).root()), image.Fdinfo, fds...)
	q, err := image.ReadFile(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "socket_queues"), "sk-queues.img")
	if err != nil {
		t.Fatal(err)
	}
	var sq []image.Entry
	for _, e := range q.Entries {
		pe := proto.Clone(e.Msg).(*images.SkPacketEntry)
		switch pe.GetIdFor() {
		case 8:
			pe.IdFor = proto.Uint32(106)
		case 9:
			pe.IdFor = proto.Uint32(107)
		default:
			continue
		}
		sq = append(sq, image.Entry{Msg: pe, Extra: e.Extra})
	}
	addImage(t, dir, "sk-queues.img", image.SkQueues, sq...)

	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	pid := res.Root
	info := func(fd int) *proc.FdInfo {
		t.Helper()
		fi, err := proc.FS{}.FdInfo(pid, fd)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	if fi := info(42); fi.Eventfd == nil || fi.Eventfd.Count != 90 {
		t.Errorf("eventfd: %+v, want count 90", fi.Eventfd)
	}
	if fi := info(44); fi.Signalfd == nil || fi.Signalfd.Sigmask != 0x200 {
		t.Errorf("signalfd: %+v, want mask 0x200", fi.Signalfd)
	}
	if fi := info(45); fi.Timerfd == nil || fi.Timerfd.Ticks != 1 || fi.Timerfd.Interval != (proc.Timespec{Sec: 4}) || fi.Timerfd.ClockID != 1 {
		t.Errorf("timerfd: %+v, want clock 1, 1 tick, interval 4 s", fi.Timerfd)
	}
	ep := info(43).Epoll
	if len(ep) != 2 {
		t.Fatalf("epoll targets %+v, want 2", ep)
	}
	for _, tg := range ep {
		switch tg.Fd {
		case 40:
			if tg.Events != 29 || tg.Data != ^uint64(0) {
				t.Errorf("epoll target 40: %+v, want events 29, data all ones", tg)
			}
		case 42:
			// The kernel adds EPOLLERR and EPOLLHUP to every target.
			if tg.Events != unix.EPOLLIN|unix.EPOLLET|unix.EPOLLERR|unix.EPOLLHUP || tg.Data != 0x42 {
				t.Errorf("epoll target 42: %+v, want EPOLLIN|EPOLLET (|ERR|HUP), data 0x42", tg)
			}
		default:
			t.Errorf("epoll target %+v", tg)
		}
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	take := func(fd int) int {
		t.Helper()
		got, err := unix.PidfdGetfd(pidfd, fd, 0)
		if err != nil {
			t.Fatalf("take fd %d of pid %d: %v", fd, pid, err)
		}
		t.Cleanup(func() { unix.Close(got) })
		return got
	}
	// The pipe is empty: epoll reports it once something is written.
	epfd := take(43)
	w := take(41)
	if _, err := unix.Write(w, []byte("x")); err != nil {
		t.Fatal(err)
	}
	evs := make([]unix.EpollEvent, 4)
	if n, err := unix.EpollWait(epfd, evs, 1000); err != nil || n < 1 {
		t.Errorf("epoll_wait: %d events (%v), want the pipe's", n, err)
	}
	s46, s47 := take(46), take(47)
	if got := readWithin(t, s46, 39, time.Second); got != "packet stream right\x00packet stream left\x00" {
		t.Errorf("queue of socket 46: %q", got)
	}
	if _, err := unix.Write(s46, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got := readWithin(t, s47, 42, time.Second); got != "packet stream left\x00packet stream right\x00new" {
		t.Errorf("queue of socket 47: %q", got)
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(c)
	if err := unix.Connect(c, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Errorf("connect to the restored listener: %v", err)
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(take(42), one[:]); err != nil {
		t.Errorf("eventfd write: %v", err)
	}
	if fi := info(42); fi.Eventfd == nil || fi.Eventfd.Count != 91 {
		t.Errorf("eventfd after a write: %+v, want 91", fi.Eventfd)
	}
}
