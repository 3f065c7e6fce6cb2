package ttyimg

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/criugo/criugo/images"
)

// ErrBadEntry: a termios or winsize entry is not as CRIU writes it.
var ErrBadEntry = errors.New("bad terminal entry")

// NCC is the number of c_cc words CRIU writes (TERMIOS_NCC), and KernelNCC
// the number of control characters of the kernel's struct termios.
const (
	NCC       = 19
	KernelNCC = 19
)

// MaxPtyIndex is the largest pty index CRIU records (MAX_PTY_INDEX).
const MaxPtyIndex = 1000

// The pseudo indices CRIU gives terminals that are not ptys, one per
// driver (tty.c): every file of the console, of any virtual console, or
// of /dev/tty names one tty_info_entry, of id index<<1 (these drivers are
// neither side of a pair).
const (
	ConsoleIndex = 1002
	VTIndex      = 1004
	CTTYIndex    = 1006
)

// Device majors of terminals (linux/major.h).
const (
	ttyAuxMajor     = 5   // /dev/tty (0), /dev/console (1), /dev/ptmx (2)
	ptyMasterMajor  = 128 // UNIX98_PTY_MASTER_MAJOR, 8 of them
	ptyMajorCount   = 8
	ptySlaveMajor   = 136 // UNIX98_PTY_SLAVE_MAJOR
	ttyMajor        = 4
	minConsoles     = 1
	maxConsoles     = 63
	usbSerialMajor  = 188
	lowDenseSerial  = 204
	ptmxMinor       = 2
	consoleMinor    = 1
	currentTTYMinor = 0
)

// Kind is what a terminal device is, as CRIU's get_tty_driver tells.
type Kind int

const (
	NotTTY  Kind = iota
	Master       // /dev/ptmx or a UNIX98 master
	Slave        // /dev/pts/N
	Console      // /dev/console
	CTTY         // /dev/tty
	VT           // a virtual console
	Serial       // a serial line
)

func (k Kind) String() string {
	return [...]string{"not a tty", "pty master", "pty slave", "console", "/dev/tty", "virtual console", "serial line"}[k]
}

// KindOf classifies a character device by its major and minor.
func KindOf(major, minor uint32) Kind {
	switch {
	case major == ttyAuxMajor && minor == ptmxMinor:
		return Master
	case major == ttyAuxMajor && minor == consoleMinor:
		return Console
	case major == ttyAuxMajor && minor == currentTTYMinor:
		return CTTY
	case major == ttyMajor && minor <= maxConsoles:
		// Minor 0, /dev/tty0, is the virtual console in the foreground;
		// CRIU knows no driver for it (get_tty_driver) and cannot dump it.
		return VT
	case major == usbSerialMajor || major == lowDenseSerial:
		return Serial
	case major >= ptyMasterMajor && major < ptyMasterMajor+ptyMajorCount:
		return Master
	case major == ptySlaveMajor:
		return Slave
	}
	return NotTTY
}

// InfoID is the tty_info_entry id of one side of pty index.
func InfoID(index uint32, master bool) uint32 {
	id := index << 1
	if master {
		id |= 1
	}
	return id
}

// Index is the pty index a tty_info_entry id names, and whether it is the
// master side.
func Index(infoID uint32) (index uint32, master bool) {
	return infoID >> 1, infoID&1 != 0
}

// Termios is the kernel's struct termios (TCGETS), without the speeds
// that only termios2 carries.
type Termios struct {
	Iflag, Oflag, Cflag, Lflag uint32
	Line                       uint8
	Cc                         [KernelNCC]uint8
}

// Entry packs t as CRIU does.
func (t *Termios) Entry() *images.TermiosEntry {
	var raw [NCC * 4]byte
	copy(raw[:], t.Cc[:])
	cc := make([]uint32, NCC)
	for i := range cc {
		cc[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	zero := uint32(0)
	return &images.TermiosEntry{
		CIflag: ptr(t.Iflag), COflag: ptr(t.Oflag), CCflag: ptr(t.Cflag), CLflag: ptr(t.Lflag),
		CLine: ptr(uint32(t.Line)), CIspeed: &zero, COspeed: ptr(uint32(0)), CCc: cc,
	}
}

// FromEntry unpacks a termios_entry; CRIU refuses one with fewer than NCC
// c_cc words, and so does this.
func FromEntry(e *images.TermiosEntry) (*Termios, error) {
	if len(e.GetCCc()) < NCC {
		return nil, fmt.Errorf("termios with %d c_cc words, want %d: %w", len(e.GetCCc()), NCC, ErrBadEntry)
	}
	if e.GetCLine() > 0xff {
		return nil, fmt.Errorf("termios c_line %d: %w", e.GetCLine(), ErrBadEntry)
	}
	t := &Termios{
		Iflag: e.GetCIflag(), Oflag: e.GetCOflag(), Cflag: e.GetCCflag(), Lflag: e.GetCLflag(),
		Line: uint8(e.GetCLine()),
	}
	var raw [NCC * 4]byte
	for i, w := range e.GetCCc()[:NCC] {
		binary.LittleEndian.PutUint32(raw[4*i:], w)
	}
	copy(t.Cc[:], raw[:])
	return t, nil
}

func ptr[T any](v T) *T { return &v }
