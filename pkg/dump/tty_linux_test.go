package dump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/ttyimg"
)

// TestDumpPty dumps test/programs/pty.c (a master in packet mode with its
// termios and window, a locked master, a child whose controlling terminal
// is the slave, made exclusive, with its grandchild's group in the
// foreground; a raw pair with data queued both ways, and output queued
// at the packet-mode master) and checks the entries against what the
// program set up and against the shape of CRIU 4.2's in the zoo set
// pty00. The program checks after the dump that the data is back.
func TestDumpPty(t *testing.T) {
	p := testProgram(t, "pty")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_TTY)
	if len(es) != 5 {
		t.Fatalf("%d TTY file entries, want 5 (three masters, a slave file shared by two tasks, the raw pair's slave)", len(es))
	}
	checkShape(t, es, images.FdTypes_TTY, []string{"pty00"})
	regs := map[uint32]string{}
	for _, e := range fileEntries(t, dir, images.FdTypes_REG) {
		regs[e.GetId()] = e.GetReg().GetName()
	}
	for _, e := range es {
		index, master := ttyimg.Index(e.GetTty().GetTtyInfoId())
		want := "/dev/pts/" + itoa(index)
		if master {
			want = "/dev/ptmx"
		}
		if got := regs[e.GetTty().GetRegfId()]; got != want {
			t.Errorf("tty file %d: regf path %q, want %q", e.GetId(), got, want)
		}
	}

	var sid, pgrp uint32
	for _, e := range readImg(t, dir, "pstree.img").Entries {
		ps := e.Msg.(*images.PstreeEntry)
		if ps.GetPpid() != 0 && ps.GetSid() == ps.GetPid() {
			sid = ps.GetPid()
		}
		if ps.GetPpid() != 0 && ps.GetSid() != ps.GetPid() && ps.GetPgid() == ps.GetPid() {
			pgrp = ps.GetPid()
		}
	}
	if sid == 0 || pgrp == 0 {
		t.Fatal("pstree.img has no child session leader with a grandchild leading its group")
	}
	infos := map[uint32]*images.TtyInfoEntry{}
	var masters, slaves []*images.TtyInfoEntry
	for _, e := range readImg(t, dir, "tty-info.img").Entries {
		in := e.Msg.(*images.TtyInfoEntry)
		infos[in.GetId()] = in
		if _, m := ttyimg.Index(in.GetId()); m {
			masters = append(masters, in)
		} else {
			slaves = append(slaves, in)
		}
	}
	if len(masters) != 3 || len(slaves) != 2 {
		t.Fatalf("tty-info.img: %d masters and %d slaves, want 3 and 2", len(masters), len(slaves))
	}
	// m is in packet mode, m2 locked, m3 the raw pair's; s has a session.
	var m, m2, m3, s, s3 *images.TtyInfoEntry
	for _, in := range masters {
		switch {
		case in.GetPacketMode():
			m = in
		case in.GetLocked():
			m2 = in
		default:
			m3 = in
		}
	}
	for _, in := range slaves {
		if in.GetSid() != 0 {
			s = in
		} else {
			s3 = in
		}
	}
	if m == nil || m2 == nil || m3 == nil || s == nil || s3 == nil {
		t.Fatalf("tty-info.img: cannot tell the terminals apart: masters %v slaves %v", masters, slaves)
	}
	if idx, _ := ttyimg.Index(s3.GetId()); idx != m3.GetPty().GetIndex() {
		t.Errorf("raw slave index %d, its master's %d", idx, m3.GetPty().GetIndex())
	}
	// The queued data, as CRIU orders it (the pair met last first, the
	// side met first first) and without packet mode's status byte.
	var data []string
	for _, e := range readImg(t, dir, "tty-data.img").Entries {
		de := e.Msg.(*images.TtyDataEntry)
		data = append(data, fmt.Sprintf("%#x %q", de.GetTtyId(), de.GetData()))
	}
	want := []string{
		fmt.Sprintf("%#x %q", m3.GetId(), "output m3 has not read"),
		fmt.Sprintf("%#x %q", s3.GetId(), "input s3 has not read"),
		fmt.Sprintf("%#x %q", m.GetId(), "output m has not read\n"),
	}
	if !reflect.DeepEqual(data, want) {
		t.Errorf("tty-data.img: %q, want %q", data, want)
	}
	if idx, _ := ttyimg.Index(s.GetId()); idx != m.GetPty().GetIndex() {
		t.Errorf("slave index %d, master's %d", idx, m.GetPty().GetIndex())
	}
	if !m2.GetLocked() || m.GetLocked() || !m.GetPacketMode() || m2.GetPacketMode() {
		t.Errorf("masters: locked %v/%v packet %v/%v, want false/true true/false", m.GetLocked(), m2.GetLocked(), m.GetPacketMode(), m2.GetPacketMode())
	}
	if m.GetSid() != sid || m.GetPgrp() != pgrp || s.GetSid() != sid || s.GetPgrp() != pgrp {
		t.Errorf("session/foreground: master %d/%d slave %d/%d, want %d/%d", m.GetSid(), m.GetPgrp(), s.GetSid(), s.GetPgrp(), sid, pgrp)
	}
	if m2.GetSid() != 0 || m2.GetPgrp() != 0 {
		t.Errorf("locked master: session %d group %d, want none", m2.GetSid(), m2.GetPgrp())
	}
	if !s.GetExclusive() || m.GetExclusive() {
		t.Errorf("exclusive: slave %v master %v, want true false", s.GetExclusive(), m.GetExclusive())
	}
	if w := m.GetWinsize(); w.GetWsRow() != 33 || w.GetWsCol() != 111 || w.GetWsXpixel() != 5 || w.GetWsYpixel() != 7 {
		t.Errorf("window %v, want 33x111 5x7", w)
	}
	tm, err := ttyimg.FromEntry(s.GetTermios())
	if err != nil {
		t.Fatal(err)
	}
	if tm.Lflag != unix.ICANON|unix.ISIG|unix.IEXTEN || tm.Oflag != 0 || tm.Cc[unix.VINTR] != 0x10 || tm.Cc[unix.VEOL] != 0x15 {
		t.Errorf("termios lflag %#x oflag %#x VINTR %#x VEOL %#x, want %#x 0 0x10 0x15", tm.Lflag, tm.Oflag, tm.Cc[unix.VINTR], tm.Cc[unix.VEOL], unix.ICANON|unix.ISIG|unix.IEXTEN)
	}
	// The fields CRIU sets on a pty's tty_info_entry, ours set too.
	zoo, err := image.ReadFile(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "pty00"), "tty-info.img")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range zoo.Entries {
		ze := e.Msg.(*images.TtyInfoEntry)
		if ze.GetType() != images.TtyType_PTY {
			continue
		}
		want := map[string]bool{}
		imgtool.FieldPaths(ze.ProtoReflect(), "tty_info_entry", want)
		for _, in := range []*images.TtyInfoEntry{m, s} {
			got := map[string]bool{}
			imgtool.FieldPaths(in.ProtoReflect(), "tty_info_entry", got)
			for k := range want {
				if !got[k] {
					t.Errorf("tty info %#x lacks %s, which CRIU sets", in.GetId(), k)
				}
			}
			for k := range got {
				if !want[k] {
					t.Errorf("tty info %#x sets %s, which CRIU does not", in.GetId(), k)
				}
			}
			if len(in.GetTermios().GetCCc()) != len(ze.GetTermios().GetCCc()) {
				t.Errorf("tty info %#x: %d c_cc words, CRIU %d", in.GetId(), len(in.GetTermios().GetCCc()), len(ze.GetTermios().GetCCc()))
			}
		}
	}
	debianCrit(t, dir, "files.img", "tty-info.img", "tty-data.img")
}

// TestDumpPtyRollback: a dump that fails after reading the data queued
// in the program's ptys (not to leave the tree running, so the data is
// not written back at once) puts it back before the tree goes on: the
// program finds it all, once.
func TestDumpPtyRollback(t *testing.T) {
	p := testProgram(t, "pty")
	in := seizeStream(t, p.pid)
	_, err := Dump(context.Background(), Options{Stdin: bytes.NewReader(in), Stdout: &failingWriter{limit: 4 << 10}})
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("dump to a broken stream: %v, want EPIPE", err)
	}
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("program after the failed dump: %s", got)
	}
}

// TestDumpOutsideTerminal dumps a program holding a pty slave whose
// master is ours (outside the tree, as a shell's terminal is): refused
// without ShellJob, with an error that says to pass --shell-job, and
// dumped with it.
func TestDumpOutsideTerminal(t *testing.T) {
	testutil.RequireRoot(t)
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	index, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+itoa(uint32(index)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := startTestProgram(t, "loop", []*os.File{slave})
	slave.Close()

	dir := t.TempDir()
	seizeDir(t, p.pid, dir)
	_, err = Dump(context.Background(), Options{Dir: dir, LeaveRunning: true})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "--shell-job") {
		t.Fatalf("dump without ShellJob: %v, want ErrNotSupported saying --shell-job", err)
	}
	dir = dumpLeave(t, p, Options{ShellJob: true})
	es := fileEntries(t, dir, images.FdTypes_TTY)
	if len(es) != 1 || es[0].GetTty().GetTtyInfoId() != ttyimg.InfoID(uint32(index), false) {
		t.Fatalf("TTY entries %v, want the slave of pts %d", es, index)
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
