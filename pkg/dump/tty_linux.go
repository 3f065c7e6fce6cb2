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
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ttyimg"
)

// Terminals are character devices of a tty major.
func init() {
	registerFdKind(images.FdTypes_TTY, &fdKind{
		link: proc.LinkPath,
		path: func(_ *dumper, fs *fileStat) bool { return isTTY(&fs.st) },
		dump: func(d *dumper, x *fdDump) error { return d.tty(x.t, x.f, x.id, x.flags, x.fown, x.theirs) },
	})
}

// ttyState is what the dump learns of the terminals of the tree.
type ttyState struct {
	// infos are the tty-info.img entries, once per terminal side.
	infos map[uint32]*images.TtyInfoEntry
	// order is the order the infos were met in (CRIU writes them so).
	order []uint32
	// files are our copies of the first open file met of each side, by
	// tty_info id: the queued data is read out through them, and written
	// back through them when the tree goes on.
	files map[uint32]*os.File
	// queued is the data read out of each pty side (ttyQueued), in
	// tty-data.img's order; writtenBack says it went back already.
	queued      []ttyData
	writtenBack bool
	// cttyHolders are the sessions (their leaders' pids) of the tasks
	// holding /dev/tty.
	cttyHolders []uint32
}

// ttyData is what was queued at one side of a pty: input the slave had
// not read, or output the master had not read.
type ttyData struct {
	id   uint32 // tty_info id of the side it was read from
	data []byte
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
	switch kind {
	case ttyimg.CTTY:
		return d.ctty(t, f, id, flags, fown, theirs)
	case ttyimg.Console, ttyimg.VT:
		return d.consoleTty(t, f, kind, id, flags, fown, theirs)
	}
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
		if info.Uid != nil && info.Gid != nil {
			info.Uid, info.Gid = d.fileOwner(info.GetUid(), info.GetGid())
		}
		info.Id = ptr(infoID)
		if d.ttys.infos == nil {
			d.ttys.infos = map[uint32]*images.TtyInfoEntry{}
		}
		// Our own copy of the file, for the queued data (ttyQueued).
		mine, err := unix.FcntlInt(theirs.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("duplicate %s: %w", f.fs.link, err)
		}
		if d.ttys.files == nil {
			d.ttys.files = map[uint32]*os.File{}
		}
		d.ttys.files[infoID] = os.NewFile(uintptr(mine), f.fs.link)
		d.ttys.infos[infoID] = info
		d.ttys.order = append(d.ttys.order, infoID)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_TTY.Enum(), Id: ptr(id), Tty: &images.TtyFileEntry{
		Id: ptr(id), TtyInfoId: ptr(infoID), Flags: ptr(flags), Fown: fown, RegfId: ptr(regID),
	}})
	return nil
}

// cttyIndex is the index CRIU gives /dev/tty: its tty_info id is
// cttyIndex<<1 (CRIU's ctty driver is neither master nor slave).
const cttyIndex = ttyimg.CTTYIndex

// ctty records an fd of /dev/tty, as CRIU's TTY_TYPE__CTTY: the path,
// the tty_file_entry and a tty_info_entry of type CTTY, read through
// /dev/tty (which is the task's controlling terminal itself). The restore
// opens /dev/tty again from inside the task once it has its controlling
// terminal, which only a session leader gets back, from a pty master of
// the tree (restoreCtty): an fd of /dev/tty held by another task, or
// whose terminal is not such a pty, is refused (ttysDone).
func (d *dumper) ctty(t *taskDump, f *fdFile, id, flags uint32, fown *images.FownEntry, theirs *os.File) error {
	st := &f.fs.st
	if t.stat.TtyNr == 0 {
		return fmt.Errorf("terminal %s of pid %d, which has no controlling terminal: %w", f.fs.link, t.pid, ErrKernel)
	}
	if t.stat.Session != t.nsPid {
		return fmt.Errorf("terminal %s of pid %d, which does not lead its session %d (only a session leader gets its controlling terminal back): %w",
			f.fs.link, t.pid, t.stat.Session, ErrNotSupported)
	}
	realKind := ttyimg.KindOf(unix.Major(uint64(t.stat.TtyNr)), unix.Minor(uint64(t.stat.TtyNr)))
	if realKind != ttyimg.Slave {
		return fmt.Errorf("terminal %s of pid %d: its controlling terminal is a %s, not a pty: %w", f.fs.link, t.pid, realKind, ErrNotSupported)
	}
	infoID := ttyimg.InfoID(cttyIndex, false)
	regID := d.fileIDs.unique()
	d.addFile(&images.FileEntry{Type: images.FdTypes_REG.Enum(), Id: ptr(regID), Reg: &images.RegFileEntry{
		Id: ptr(regID), Flags: ptr(flags), Pos: ptr(uint64(0)), Fown: fown, Name: ptr(f.fs.link), Mode: ptr(st.Mode),
	}})
	if _, ok := d.ttys.infos[infoID]; !ok {
		info, err := ttyInfo(t, f, ttyimg.Slave, 0, theirs)
		if err != nil {
			return fmt.Errorf("record terminal %s: %w", f.fs.link, err)
		}
		// /dev/tty is the controlling terminal: the task's session and
		// foreground group, as the task itself would be told.
		info.Id, info.Type, info.Pty = ptr(infoID), images.TtyType_CTTY.Enum(), nil
		if info.Termios != nil {
			info.Sid, info.Pgrp = ptr(uint32(t.stat.Session)), ptr(uint32(max(t.stat.TPgid, 0)))
		}
		if d.ttys.infos == nil {
			d.ttys.infos = map[uint32]*images.TtyInfoEntry{}
		}
		d.ttys.infos[infoID] = info
		d.ttys.order = append(d.ttys.order, infoID)
	}
	d.ttys.cttyHolders = append(d.ttys.cttyHolders, uint32(t.nsPid))
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
	// /dev/tty comes back only through a pty master of the tree whose
	// session it is (the restore's restoreCtty).
	for _, sid := range d.ttys.cttyHolders {
		found := false
		for _, id := range ids {
			info := d.ttys.infos[id]
			if _, master := ttyimg.Index(id); master && info.GetType() == images.TtyType_PTY && info.GetSid() == sid && info.Termios != nil {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("/dev/tty opened in session %d, whose controlling terminal has no pty master in the tree: %w", sid, ErrNotSupported)
		}
	}
	unpaired := 0
	for _, id := range ids {
		info := d.ttys.infos[id]
		if info.GetType() != images.TtyType_PTY {
			// /dev/tty, consoles: no pair, no session (consoleTty).
			continue
		}
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

// ttyImages encodes tty-info.img, in the order the terminals were met,
// and tty-data.img when data was queued.
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
	if len(d.ttys.queued) == 0 {
		return nil
	}
	var ds []*images.TtyDataEntry
	for _, q := range d.ttys.queued {
		ds = append(ds, &images.TtyDataEntry{TtyId: ptr(q.id), Data: q.data})
	}
	if img, err = encodeImage(image.TTYData, msgs(ds...)...); err != nil {
		return err
	}
	d.out[image.TTYData.FileName(nil)] = img
	return nil
}

// ttyDataMax is the most CRIU reads out of one side of a pty (16 KiB):
// what is queued beyond it is left in place.
const ttyDataMax = 16384

// ttyQueued reads out the data queued in every pty pair whose both sides
// the tree holds, as CRIU does once every task is dumped: through the
// first file met of each side, made non-blocking for the time of the
// read, until the side has no more (or ttyDataMax). What the slave
// gives is input its reader had not read yet, what the master gives is
// output its reader had not read yet. Pairs go in CRIU's order: the last
// pair met first, and in a pair the side met first.
//
// Reading takes the data out of the terminal. When the tree goes on
// (leaveRunning) it is written back at once, each side's data into the
// other side, as CRIU does; after a failure, before the tree is thawed,
// the same is done (Dump's rollback). A master in packet mode gives a status byte before
// each read's data; it is not kept (CRIU keeps it, and its restore then
// writes it into the slave as data).
func (d *dumper) ttyQueued(leaveRunning bool) error {
	var firsts []uint32
	paired := map[uint32]bool{}
	for _, id := range d.ttys.order {
		other := id ^ 1
		if paired[id] || d.ttys.infos[other] == nil {
			continue
		}
		paired[id], paired[other] = true, true
		firsts = append(firsts, id)
	}
	for i := len(firsts) - 1; i >= 0; i-- {
		for _, id := range []uint32{firsts[i], firsts[i] ^ 1} {
			_, master := ttyimg.Index(id)
			packet := master && d.ttys.infos[id].GetPacketMode()
			data, err := readQueued(d.ttys.files[id], packet)
			if err != nil {
				return fmt.Errorf("read data queued in %s: %w", d.ttys.files[id].Name(), err)
			}
			if len(data) > 0 {
				d.ttys.queued = append(d.ttys.queued, ttyData{id: id, data: data})
			}
		}
	}
	if leaveRunning {
		return d.ttyWriteBack()
	}
	return nil
}

// readQueued reads what a pty side has queued, without waiting.
func readQueued(f *os.File, packet bool) ([]byte, error) {
	var out []byte
	err := nonblocking(f, func(fd int) error {
		buf := make([]byte, 1+4096) // a status byte, then data
		for len(out) < ttyDataMax {
			want := min(4096, ttyDataMax-len(out))
			if packet {
				want++
			}
			n, err := unix.Read(fd, buf[:want])
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EIO), err == nil && n == 0:
				// Nothing more; EIO: the other side is closed.
				return nil
			case err != nil:
				return err
			}
			got := buf[:n]
			if packet {
				if got[0] != unix.TIOCPKT_DATA {
					continue // a status change, no data
				}
				got = got[1:]
			}
			out = append(out, got...)
		}
		return nil
	})
	return out, err
}

// nonblocking runs do on f's descriptor with O_NONBLOCK set, and then
// puts its status flags back as they were: the description is the
// task's own.
func nonblocking(f *os.File, do func(fd int) error) error {
	fd := int(f.Fd())
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("read flags: %w", err)
	}
	if fl&unix.O_NONBLOCK == 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl|unix.O_NONBLOCK); err != nil {
			return fmt.Errorf("make non-blocking: %w", err)
		}
		defer unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
	}
	return do(fd)
}

// ttyWriteBack puts the queued data back into the terminals it was read
// from, once: the data of a side is written into the other side (input
// the slave had queued into the master, output the master had queued
// into the slave), as CRIU does. A terminal never promised delivery, so
// a short write is not an error; a failed one is.
func (d *dumper) ttyWriteBack() error {
	if d.ttys.writtenBack {
		return nil
	}
	d.ttys.writtenBack = true
	var errs []error
	for _, q := range d.ttys.queued {
		to := d.ttys.files[q.id^1]
		err := nonblocking(to, func(fd int) error {
			_, err := unix.Write(fd, q.data)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("write queued data back into %s: %w", to.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// closeTTYs drops our copies of the terminals. Data read out of them
// went back before (ttyWriteBack: with the tree left running, or in the
// rollback of a failed dump), or is in the images of a killed tree.
func (d *dumper) closeTTYs() {
	for _, f := range d.ttys.files {
		f.Close()
	}
	d.ttys.files = nil
}
