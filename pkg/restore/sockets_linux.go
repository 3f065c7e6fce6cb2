package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// Socket options and states shared by unix and inet sockets.

// maxSockBuf is what criu-restore gives a socket that refills a queue, so
// that no send blocks: the kernel doubles the value and keeps it in an int.
const maxSockBuf = (1<<31 - 1) / 2

// skPacket is one queued message of sk-queues.img, to be sent again.
type skPacket struct {
	e    *images.SkPacketEntry
	data []byte
}

// skQueues returns the saved receive queues of the sockets, by the file
// id of the socket that holds them, each in queue order.
func (f *fileObjs) skQueues() (map[uint32][]skPacket, error) {
	if f.queues != nil {
		return f.queues, nil
	}
	img, err := f.r.set.lookup("sk-queues.img")
	if err != nil {
		return nil, err
	}
	q := map[uint32][]skPacket{}
	if img != nil {
		for i, e := range img.Entries {
			pe, ok := e.Msg.(*images.SkPacketEntry)
			if !ok {
				return nil, fmt.Errorf("read sk-queues.img: entry %d is %T: %w", i, e.Msg, ErrBadImage)
			}
			var data []byte
			if e.Extra != nil {
				data = e.Extra.Data
			}
			if uint32(len(data)) != pe.GetLength() {
				return nil, fmt.Errorf("read sk-queues.img: entry %d holds %d bytes, says %d: %w", i, len(data), pe.GetLength(), ErrBadImage)
			}
			q[pe.GetIdFor()] = append(q[pe.GetIdFor()], skPacket{pe, data})
		}
	}
	f.queues = q
	return q, nil
}

// sendQueue sends the saved queue of socket id through from, a socket
// whose messages land in it; files passed in the messages (SCM_RIGHTS) are
// sent as criu-restore holds them.
func (f *fileObjs) sendQueue(from int, id uint32) error {
	q, err := f.skQueues()
	if err != nil {
		return err
	}
	if len(q[id]) == 0 {
		return nil
	}
	if err := unix.SetsockoptInt(from, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, maxSockBuf); err != nil {
		return fmt.Errorf("grow send buffer to refill the queue of socket %d: %w", id, err)
	}
	for i, pk := range q[id] {
		var oob []byte
		for _, scm := range pk.e.GetScm() {
			if scm.GetType() != unix.SCM_RIGHTS {
				return fmt.Errorf("message %d queued on socket %d: control message type %d: %w", i, id, scm.GetType(), ErrNotSupported)
			}
			if len(scm.GetRights()) > maxFdsPerMsg {
				return fmt.Errorf("message %d queued on socket %d: %d files: %w", i, id, len(scm.GetRights()), ErrBadImage)
			}
			fds := make([]int, 0, len(scm.GetRights()))
			for _, rid := range scm.GetRights() {
				d, err := f.descFor(rid)
				if err != nil {
					return fmt.Errorf("file %d passed in a message queued on socket %d: %w", rid, id, err)
				}
				fds = append(fds, int(d.Fd()))
			}
			oob = append(oob, unix.UnixRights(fds...)...)
		}
		// A stream socket may take a long message in parts (the files
		// go with the first); a datagram goes whole or not at all.
		for sent := 0; ; {
			n, err := unix.SendmsgN(from, pk.data[sent:], oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
			if err != nil {
				return fmt.Errorf("send message %d (%d bytes) queued on socket %d: %w", i, len(pk.data), id, err)
			}
			sent += n
			oob = nil
			if sent >= len(pk.data) {
				break
			}
			if n == 0 {
				return fmt.Errorf("send message %d queued on socket %d: %d of %d bytes went", i, id, sent, len(pk.data))
			}
		}
	}
	return nil
}

// shutdownHow turns an sk_shutdown value into shutdown(2)'s how, or -1.
func shutdownHow(s images.SkShutdown) int {
	switch s {
	case images.SkShutdown_READ:
		return unix.SHUT_RD
	case images.SkShutdown_WRITE:
		return unix.SHUT_WR
	case images.SkShutdown_BOTH:
		return unix.SHUT_RDWR
	}
	return -1
}

// setSockOpts gives a socket its saved SOL_SOCKET options, as CRIU's
// restore_socket_opts does: buffer sizes (halved: the kernel doubles what
// it is given), then the lock on them, priority, low-water mark, mark,
// timeouts, the boolean options that were set, linger, the bound device
// and the socket filter. SO_REUSEADDR and SO_REUSEPORT are the caller's.
// A size left out (nil; CRIU's images always have both) is not set.
func setSockOpts(file *os.File, o *images.SkOptsEntry) error {
	if o == nil {
		return nil
	}
	fd := int(file.Fd())
	set := func(name string, level, opt, v int) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("set %s to %d on %s: %w", name, v, file.Name(), err)
		}
		return nil
	}
	if o.SoSndbuf != nil {
		if err := set("SO_SNDBUFFORCE", unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, int(o.GetSoSndbuf()/2)); err != nil {
			return err
		}
	}
	if o.SoRcvbuf != nil {
		if err := set("SO_RCVBUFFORCE", unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, int(o.GetSoRcvbuf()/2)); err != nil {
			return err
		}
	}
	// Setting the sizes locked them; the saved lock state says whether
	// the program had (SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK).
	if o.SoBufLock != nil {
		if err := set("SO_BUF_LOCK", unix.SOL_SOCKET, unix.SO_BUF_LOCK, int(o.GetSoBufLock())); err != nil {
			return err
		}
	}
	if o.SoPriority != nil {
		if err := set("SO_PRIORITY", unix.SOL_SOCKET, unix.SO_PRIORITY, int(o.GetSoPriority())); err != nil {
			return err
		}
	}
	if o.SoRcvlowat != nil {
		if err := set("SO_RCVLOWAT", unix.SOL_SOCKET, unix.SO_RCVLOWAT, int(o.GetSoRcvlowat())); err != nil {
			return err
		}
	}
	if o.GetSoMark() != 0 {
		if err := set("SO_MARK", unix.SOL_SOCKET, unix.SO_MARK, int(o.GetSoMark())); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		name string
		on   bool
		opt  int
	}{
		{"SO_PASSCRED", o.GetSoPasscred(), unix.SO_PASSCRED},
		{"SO_PASSSEC", o.GetSoPasssec(), unix.SO_PASSSEC},
		{"SO_DONTROUTE", o.GetSoDontroute(), unix.SO_DONTROUTE},
		{"SO_NO_CHECK", o.GetSoNoCheck(), unix.SO_NO_CHECK},
		{"SO_BROADCAST", o.GetSoBroadcast(), unix.SO_BROADCAST},
		{"SO_OOBINLINE", o.GetSoOobinline() != 0, unix.SO_OOBINLINE},
		{"SO_KEEPALIVE", o.GetSoKeepalive(), unix.SO_KEEPALIVE},
	} {
		if b.on {
			if err := set(b.name, unix.SOL_SOCKET, b.opt, 1); err != nil {
				return err
			}
		}
	}
	if o.SoLinger != nil {
		l := unix.Linger{Onoff: 1, Linger: int32(o.GetSoLinger())}
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l); err != nil {
			return fmt.Errorf("set SO_LINGER on %s: %w", file.Name(), err)
		}
	}
	for _, tm := range []struct {
		name     string
		opt      int
		sec, use uint64
	}{
		{"SO_SNDTIMEO", unix.SO_SNDTIMEO, o.GetSoSndTmoSec(), o.GetSoSndTmoUsec()},
		{"SO_RCVTIMEO", unix.SO_RCVTIMEO, o.GetSoRcvTmoSec(), o.GetSoRcvTmoUsec()},
	} {
		if tm.sec == 0 && tm.use == 0 {
			continue
		}
		tv := unix.Timeval{Sec: int64(tm.sec), Usec: int64(tm.use)}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, tm.opt, &tv); err != nil {
			return fmt.Errorf("set %s on %s: %w", tm.name, file.Name(), err)
		}
	}
	if dev := o.GetSoBoundDev(); dev != "" {
		if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev); err != nil {
			return fmt.Errorf("bind %s to device %s: %w", file.Name(), dev, err)
		}
	}
	if words := o.GetSoFilter(); len(words) > 0 {
		if len(words) > unix.BPF_MAXINSNS {
			return fmt.Errorf("socket filter of %d instructions on %s: %w", len(words), file.Name(), ErrBadImage)
		}
		// CRIU packs each struct sock_filter into a u64 as
		// code<<48 | jt<<40 | jf<<32 | k.
		prog := make([]unix.SockFilter, len(words))
		for i, w := range words {
			prog[i] = unix.SockFilter{Code: uint16(w >> 48), Jt: uint8(w >> 40), Jf: uint8(w >> 32), K: uint32(w)}
		}
		fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
			return fmt.Errorf("attach socket filter to %s: %w", file.Name(), err)
		}
	}
	return nil
}
