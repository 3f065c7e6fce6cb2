package dump

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// Queued data of a unix socket goes to sk-queues.img, one entry for each
// packet (a datagram, or as much of a stream as one read gives), with the
// id of the socket whose receive queue holds it:
//
//	| u32 size | sk_packet_entry {id_for, length} | length bytes | ...
//
// The queue is read as CRIU's parasite reads it, from outside through a
// copy of the fd: SO_PEEK_OFF makes each MSG_PEEK read go on where the
// last one stopped, so nothing is taken out; the socket's own peek offset
// is put back afterwards.
//
// Files passed in a packet (SCM_RIGHTS) arrive with the peek as fds of
// criu-parasite's own. Each is recorded as a file of the tree (the same
// id as a task's fd on the same open file; a file only in flight gets a
// files.img entry no fdinfo names), and the entry lists their ids in
// an scm_entry, as CRIU's; a restore sends them again with the packet.
// The fds stay open until the dump ends, as file ids are told apart by
// comparing open files (kcmp) with the fds met later.

// maxPacket bounds the buffer a queue is read with.
const maxPacket = 64 << 20

// socketQueue records the receive queue of the socket fd with file id.
func (d *dumper) socketQueue(fd int, id uint32) (err error) {
	orig, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF)
	if err != nil {
		return fmt.Errorf("get SO_PEEK_OFF: %w", err)
	}
	// A packet is at most as large as the buffers of the sockets it went
	// through (CRIU reads with the send buffer, less the 32 bytes the
	// kernel keeps for itself; a peer's larger buffer can make larger
	// datagrams, so the receive buffer counts too).
	size := 0
	for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt)
		if err != nil {
			return fmt.Errorf("get socket buffer size: %w", err)
		}
		size = max(size, v)
	}
	if size <= 0 || size > maxPacket {
		return fmt.Errorf("socket buffer of %d bytes: %w", size, ErrKernel)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0); err != nil {
		return fmt.Errorf("set SO_PEEK_OFF: %w", err)
	}
	defer func() {
		if perr := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, orig); perr != nil {
			err = errors.Join(err, fmt.Errorf("put SO_PEEK_OFF back: %w", perr))
		}
	}()
	buf := make([]byte, size)
	oob := make([]byte, 2048)
	for {
		n, oobn, rflags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_DONTWAIT|unix.MSG_PEEK)
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("peek at queue: %w", err)
		}
		if n == 0 {
			// An orderly shutdown of the peer: the queue ends here.
			return nil
		}
		// Control messages first: fds passed with the packet are now
		// open here too, and kept until the dump ends whatever happens.
		fds, scm, cerr := packetControl(oob[:oobn])
		for _, fd := range fds {
			d.socks.inflight = append(d.socks.inflight, os.NewFile(uintptr(fd), fmt.Sprintf("file in flight on socket %d", id)))
		}
		if rflags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			return fmt.Errorf("peek at queue: packet or its control data truncated (flags %#x): %w", rflags, ErrKernel)
		}
		if cerr != nil {
			return cerr
		}
		// Payload first: recording a passed socket may read its queue.
		pe := &images.SkPacketEntry{IdFor: ptr(id), Length: ptr(uint32(n))}
		data := append([]byte{}, buf[:n]...)
		for _, group := range scm {
			se := &images.ScmEntry{Type: ptr(uint32(unix.SCM_RIGHTS))}
			for _, fd := range group {
				fid, err := d.inflightFile(fd)
				if err != nil {
					return fmt.Errorf("file passed in a message queued on socket %d: %w", id, err)
				}
				se.Rights = append(se.Rights, fid)
			}
			pe.Scm = append(pe.Scm, se)
		}
		d.socks.queues = append(d.socks.queues, image.Entry{Msg: pe, Extra: &image.Extra{Data: data}})
	}
}

// packetControl reads the control messages that came with a packet: the
// fds passed (all of them, for the caller to keep and close), grouped by
// SCM_RIGHTS message; credentials (a socket with SO_PASSCRED) have no
// place in CRIU 4.2's entry and are left out, as a restore sends the
// packet with its own.
func packetControl(oob []byte) (all []int, rights [][]int, err error) {
	if len(oob) == 0 {
		return nil, nil, nil
	}
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, nil, fmt.Errorf("parse control messages: %w", err)
	}
	for _, cm := range cms {
		if cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SCM_RIGHTS {
			fds, perr := unix.ParseUnixRights(&cm)
			if perr != nil && err == nil {
				err = fmt.Errorf("parse SCM_RIGHTS: %w", perr)
			}
			all = append(all, fds...)
			rights = append(rights, fds)
		}
	}
	if err != nil {
		return all, nil, err
	}
	for _, cm := range cms {
		if cm.Header.Level != unix.SOL_SOCKET {
			return all, nil, fmt.Errorf("control message %d:%d in queue: %w", cm.Header.Level, cm.Header.Type, ErrNotSupported)
		}
		switch cm.Header.Type {
		case unix.SCM_RIGHTS, unix.SCM_CREDENTIALS, unix.SCM_TIMESTAMP, unix.SCM_TIMESTAMPNS, unix.SCM_TIMESTAMPING:
		default:
			return all, nil, fmt.Errorf("control message type %d in queue: %w", cm.Header.Type, ErrNotSupported)
		}
	}
	return all, rights, nil
}

// inflightFile records the file behind fd, an fd of criu-parasite's own
// that came in a queued packet, and returns its id.
func (d *dumper) inflightFile(fd int) (uint32, error) {
	if d.socks.self == nil {
		pid := os.Getpid()
		st, err := d.fs.Status(pid, pid)
		if err != nil {
			return 0, fmt.Errorf("read own status: %w", err)
		}
		d.socks.self = &taskDump{task: &task{pid: pid}, status: st, pidfd: -1}
	}
	link, err := d.fs.FdLink(d.socks.self.pid, fd)
	if err != nil {
		return 0, fmt.Errorf("read link of fd in flight: %w", err)
	}
	_, _, id, err := d.recordFd(d.socks.self, fd, link, "in flight")
	return id, err
}
