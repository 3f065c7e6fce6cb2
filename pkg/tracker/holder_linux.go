package tracker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Socket is the unix socket through which a write-tracking holder
// hands its userfaultfds to the next dump; it lives in the image
// directory of the dump that started the tracking. Not an image name:
// image tools leave it alone.
const Socket = "criugo-track.sock"

// holderEnv holds the holder's description; its presence makes the
// process a holder (see HolderMode).
const holderEnv = "CRIUGO_TRACK_HOLDER"

// holderDesc is what a holder is told at its start and tells a taker
// first: the socket to remove at the end and the tasks, whose uffd and
// pidfd come as fds 4+2i and 5+2i (fd 3 is the listening socket).
type holderDesc struct {
	Socket string `json:"socket"`
	Pids   []int  `json:"pids"`
}

// holderTimeout bounds each step of a hand-over.
const holderTimeout = 10 * time.Second

// sockAddr is a name for path a sockaddr_un can hold (108 bytes): the
// path itself, or through /proc/self/fd of its directory when longer.
func sockAddr(path string) (addr string, done func(), err error) {
	if len(path) < 100 {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", filepath.Dir(path), err)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + filepath.Base(path), func() { unix.Close(fd) }, nil
}

// Spawn starts the holder of tks's tracking, serving them at
// dir/Socket: criu-parasite (or whatever binary this is) run again
// in holder mode, in a session of its own, with the fds as its 4th and
// following. The socket listens before this returns.
func Spawn(dir string, tks []*Tracker) (err error) {
	path, err := filepath.Abs(filepath.Join(dir, Socket))
	if err != nil {
		return fmt.Errorf("start tracking holder: %w", err)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != os.ModeSocket {
			return fmt.Errorf("start tracking holder: %s exists and is no socket", path)
		}
		os.Remove(path) // a holder's that is gone: nothing listens
	}
	addr, done, err := sockAddr(path)
	if err != nil {
		return fmt.Errorf("start tracking holder: %w", err)
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: addr, Net: "unixpacket"})
	done()
	if err != nil {
		return fmt.Errorf("start tracking holder: %w", err)
	}
	l.SetUnlinkOnClose(false)
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	lf, err := l.File()
	l.Close()
	if err != nil {
		return fmt.Errorf("start tracking holder: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		lf.Close()
		return fmt.Errorf("start tracking holder: %w", err)
	}
	files := []*os.File{lf}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	desc := holderDesc{Socket: path}
	for _, tk := range tks {
		for _, fd := range []int{tk.uffd, tk.pidfd} {
			dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("start tracking holder: %w", err)
			}
			files = append(files, os.NewFile(uintptr(dup), "track"))
		}
		desc.Pids = append(desc.Pids, tk.pid)
	}
	js, err := json.Marshal(desc)
	if err != nil {
		return fmt.Errorf("start tracking holder: %w", err)
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), holderEnv+"="+string(js))
	cmd.ExtraFiles = files
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start tracking holder: %w", err)
	}
	go cmd.Wait()
	return nil
}

// HolderMode reports whether this process was started as a write-tracking
// holder; its main then calls RunHolder and nothing else.
func HolderMode() bool { return os.Getenv(holderEnv) != "" }

// RunHolder keeps the userfaultfds a pre-dump (or a dump with --track-mem
// that left the tree running) handed over, and gives them to the next
// dump that asks at the socket. It returns when that dump says it has
// taken them, or when every tracked task is gone.
func RunHolder() error {
	var desc holderDesc
	if err := json.Unmarshal([]byte(os.Getenv(holderEnv)), &desc); err != nil {
		return fmt.Errorf("tracking holder: read description: %w", err)
	}
	defer os.Remove(desc.Socket)
	lf := os.NewFile(3, "listener")
	fl, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return fmt.Errorf("tracking holder: %w", err)
	}
	l, ok := fl.(*net.UnixListener)
	if !ok {
		return fmt.Errorf("tracking holder: fd 3 is %T", fl)
	}
	l.SetUnlinkOnClose(false)
	gone := make(chan struct{})
	go func() {
		waitGone(desc.Pids)
		close(gone)
	}()
	conns := make(chan *net.UnixConn)
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	for {
		select {
		case <-gone:
			return nil
		case c, ok := <-conns:
			if !ok {
				return fmt.Errorf("tracking holder: accept failed")
			}
			taken := serveTracking(c, desc)
			c.Close()
			if taken {
				return nil
			}
		}
	}
}

// waitGone returns when the tasks of the pidfds at fds 5, 7, ... have all
// exited.
func waitGone(pids []int) {
	fds := make([]unix.PollFd, len(pids))
	for i := range pids {
		fds[i] = unix.PollFd{Fd: int32(5 + 2*i), Events: unix.POLLIN}
	}
	for len(fds) > 0 {
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		live := fds[:0]
		for _, f := range fds {
			if f.Revents == 0 {
				live = append(live, f)
			}
		}
		fds = live
	}
}

// serveTracking hands the fds to one taker: the description, then one
// message per task with its uffd and pidfd. taken: the taker answered
// 'd', and the holder's part is over.
func serveTracking(c *net.UnixConn, desc holderDesc) (taken bool) {
	c.SetDeadline(time.Now().Add(holderTimeout))
	js, err := json.Marshal(desc)
	if err != nil {
		return false
	}
	if _, err := c.Write(js); err != nil {
		return false
	}
	for i := range desc.Pids {
		if _, _, err := c.WriteMsgUnix([]byte{'t'}, unix.UnixRights(4+2*i, 5+2*i), nil); err != nil {
			return false
		}
	}
	// The taker may hold on for the length of its dump.
	c.SetDeadline(time.Time{})
	var b [1]byte
	n, err := c.Read(b[:])
	return err == nil && n == 1 && b[0] == 'd'
}

// Taken is the tracking a dump took from a holder: trackers by pid, and
// the connection over which the holder waits to hear that they are taken
// for good. A nil *Taken is no tracking: its methods do nothing.
type Taken struct {
	conn  *net.UnixConn
	byPid map[int]*Tracker
}

// Take asks the holder serving in dir for its trackers. No holder there
// (none started, or gone): nil, and no error; the dump then has no
// tracking and dumps every page.
func Take(dir string) (*Taken, error) {
	path := filepath.Join(dir, Socket)
	addr, done, err := sockAddr(path)
	if err != nil {
		return nil, fmt.Errorf("take write tracking: %w", err)
	}
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: addr, Net: "unixpacket"})
	done()
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("take write tracking from %s: %w", path, err)
	}
	tt := &Taken{conn: conn, byPid: map[int]*Tracker{}}
	if err := tt.receive(); err != nil {
		tt.Close()
		if errors.Is(err, errHolderGone) {
			return nil, nil
		}
		return nil, fmt.Errorf("take write tracking from %s: %w", path, err)
	}
	return tt, nil
}

// errHolderGone: the connection closed before the holder said anything.
// A holder that has just handed its trackers to an earlier dump (or seen
// its tasks exit) can still have the socket up for a moment: the kernel
// completes a connect into its backlog and resets it when the holder
// exits. There is nothing to take then, as when no holder serves.
var errHolderGone = errors.New("tracking holder closed the connection")

func (tt *Taken) receive() error {
	tt.conn.SetDeadline(time.Now().Add(holderTimeout))
	defer tt.conn.SetDeadline(time.Time{})
	buf := make([]byte, 1<<20)
	n, err := tt.conn.Read(buf)
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		return errHolderGone
	}
	if err != nil {
		return err
	}
	var desc holderDesc
	if err := json.Unmarshal(buf[:n], &desc); err != nil {
		return fmt.Errorf("read description: %w", err)
	}
	oob := make([]byte, unix.CmsgSpace(2*4))
	for _, pid := range desc.Pids {
		_, oobn, _, _, err := tt.conn.ReadMsgUnix(buf[:1], oob)
		if err != nil {
			return err
		}
		fds, err := parseRights(oob[:oobn])
		if err != nil {
			return err
		}
		if len(fds) != 2 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return fmt.Errorf("got %d fds for pid %d, want 2", len(fds), pid)
		}
		tk := &Tracker{pid: pid, uffd: fds[0], pidfd: fds[1]}
		// A pidfd names one process for good: if it no longer shows pid,
		// the task tracked is gone and pid may be another's.
		if p, err := pidOfPidfd(tk.pidfd); err != nil || p != pid {
			tk.Close()
			continue
		}
		tt.byPid[pid] = tk
	}
	return nil
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		r, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, fmt.Errorf("parse control message: %w", err)
		}
		fds = append(fds, r...)
	}
	return fds, nil
}

// Release tells the holder the trackers are taken for good: it exits.
func (tt *Taken) Release() error {
	if tt == nil || tt.conn == nil {
		return nil
	}
	_, err := tt.conn.Write([]byte{'d'})
	tt.conn.Close()
	tt.conn = nil
	if err != nil {
		return fmt.Errorf("release write tracking: %w", err)
	}
	return nil
}

// Close lets go of the connection (the holder keeps serving unless
// Release came first) and of the trackers not adopted.
func (tt *Taken) Close() {
	if tt == nil {
		return
	}
	if tt.conn != nil {
		tt.conn.Close()
	}
	for _, tk := range tt.byPid {
		tk.Close()
	}
}

// Adopt takes pid's tracker out of the set: the caller now owns it.
func (tt *Taken) Adopt(pid int) *Tracker {
	if tt == nil {
		return nil
	}
	tk := tt.byPid[pid]
	delete(tt.byPid, pid)
	return tk
}
