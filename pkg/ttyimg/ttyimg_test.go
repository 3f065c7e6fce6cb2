package ttyimg

import (
	"path/filepath"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// TestZooTermios reads the termios CRIU 4.2 wrote for pty00 (a pty with
// the kernel's default termios) and packs it back: the control characters
// are the kernel's defaults, and the words holding them come out as CRIU
// wrote them.
func TestZooTermios(t *testing.T) {
	img, err := image.ReadFile(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "pty00"), "tty-info.img")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range img.Entries {
		in := e.Msg.(*images.TtyInfoEntry)
		if in.GetType() != images.TtyType_PTY {
			continue
		}
		n++
		tm, err := FromEntry(in.GetTermios())
		if err != nil {
			t.Fatal(err)
		}
		// VINTR ^C, VQUIT ^\, VERASE DEL, VKILL ^U, VEOF ^D, VMIN 1.
		if tm.Cc[0] != 3 || tm.Cc[1] != 0x1c || tm.Cc[2] != 0x7f || tm.Cc[3] != 0x15 || tm.Cc[4] != 4 || tm.Cc[6] != 1 {
			t.Errorf("tty %#x: control characters % x", in.GetId(), tm.Cc)
		}
		if tm.Lflag != 35387 || tm.Cflag != 191 {
			t.Errorf("tty %#x: lflag %d cflag %d", in.GetId(), tm.Lflag, tm.Cflag)
		}
		back := tm.Entry()
		zoo := in.GetTermios().GetCCc()
		if len(back.GetCCc()) != NCC {
			t.Fatalf("packed %d words, want %d", len(back.GetCCc()), NCC)
		}
		// Words 0-3 hold control characters 0-15, word 4 the last three
		// in its low bytes; CRIU's words after them are heap leftovers.
		for i := range 4 {
			if back.GetCCc()[i] != zoo[i] {
				t.Errorf("tty %#x: c_cc word %d is %#x, CRIU wrote %#x", in.GetId(), i, back.GetCCc()[i], zoo[i])
			}
		}
		if back.GetCCc()[4]&0xffffff != zoo[4]&0xffffff {
			t.Errorf("tty %#x: c_cc word 4 is %#x, CRIU wrote %#x", in.GetId(), back.GetCCc()[4], zoo[4])
		}
		index, master := Index(in.GetId())
		if index != in.GetPty().GetIndex() || InfoID(index, master) != in.GetId() {
			t.Errorf("tty %#x: index %d master %v, entry says index %d", in.GetId(), index, master, in.GetPty().GetIndex())
		}
		if k := KindOf(uint32(in.GetRdev())>>8&0xfff, in.GetRdev()&0xff); (k == Master) != master || (k != Master && k != Slave) {
			t.Errorf("tty %#x: rdev %#x is a %v", in.GetId(), in.GetRdev(), k)
		}
	}
	if n != 2 {
		t.Fatalf("%d pty entries in pty00, want 2", n)
	}
}

func TestFromEntryShort(t *testing.T) {
	e := (&Termios{}).Entry()
	e.CCc = e.CCc[:NCC-1]
	if _, err := FromEntry(e); err == nil {
		t.Error("a termios with 18 c_cc words was accepted")
	}
}

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		major, minor uint32
		want         Kind
	}{{5, 2, Master}, {128, 3, Master}, {136, 7, Slave}, {5, 0, CTTY}, {5, 1, Console}, {4, 1, VT}, {4, 0, VT}, {4, 63, VT}, {4, 64, NotTTY}, {1, 3, NotTTY}} {
		if got := KindOf(c.major, c.minor); got != c.want {
			t.Errorf("%d:%d is %v, want %v", c.major, c.minor, got, c.want)
		}
	}
}
