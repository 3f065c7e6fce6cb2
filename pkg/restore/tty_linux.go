package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ttyimg"
)

func init() {
	registerFileKind(images.FdTypes_TTY, &fileKind{
		check: (*fileObjs).checkTty,
		open:  (*fileObjs).ttyDesc,
		fown:  func(e *images.FileEntry) *images.FownEntry { return e.GetTty().GetFown() },
		fill: func(r *restorer, t *task, p *taskPlan) error {
			if err := r.restoreCtty(t); err != nil {
				return err
			}
			return r.restoreDevTty(t, p)
		},
	})
}

// ErrPtyTaken: the pty index a terminal had is held by another terminal
// on this machine, so the pair cannot come back under its name.
var ErrPtyTaken = errors.New("pty index taken")

// ptmxTries is how many masters CRIU opens, at most, looking for an index
// (the lower ones are held open while it looks, then closed).
const ptmxTries = 32

// ttyTables holds tty-info.img and tty-data.img, read once.
type ttyTables struct {
	loaded bool
	infos  map[uint32]*images.TtyInfoEntry
	// order is tty-info.img's order.
	order []*images.TtyInfoEntry
	data  map[uint32][]byte
	// shellTerm is the terminal a shell job gets in place of its outside
	// one (Options.Terminal), once a file of it has been given.
	shellTerm *os.File
}

// ttys reads the terminal images on first use.
func (f *fileObjs) ttys() (*ttyTables, error) {
	st := stateOf[ttyTables](f, images.FdTypes_TTY)
	if st.loaded {
		return st, nil
	}
	infos, err := entries[*images.TtyInfoEntry](f.r.set, "tty-info.img", true)
	if err != nil {
		return nil, err
	}
	t := ttyTables{loaded: true, infos: map[uint32]*images.TtyInfoEntry{}, data: map[uint32][]byte{}}
	for _, in := range infos {
		if _, dup := t.infos[in.GetId()]; dup {
			return nil, fmt.Errorf("read tty-info.img: terminal %#x twice: %w", in.GetId(), ErrBadImage)
		}
		t.infos[in.GetId()] = in
		t.order = append(t.order, in)
	}
	data, err := entries[*images.TtyDataEntry](f.r.set, "tty-data.img", true)
	if err != nil {
		return nil, err
	}
	for _, d := range data {
		if _, ok := t.infos[d.GetTtyId()]; !ok {
			return nil, fmt.Errorf("read tty-data.img: data for terminal %#x, which tty-info.img lacks: %w", d.GetTtyId(), ErrBadImage)
		}
		t.data[d.GetTtyId()] = append(t.data[d.GetTtyId()], d.GetData()...)
	}
	*st = t
	return st, nil
}

// ptyFile is a TTY file entry with the terminal it names.
type ptyFile struct {
	tfe    *images.TtyFileEntry
	info   *images.TtyInfoEntry
	index  uint32
	master bool
	path   string // the path it was opened by (its regf entry), or ""
}

// ptyOf checks a TTY file entry and finds its terminal: only pseudo
// terminals come back.
func (f *fileObjs) ptyOf(e *images.FileEntry) (*ptyFile, error) {
	tfe := e.GetTty()
	if tfe == nil {
		return nil, fmt.Errorf("file id %d: TTY without tty entry: %w", e.GetId(), ErrBadImage)
	}
	tt, err := f.ttys()
	if err != nil {
		return nil, err
	}
	info, ok := tt.infos[tfe.GetTtyInfoId()]
	if !ok {
		return nil, fmt.Errorf("file id %d: terminal %#x is not in tty-info.img: %w", e.GetId(), tfe.GetTtyInfoId(), ErrBadImage)
	}
	if info.GetType() != images.TtyType_PTY {
		return nil, fmt.Errorf("file id %d: terminal of type %v: %w", e.GetId(), info.GetType(), ErrNotSupported)
	}
	if info.GetPty() == nil {
		return nil, fmt.Errorf("file id %d: pty without its index: %w", e.GetId(), ErrBadImage)
	}
	index, master := ttyimg.Index(tfe.GetTtyInfoId())
	if index != info.GetPty().GetIndex() || index > ttyimg.MaxPtyIndex {
		return nil, fmt.Errorf("file id %d: terminal %#x has pty index %d: %w", e.GetId(), tfe.GetTtyInfoId(), info.GetPty().GetIndex(), ErrBadImage)
	}
	p := &ptyFile{tfe: tfe, info: info, index: index, master: master}
	if tfe.RegfId != nil {
		re, ok := f.table[tfe.GetRegfId()]
		if !ok || re.GetReg() == nil {
			return nil, fmt.Errorf("file id %d: its path (file id %d) is not in files.img: %w", e.GetId(), tfe.GetRegfId(), ErrBadImage)
		}
		p.path = re.GetReg().GetName()
	}
	if p.path == "" {
		p.path = "/dev/pts/" + strconv.Itoa(int(index))
		if master {
			p.path = "/dev/ptmx"
		}
	}
	return p, nil
}

// checkTty refuses, before anything is made, a terminal that cannot come
// back: other than a pty, or a pty slave whose master is not in the
// images (the shell's terminal of a dump with --shell-job) unless
// Options.ShellJob and a terminal to give in its place. As CRIU, one such
// slave at most. A hung-up slave (its master was closed) needs no master
// in the images.
func (f *fileObjs) checkTty(e *images.FileEntry) error {
	if ok, err := f.isDevTty(e); ok || err != nil {
		return err
	}
	if c, err := f.consoleOf(e); c != nil || err != nil {
		return err
	}
	p, err := f.ptyOf(e)
	if err != nil {
		return err
	}
	if p.master {
		return nil
	}
	if _, ok := f.masterOf(p.index); ok {
		return nil
	}
	name := fmt.Sprintf("terminal /dev/pts/%d (file id %d)", p.index, e.GetId())
	if p.info.Termios == nil {
		// Hung up: its master was closed (openHungSlave).
		return nil
	}
	if !f.r.opts.ShellJob {
		return fmt.Errorf("%s has its master outside the images: the tree was dumped as a shell job (--shell-job); pass --shell-job to give it criu-restore's terminal: %w",
			name, ErrNotSupported)
	}
	tt, err := f.ttys()
	if err != nil {
		return err
	}
	for _, in := range tt.order {
		index, master := ttyimg.Index(in.GetId())
		if master || index == p.index || in.Termios == nil || in.GetType() != images.TtyType_PTY {
			continue
		}
		if _, paired := tt.infos[ttyimg.InfoID(index, true)]; !paired {
			return fmt.Errorf("%s and /dev/pts/%d both have their master outside the images: a shell job has one outside terminal: %w",
				name, index, ErrBadImage)
		}
	}
	if f.r.checkOnly {
		// The terminal is the restoring criu-restore's, not known yet.
		return nil
	}
	_, err = f.shellTerminal()
	return err
}

// shellTerminal is the terminal a shell job gets, checked to be one.
func (f *fileObjs) shellTerminal() (*os.File, error) {
	term := f.r.opts.Terminal
	if term == nil {
		term = os.Stdin
	}
	if _, err := unix.IoctlGetTermios(int(term.Fd()), unix.TCGETS); err != nil {
		return nil, fmt.Errorf("shell job: standard input (%s) is not a terminal to give the tree in place of its own: %w: %w", term.Name(), ErrNoTerminal, err)
	}
	return term, nil
}

// shellJobFile gives a file of a shell job's outside terminal (pty slave
// p, file id): the terminal of Options.Terminal, as CRIU gives its stdin.
// The first file met is a duplicate of it (the same description, as
// CRIU's); any other is the terminal opened again, since it was a
// description of its own. The terminal first gets the slave's owner,
// termios and window size, as CRIU gives them.
func (f *fileObjs) shellJobFile(p *ptyFile, id uint32) (*os.File, error) {
	term, err := f.shellTerminal()
	if err != nil {
		return nil, err
	}
	var file *os.File
	if st := stateOf[ttyTables](f, images.FdTypes_TTY); st.shellTerm == nil {
		if err := f.setTTYParams(term, p.info); err != nil {
			return nil, fmt.Errorf("give the shell job's terminal %s the settings of /dev/pts/%d: %w", term.Name(), p.index, err)
		}
		fd, err := unix.FcntlInt(term.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("duplicate %s: %w", term.Name(), err)
		}
		st.shellTerm = term
		file = f.keep(os.NewFile(uintptr(fd), term.Name()))
	} else {
		self := "/proc/self/fd/" + strconv.Itoa(int(term.Fd()))
		fd, err := unix.Open(self, openFlags(int(p.tfe.GetFlags())), 0)
		if err != nil {
			return nil, fmt.Errorf("open %s again: %w", term.Name(), err)
		}
		file = f.keep(os.NewFile(uintptr(fd), term.Name()))
	}
	if err := setStatusFlags(file, int(p.tfe.GetFlags())); err != nil {
		return nil, err
	}
	if err := setFown(file, p.tfe.GetFown()); err != nil {
		return nil, err
	}
	f.desc[id] = file
	return file, nil
}

// masterOf finds a file entry of the master of pty index.
func (f *fileObjs) masterOf(index uint32) (uint32, bool) {
	want := ttyimg.InfoID(index, true)
	var best uint32
	found := false
	for id, e := range f.table {
		if e.GetType() == images.FdTypes_TTY && e.GetTty().GetTtyInfoId() == want && (!found || id < best) {
			best, found = id, true
		}
	}
	return best, found
}

// ttyDesc opens a pty file. A master is opened as CRIU does it: /dev/ptmx
// until the kernel gives the saved index, then its parameters, then every
// slave file of the pair (all must be open before the pair is locked
// again), then the queued data, then the lock. A slave is made by its
// master.
func (f *fileObjs) ttyDesc(e *images.FileEntry) (*os.File, error) {
	if ok, err := f.isDevTty(e); err != nil {
		return nil, err
	} else if ok {
		// A stand-in, replaced from inside the task (restoreDevTty).
		fd, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open a stand-in for /dev/tty: %w", err)
		}
		return f.keep(os.NewFile(uintptr(fd), "/dev/tty (stand-in)")), nil
	}
	if c, err := f.consoleOf(e); err != nil {
		return nil, err
	} else if c != nil {
		return f.openConsole(c)
	}
	p, err := f.ptyOf(e)
	if err != nil {
		return nil, err
	}
	if !p.master {
		mid, ok := f.masterOf(p.index)
		if !ok && p.info.Termios == nil {
			return f.openHungSlave(p, e.GetId())
		}
		if !ok {
			if err := f.checkTty(e); err != nil {
				return nil, err
			}
			return f.shellJobFile(p, e.GetId())
		}
		if _, err := f.descFor(mid); err != nil {
			return nil, err
		}
		d, ok := f.desc[e.GetId()]
		if !ok {
			return nil, fmt.Errorf("terminal /dev/pts/%d (file id %d) was not opened with its master: %w", p.index, e.GetId(), ErrBadImage)
		}
		return d, nil
	}
	return f.openPair(p, e.GetId())
}

// openPair opens the master p (file id) and the slave files of its pair.
func (f *fileObjs) openPair(p *ptyFile, id uint32) (*os.File, error) {
	name := "/dev/pts/" + strconv.Itoa(int(p.index))
	master, err := f.openPtmx(p)
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlock %s: %w", name, err)
	}
	if err := f.setTTYParams(master, p.info); err != nil {
		return nil, fmt.Errorf("restore master of %s: %w", name, err)
	}
	if p.info.GetPacketMode() {
		if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCPKT, 1); err != nil {
			return nil, fmt.Errorf("set packet mode of %s: %w", name, err)
		}
	}
	// Every slave file of the pair, in id order.
	tt, _ := f.ttys()
	slaveInfo := ttyimg.InfoID(p.index, false)
	if err := f.openSlaves(slaveInfo, "", true); err != nil {
		return nil, err
	}
	// Queued data, as CRIU puts it back: what was read from the slave
	// (input it had not read) is written into the master, what was read
	// from the master (output not read yet) into a slave. A terminal
	// never promised delivery: a short write is not an error.
	var firstSlave *os.File
	for _, sid := range sortedIDs(f.table) {
		if e := f.table[sid]; e.GetType() == images.FdTypes_TTY && e.GetTty().GetTtyInfoId() == slaveInfo {
			firstSlave = f.desc[sid]
			break
		}
	}
	if d := tt.data[slaveInfo]; len(d) > 0 {
		unix.Write(int(master.Fd()), d)
	}
	if d := tt.data[ttyimg.InfoID(p.index, true)]; len(d) > 0 && firstSlave != nil {
		unix.Write(int(firstSlave.Fd()), d)
	}
	if tt.infos[slaveInfo].GetExclusive() {
		// Any slave file will do: they share the terminal. Set after the
		// opens, which it would refuse to anyone but root.
		if firstSlave != nil {
			if err := unix.IoctlSetInt(int(firstSlave.Fd()), unix.TIOCEXCL, 0); err != nil {
				return nil, fmt.Errorf("set exclusive mode of %s: %w", name, err)
			}
		}
	}
	if p.info.GetExclusive() {
		if err := unix.IoctlSetInt(int(master.Fd()), unix.TIOCEXCL, 0); err != nil {
			return nil, fmt.Errorf("set exclusive mode of the master of %s: %w", name, err)
		}
	}
	if p.info.GetLocked() {
		if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 1); err != nil {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
	}
	if err := setStatusFlags(master, int(p.tfe.GetFlags())); err != nil {
		return nil, err
	}
	return master, nil
}

// openHungSlave opens the files of a pty slave that was hung up, its
// master closed, as CRIU does: a master of its index made for the time
// of opening every file of the slave, then closed, which hangs the slave
// up again (reads give EOF or EIO, writes EIO, ioctls EIO). Its owner,
// termios and window were not saved (the hung-up terminal answers none).
func (f *fileObjs) openHungSlave(p *ptyFile, id uint32) (*os.File, error) {
	name := "/dev/pts/" + strconv.Itoa(int(p.index))
	rdwr := uint32(unix.O_RDWR)
	fake := &ptyFile{tfe: &images.TtyFileEntry{Flags: &rdwr}, info: p.info, index: p.index, master: true, path: "/dev/ptmx"}
	master, err := f.openPtmx(fake)
	if err != nil {
		return nil, fmt.Errorf("open a master for hung-up %s: %w", name, err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlock %s: %w", name, err)
	}
	slaveInfo := p.tfe.GetTtyInfoId()
	if err := f.openSlaves(slaveInfo, "hung-up ", false); err != nil {
		return nil, err
	}
	d, ok := f.desc[id]
	if !ok {
		return nil, fmt.Errorf("hung-up %s (file id %d) not opened: %w", name, id, ErrBadImage)
	}
	return d, nil
}

// openSlaves opens every slave file of the terminal slaveInfo, in id
// order, into f.desc; params restores each one's termios and window (a
// hung-up slave has none to restore). what prefixes the errors' names.
func (f *fileObjs) openSlaves(slaveInfo uint32, what string, params bool) error {
	for _, sid := range sortedIDs(f.table) {
		e := f.table[sid]
		if e.GetType() != images.FdTypes_TTY || e.GetTty().GetTtyInfoId() != slaveInfo {
			continue
		}
		s, err := f.ptyOf(e)
		if err != nil {
			return err
		}
		fd, err := unix.Open(s.path, openFlags(int(s.tfe.GetFlags())), 0)
		if err != nil {
			return fmt.Errorf("open %s%s (file id %d): %w", what, s.path, sid, err)
		}
		slave := f.keep(os.NewFile(uintptr(fd), s.path))
		if params {
			if err := f.setTTYParams(slave, s.info); err != nil {
				return fmt.Errorf("restore %s: %w", s.path, err)
			}
		}
		if err := setStatusFlags(slave, int(s.tfe.GetFlags())); err != nil {
			return err
		}
		if err := setFown(slave, s.tfe.GetFown()); err != nil {
			return err
		}
		f.desc[sid] = slave
	}
	return nil
}

// openFlags are the flags a terminal is opened with: never as
// criu-restore's controlling terminal, never inherited.
func openFlags(flags int) int {
	return flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_TRUNC|unix.O_NONBLOCK) | unix.O_NOCTTY | unix.O_CLOEXEC
}

// openPtmx opens the master of p's index: masters are opened one after
// the other until the kernel hands out the index (the lower free ones are
// held meanwhile), as CRIU does; an index already in use cannot be had.
func (f *fileObjs) openPtmx(p *ptyFile) (*os.File, error) {
	var held []int
	defer func() {
		for _, fd := range held {
			unix.Close(fd)
		}
	}()
	for range ptmxTries {
		fd, err := unix.Open(p.path, openFlags(int(p.tfe.GetFlags())), 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", p.path, err)
		}
		got, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("read pty index of %s: %w", p.path, err)
		}
		if uint32(got) == p.index {
			return f.keep(os.NewFile(uintptr(fd), fmt.Sprintf("ptmx of /dev/pts/%d", p.index))), nil
		}
		held = append(held, fd)
		if uint32(got) > p.index || p.index-uint32(got) >= ptmxTries {
			break
		}
	}
	return nil, fmt.Errorf("restore terminal /dev/pts/%d: another terminal holds that index: %w", p.index, ErrPtyTaken)
}

// setTTYParams gives a terminal its owner, locked termios, termios and
// window size, in CRIU's order (the locked termios limit what TCSETS
// changes). A hung-up terminal was saved without them.
func (f *fileObjs) setTTYParams(file *os.File, info *images.TtyInfoEntry) error {
	fd := int(file.Fd())
	if info.Uid != nil && info.Gid != nil {
		uid, gid, err := f.r.hostOwner(info.GetUid(), info.GetGid())
		if err != nil {
			return err
		}
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("set owner %d:%d: %w", info.GetUid(), info.GetGid(), err)
		}
	}
	if info.TermiosLocked != nil {
		t, err := kernelTermios(info.TermiosLocked)
		if err != nil {
			return err
		}
		if err := unix.IoctlSetTermios(fd, unix.TIOCSLCKTRMIOS, t); err != nil {
			return fmt.Errorf("set locked termios: %w", err)
		}
	}
	if info.Termios != nil {
		t, err := kernelTermios(info.Termios)
		if err != nil {
			return err
		}
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
			return fmt.Errorf("set termios: %w", err)
		}
	}
	if w := info.Winsize; w != nil {
		ws := &unix.Winsize{Row: uint16(w.GetWsRow()), Col: uint16(w.GetWsCol()), Xpixel: uint16(w.GetWsXpixel()), Ypixel: uint16(w.GetWsYpixel())}
		if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set window size: %w", err)
		}
	}
	return nil
}

func kernelTermios(e *images.TermiosEntry) (*unix.Termios, error) {
	t, err := ttyimg.FromEntry(e)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadImage, err)
	}
	return &unix.Termios{Iflag: t.Iflag, Oflag: t.Oflag, Cflag: t.Cflag, Lflag: t.Lflag, Line: t.Line, Cc: t.Cc}, nil
}

// restoreCtty gives a session leader its controlling terminal, as CRIU
// does: when a pty of the images belongs to the task's session, the task
// opens the slave (O_NOCTTY; for the system console or a virtual console,
// the path it was opened by), takes it with TIOCSCTTY and makes the saved
// group the foreground one, then closes it. The terminal is known by its
// master, which knows its session: a slave whose master is in the images
// leaves it to the master, and one whose master is not is a shell job's
// outside terminal, which CRIU does not make anyone's controlling
// terminal (the session leader of a shell job comes back without one).
// Only the leader gets it: tasks of the session it forked before (all of
// them, here) have none, as after CRIU's restore.
func (r *restorer) restoreCtty(t *task) error {
	if !t.doSetsid {
		return nil
	}
	tt, err := r.files.ttys()
	if err != nil {
		return err
	}
	var ctl *images.TtyInfoEntry
	path := ""
	for _, in := range tt.order {
		if int(in.GetSid()) != t.pid || in.Termios == nil {
			continue
		}
		switch in.GetType() {
		case images.TtyType_PTY:
			index, master := ttyimg.Index(in.GetId())
			if !master {
				continue
			}
			path = "/dev/pts/" + strconv.Itoa(int(index))
		case images.TtyType_CONSOLE, images.TtyType_VT:
			// The machine's terminal, found by the path a file of it
			// was opened by (the dump keeps one device per entry
			// that is a controlling terminal).
			if path, err = r.files.consolePath(in.GetId()); err != nil {
				return fmt.Errorf("restore controlling terminal of pid %d: %w", t.pid, err)
			}
		default:
			continue
		}
		ctl = in
		break
	}
	if ctl == nil {
		return nil
	}
	th := t.threads[0]
	b := newScratchBuf(t.scratch)
	pathAddr := b.cstring(path)
	pgrp := b.put(binary.LittleEndian.AppendUint32(nil, ctl.GetPgrp()))
	if err := b.flush(t.real); err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("restore controlling terminal %s of pid %d: %w", path, t.pid, err)
	}
	fd, err := r.call(t, th, "openat", unix.SYS_OPENAT, atFDCWD, pathAddr, unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	_, err = r.call(t, th, "ioctl TIOCSCTTY", unix.SYS_IOCTL, fd, unix.TIOCSCTTY, 0)
	if err == nil && ctl.GetPgrp() != 0 {
		_, err = r.call(t, th, "ioctl TIOCSPGRP", unix.SYS_IOCTL, fd, unix.TIOCSPGRP, pgrp)
	}
	if _, cerr := r.call(t, th, "close", unix.SYS_CLOSE, fd); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// isDevTty tells a file of /dev/tty (CRIU's TTY_TYPE__CTTY).
func (f *fileObjs) isDevTty(e *images.FileEntry) (bool, error) {
	tfe := e.GetTty()
	if tfe == nil {
		return false, fmt.Errorf("file id %d: TTY without tty entry: %w", e.GetId(), ErrBadImage)
	}
	tt, err := f.ttys()
	if err != nil {
		return false, err
	}
	info, ok := tt.infos[tfe.GetTtyInfoId()]
	return ok && info.GetType() == images.TtyType_CTTY, nil
}

// restoreDevTty opens /dev/tty again from inside task t for each of its
// fds of it, once it has its controlling terminal (restoreCtty), and puts
// it at their numbers in place of the stand-ins: fds that shared a file
// share the new one. /dev/tty is the controlling terminal of whoever
// opens it, which only the task itself can be.
func (r *restorer) restoreDevTty(t *task, p *taskPlan) error {
	opened := map[uint32]uint64{} // file id -> its fd in the task
	th := t.threads[0]
	var pathAddr uint64
	for _, fd := range p.fds {
		e := r.files.table[fd.GetId()]
		if e.GetType() != images.FdTypes_TTY {
			continue
		}
		if ok, err := r.files.isDevTty(e); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		fail := func(err error) error {
			return fmt.Errorf("restore fd %d of pid %d (/dev/tty): %w", fd.GetFd(), t.pid, err)
		}
		nfd, ok := opened[fd.GetId()]
		if !ok {
			if pathAddr == 0 {
				b := newScratchBuf(t.scratch)
				pathAddr = b.cstring("/dev/tty")
				if err := b.flush(t.real); err != nil {
					return fail(err)
				}
			}
			flags := uint64(e.GetTty().GetFlags())&^uint64(unix.O_CREAT|unix.O_EXCL|unix.O_TRUNC) | unix.O_NOCTTY | unix.O_CLOEXEC
			var err error
			if nfd, err = r.call(t, th, "openat", unix.SYS_OPENAT, atFDCWD, pathAddr, flags, 0); err != nil {
				return fail(err)
			}
			opened[fd.GetId()] = nfd
		}
		cloexec := uint64(0)
		if fd.GetFlags()&unix.FD_CLOEXEC != 0 {
			cloexec = unix.O_CLOEXEC
		}
		if _, err := r.call(t, th, "dup3", unix.SYS_DUP3, nfd, uint64(fd.GetFd()), cloexec); err != nil {
			return fail(err)
		}
	}
	for _, nfd := range opened {
		if _, err := r.call(t, th, "close", unix.SYS_CLOSE, nfd); err != nil {
			return fmt.Errorf("close /dev/tty opened in pid %d: %w", t.pid, err)
		}
	}
	return nil
}

// sortedIDs are the ids of a file table in increasing order.
func sortedIDs(t fileTable) []uint32 {
	ids := make([]uint32, 0, len(t))
	for id := range t {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// shellJobForeground makes the restored root's process group the
// foreground group of a shell job's terminal, as CRIU does once it gave
// the tree its terminal: the root's own group when it leads one, else
// the group it stays in, criu-restore's. A root that leads its session
// has left criu-restore's, and the terminal with it: nothing to do.
//
// TIOCSPGRP wants the terminal to be criu-restore's controlling terminal
// and the group in its session. From a background group it would stop
// criu-restore with SIGTTOU; ignored, the kernel lets the call through,
// as it does for CRIU's tasks, which block every signal meanwhile.
func (r *restorer) shellJobForeground() error {
	term := stateOf[ttyTables](r.files, images.FdTypes_TTY).shellTerm
	root := r.tree.root()
	if term == nil || root.doSetsid {
		return nil
	}
	pgrp := unix.Getpgrp()
	if root.doSetpgid {
		pgrp = root.real
	}
	signal.Ignore(unix.SIGTTOU)
	defer signal.Reset(unix.SIGTTOU)
	if err := unix.IoctlSetPointerInt(int(term.Fd()), unix.TIOCSPGRP, pgrp); err != nil {
		return fmt.Errorf("make group %d the foreground group of the shell job's terminal %s (it must be criu-restore's controlling terminal): %w",
			pgrp, term.Name(), err)
	}
	return nil
}
