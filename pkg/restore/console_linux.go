package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ttyimg"
)

// consoleFile is a file of the system console or of a virtual console
// (CRIU's TTY_TYPE__CONSOLE and TTY_TYPE__VT): the terminal is the
// machine's, found again by the path the file was opened by, and given
// the saved owner, termios, window size and exclusive mode, as CRIU's
// open_simple_tty does.
type consoleFile struct {
	tfe  *images.TtyFileEntry
	info *images.TtyInfoEntry
	path string
	kind ttyimg.Kind
}

// consoleOf returns the console file e is, or nil when it is another
// terminal. One that was some session's controlling terminal is given
// back to its session leader by restoreCtty.
func (f *fileObjs) consoleOf(e *images.FileEntry) (*consoleFile, error) {
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
		return nil, nil
	}
	c := &consoleFile{tfe: tfe, info: info}
	switch info.GetType() {
	case images.TtyType_CONSOLE:
		c.kind = ttyimg.Console
	case images.TtyType_VT:
		c.kind = ttyimg.VT
	default:
		return nil, nil
	}
	if info.GetPty() != nil {
		return nil, fmt.Errorf("file id %d: %s with pty data: %w", e.GetId(), c.kind, ErrBadImage)
	}
	re, ok := f.table[tfe.GetRegfId()]
	if tfe.RegfId == nil || !ok || re.GetReg() == nil || re.GetReg().GetName() == "" {
		return nil, fmt.Errorf("file id %d: %s without its path: %w", e.GetId(), c.kind, ErrBadImage)
	}
	c.path = re.GetReg().GetName()
	return c, nil
}

// openConsole opens console file c again by its path (a terminal of the
// kind it was) and gives it its settings and flags.
func (f *fileObjs) openConsole(c *consoleFile) (*os.File, error) {
	fd, err := unix.Open(c.path, openFlags(int(c.tfe.GetFlags())), 0)
	if err != nil {
		return nil, fmt.Errorf("open %s %s: %w", c.kind, c.path, err)
	}
	file := f.keep(os.NewFile(uintptr(fd), c.path))
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", c.path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || ttyimg.KindOf(unix.Major(st.Rdev), unix.Minor(st.Rdev)) != c.kind {
		return nil, fmt.Errorf("%s is not a %s here (device %d:%d): %w", c.path, c.kind, unix.Major(st.Rdev), unix.Minor(st.Rdev), ErrNotSupported)
	}
	if err := f.setTTYParams(file, c.info); err != nil {
		return nil, fmt.Errorf("restore %s: %w", c.path, err)
	}
	if c.info.GetExclusive() {
		if err := unix.IoctlSetInt(fd, unix.TIOCEXCL, 0); err != nil {
			return nil, fmt.Errorf("set exclusive mode of %s: %w", c.path, err)
		}
	}
	if err := setStatusFlags(file, int(c.tfe.GetFlags())); err != nil {
		return nil, err
	}
	if err := setFown(file, c.tfe.GetFown()); err != nil {
		return nil, err
	}
	return file, nil
}

// consolePath is the path a file of console or virtual console terminal
// infoID was opened by (the file of the images with the lowest id).
func (f *fileObjs) consolePath(infoID uint32) (string, error) {
	var first *images.FileEntry
	for _, e := range f.table {
		if e.GetType() != images.FdTypes_TTY || e.GetTty().GetTtyInfoId() != infoID {
			continue
		}
		if first == nil || e.GetId() < first.GetId() {
			first = e
		}
	}
	if first == nil {
		return "", fmt.Errorf("terminal %#x has no file in the images: %w", infoID, ErrBadImage)
	}
	c, err := f.consoleOf(first)
	if err != nil {
		return "", err
	}
	if c == nil {
		return "", fmt.Errorf("terminal %#x: file id %d is not a console: %w", infoID, first.GetId(), ErrBadImage)
	}
	return c.path, nil
}
