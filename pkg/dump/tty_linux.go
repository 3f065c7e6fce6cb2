package dump

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/ttyimg"
)

// ttyState is what the dump learns of the terminals of the tree.
type ttyState struct {
	// infos are the tty-info.img entries, once per terminal side.
	infos map[uint32]*images.TtyInfoEntry
	// order is the order the infos were met in (CRIU writes them so).
	order []uint32
}

// isTTY says whether a character device is a terminal.
func isTTY(st *unix.Stat_t) bool {
	return isChr(st) && ttyimg.KindOf(unix.Major(st.Rdev), unix.Minor(st.Rdev)) != ttyimg.NotTTY
}

// tty records an open terminal as CRIU does: a reg_file_entry with the
// path it was opened by (regf_id, a fresh id), then the tty_file_entry,
// and the terminal's tty_info_entry the first time a side is met.
// Only pseudo-terminals are recorded.
func (d *dumper) tty(t *taskDump, f *fdFile, id, flags uint32, fown *images.FownEntry, theirs *os.File) error {
	st := &f.fs.st
	kind := ttyimg.KindOf(unix.Major(st.Rdev), unix.Minor(st.Rdev))
	if kind != ttyimg.Master && kind != ttyimg.Slave {
		return fmt.Errorf("terminal %s (%s): %w", f.fs.link, kind, ErrNotSupported)
	}
	index, err := ptyIndex(kind, f.fs.link, theirs)
	if err != nil {
		return err
	}
	infoID := ttyimg.InfoID(index, kind == ttyimg.Master)
	regID := d.fileIDs.unique()
	d.addFile(&images.FileEntry{Type: images.FdTypes_REG.Enum(), Id: ptr(regID), Reg: &images.RegFileEntry{
		Id: ptr(regID), Flags: ptr(flags), Pos: ptr(uint64(0)), Fown: fown, Name: ptr(f.fs.link), Mode: ptr(st.Mode),
	}})
	if _, ok := d.ttys.infos[infoID]; !ok {
		info, err := ttyInfo(t, f, kind, index, theirs)
		if err != nil {
			return fmt.Errorf("record terminal %s: %w", f.fs.link, err)
		}
		info.Id = ptr(infoID)
		if d.ttys.infos == nil {
			d.ttys.infos = map[uint32]*images.TtyInfoEntry{}
		}
		d.ttys.infos[infoID] = info
		d.ttys.order = append(d.ttys.order, infoID)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_TTY.Enum(), Id: ptr(id), Tty: &images.TtyFileEntry{
		Id: ptr(id), TtyInfoId: ptr(infoID), Flags: ptr(flags), Fown: fown, RegfId: ptr(regID),
	}})
	return nil
}

// ptyIndex is the pty index of a master (TIOCGPTN) or of a slave (its
// path, /dev/pts/N, as CRIU reads it).
func ptyIndex(kind ttyimg.Kind, link string, theirs *os.File) (uint32, error) {
	var index int
	var err error
	if kind == ttyimg.Master {
		if index, err = unix.IoctlGetInt(int(theirs.Fd()), unix.TIOCGPTN); err != nil {
			return 0, fmt.Errorf("read pty index of %s: %w", link, err)
		}
	} else if index, err = strconv.Atoi(path.Base(link)); err != nil || index < 0 {
		return 0, fmt.Errorf("pty slave path %s has no index: %w", link, ErrKernel)
	}
	if index > ttyimg.MaxPtyIndex {
		return 0, fmt.Errorf("pty index %d of %s is over CRIU's %d: %w", index, link, ttyimg.MaxPtyIndex, ErrNotSupported)
	}
	return uint32(index), nil
}

// ttyGetInt runs a "get" ioctl as CRIU's parasite does: a terminal that
// does not know it (ENOTTY) says 0; EIO means the terminal was hung up.
func ttyGetInt(fd int, req uint) (v int, hungUp bool, err error) {
	v, err = unix.IoctlGetInt(fd, req)
	switch {
	case err == nil:
		return v, false, nil
	case errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL):
		return 0, false, nil
	case errors.Is(err, unix.EIO):
		return 0, true, nil
	}
	return 0, false, err
}

// ttyInfo reads one side of a pty: its session and foreground group, lock,
// packet and exclusive modes, termios (plain and locked) and window size.
//
// CRIU asks the session and group from inside the task (TIOCGSID and
// TIOCGPGRP), where a slave answers only to a task whose controlling
// terminal it is, and a master always (for its slave). From outside, a
// master is asked the same; for a slave the answer is the task's own
// session and its terminal's foreground group (/proc/PID/stat) when the
// slave is the task's controlling terminal, and none otherwise, which is
// what the slave would have said.
func ttyInfo(t *taskDump, f *fdFile, kind ttyimg.Kind, index uint32, theirs *os.File) (*images.TtyInfoEntry, error) {
	fd := int(theirs.Fd())
	st := &f.fs.st
	info := &images.TtyInfoEntry{
		Type: images.TtyType_PTY.Enum(),
		Rdev: ptr(uint32(st.Rdev)), Dev: ptr(uint32(st.Dev)),
		Uid: ptr(st.Uid), Gid: ptr(st.Gid),
		Pty: &images.TtyPtyEntry{Index: ptr(index)},
	}
	var sid, pgrp int
	hung := false
	if kind == ttyimg.Master {
		var h1, h2 bool
		var err error
		if sid, h1, err = ttyGetInt(fd, unix.TIOCGSID); err != nil {
			return nil, fmt.Errorf("read session: %w", err)
		}
		if pgrp, h2, err = ttyGetInt(fd, unix.TIOCGPGRP); err != nil {
			return nil, fmt.Errorf("read foreground group: %w", err)
		}
		hung = h1 || h2
	} else if uint64(t.stat.TtyNr) == st.Rdev {
		sid, pgrp = t.stat.Session, max(t.stat.TPgid, 0)
	}
	excl, h, err := ttyGetInt(fd, unix.TIOCGEXCL)
	if err != nil {
		return nil, fmt.Errorf("read exclusive mode: %w", err)
	}
	hung = hung || h
	// CRIU asks both sides of a pty; a slave knows neither (ENOTTY: 0).
	pkt, h, err := ttyGetInt(fd, unix.TIOCGPKT)
	if err != nil {
		return nil, fmt.Errorf("read packet mode: %w", err)
	}
	hung = hung || h
	lck, h, err := ttyGetInt(fd, unix.TIOCGPTLCK)
	if err != nil {
		return nil, fmt.Errorf("read lock: %w", err)
	}
	hung = hung || h
	info.Sid, info.Pgrp = ptr(uint32(sid)), ptr(uint32(pgrp))
	info.Exclusive, info.PacketMode, info.Locked = ptr(excl != 0), ptr(pkt != 0), ptr(lck != 0)
	if hung {
		// A hung-up terminal: CRIU keeps what it has, without termios.
		info.Sid, info.Pgrp = ptr(uint32(0)), ptr(uint32(0))
		info.Exclusive, info.PacketMode, info.Locked = ptr(false), ptr(false), ptr(false)
		return info, nil
	}
	tm, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("read termios: %w", err)
	}
	lk, err := unix.IoctlGetTermios(fd, unix.TIOCGLCKTRMIOS)
	if err != nil {
		return nil, fmt.Errorf("read locked termios: %w", err)
	}
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return nil, fmt.Errorf("read window size: %w", err)
	}
	info.Termios = termiosOf(tm).Entry()
	info.TermiosLocked = termiosOf(lk).Entry()
	info.Winsize = &images.WinsizeEntry{
		WsRow: ptr(uint32(ws.Row)), WsCol: ptr(uint32(ws.Col)),
		WsXpixel: ptr(uint32(ws.Xpixel)), WsYpixel: ptr(uint32(ws.Ypixel)),
	}
	return info, nil
}

func termiosOf(t *unix.Termios) *ttyimg.Termios {
	return &ttyimg.Termios{Iflag: t.Iflag, Oflag: t.Oflag, Cflag: t.Cflag, Lflag: t.Lflag, Line: t.Line, Cc: t.Cc}
}

// ttysDone checks the terminals once every task is dumped, as CRIU does
// before it writes tty-info.img: every pty slave has its master in the
// tree, and every terminal's session has its leader in the tree; without
// ShellJob either is refused. With it, one slave may be the tree's
// terminal from outside (the shell's), which the restore replaces with
// its own.
func (d *dumper) ttysDone(shellJob bool) error {
	if len(d.ttys.order) == 0 {
		return nil
	}
	leaders := map[uint32]bool{}
	for _, t := range d.att.tasks {
		if t.ps.GetSid() == uint32(t.nsPid) {
			leaders[t.ps.GetSid()] = true
		}
	}
	ids := append([]uint32(nil), d.ttys.order...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	unpaired := 0
	for _, id := range ids {
		info := d.ttys.infos[id]
		index, master := ttyimg.Index(id)
		if sid := info.GetSid(); sid != 0 && !leaders[sid] && !shellJob {
			return fmt.Errorf("terminal /dev/pts/%d belongs to session %d, whose leader is not in the tree (a shell's terminal?): pass --shell-job to dump it as the tree's outside terminal: %w",
				index, sid, ErrNotSupported)
		}
		if master || info.Termios == nil {
			continue
		}
		if _, ok := d.ttys.infos[ttyimg.InfoID(index, true)]; ok {
			continue
		}
		if !shellJob {
			return fmt.Errorf("terminal /dev/pts/%d has its master outside the tree (a shell's terminal?): pass --shell-job to dump it as the tree's outside terminal: %w",
				index, ErrNotSupported)
		}
		if unpaired++; unpaired > 1 {
			return fmt.Errorf("terminal /dev/pts/%d: a second pty slave whose master is outside the tree (only one may be, with --shell-job): %w", index, ErrNotSupported)
		}
	}
	return nil
}

// ttyImages encodes tty-info.img, in the order the terminals were met.
func (d *dumper) ttyImages() error {
	if len(d.ttys.order) == 0 {
		return nil
	}
	var es []*images.TtyInfoEntry
	for _, id := range d.ttys.order {
		es = append(es, d.ttys.infos[id])
	}
	img, err := encodeImage(image.TTYInfo, msgs(es...)...)
	if err != nil {
		return err
	}
	d.out[image.TTYInfo.FileName(nil)] = img
	return nil
}
