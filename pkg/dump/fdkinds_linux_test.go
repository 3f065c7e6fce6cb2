package dump

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/sockdiag"
)

// The tests below dump the test programs of test/programs that hold
// eventfds, epolls, signalfds, timerfds, inotify instances, unix and inet
// sockets, with LeaveRunning: each program must pass its own checks after
// the dump, and the entries must say what the program set up, in the
// shape CRIU 4.2 gives them in the zoo fixtures.

// testProgram builds and starts test/programs/<name>.c.
func testProgram(t *testing.T, name string) *program {
	t.Helper()
	return testProgramIn(t, name)
}

// testProgramIn builds test/programs/<name>.c and starts it through the
// command wrap (which ends by running its arguments), in a session of its
// own.
func testProgramIn(t *testing.T, name string, wrap ...string) *program {
	t.Helper()
	return startTestProgram(t, name, nil, wrap...)
}

// startTestProgram is testProgramIn with files the program inherits from
// fd 3 on.
func startTestProgram(t *testing.T, name string, extra []*os.File, wrap ...string) *program {
	t.Helper()
	testutil.RequireRoot(t)
	dir := t.TempDir()
	bin := testutil.TestProgram(t, dir, name)
	p := &program{outfile: filepath.Join(dir, "out"), workdir: filepath.Join(dir, "work")}
	if err := os.Mkdir(p.workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "pid")
	args := append(append([]string{"/bin/sh", "-c", `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`}, wrap...),
		bin, "--pidfile", pidfile, "--outfile", p.outfile, "--workdir", p.workdir)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.ExtraFiles = extra
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("start %s: %v: %s", name, err, out)
	}
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil {
			if p.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s wrote no pid file", name)
		}
	}
	t.Cleanup(func() {
		for _, pid := range sessionPids(p.pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return p
}

// dumpLeave dumps the program with LeaveRunning into a fresh directory,
// checks that the program still passes, and returns the directory.
func dumpLeave(t *testing.T, p *program, o Options) string {
	t.Helper()
	dir := t.TempDir()
	seizeDir(t, p.pid, dir)
	o.Dir, o.LeaveRunning = dir, true
	if _, err := Dump(context.Background(), o); err != nil {
		t.Fatalf("dump: %v", err)
	}
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("program after the dump: %s", got)
	}
	return dir
}

// fileEntries returns the files.img entries of type typ, in file order.
func fileEntries(t *testing.T, dir string, typ images.FdTypes) []*images.FileEntry {
	t.Helper()
	var out []*images.FileEntry
	for _, e := range readImg(t, dir, "files.img").Entries {
		if fe := e.Msg.(*images.FileEntry); fe.GetType() == typ {
			out = append(out, fe)
		}
	}
	return out
}

// fdsOf maps the fds of the task's fdinfo image to their entries.
func fdsOf(t *testing.T, dir string) map[uint32]*images.FdinfoEntry {
	t.Helper()
	ids := one[*images.TaskKobjIdsEntry](t, dir, "ids-"+pidOfSet(t, dir)+".img")
	out := map[uint32]*images.FdinfoEntry{}
	for _, e := range readImg(t, dir, image.Fdinfo.FileName(ids.GetFilesId())).Entries {
		fi := e.Msg.(*images.FdinfoEntry)
		out[fi.GetFd()] = fi
	}
	return out
}

// pidOfSet returns the pid of the (only) task of the set.
func pidOfSet(t *testing.T, dir string) string {
	t.Helper()
	return strconv.Itoa(int(one[*images.PstreeEntry](t, dir, "pstree.img").GetPid()))
}

// checkShape compares the fields our entries of type typ set with those
// CRIU 4.2's entries of that type set in the zoo sets: every field all of
// CRIU's entries have, ours have too, and ours set no field CRIU never
// does, but those in extra.
func checkShape(t *testing.T, ours []*images.FileEntry, typ images.FdTypes, sets []string, extra ...string) {
	t.Helper()
	zoo := filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images")
	var always, ever map[string]bool
	for _, set := range sets {
		img, err := image.ReadFile(filepath.Join(zoo, set), "files.img")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range img.Entries {
			fe := e.Msg.(*images.FileEntry)
			if fe.GetType() != typ {
				continue
			}
			f := map[string]bool{}
			imgtool.FieldPaths(fe.ProtoReflect(), "file_entry", f)
			if always == nil {
				always, ever = f, map[string]bool{}
				for k := range f {
					ever[k] = true
				}
				continue
			}
			for k := range always {
				if !f[k] {
					delete(always, k)
				}
			}
			for k := range f {
				ever[k] = true
			}
		}
	}
	if always == nil {
		t.Fatalf("no %v entry in the zoo sets %v", typ, sets)
	}
	for _, k := range extra {
		ever[k] = true
	}
	var missing, unknown []string
	for _, fe := range ours {
		f := map[string]bool{}
		imgtool.FieldPaths(fe.ProtoReflect(), "file_entry", f)
		for k := range always {
			if !f[k] {
				missing = append(missing, k)
			}
		}
		for k := range f {
			if !ever[k] {
				unknown = append(unknown, k)
			}
		}
	}
	sort.Strings(missing)
	sort.Strings(unknown)
	if len(missing) > 0 || len(unknown) > 0 {
		t.Errorf("%v: fields every CRIU entry sets that ours miss: %v; fields CRIU never sets: %v", typ, missing, unknown)
	}
}

// debianCrit decodes the named images with Debian's crit, when installed.
func debianCrit(t *testing.T, dir string, names ...string) {
	t.Helper()
	crit, err := exec.LookPath("/usr/bin/crit")
	if err != nil {
		return
	}
	for _, n := range names {
		if out, err := exec.Command(crit, "decode", "-i", filepath.Join(dir, n), "-o", os.DevNull).CombinedOutput(); err != nil {
			t.Errorf("Debian's crit cannot decode %s: %v: %s", n, err, out)
		}
	}
}

const oNonblock = unix.O_NONBLOCK

func TestDumpEventfd(t *testing.T) {
	p := testProgram(t, "eventfd")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_EVENTFD)
	if len(es) != 2 {
		t.Fatalf("%d eventfd entries, want 2 (two files, one with a dup)", len(es))
	}
	e1, e2 := es[0].GetEfd(), es[1].GetEfd()
	if e1.GetCounter() != 100 || e1.GetFlags() != unix.O_RDWR|oNonblock {
		t.Errorf("e1: counter %d flags %#o, want 100 and O_RDWR|O_NONBLOCK", e1.GetCounter(), e1.GetFlags())
	}
	if e2.GetCounter() != 0 || e2.GetFlags() != unix.O_RDWR {
		t.Errorf("e2: counter %d flags %#o, want 0 and O_RDWR", e2.GetCounter(), e2.GetFlags())
	}
	var shared, cloexec int
	for _, fi := range fdsOf(t, dir) {
		if fi.GetType() != images.FdTypes_EVENTFD {
			continue
		}
		if fi.GetId() == e1.GetId() {
			shared++
		}
		if fi.GetFlags() == unix.FD_CLOEXEC {
			cloexec++
		}
	}
	if shared != 2 || cloexec != 1 {
		t.Errorf("fds of e1: %d (want 2, with its dup), close-on-exec eventfd fds: %d (want 1)", shared, cloexec)
	}
	checkShape(t, es, images.FdTypes_EVENTFD, []string{"eventfs00"})
	debianCrit(t, dir, "files.img")
}

func TestDumpSignalfd(t *testing.T) {
	p := testProgram(t, "signalfd")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_SIGNALFD)
	if len(es) != 2 {
		t.Fatalf("%d signalfd entries, want 2", len(es))
	}
	// glibc's SIGRTMIN is 34.
	if s := es[0].GetSgfd(); s.GetSigmask() != 1<<(10-1) || s.GetFlags() != unix.O_RDWR|oNonblock {
		t.Errorf("s1: mask %#x flags %#o", s.GetSigmask(), s.GetFlags())
	}
	if s := es[1].GetSgfd(); s.GetSigmask() != 1<<(12-1)|1<<(35-1) || s.GetFlags() != unix.O_RDWR {
		t.Errorf("s2: mask %#x flags %#o", s.GetSigmask(), s.GetFlags())
	}
	checkShape(t, es, images.FdTypes_SIGNALFD, []string{"signalfd00"})
}

func TestDumpTimerfd(t *testing.T) {
	p := testProgram(t, "timerfd")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_TIMERFD)
	if len(es) != 4 {
		t.Fatalf("%d timerfd entries, want 4", len(es))
	}
	t1, t2, t3, t4 := es[0].GetTfd(), es[1].GetTfd(), es[2].GetTfd(), es[3].GetTfd()
	if t1.GetClockid() != unix.CLOCK_MONOTONIC || t1.GetIsec() != 0 || t1.GetInsec() != 20e6 ||
		t1.GetVsec() != 0 || t1.GetVnsec() > 20e6 || t1.GetFlags()&oNonblock == 0 {
		t.Errorf("t1 (periodic 20 ms): %v", t1)
	}
	if t2.GetClockid() != unix.CLOCK_REALTIME || t2.GetVsec() < 900 || t2.GetVsec() >= 1000 || t2.GetIsec() != 0 {
		t.Errorf("t2 (one-shot in 1000 s): %v", t2)
	}
	if t3.GetClockid() != unix.CLOCK_BOOTTIME || t3.GetVsec() != 0 || t3.GetVnsec() != 0 || t3.GetTicks() != 0 {
		t.Errorf("t3 (disarmed): %v", t3)
	}
	if t4.GetTicks() != 1 || t4.GetVsec() != 0 || t4.GetVnsec() != 0 {
		t.Errorf("t4 (expired once, unread): %v", t4)
	}
	checkShape(t, es, images.FdTypes_TIMERFD, []string{"timerfd"})
}

func TestDumpEpoll(t *testing.T) {
	p := testProgram(t, "epoll")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_EVENTPOLL)
	if len(es) != 2 {
		t.Fatalf("%d epoll entries, want 2", len(es))
	}
	// ep has a target added under a closed fd number: its entry waits
	// for the task's fds and comes after them (after the empty ep2).
	ep2, ep := es[0].GetEpfd(), es[1].GetEpfd()
	if len(ep2.GetTfd()) != 0 {
		t.Errorf("ep2 has targets: %v", ep2.GetTfd())
	}
	fds := fdsOf(t, dir)
	byData := map[uint64]*images.EventpollTfdEntry{}
	for _, tfd := range ep.GetTfd() {
		byData[tfd.GetData()] = tfd
		if fds[tfd.GetTfd()] == nil {
			t.Errorf("target %d (data %#x) is no fd of the task", tfd.GetTfd(), tfd.GetData())
		}
	}
	if len(byData) != 4 {
		t.Fatalf("targets %v, want data 0x1111..0x4444", ep.GetTfd())
	}
	for data, ev := range map[uint64]uint32{0x1111: unix.EPOLLIN, 0x2222: unix.EPOLLOUT, 0x3333: unix.EPOLLIN | unix.EPOLLET, 0x4444: unix.EPOLLIN} {
		if tfd := byData[data]; tfd == nil || tfd.GetEvents()&ev != ev {
			t.Errorf("target %#x: %v, want events %#x", data, tfd, ev)
		}
	}
	if moved := byData[0x4444].GetTfd(); moved < 100 {
		t.Errorf("moved target recorded under fd %d, want the fd it moved to (>= 100)", moved)
	}
	files := readImg(t, dir, "files.img").Entries
	last := files[len(files)-1].Msg.(*images.FileEntry)
	if last.GetType() == images.FdTypes_EVENTPOLL {
		t.Error("the waiting epoll entry came after the task's cwd and root")
	}
	checkShape(t, es[1:], images.FdTypes_EVENTPOLL, []string{"eventfs00", "epoll01"})
}

func TestDumpInotify(t *testing.T) {
	p := testProgram(t, "inotify")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_INOTIFY)
	if len(es) != 2 {
		t.Fatalf("%d inotify entries, want 2", len(es))
	}
	in, in2 := es[0].GetIfy(), es[1].GetIfy()
	if in.GetFlags() != oNonblock || in2.GetFlags() != 0 {
		t.Errorf("flags %#o and %#o, want O_NONBLOCK and 0", in.GetFlags(), in2.GetFlags())
	}
	want := map[string]uint32{
		filepath.Join(p.workdir, "watched"):      unix.IN_CREATE | unix.IN_DELETE,
		filepath.Join(p.workdir, "watched.file"): unix.IN_MODIFY,
	}
	if len(in.GetWd()) != 2 || len(in2.GetWd()) != 1 {
		t.Fatalf("watches %d and %d, want 2 and 1", len(in.GetWd()), len(in2.GetWd()))
	}
	for _, wd := range in.GetWd() {
		path := wd.GetFHandle().GetPath()
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			t.Errorf("watch %d: path %q: %v", wd.GetWd(), path, err)
			continue
		}
		if wd.GetMask() != want[path] || wd.GetIIno() != st.Ino || wd.GetSDev() != kdev(st.Dev) {
			t.Errorf("watch %d on %s: mask %#x ino %d dev %#x, want %#x %d %#x", wd.GetWd(), path, wd.GetMask(),
				wd.GetIIno(), wd.GetSDev(), want[path], st.Ino, kdev(st.Dev))
		}
		if fh := wd.GetFHandle(); fh.GetBytes() == 0 || len(fh.GetHandle()) != fhMinEntries {
			t.Errorf("watch %d: handle %v", wd.GetWd(), fh)
		}
	}
	if wd := in2.GetWd()[0]; wd.GetMask() != unix.IN_ATTRIB || wd.GetFHandle().GetPath() != filepath.Join(p.workdir, "watched") {
		t.Errorf("in2 watch: %v", wd)
	}
	checkShape(t, es, images.FdTypes_INOTIFY, []string{"inotify00"})
	debianCrit(t, dir, "files.img")
}

func TestDumpUnixSockets(t *testing.T) {
	p := testProgram(t, "unix")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_UNIXSK)
	if len(es) != 15 {
		t.Fatalf("%d unix socket entries, want 15", len(es))
	}
	byIno := map[uint32]*images.UnixSkEntry{}
	byID := map[uint32]*images.UnixSkEntry{}
	for _, fe := range es {
		byIno[fe.GetUsk().GetIno()] = fe.GetUsk()
		byID[fe.GetId()] = fe.GetUsk()
	}
	// Every entry follows its peer in files.img, or is its peer's peer.
	pos := map[uint32]int{}
	for i, fe := range es {
		pos[fe.GetUsk().GetIno()] = i
	}
	var listener, abstract *images.UnixSkEntry
	for _, u := range byIno {
		if peer := u.GetPeer(); peer != 0 {
			pu := byIno[peer]
			if pu == nil {
				t.Errorf("socket %d: peer %d not recorded", u.GetIno(), peer)
				continue
			}
			if pos[u.GetIno()] < pos[peer] && pu.GetPeer() != u.GetIno() {
				t.Errorf("socket %d written before its peer %d", u.GetIno(), peer)
			}
		}
		switch {
		case u.GetState() == tcpListen:
			listener = u
		case bytes.HasPrefix(u.GetName(), []byte("\x00criugo-unix-")):
			abstract = u
		}
	}
	if listener == nil || abstract == nil {
		t.Fatal("no listener or no abstract socket")
	}
	if string(listener.GetName()) != "unix.sock\x00" || listener.GetNameDir() != p.workdir || listener.GetBacklog() != 5 ||
		listener.GetFilePerms().GetMode()&unix.S_IFMT != unix.S_IFSOCK || listener.GetNsId() == 0 {
		t.Errorf("listener: %v", listener)
	}
	if want := "\x00criugo-unix-" + strconv.Itoa(p.pid); string(abstract.GetName()) != want || abstract.GetFilePerms() != nil {
		t.Errorf("abstract socket name %q, want %q", abstract.GetName(), want)
	}
	// c2, not accepted yet, takes the listener as its peer.
	var inflight, shutRead, shutWrite int
	for _, u := range byIno {
		if u.GetPeer() == listener.GetIno() && u.GetType() == unix.SOCK_STREAM && len(u.GetName()) == 0 {
			inflight++
		}
		switch u.GetShutdown() {
		case images.SkShutdown_READ:
			shutRead++
		case images.SkShutdown_WRITE:
			shutWrite++
		}
	}
	if inflight != 1 || shutRead != 1 || shutWrite != 1 {
		t.Errorf("in-flight connections %d, shut for reading %d, for writing %d: want 1 each", inflight, shutRead, shutWrite)
	}
	// Queues: by socket, the packet lengths in order.
	queues := map[uint32][]int{}
	for _, e := range readImg(t, dir, "sk-queues.img").Entries {
		pe := e.Msg.(*images.SkPacketEntry)
		if int(pe.GetLength()) != len(e.Extra.Data) {
			t.Errorf("packet for %d: length %d, %d bytes", pe.GetIdFor(), pe.GetLength(), len(e.Extra.Data))
		}
		queues[pe.GetIdFor()] = append(queues[pe.GetIdFor()], len(e.Extra.Data))
	}
	got := map[string]int{}
	for id, q := range queues {
		u := byID[id]
		if u == nil {
			t.Errorf("queue for unknown socket id %d", id)
			continue
		}
		got[fmt.Sprintf("%d:%v", u.GetType(), q)]++
	}
	for k, n := range map[string]int{
		"1:[13]":         2, // the stream pair, both ways
		"2:[1 100 3000]": 1, // three datagrams, boundaries kept
		"5:[12 6]":       1, // seqpacket
		"1:[5000]":       2, // the accepted connection, both ways
		"2:[4]":          1, // "ping" at the abstract socket
	} {
		if got[k] != n {
			t.Errorf("queues %v: %q %d times, want %d", got, k, got[k], n)
		}
	}
	checkShape(t, es, images.FdTypes_UNIXSK,
		[]string{"sockets00", "sockets01", "sockets_dgram", "sockets_spair", "socket_queues", "sk-unix-unconn", "scm00"},
		"file_entry.usk.name_dir")
	debianCrit(t, dir, "files.img", "sk-queues.img")
}

func TestDumpTCP(t *testing.T) {
	p := testProgram(t, "tcp")
	dir := dumpLeave(t, p, Options{TCPEstablished: true})
	es := fileEntries(t, dir, images.FdTypes_INETSK)
	if len(es) != 5 {
		t.Fatalf("%d inet socket entries, want 5", len(es))
	}
	lo := binary.LittleEndian.Uint32(netip.MustParseAddr("127.0.0.1").AsSlice())
	var listen, estab, udp int
	var lport uint32
	// CRIU 4.2's tcp-stream entry of the zoo's connection: ours set the
	// same fields (both connections have timestamps and window scaling).
	zooTS := map[string]bool{}
	zoo := filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "socket-tcp6")
	for _, e := range readImg(t, zoo, "tcp-stream-19679a.img").Entries {
		imgtool.FieldPaths(e.Msg.ProtoReflect(), "tcp_stream_entry", zooTS)
	}
	for _, fe := range es {
		isk := fe.GetIsk()
		if isk.GetFamily() != unix.AF_INET || len(isk.GetSrcAddr()) != 1 || isk.GetSrcAddr()[0] != lo {
			t.Errorf("socket %d: family %d source %v", isk.GetIno(), isk.GetFamily(), isk.GetSrcAddr())
		}
		switch {
		case isk.GetProto() == unix.IPPROTO_TCP && isk.GetState() == tcpListen:
			listen++
			lport = isk.GetSrcPort()
			if isk.GetBacklog() != 4 || isk.GetTcpOpts().GetKeepcnt() == 0 {
				t.Errorf("listener: %v", isk)
			}
		case isk.GetProto() == unix.IPPROTO_TCP && isk.GetState() == tcpEstablished:
			estab++
			ts := one[*images.TcpStreamEntry](t, dir, image.TCPStream.FileName(isk.GetIno()))
			if ts.GetInqSeq() == 0 || ts.GetMssClamp() == 0 || ts.GetOptMask() != 7 {
				t.Errorf("tcp stream of %d: %v", isk.GetIno(), ts)
			}
			f := map[string]bool{}
			imgtool.FieldPaths(ts.ProtoReflect(), "tcp_stream_entry", f)
			if !reflect.DeepEqual(f, zooTS) {
				t.Errorf("tcp stream of %d sets %v, CRIU 4.2's sets %v", isk.GetIno(), f, zooTS)
			}
		case isk.GetProto() == unix.IPPROTO_UDP:
			udp++
			if isk.GetTcpOpts() == nil || proto.Size(isk.GetTcpOpts()) != 0 {
				t.Errorf("udp socket %d: tcp_opts %v, want present and empty as CRIU writes it", isk.GetIno(), isk.GetTcpOpts())
			}
		}
	}
	if listen != 1 || estab != 2 || udp != 2 {
		t.Errorf("listening %d, established %d, udp %d: want 1, 2, 2", listen, estab, udp)
	}
	// The receive queues hold the data in flight: 3000 bytes at the
	// client, and at the server whatever its small buffer took.
	var inq []int
	var outq int
	for _, fe := range es {
		isk := fe.GetIsk()
		if isk.GetProto() != unix.IPPROTO_TCP || isk.GetState() != tcpEstablished {
			continue
		}
		img := readImg(t, dir, image.TCPStream.FileName(isk.GetIno()))
		inq = append(inq, len(img.Entries[0].Extra.InQ))
		outq += len(img.Entries[0].Extra.OutQ)
		if isk.GetDstPort() != lport && isk.GetSrcPort() != lport {
			t.Errorf("connection %d: ports %d -> %d, listener %d", isk.GetIno(), isk.GetSrcPort(), isk.GetDstPort(), lport)
		}
	}
	sort.Ints(inq)
	if len(inq) != 2 || inq[0] == 0 || (inq[0] != 3000 && inq[1] != 3000) || outq == 0 {
		t.Errorf("receive queues %v (want one of 3000 bytes), send queues %d bytes (want some)", inq, outq)
	}
	checkShape(t, es, images.FdTypes_INETSK, []string{"socket_listen", "socket_udp", "socket-tcp6", "sock_filter00"},
		"file_entry.isk.tcp_opts.nodelay") // set by the program, on none of the zoo's sockets
	names, _ := image.ListDir(dir)
	var streams []string
	for _, n := range names {
		if strings.HasPrefix(n, "tcp-stream-") {
			streams = append(streams, n)
		}
	}
	debianCrit(t, dir, append([]string{"files.img"}, streams...)...)
}

// TestDumpTCPRefused: without TCPEstablished an established connection
// fails the dump, saying what to do, and the program runs on.
func TestDumpTCPRefused(t *testing.T) {
	p := testProgram(t, "tcp")
	dir := t.TempDir()
	seizeDir(t, p.pid, dir)
	_, err := Dump(context.Background(), Options{Dir: dir, LeaveRunning: true})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "--tcp-established") {
		t.Errorf("dump: %v, want ErrNotSupported naming --tcp-established", err)
	}
	if st := procState(t, p.pid); st == 'T' || st == 't' {
		t.Fatalf("state %c after the failed dump, want running", st)
	}
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("program after the failed dump: %s", got)
	}
}

// TestDumpTCPRollback: a dump that fails after putting the connection in
// repair mode takes it out again, and the program's connection goes on.
func TestDumpTCPRollback(t *testing.T) {
	p := testProgram(t, "tcp")
	in := seizeStream(t, p.pid)
	_, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Stdout: &failingWriter{limit: 4 << 10}, TCPEstablished: true})
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("dump to a broken stream: %v, want EPIPE", err)
	}
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("program after the failed dump: %s", got)
	}
}

// TestDumpTCPKill: a dump that kills the tree closes the connection in
// repair mode: neither end says a word. Closed normally, both ends, with
// data unread, would send a reset. The program runs in a network
// namespace of its own, whose counters only it moves (and where the dump
// asks sock_diag from inside).
func TestDumpTCPKill(t *testing.T) {
	// Its network namespace is one the restore would refuse; this test
	// only dumps and kills.
	testOwnNamespaces = true
	defer func() { testOwnNamespaces = false }()
	p := testProgramIn(t, "tcp", "unshare", "-n", "/bin/sh", "-c", `ip link set lo up && exec "$0" "$@"`)
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", p.pid))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	dir := t.TempDir()
	seizeDir(t, p.pid, dir)
	before := outResets(t, ns)
	if _, err := Dump(context.Background(), Options{Dir: dir, TCPEstablished: true}); err != nil {
		t.Fatalf("dump: %v", err)
	}
	p.waitKilled(t)
	if ids := one[*images.TaskKobjIdsEntry](t, dir, "ids-"+pidOfSet(t, dir)+".img"); fileEntries(t, dir, images.FdTypes_INETSK)[0].GetIsk().GetNsId() != ids.GetNetNsId() {
		t.Errorf("socket's ns_id is not the task's network namespace %d", ids.GetNetNsId())
	}
	// The killed tasks' files are closed once init has reaped them.
	time.Sleep(200 * time.Millisecond)
	if after := outResets(t, ns); after != before {
		t.Errorf("%d resets sent after the dump killed the tree, want none", after-before)
	}
}

// outResets reads the TCP resets sent in the network namespace ns.
func outResets(t *testing.T, ns *os.File) int {
	t.Helper()
	type result struct {
		snmp []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread goes back to its namespace, or ends with the
		// goroutine, still locked.
		runtime.LockOSThread()
		own, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		defer own.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, err}
			return
		}
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if unix.Setns(int(own.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{b, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	var names []string
	for _, line := range strings.Split(string(r.snmp), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "OutRsts" && i < len(f) {
				v, err := strconv.Atoi(f[i])
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	t.Fatalf("no Tcp OutRsts in snmp: %s", r.snmp)
	return 0
}

// TestDumpExternalUnixSocket: a unix socket whose peer no task of the
// tree holds (here, the test) fails the dump, as CRIU's fails without
// --ext-unix-sk, and the program runs on.
func TestDumpExternalUnixSocket(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(pair[0]), "ours"), os.NewFile(uintptr(pair[1]), "theirs")
	defer ours.Close()
	p := startTestProgram(t, "eventfd", []*os.File{theirs})
	theirs.Close()
	dir := t.TempDir()
	seizeDir(t, p.pid, dir)
	_, err = Dump(context.Background(), Options{Dir: dir, LeaveRunning: true})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "which no task of the tree holds") {
		t.Errorf("dump: %v, want ErrNotSupported for the socket's peer", err)
	}
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("program after the failed dump: %s", got)
	}
}

func TestHandleWords(t *testing.T) {
	w := handleWords([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	if len(w) != fhMinEntries || w[0] != 0x0807060504030201 || w[1] != 9 || w[2] != 0 {
		t.Errorf("9 bytes: %x", w)
	}
	if w := handleWords(make([]byte, 130)); len(w) != 17 {
		t.Errorf("130 bytes: %d words", len(w))
	}
}

func TestAddrWords(t *testing.T) {
	for _, c := range []struct {
		addr   string
		family int
		want   []uint32
	}{
		{"127.0.0.1", unix.AF_INET, []uint32{0x0100007f}},
		{"0.0.0.0", unix.AF_INET, []uint32{0}},
		{"::1", unix.AF_INET6, []uint32{0, 0, 0, 0x01000000}},
		{"::ffff:10.0.0.2", unix.AF_INET6, []uint32{0, 0, 0xffff0000, 0x0200000a}},
	} {
		if got := addrWords(netip.MustParseAddr(c.addr), c.family); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %#x, want %#x", c.addr, got, c.want)
		}
	}
}

func TestShutdownOf(t *testing.T) {
	if shutdownOf(0) != nil {
		t.Error("no shutdown is recorded")
	}
	for bits, want := range map[uint8]images.SkShutdown{1: images.SkShutdown_READ, 2: images.SkShutdown_WRITE, 3: images.SkShutdown_BOTH} {
		if got := shutdownOf(bits); got == nil || *got != want {
			t.Errorf("bits %d: %v, want %v", bits, got, want)
		}
	}
}

// TestUnixPeer: which peers a unix socket entry may have, on sock_diag
// answers made up for the cases.
func TestUnixPeer(t *testing.T) {
	n := &netSocks{unix: map[uint32]*sockdiag.UnixSock{
		10: {Ino: 10, Type: unix.SOCK_STREAM, State: tcpListen, Name: []byte("/l\x00"), Icons: []uint32{11}},
		11: {Ino: 11, Type: unix.SOCK_STREAM, State: tcpEstablished},              // in flight on 10
		12: {Ino: 12, Type: unix.SOCK_STREAM, State: tcpEstablished},              // peer gone
		13: {Ino: 13, Type: unix.SOCK_STREAM, State: tcpEstablished, Shutdown: 3}, // peer gone, shut both ways
		14: {Ino: 14, Type: unix.SOCK_DGRAM, State: tcpEstablished},               // others connected to it
		15: {Ino: 15, Type: unix.SOCK_DGRAM, State: tcpEstablished, Peer: 16},     // peer connected elsewhere
		16: {Ino: 16, Type: unix.SOCK_DGRAM, State: tcpEstablished, Peer: 14},     // ... and unnamed
		17: {Ino: 17, Type: unix.SOCK_DGRAM, State: tcpEstablished, Peer: 18},     // peer connected elsewhere
		18: {Ino: 18, Type: unix.SOCK_DGRAM, State: tcpEstablished, Peer: 14, Name: []byte("\x00n")},
		19: {Ino: 19, Type: unix.SOCK_STREAM, State: tcpEstablished, Peer: 99}, // peer unknown
	}}
	n.icons = map[uint32]uint32{11: 10}
	for ino, want := range map[uint32]error{10: nil, 11: nil, 12: ErrNotSupported, 13: nil, 14: nil, 15: ErrNotSupported, 17: nil, 19: ErrKernel} {
		ue := &images.UnixSkEntry{Peer: ptr(n.unix[ino].Peer)}
		err := unixPeer(n, n.unix[ino], ue)
		if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Errorf("socket %d: %v, want %v", ino, err, want)
		}
	}
	ue := &images.UnixSkEntry{Peer: ptr(uint32(0))}
	if err := unixPeer(n, n.unix[11], ue); err != nil || ue.GetPeer() != 10 {
		t.Errorf("in-flight connection: peer %d (%v), want the listener 10", ue.GetPeer(), err)
	}
}

// TestDumpPacketRingRefused dumps packet with a socket holding a receive
// ring, not mapped and mapped: the dump refuses the socket, or the
// mapping of it, and the program runs on.
func TestDumpPacketRingRefused(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"PACKET_RING=1", "PACKET_RX_RING"},
		{"PACKET_RING=map", "socket:["},
	} {
		p := testProgramIn(t, "packet", "env", c.env)
		imgs := filepath.Join(t.TempDir(), "img")
		seizeDir(t, p.pid, imgs)
		_, err := Dump(context.Background(), Options{Dir: imgs})
		if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("dump with %s: %v, want the ring refused", c.env, err)
		}
		t.Log(err)
		if got := p.finishRepeat(t); got != "PASS" {
			t.Errorf("after the refused dump with %s: %s", c.env, got)
		}
	}
}
