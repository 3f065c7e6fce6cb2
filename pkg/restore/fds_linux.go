package restore

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/ptrace"
)

// maxFdsPerMsg is how many fds one SCM_RIGHTS message carries (the
// kernel's SCM_MAX_FD is 253).
const maxFdsPerMsg = 250

// restoreFds gives task t its open files at their numbers.
//
// criu-restore holds every file description (fileObjs) and sends the ones
// the task needs over a datagram socket the task binds in the abstract
// namespace; the task receives them with an injected recvmsg. They arrive
// at the lowest free numbers, which are the numbers the task wants, so
// first they are moved above every wanted number, the low ones closed,
// and only then each is dup3'd to its number and the high copies closed:
//
//	recvmsg -> 0,1,2..   F_DUPFD(base) -> base..   close_range(0, base-1)
//	dup3(base+i, fd)                               close_range(base, ~0)
func (r *restorer) restoreFds(t *task, p *taskPlan) error {
	th := t.threads[0]
	if len(p.fds) == 0 {
		return nil
	}
	// The distinct descriptions the task needs, in a fixed order.
	var ids []uint32
	descs := map[uint32]*os.File{}
	maxWanted := uint32(0)
	for _, fd := range p.fds {
		maxWanted = max(maxWanted, fd.GetFd())
		if _, ok := descs[fd.GetId()]; ok {
			continue
		}
		d, err := r.files.descFor(fd.GetId())
		if err != nil {
			return fmt.Errorf("restore fd %d of pid %d (%s): %w", fd.GetFd(), t.pid, p.fdinfo, err)
		}
		descs[fd.GetId()] = d
		ids = append(ids, fd.GetId())
	}
	base := uint64(maxWanted) + 1
	fail := func(err error) error {
		return fmt.Errorf("restore fds of pid %d (%s): %w", t.pid, p.fdinfo, err)
	}

	// Batch: socket, moved above base, bound. Then per message: the
	// recvmsg, and a batch moving what came above base; then a batch
	// closing the low numbers, dup3'ing every fd to its number and
	// closing the high copies.
	bt := r.batch(t, th)
	name := fmt.Sprintf("criugo-restore/%d/%d", r.self, t.pid)
	sock0 := bt.add("socket", unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	sock := bt.moveHigh(sock0, base)
	addr := bt.put(abstractSockaddr(name))
	bt.ref(bt.add("bind", unix.SYS_BIND, 0, addr, uint64(2+1+len(name))), 0, sock)
	if err := bt.run(); err != nil {
		return fail(err)
	}
	sockFd := bt.result(sock)
	// In the task's network namespace, where its abstract name is.
	tx, err := r.netSocket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("create socket: %w", err))
	}
	defer unix.Close(tx)

	high := map[uint32]uint64{} // description id -> its fd above base in the task
	for start := 0; start < len(ids); start += maxFdsPerMsg {
		batch := ids[start:min(start+maxFdsPerMsg, len(ids))]
		fds := make([]int, len(batch))
		for i, id := range batch {
			fds[i] = int(descs[id].Fd())
		}
		if err := unix.Sendmsg(tx, []byte{0}, unix.UnixRights(fds...), &unix.SockaddrUnix{Name: "@" + name}, 0); err != nil {
			return fail(fmt.Errorf("send fds: %w", err))
		}
		got, err := r.recvFds(t, bt, sockFd, len(batch))
		if err != nil {
			return fail(err)
		}
		moved := make([]int, len(batch))
		for i := range batch {
			moved[i] = -1
			if got[i] < base {
				moved[i] = bt.add("fcntl F_DUPFD_CLOEXEC", unix.SYS_FCNTL, got[i], unix.F_DUPFD_CLOEXEC, base)
				bt.add("close", unix.SYS_CLOSE, got[i])
			}
		}
		if err := bt.run(); err != nil {
			return fail(err)
		}
		for i, id := range batch {
			high[id] = got[i]
			if moved[i] >= 0 {
				high[id] = bt.result(moved[i])
			}
		}
	}
	if base > 0 {
		bt.onError(bt.add("close_range", unix.SYS_CLOSE_RANGE, 0, base-1, 0), fail)
	}
	sorted := append(p.fds[:0:0], p.fds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].GetFd() < sorted[j].GetFd() })
	for _, fd := range sorted {
		flags := uint64(0)
		if fd.GetFlags()&unix.FD_CLOEXEC != 0 {
			flags = unix.O_CLOEXEC
		}
		i := bt.add("dup3", unix.SYS_DUP3, high[fd.GetId()], uint64(fd.GetFd()), flags)
		bt.onError(i, func(err error) error {
			return fmt.Errorf("restore fd %d of pid %d (%s): %w", fd.GetFd(), t.pid, p.fdinfo, err)
		})
	}
	bt.onError(bt.add("close_range", unix.SYS_CLOSE_RANGE, base, ^uint64(0)>>32, 0), fail)
	return bt.run()
}

// moveHigh adds to bt the calls that move the fd call i of bt returns to
// the lowest free number at or above base, and returns the call whose
// result is that number.
func (bt *callBatch) moveHigh(i int, base uint64) int {
	h := bt.add("fcntl F_DUPFD_CLOEXEC", unix.SYS_FCNTL, 0, unix.F_DUPFD_CLOEXEC, base)
	bt.ref(h, 0, i)
	bt.ref(bt.add("close", unix.SYS_CLOSE, 0), 0, i)
	return h
}

// recvFds runs recvmsg in the task for a message carrying n fds and
// returns the numbers they got, in order.
// It runs bt (a batch of t's leader) with the recvmsg in it.
func (r *restorer) recvFds(t *task, bt *callBatch, sock uint64, n int) ([]uint64, error) {
	ctlLen := unix.CmsgSpace(4 * n)
	bt.reserve(8 + 16 + ctlLen + 56 + 32)
	data := bt.put(make([]byte, 8))
	iov := bt.u64s(data, 1)
	ctl := bt.put(make([]byte, ctlLen))
	// struct msghdr: name, namelen (+pad), iov, iovlen, control, controllen, flags (+pad).
	msg := bt.u64s(0, 0, iov, 1, ctl, uint64(ctlLen), 0)
	bt.add("recvmsg", unix.SYS_RECVMSG, sock, msg, unix.MSG_CMSG_CLOEXEC)
	if err := bt.run(); err != nil {
		return nil, err
	}
	raw := make([]byte, ctlLen)
	if err := readMemFull(t.real, ctl, raw); err != nil {
		return nil, err
	}
	hdr := make([]byte, 56)
	if err := readMemFull(t.real, msg, hdr); err != nil {
		return nil, err
	}
	if flags := binary.LittleEndian.Uint32(hdr[48:]); flags&unix.MSG_CTRUNC != 0 {
		return nil, fmt.Errorf("receive fds: control data truncated")
	}
	cl := binary.LittleEndian.Uint64(hdr[40:])
	msgs, err := unix.ParseSocketControlMessage(raw[:min(cl, uint64(len(raw)))])
	if err != nil {
		return nil, fmt.Errorf("receive fds: %w", err)
	}
	var out []uint64
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, fmt.Errorf("receive fds: %w", err)
		}
		for _, fd := range fds {
			out = append(out, uint64(fd))
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("receive fds: got %d, sent %d", len(out), n)
	}
	return out, nil
}

// abstractSockaddr is a sockaddr_un naming name in the abstract namespace.
func abstractSockaddr(name string) []byte {
	b := make([]byte, 2+1+len(name))
	binary.LittleEndian.PutUint16(b, unix.AF_UNIX)
	copy(b[3:], name)
	return b
}

// readMemFull reads len(buf) bytes of pid's memory at addr.
func readMemFull(pid int, addr uint64, buf []byte) error {
	_, err := ptrace.ReadMem(pid, addr, buf)
	return err
}

// openIn gives task t (through thread th) an fd of its own for file, one
// of criu-restore's, opened anew with accmode and O_CLOEXEC. The task opens
// /proc/<criu-restore>/fd/N, unless it cannot look into criu-restore
// there: a task in a user namespace of its own may not (/proc/PID/fd
// needs ptrace access to criu-restore), so it is sent the file over a
// socket, and keeps it when it was opened with accmode or opens it anew
// through /proc/self/fd (the file's permissions then apply to the task).
func (r *restorer) openIn(t *task, th *thread, file *os.File, accmode int) (uint64, error) {
	if r.userns == nil {
		b := newScratchBuf(t.scratch)
		dir, name := r.files.taskPath(t, file)
		path := b.cstring(name)
		if err := b.flush(t.real); err != nil {
			return 0, err
		}
		return r.call(t, th, "openat "+file.Name(), unix.SYS_OPENAT, dir, path, uint64(accmode|unix.O_CLOEXEC))
	}
	sock, err := r.call(t, th, "socket", unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer r.call(t, th, "close", unix.SYS_CLOSE, sock)
	name := fmt.Sprintf("criugo-restore/%d/%d/open", r.self, t.pid)
	b := newScratchBuf(t.scratch)
	addr := b.put(abstractSockaddr(name))
	if err := b.flush(t.real); err != nil {
		return 0, err
	}
	if _, err := r.call(t, th, "bind", unix.SYS_BIND, sock, addr, uint64(2+1+len(name))); err != nil {
		return 0, err
	}
	tx, err := r.netSocket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("create socket: %w", err)
	}
	defer unix.Close(tx)
	if err := unix.Sendmsg(tx, []byte{0}, unix.UnixRights(int(file.Fd())), &unix.SockaddrUnix{Name: "@" + name}, 0); err != nil {
		return 0, fmt.Errorf("send %s: %w", file.Name(), err)
	}
	got, err := r.recvFds(t, r.batch(t, th), sock, 1)
	if err != nil {
		return 0, err
	}
	fl, err := unix.FcntlInt(file.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return 0, fmt.Errorf("read flags of %s: %w", file.Name(), err)
	}
	if fl&unix.O_ACCMODE == accmode&unix.O_ACCMODE {
		return got[0], nil // close-on-exec: recvFds asks for it
	}
	defer r.call(t, th, "close", unix.SYS_CLOSE, got[0])
	b = newScratchBuf(t.scratch)
	path := b.cstring("/proc/self/fd/" + strconv.FormatUint(got[0], 10))
	if err := b.flush(t.real); err != nil {
		return 0, err
	}
	return r.call(t, th, "openat "+file.Name(), unix.SYS_OPENAT, atFDCWD, path, uint64(accmode|unix.O_CLOEXEC))
}
