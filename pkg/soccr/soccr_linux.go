//go:build linux

package soccr

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

const (
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

// Save pauses the TCP socket fd, established or closing (one of the
// State* states), and reads its state. The socket stays paused: the
// caller either Drops it (the connection moves to a restored copy) or
// Resumes it (the connection goes on here).
func Save(fd int) (*State, error) {
	if p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err != nil || p != unix.IPPROTO_TCP {
		return nil, fmt.Errorf("save tcp socket fd %d: %w", fd, ErrNotEstablished)
	}
	info, err := getTCPInfo(fd)
	if err != nil {
		return nil, fmt.Errorf("save tcp socket fd %d: %w", fd, err)
	}
	if !saveable(info.state) {
		return nil, fmt.Errorf("save tcp socket fd %d in state %s: %w", fd, StateName(info.state), ErrNotEstablished)
	}
	if err := Pause(fd); err != nil {
		return nil, err
	}
	st, err := saveRepaired(fd)
	if err != nil {
		// Leave the connection as we found it.
		_ = Resume(fd)
		return nil, fmt.Errorf("save tcp socket fd %d: %w", fd, err)
	}
	return st, nil
}

func saveable(state uint8) bool {
	return stateIn(state, StateEstablished, StateFinWait1, StateFinWait2, StateClose, StateCloseWait, StateLastAck, StateClosing)
}

// tcpInfo is what Save reads of struct tcp_info.
type tcpInfo struct {
	state, options, wscale byte
}

func getTCPInfo(fd int) (tcpInfo, error) {
	var info [256]byte
	n, err := getsockoptBytes(fd, unix.SOL_TCP, unix.TCP_INFO, info[:])
	if err != nil {
		return tcpInfo{}, fmt.Errorf("get TCP_INFO: %w", err)
	}
	if n <= tcpInfoWscale {
		return tcpInfo{}, fmt.Errorf("get TCP_INFO: %d bytes", n)
	}
	return tcpInfo{state: info[0], options: info[tcpInfoOptions], wscale: info[tcpInfoWscale]}, nil
}

// PeerName is the address of the peer of the TCP socket fd. A connection
// closed both ways has one still, which getpeername no longer tells
// (ENOTCONN in TCP_CLOSE) and SO_PEERNAME does, as CRIU reads it. A
// socket never connected gives an error matching unix.ENOTCONN.
func PeerName(fd int) (netip.AddrPort, error) {
	// The kernel refuses a buffer longer than the address (EINVAL).
	var b [unix.SizeofSockaddrInet6]byte
	size := unix.SizeofSockaddrInet6
	if d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil && d == unix.AF_INET {
		size = unix.SizeofSockaddrInet4
	}
	n, err := getsockoptBytes(fd, unix.SOL_SOCKET, unix.SO_PEERNAME, b[:size])
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("get SO_PEERNAME: %w", err)
	}
	ap, ok := parseSockaddr(b[:n])
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("get SO_PEERNAME: not an inet address (%d bytes)", n)
	}
	return ap, nil
}

func saveRepaired(fd int) (*State, error) {
	st := &State{}
	var err error
	if st.Src, err = sockAddr(unix.Getsockname(fd)); err != nil {
		return nil, fmt.Errorf("get local address: %w", err)
	}
	if st.Dst, err = PeerName(fd); err != nil {
		return nil, fmt.Errorf("get peer address: %w", err)
	}

	// A socket in repair mode sends no data but still takes (and acks)
	// what its peer sends, so its state, the queues and the window may
	// move while they are read: they are read until a reading finds the
	// state, the window and the receive queue's end where it began,
	// which is what a restore can take (the kernel refuses a window past
	// the queue's end).
	var w tcpRepairWindow
	var info tcpInfo
	for try := 0; ; try++ {
		if info, err = getTCPInfo(fd); err != nil {
			return nil, err
		}
		w0, err := getRepairWindow(fd)
		if err != nil {
			return nil, fmt.Errorf("get TCP_REPAIR_WINDOW: %w", err)
		}
		st.TCPState = info.state
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
		info1, err := getTCPInfo(fd)
		if err != nil {
			return nil, err
		}
		if info1.state == info.state && w == w0 && end == st.InqSeq && int32(w.RcvWup-end) <= 0 {
			break
		}
		if try == 100 {
			return nil, fmt.Errorf("read connection %v -> %v: its peer kept sending while it was read: %w", st.Src, st.Dst, ErrMoving)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !saveable(info.state) {
		return nil, fmt.Errorf("connection %v -> %v went to state %s: %w", st.Src, st.Dst, StateName(info.state), ErrNotEstablished)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR_QUEUE, tcpNoQueue); err != nil {
		return nil, fmt.Errorf("deselect repair queue: %w", err)
	}

	st.OptMask = uint32(info.options) & (OptTimestamps | OptSACK | OptWScale)
	if st.OptMask&OptWScale != 0 {
		st.SndWscale = uint32(info.wscale & 0xf)
		st.RcvWscale = uint32(info.wscale >> 4)
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

// readQueues reads both queues, their lengths and ends, into st, whose
// TCPState is set. As CRIU's soccr: a FIN in the send queue is no data
// (SIOCOUTQ and SIOCOUTQNSD count it, the sequence at the queue's end
// keeps it), and a closed connection's send queue is dropped (what a
// reset left there nobody can read, and a close both ways left none).
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
	if st.state() == StateClose {
		outLen, unsent = 0, 0
	}
	if st.finSent() {
		outLen, unsent = max(outLen-1, 0), max(unsent-1, 0)
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
// data the kernel had never sent, and corks the socket if it was. A
// closing connection first replays its FINs (replayClose), with segments
// made up for its peer sent through a raw socket of the current
// network namespace.
func Finish(fd int, st *State) error { return FinishWith(fd, st, nil) }

// RawSocket opens a raw IP socket (SOCK_RAW, IPPROTO_RAW) of the family
// given, AF_INET or AF_INET6, in the network namespace of the
// connections being restored.
type RawSocket func(family int) (int, error)

// FinishWith is Finish with the segments of a closing connection sent
// through raw sockets opened by raw (nil: in the current namespace).
func FinishWith(fd int, st *State, raw RawSocket) error {
	written, err := replayClose(fd, st, raw)
	if err != nil {
		return fmt.Errorf("restore tcp connection %s -> %s in state %s: %w", st.Src, st.Dst, StateName(st.state()), err)
	}
	if err := Resume(fd); err != nil {
		return err
	}
	// Data the kernel never sent goes out as ordinary new data.
	if !written {
		if err := sendUnsent(fd, st); err != nil {
			return fmt.Errorf("restore tcp connection %s -> %s: %w", st.Src, st.Dst, err)
		}
	}
	if err := boolOpt(fd, unix.TCP_CORK, st.Cork); err != nil {
		return fmt.Errorf("restore tcp connection %s -> %s: %w", st.Src, st.Dst, err)
	}
	return nil
}

// replayClose brings a connection that RestorePaused left established
// to its saved closing state, as CRIU's soccr does: the socket's own FIN
// by shutdown(2) (in repair mode with the send queue selected when the
// peer had acked it, so that it counts as sent and nothing goes out; as
// an ordinary FIN after the unsent data otherwise), the peer's FIN and
// its ack of the socket's FIN by segments made up for the peer, in the
// order the state says they came. It tells whether it wrote the data
// never sent (which must go before the FIN).
func replayClose(fd int, st *State, raw RawSocket) (bool, error) {
	if st.state() == StateEstablished {
		return false, nil
	}
	in := &injector{raw: raw}
	defer in.close()
	written := false
	unsent := st.OutQ[len(st.OutQ)-int(st.UnsqLen):]
	writeUnsent := func() error {
		if written || len(unsent) == 0 {
			return nil
		}
		written = true
		if err := Resume(fd); err != nil {
			return err
		}
		if err := sendUnsent(fd, st); err != nil {
			return err
		}
		return Pause(fd)
	}
	// The peer's window as it last advertised it, scaled as it would.
	win := uint32(0xffff)
	if st.HaveWindow {
		win = st.SndWnd
		if st.OptMask&OptWScale != 0 {
			win >>= st.SndWscale
		}
	}
	seg := segment{Src: st.Dst, Dst: st.Src, Window: uint16(min(win, 0xffff))}
	sndUna := st.OutqSeq - uint32(len(st.OutQ))
	if st.finSent() {
		sndUna--
	}
	if st.finSentFirst() {
		if err := writeUnsent(); err != nil {
			return written, err
		}
		if err := shutdownFIN(fd, st.finAcked()); err != nil {
			return written, err
		}
	}
	if st.finReceived() {
		seg.Seq, seg.Ack, seg.Flags = st.InqSeq-1, sndUna, thFIN|thACK
		// After its own FIN, the socket may have had that acked by a
		// live peer already, and goes from CLOSING on to TIME_WAIT
		// (TCP_CLOSE for a socket with a file).
		want := []uint8{StateCloseWait}
		if st.finSentFirst() {
			want = []uint8{StateClosing, StateClose}
		}
		if err := in.send(fd, &seg, "FIN", want); err != nil {
			return written, err
		}
	}
	if st.finSentSecond() {
		if err := writeUnsent(); err != nil {
			return written, err
		}
		if err := shutdownFIN(fd, st.finAcked()); err != nil {
			return written, err
		}
	}
	if st.finAcked() {
		seg.Seq, seg.Ack, seg.Flags = st.InqSeq, st.OutqSeq, thACK
		want := []uint8{StateFinWait2}
		if st.finSentSecond() {
			want = []uint8{StateClose}
		}
		if err := in.send(fd, &seg, "ACK of its FIN", want); err != nil {
			return written, err
		}
	}
	return written, nil
}

// shutdownFIN shuts the socket down for writing: its FIN goes into the
// send queue, as sent (not transmitted) when acked is set.
func shutdownFIN(fd int, acked bool) error {
	if acked {
		if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR_QUEUE, tcpSendQueue); err != nil {
			return fmt.Errorf("select send queue: %w", err)
		}
	}
	if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
		return fmt.Errorf("shut down for writing: %w", err)
	}
	if acked {
		if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_REPAIR_QUEUE, tcpNoQueue); err != nil {
			return fmt.Errorf("deselect repair queue: %w", err)
		}
	}
	return nil
}

// soccrMark is the SO_MARK of the segments a restore makes up (CRIU's
// SOCCR_MARK), which a network lock lets through.
const soccrMark = 0xC114

// injector sends made-up segments through raw sockets, one per family,
// opened when first needed.
type injector struct {
	raw RawSocket
	fds map[int]int // family -> raw socket
}

func (in *injector) close() {
	for _, fd := range in.fds {
		unix.Close(fd)
	}
}

// send delivers seg to the socket fd and waits until the socket is in
// one of the states want.
func (in *injector) send(fd int, seg *segment, what string, want []uint8) error {
	family := unix.AF_INET6
	var to unix.Sockaddr = &unix.SockaddrInet6{Addr: seg.Dst.Addr().As16()}
	if seg.Src.Addr().Unmap().Is4() && seg.Dst.Addr().Unmap().Is4() {
		family = unix.AF_INET
		to = &unix.SockaddrInet4{Addr: seg.Dst.Addr().Unmap().As4()}
	}
	rfd, ok := in.fds[family]
	if !ok {
		var err error
		if in.raw != nil {
			rfd, err = in.raw(family)
		} else {
			rfd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		}
		if err != nil {
			return fmt.Errorf("open raw socket to send the peer's %s: %w", what, err)
		}
		if in.fds == nil {
			in.fds = map[int]int{}
		}
		in.fds[family] = rfd
		if err := unix.SetsockoptInt(rfd, unix.SOL_SOCKET, unix.SO_MARK, soccrMark); err != nil {
			return fmt.Errorf("set SO_MARK of raw socket: %w", err)
		}
	}
	if err := unix.Sendto(rfd, seg.packet(), 0, to); err != nil {
		return fmt.Errorf("send the peer's %s through a raw socket: %w", what, err)
	}
	// The segment comes in through the loopback device, in the
	// softirq of the send or soon after.
	deadline := time.Now().Add(2 * time.Second)
	for {
		info, err := getTCPInfo(fd)
		if err != nil {
			return err
		}
		if stateIn(info.state, want...) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the peer's %s (seq %d, ack %d) sent through a raw socket left the socket in state %s: %w",
				what, seg.Seq, seg.Ack, StateName(info.state), ErrReplay)
		}
		time.Sleep(time.Millisecond)
	}
}

func restoreOn(fd int, st *State) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("set SO_REUSEADDR: %w", err)
	}
	// Repair mode forces the reuse of the address (SK_FORCE_REUSE), which
	// SO_REUSEADDR would undo: set after it, it lets the socket bind to
	// the port its connection's TIME_WAIT remnant holds.
	if err := Pause(fd); err != nil {
		return err
	}
	// Each queue starts where the saved data begins; refilling it moves
	// the sequence back to the saved end, short of the FINs, which
	// Finish replays (replayClose).
	inqSeq, outqSeq := st.InqSeq, st.OutqSeq
	if st.finReceived() {
		inqSeq--
	}
	if st.finSent() {
		outqSeq--
	}
	if err := setQueueSeq(fd, tcpSendQueue, outqSeq-uint32(len(st.OutQ))); err != nil {
		return err
	}
	if err := setQueueSeq(fd, tcpRecvQueue, inqSeq-uint32(len(st.InQ))); err != nil {
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
		if st.finReceived() {
			// The window was advertised past the peer's FIN, which is
			// not in the receive queue yet.
			w.RcvWup--
			w.RcvWnd++
		}
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

// sendUnsent writes the part of the send queue the kernel had never sent
// as ordinary new data. By now the socket's send buffer has the size the
// program had, which the queue may overflow with the kernel's overhead
// per segment while the peer reads nothing: the buffer is grown for the
// write and then set back, its lock (SO_BUF_LOCK) as it was.
func sendUnsent(fd int, st *State) error {
	data := st.OutQ[len(st.OutQ)-int(st.UnsqLen):]
	if len(data) == 0 {
		return nil
	}
	cur, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return fmt.Errorf("get SO_SNDBUF: %w", err)
	}
	lock, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUF_LOCK)
	if err != nil {
		return fmt.Errorf("get SO_BUF_LOCK: %w", err)
	}
	// SO_SNDBUFFORCE sets twice the value given, which SO_SNDBUF reports.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, max(cur/2, 2*len(st.OutQ))); err != nil {
		return fmt.Errorf("set SO_SNDBUFFORCE: %w", err)
	}
	if err := writeAll(fd, data); err != nil {
		return fmt.Errorf("send the %d bytes never sent: %w", len(data), err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, cur/2); err != nil {
		return fmt.Errorf("set SO_SNDBUFFORCE back: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUF_LOCK, lock); err != nil {
		return fmt.Errorf("set SO_BUF_LOCK back: %w", err)
	}
	return nil
}

// writeAll writes data without blocking (the socket may be a blocking
// one whose peer reads nothing), waiting up to 10 s for room.
func writeAll(fd int, data []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	for len(data) > 0 {
		n, err := unix.SendmsgN(fd, data, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN && time.Now().Before(deadline):
			// Full: wait for room.
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, 100)
			continue
		case err != nil:
			return err
		}
		data = data[n:]
	}
	return nil
}
