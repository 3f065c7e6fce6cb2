package dump

import (
	"errors"
	"fmt"

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
		// open here too and must be closed whatever happens.
		cerr := packetControl(oob[:oobn])
		if rflags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			return fmt.Errorf("peek at queue: packet or its control data truncated (flags %#x): %w", rflags, ErrKernel)
		}
		if cerr != nil {
			return cerr
		}
		d.socks.queues = append(d.socks.queues, image.Entry{
			Msg:   &images.SkPacketEntry{IdFor: ptr(id), Length: ptr(uint32(n))},
			Extra: &image.Extra{Data: append([]byte{}, buf[:n]...)},
		})
	}
}

// packetControl checks the control messages that came with a packet:
// passed fds cannot be recorded (this dump does not record files in
// flight) and are closed again; credentials (a socket with SO_PASSCRED)
// have no place in CRIU 4.2's entry and are left out, as a restore
// sends the packet with its own.
func packetControl(oob []byte) error {
	if len(oob) == 0 {
		return nil
	}
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return fmt.Errorf("parse control messages: %w", err)
	}
	for _, cm := range cms {
		if cm.Header.Level != unix.SOL_SOCKET {
			return fmt.Errorf("control message %d:%d in queue: %w", cm.Header.Level, cm.Header.Type, ErrNotSupported)
		}
		switch cm.Header.Type {
		case unix.SCM_RIGHTS:
			fds, _ := unix.ParseUnixRights(&cm)
			for _, fd := range fds {
				unix.Close(fd)
			}
			return fmt.Errorf("%d file descriptors in flight in a queued packet: %w", len(fds), ErrNotSupported)
		case unix.SCM_CREDENTIALS, unix.SCM_TIMESTAMP, unix.SCM_TIMESTAMPNS, unix.SCM_TIMESTAMPING:
		default:
			return fmt.Errorf("control message type %d in queue: %w", cm.Header.Type, ErrNotSupported)
		}
	}
	return nil
}
