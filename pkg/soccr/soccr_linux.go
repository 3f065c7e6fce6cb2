//go:build linux

package soccr

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

const (
	tcpEstablished = 1 // TCP_ESTABLISHED in tcp_info's tcpi_state

	tcpNoQueue   = 0 // TCP_NO_QUEUE
	tcpRecvQueue = 1 // TCP_RECV_QUEUE
	tcpSendQueue = 2 // TCP_SEND_QUEUE

	// tcp_info: tcpi_options at byte 5, snd_wscale (low nibble) and
	// rcv_wscale (high nibble) at byte 6.
	tcpInfoOptions = 5
	tcpInfoWscale  = 6
)

// Pause puts the socket in repair mode: from now on the connection is frozen
// and closing fd sends nothing to the peer.
func Pause(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_ON); err != nil {
		return fmt.Errorf("enter tcp repair mode on fd %d: %w", fd, err)
	}
	return nil
}

// Resume takes the socket out of repair mode; the connection goes on.
func Resume(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_OFF); err != nil {
		return fmt.Errorf("leave tcp repair mode on fd %d: %w", fd, err)
	}
	return nil
}

// Drop closes a paused socket; the peer sees neither FIN nor RST, so a
// restored copy can take the connection over.
func Drop(fd int) error {
	if err := Pause(fd); err != nil {
		return err
	}
	return unix.Close(fd)
}

// Save pauses the established TCP socket fd and reads its state. The socket
// stays paused: the caller either Drops it (the connection moves to a
// restored copy) or Resumes it (the connection goes on here).
func Save(fd int) (*State, error) {
	if p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || p != unix.IPPROTO_TCP {
		return nil, fmt.Errorf("save tcp socket fd %d: %w", fd, ErrNotEstablished)
	}
	var info [256]byte
	n, err := getsockoptBytes(fd, unix.SOL_TCP, unix.TCP_INFO, info[:])
	if err != nil {
		return nil, fmt.Errorf("save tcp socket fd %d: get TCP_INFO: %w", fd, err)
	}
	if n <= tcpInfoWscale || info[0] != tcpEstablished {
		return nil, fmt.Errorf("save tcp socket fd %d: %w", fd, ErrNotEstablished)
	}
	if err := Pause(fd); err != nil {
		return nil, err
	}
	st, err := saveRepaired(fd, info[tcpInfoOptions], info[tcpInfoWscale])
	if err != nil {
		// Leave the connection as we found it.
		_ = Resume(fd)
		return nil, fmt.Errorf("save tcp socket fd %d: %w", fd, err)
	}
	return st, nil
}

func saveRepaired(fd int, options, wscale byte) (*State, error) {
	st := &State{OptMask: uint32(options) & (OptTimestamps | OptSACK | OptWScale)}
	if st.OptMask&OptWScale != 0 {
		st.SndWscale = uint32(wscale & 0xf)
		st.RcvWscale = uint32(wscale >> 4)
	}
	var err error
	if st.Src, err = sockAddr(unix.Getsockname(fd)); err != nil {
		return nil, fmt.Errorf("get local address: %w", err)
	}
	if st.Dst, err = sockAddr(unix.Getpeername(fd)); err != nil {
		return nil, fmt.Errorf("get peer address: %w", err)
	}

	// A socket in repair mode sends no data but still takes (and acks)
	// what its peer sends, so the queues and the window may move while
	// they are read: they are read until a reading finds the window and
	// the receive queue's end where it began, which is what a restore
	// can take (the kernel refuses a window past the queue's end).
	var w tcpRepairWindow
	for try := 0; ; try++ {
		w0, err := getRepairWindow(fd)
		if err != nil {
			return nil, fmt.Errorf("get TCP_REPAIR_WINDOW: %w", err)
		}
		if err := readQueues(fd, st); err != nil {
			return nil, err
		}
		if w, err = getRepairWindow(fd); err != nil {
			return nil, fmt.Errorf("get TCP_REPAIR_WINDOW: %w", err)
		}
		end, _, err := readQueue(fd, tcpRecvQueue, 0)
		if err != nil {
			return nil, fmt.Errorf("read receive queue: %w", err)
		}
		if w == w0 && end == st.InqSeq && int32(w.RcvWup-end) <= 0 {
			break
		}
		if try == 100 {
			return nil, fmt.Errorf("read connection %v -> %v: its peer kept sending while it was read: %w", st.Src, st.Dst, ErrMoving)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR_QUEUE, tcpNoQueue); err != nil {
		return nil, fmt.Errorf("deselect repair queue: %w", err)
	}

	mss, err := unix.GetsockoptInt(fd, unix.SOL_TCP, unix.TCP_MAXSEG)
	if err != nil {
		return nil, fmt.Errorf("get TCP_MAXSEG: %w", err)
	}
	st.MSSClamp = uint32(mss)
	if st.OptMask&OptTimestamps != 0 {
		ts, err := unix.GetsockoptInt(fd, unix.SOL_TCP, unix.TCP_TIMESTAMP)
		if err != nil {
			return nil, fmt.Errorf("get TCP_TIMESTAMP: %w", err)
		}
		st.Timestamp = uint32(ts)
	}
	st.HaveWindow = true
	st.SndWl1, st.SndWnd, st.MaxWindow, st.RcvWnd, st.RcvWup = w.SndWl1, w.SndWnd, w.MaxWindow, w.RcvWnd, w.RcvWup

	cork, err := unix.GetsockoptInt(fd, unix.SOL_TCP, unix.TCP_CORK)
	if err != nil {
		return nil, fmt.Errorf("get TCP_CORK: %w", err)
	}
	nodelay, err := unix.GetsockoptInt(fd, unix.SOL_TCP, unix.TCP_NODELAY)
	if err != nil {
		return nil, fmt.Errorf("get TCP_NODELAY: %w", err)
	}
	st.Cork, st.NoDelay = cork != 0, nodelay != 0
	sndbuf, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return nil, fmt.Errorf("get SO_SNDBUF: %w", err)
	}
	rcvbuf, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		return nil, fmt.Errorf("get SO_RCVBUF: %w", err)
	}
	st.SndBuf, st.RcvBuf = uint32(sndbuf), uint32(rcvbuf)
	return st, nil
}

// readQueues reads both queues, their lengths and ends, into st.
func readQueues(fd int, st *State) error {
	inLen, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return fmt.Errorf("get receive queue length: %w", err)
	}
	outLen, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return fmt.Errorf("get send queue length: %w", err)
	}
	unsent, err := unix.IoctlGetInt(fd, unix.SIOCOUTQNSD)
	if err != nil {
		return fmt.Errorf("get unsent length: %w", err)
	}
	st.UnsqLen = uint32(unsent)
	if st.InqSeq, st.InQ, err = readQueue(fd, tcpRecvQueue, inLen); err != nil {
		return fmt.Errorf("read receive queue: %w", err)
	}
	if st.OutqSeq, st.OutQ, err = readQueue(fd, tcpSendQueue, outLen); err != nil {
		return fmt.Errorf("read send queue: %w", err)
	}
	return nil
}

// readQueue selects a repair queue and returns the sequence number at its
// end and its contents, peeked so that the socket keeps them.
func readQueue(fd, queue, size int) (uint32, []byte, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR_QUEUE, queue); err != nil {
		return 0, nil, fmt.Errorf("select queue: %w", err)
	}
	seq, err := unix.GetsockoptInt(fd, unix.SOL_TCP, unix.TCP_QUEUE_SEQ)
	if err != nil {
		return 0, nil, fmt.Errorf("get TCP_QUEUE_SEQ: %w", err)
	}
	if size == 0 {
		return uint32(seq), nil, nil
	}
	buf := make([]byte, size)
	n, _, err := unix.Recvfrom(fd, buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil {
		return 0, nil, fmt.Errorf("peek %d bytes: %w", size, err)
	}
	if n != size {
		return 0, nil, fmt.Errorf("peek %d bytes: got %d", size, n)
	}
	return uint32(seq), buf, nil
}

func sockAddr(sa unix.Sockaddr, err error) (netip.AddrPort, error) {
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("not an inet address: %T", sa)
}

func toSockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// Restore creates a socket that carries on the connection st describes and
// returns its fd (close-on-exec, blocking). The peer must still hold its end.
func Restore(st *State) (int, error) {
	if err := st.check(); err != nil {
		return -1, fmt.Errorf("restore tcp connection: %w", err)
	}
	family := unix.AF_INET6
	if st.Src.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("restore tcp connection %s -> %s: create socket: %w", st.Src, st.Dst, err)
	}
	if err := RestorePaused(fd, st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := Finish(fd, st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// RestorePaused makes fd, a new TCP socket of st's family, carry the
// connection st describes, and leaves it paused: in repair mode, nothing
// sent to the peer yet. A restore that brings back both ends of a
// connection, or a whole tree, pauses every socket first and calls Finish
// on each once all exist, so that no peer sees a socket that is not back.
func RestorePaused(fd int, st *State) error {
	if err := st.check(); err != nil {
		return fmt.Errorf("restore tcp connection: %w", err)
	}
	if err := restoreOn(fd, st); err != nil {
		return fmt.Errorf("restore tcp connection %s -> %s: %w", st.Src, st.Dst, err)
	}
	return nil
}

// Finish takes a socket RestorePaused built out of repair mode, sends the
// data the kernel had never sent, and corks the socket if it was.
func Finish(fd int, st *State) error {
	if err := Resume(fd); err != nil {
		return err
	}
	// Data the kernel never sent goes out as ordinary new data.
	if err := writeAll(fd, st.OutQ[len(st.OutQ)-int(st.UnsqLen):]); err != nil {
		return fmt.Errorf("restore tcp connection %s -> %s: send the %d bytes never sent: %w", st.Src, st.Dst, st.UnsqLen, err)
	}
	if err := boolOpt(fd, unix.TCP_CORK, st.Cork); err != nil {
		return fmt.Errorf("restore tcp connection %s -> %s: %w", st.Src, st.Dst, err)
	}
	return nil
}

func restoreOn(fd int, st *State) error {
	if err := Pause(fd); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("set SO_REUSEADDR: %w", err)
	}
	// Each queue starts where the saved data begins; refilling it moves
	// the sequence back to the saved end.
	if err := setQueueSeq(fd, tcpSendQueue, st.OutqSeq-uint32(len(st.OutQ))); err != nil {
		return err
	}
	if err := setQueueSeq(fd, tcpRecvQueue, st.InqSeq-uint32(len(st.InQ))); err != nil {
		return err
	}
	if err := unix.Bind(fd, toSockaddr(st.Src)); err != nil {
		return fmt.Errorf("bind %s: %w", st.Src, err)
	}
	if err := unix.Connect(fd, toSockaddr(st.Dst)); err != nil {
		return fmt.Errorf("connect in repair mode to %s: %w", st.Dst, err)
	}
	opts := []unix.TCPRepairOpt{{Code: unix.TCPOPT_MAXSEG, Val: st.MSSClamp}}
	if st.OptMask&OptWScale != 0 {
		opts = append(opts, unix.TCPRepairOpt{Code: unix.TCPOPT_WINDOW, Val: st.SndWscale | st.RcvWscale<<16})
	}
	if st.OptMask&OptSACK != 0 {
		opts = append(opts, unix.TCPRepairOpt{Code: unix.TCPOPT_SACK_PERMITTED})
	}
	if st.OptMask&OptTimestamps != 0 {
		opts = append(opts, unix.TCPRepairOpt{Code: unix.TCPOPT_TIMESTAMP})
	}
	if err := unix.SetsockoptTCPRepairOpt(fd, unix.SOL_TCP, unix.TCP_REPAIR_OPTIONS, opts); err != nil {
		return fmt.Errorf("set TCP_REPAIR_OPTIONS: %w", err)
	}
	if st.OptMask&OptTimestamps != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_TIMESTAMP, int(st.Timestamp)); err != nil {
			return fmt.Errorf("set TCP_TIMESTAMP: %w", err)
		}
	}
	// A large queue blocks on the default buffers: grow them first.
	if n := 2 * len(st.OutQ); n > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n); err != nil {
			return fmt.Errorf("set SO_SNDBUFFORCE: %w", err)
		}
	}
	if n := 2 * len(st.InQ); n > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n); err != nil {
			return fmt.Errorf("set SO_RCVBUFFORCE: %w", err)
		}
	}
	if err := fillQueue(fd, tcpRecvQueue, st.InQ); err != nil {
		return fmt.Errorf("refill receive queue: %w", err)
	}
	if err := fillQueue(fd, tcpSendQueue, st.OutQ[:len(st.OutQ)-int(st.UnsqLen)]); err != nil {
		return fmt.Errorf("refill send queue: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR_QUEUE, tcpNoQueue); err != nil {
		return fmt.Errorf("deselect repair queue: %w", err)
	}
	// The kernel takes the window state only once the queues are filled.
	if st.HaveWindow {
		w := tcpRepairWindow{st.SndWl1, st.SndWnd, st.MaxWindow, st.RcvWnd, st.RcvWup}
		if err := setRepairWindow(fd, w); err != nil {
			return fmt.Errorf("set TCP_REPAIR_WINDOW: %w", err)
		}
	}
	return boolOpt(fd, unix.TCP_NODELAY, st.NoDelay)
}

func boolOpt(fd, opt int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, opt, v); err != nil {
		return fmt.Errorf("set tcp option %d: %w", opt, err)
	}
	return nil
}

func setQueueSeq(fd, queue int, seq uint32) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR_QUEUE, queue); err != nil {
		return fmt.Errorf("select queue %d: %w", queue, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_QUEUE_SEQ, int(int32(seq))); err != nil {
		return fmt.Errorf("set TCP_QUEUE_SEQ of queue %d: %w", queue, err)
	}
	return nil
}

func fillQueue(fd, queue int, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR_QUEUE, queue); err != nil {
		return fmt.Errorf("select queue %d: %w", queue, err)
	}
	return writeAll(fd, data)
}

func writeAll(fd int, data []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && time.Now().Before(deadline):
			// A non-blocking socket that is full: wait for room.
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, 100)
			continue
		case err != nil:
			return err
		}
		data = data[n:]
	}
	return nil
}
