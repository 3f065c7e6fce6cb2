package tcpckpt

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/soccr"
	"golang.org/x/sys/unix"
)

// ErrNoConnection is returned when an image directory holds no TCP connection.
var ErrNoConnection = errors.New("no tcp connection in the image directory")

// SaveOptions says which socket to save and where.
type SaveOptions struct {
	Pid int    // process holding the socket
	Fd  int    // the socket's fd number in that process
	Dir string // image directory to write (must exist)
	// After saving, the connection normally goes on in the process. With
	// KeepPaused it stays in repair mode: frozen, and closed without FIN or
	// RST when the process exits, so that a restored copy can take over.
	KeepPaused bool
}

// Save writes the state of one established TCP connection of a live
// process into an image directory.
func Save(o SaveOptions) error {
	pidfd, err := unix.PidfdOpen(o.Pid, 0)
	if err != nil {
		return fmt.Errorf("open pid %d: %w", o.Pid, err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, o.Fd, 0)
	if err != nil {
		return fmt.Errorf("take fd %d of pid %d: %w", o.Fd, o.Pid, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat fd %d of pid %d: %w", o.Fd, o.Pid, err)
	}
	// Leaving repair mode clears SO_REUSEADDR: it is set back after.
	reuse, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR)
	if err != nil {
		return fmt.Errorf("get SO_REUSEADDR of fd %d of pid %d: %w", o.Fd, o.Pid, err)
	}
	conn, err := soccr.Save(fd)
	if err != nil {
		return fmt.Errorf("save fd %d of pid %d: %w", o.Fd, o.Pid, err)
	}
	resume := func() error {
		if err := soccr.Resume(fd); err != nil {
			return err
		}
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, reuse)
	}
	if err := write(o.Dir, conn, uint32(st.Ino)); err != nil {
		resume()
		return err
	}
	if o.KeepPaused {
		return nil
	}
	return resume()
}

func write(dir string, conn *soccr.State, ino uint32) error {
	fe, ts := soccr.ToImages(conn, 1, ino)
	files := &image.Image{Kind: image.Files, Entries: []image.Entry{{Msg: fe}}}
	if err := image.WriteFile(dir, image.Files.FileName(0), files); err != nil {
		return err
	}
	stream := &image.Image{Kind: image.TCPStream, Entries: []image.Entry{{
		Msg: ts, Extra: &image.Extra{InQ: conn.InQ, OutQ: conn.OutQ},
	}}}
	return image.WriteFile(dir, image.TCPStream.FileName(ino), stream)
}

// Load reads the connection saved in dir.
func Load(dir string) (*soccr.State, error) {
	files, err := image.ReadFile(dir, image.Files.FileName(0))
	if err != nil {
		return nil, err
	}
	for _, e := range files.Entries {
		fe, ok := e.Msg.(*images.FileEntry)
		if !ok || fe.GetType() != images.FdTypes_INETSK || fe.GetIsk() == nil {
			continue
		}
		isk := fe.GetIsk()
		name := image.TCPStream.FileName(isk.GetIno())
		img, err := image.ReadFile(dir, name)
		if err != nil {
			return nil, err
		}
		if len(img.Entries) != 1 || img.Entries[0].Extra == nil {
			return nil, fmt.Errorf("read %s: want one entry with its queues, found %d entries", name, len(img.Entries))
		}
		ts, ok := img.Entries[0].Msg.(*images.TcpStreamEntry)
		if !ok {
			return nil, fmt.Errorf("read %s: entry is %T, not a tcp stream", name, img.Entries[0].Msg)
		}
		conn, err := soccr.FromImages(isk, ts, img.Entries[0].Extra.InQ, img.Entries[0].Extra.OutQ)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		return conn, nil
	}
	return nil, fmt.Errorf("load %s: %w", dir, ErrNoConnection)
}

// RestoreOptions says which saved connection to bring back and who gets it.
type RestoreOptions struct {
	Dir  string   // image directory written by Save
	Fd   int      // fd number the program finds the socket at
	Argv []string // program and arguments to run with the socket
}

// Restore rebuilds the saved connection and runs the program with the
// socket at fd o.Fd, replacing the calling process (it returns only on error).
func Restore(o RestoreOptions) error {
	if len(o.Argv) == 0 {
		return errors.New("restore tcp connection: no program to hand the socket to")
	}
	path, err := exec.LookPath(o.Argv[0])
	if err != nil {
		return fmt.Errorf("restore tcp connection: %w", err)
	}
	conn, err := Load(o.Dir)
	if err != nil {
		return err
	}
	fd, err := soccr.Restore(conn)
	if err != nil {
		return err
	}
	if fd != o.Fd {
		// Dup3 without O_CLOEXEC: the program inherits the socket.
		if err := unix.Dup3(fd, o.Fd, 0); err != nil {
			return fmt.Errorf("move socket to fd %d: %w", o.Fd, err)
		}
		unix.Close(fd)
	} else if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("clear close-on-exec of fd %d: %w", fd, err)
	}
	return fmt.Errorf("run %s: %w", path, syscall.Exec(path, o.Argv, os.Environ()))
}
