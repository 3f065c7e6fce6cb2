package dump

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ttyimg"
)

// consoleTty records an fd of the system console (/dev/console) or of a
// virtual console (/dev/ttyN, and /dev/tty0, the one in the foreground,
// which CRIU cannot dump) as CRIU's TTY_TYPE__CONSOLE and TTY_TYPE__VT:
// the path it was opened by, the tty_file_entry, and one tty_info_entry
// per driver (every virtual console's file names the same one, as in
// CRIU's images) with the terminal's owner, exclusive mode, termios and
// window size. The restore opens the path again and sets them.
//
// A console that is the controlling terminal of its holder's session
// keeps the session and foreground group in its entry, and the session
// leader takes it again on restore, as CRIU's.
//
// Refused: a console that is the controlling terminal of a session whose
// leader does not hold it, two virtual consoles whose settings differ
// (the one entry would give both the first one's), and two virtual
// consoles one of which is a controlling terminal (the one entry would
// not say which).
func (d *dumper) consoleTty(t *taskDump, f *fdFile, kind ttyimg.Kind, id, flags uint32, fown *images.FownEntry, theirs *os.File) error {
	st := &f.fs.st
	typ, index := images.TtyType_CONSOLE, uint32(ttyimg.ConsoleIndex)
	if kind == ttyimg.VT {
		typ, index = images.TtyType_VT, ttyimg.VTIndex
	}
	// /dev/console and /dev/tty0 stand for another terminal, which is
	// the one a controlling terminal would be.
	real := st.Rdev
	if dev, err := unix.IoctlGetUint32(int(theirs.Fd()), unix.TIOCGDEV); err == nil {
		real = uint64(dev)
	}
	ctty := t.stat.TtyNr != 0 && uint64(t.stat.TtyNr) == real
	if ctty && t.stat.Session != t.nsPid {
		return fmt.Errorf("terminal %s (fd of pid %d) is the controlling terminal of session %d, which pid %d does not lead (only a session leader gets its controlling terminal back): %w",
			f.fs.link, t.pid, t.stat.Session, t.pid, ErrNotSupported)
	}
	info, err := ttyInfo(t, f, ttyimg.Slave, 0, theirs)
	if err != nil {
		return fmt.Errorf("record terminal %s: %w", f.fs.link, err)
	}
	if ctty {
		// ttyInfo knows a slave's session only by its device, which
		// /dev/console's is not.
		info.Sid, info.Pgrp = ptr(uint32(t.stat.Session)), ptr(uint32(max(t.stat.TPgid, 0)))
	}
	infoID := ttyimg.InfoID(index, false)
	info.Id, info.Type, info.Pty = ptr(infoID), typ.Enum(), nil
	// CRIU asks the packet mode and lock of ptys only.
	info.PacketMode, info.Locked = ptr(false), ptr(false)
	if info.Uid != nil && info.Gid != nil {
		info.Uid, info.Gid = d.fileOwner(info.GetUid(), info.GetGid())
	}
	if prev, ok := d.ttys.infos[infoID]; ok {
		if prev.GetRdev() != info.GetRdev() && (prev.GetSid() != 0 || info.GetSid() != 0) {
			return fmt.Errorf("terminal %s (fd of pid %d): another %s of the tree (device %d:%d) shares its one entry in CRIU's images, and one of them is a controlling terminal: %w",
				f.fs.link, t.pid, kind, unix.Major(uint64(prev.GetRdev())), unix.Minor(uint64(prev.GetRdev())), ErrNotSupported)
		}
		if prev.GetRdev() != info.GetRdev() && !sameTTYSettings(prev, info) {
			return fmt.Errorf("terminal %s (fd of pid %d): another %s of the tree (device %d:%d) has other settings, and CRIU's images keep one for all: %w",
				f.fs.link, t.pid, kind, unix.Major(uint64(prev.GetRdev())), unix.Minor(uint64(prev.GetRdev())), ErrNotSupported)
		}
	} else {
		if d.ttys.infos == nil {
			d.ttys.infos = map[uint32]*images.TtyInfoEntry{}
		}
		d.ttys.infos[infoID] = info
		d.ttys.order = append(d.ttys.order, infoID)
	}
	regID := d.fileIDs.unique()
	d.addFile(&images.FileEntry{Type: images.FdTypes_REG.Enum(), Id: ptr(regID), Reg: &images.RegFileEntry{
		Id: ptr(regID), Flags: ptr(flags), Pos: ptr(uint64(0)), Fown: fown, Name: ptr(f.fs.link), Mode: ptr(st.Mode),
	}})
	d.addFile(&images.FileEntry{Type: images.FdTypes_TTY.Enum(), Id: ptr(id), Tty: &images.TtyFileEntry{
		Id: ptr(id), TtyInfoId: ptr(infoID), Flags: ptr(flags), Fown: fown, RegfId: ptr(regID),
	}})
	return nil
}

// sameTTYSettings reports whether two terminals have the same owner,
// exclusive mode, termios and window size.
func sameTTYSettings(a, b *images.TtyInfoEntry) bool {
	return a.GetUid() == b.GetUid() && a.GetGid() == b.GetGid() && a.GetExclusive() == b.GetExclusive() &&
		proto.Equal(a.Termios, b.Termios) && proto.Equal(a.TermiosLocked, b.TermiosLocked) && proto.Equal(a.Winsize, b.Winsize)
}
