package soccr

import (
	"errors"
	"fmt"
	"net/netip"
)

// Option bits of State.OptMask, as the kernel reports them in tcp_info's
// tcpi_options and as CRIU's tcp_stream image stores them.
const (
	OptTimestamps = 1 << 0 // TCPI_OPT_TIMESTAMPS
	OptSACK       = 1 << 1 // TCPI_OPT_SACK
	OptWScale     = 1 << 2 // TCPI_OPT_WSCALE
)

// TCP states a connection is saved in, numbered as the kernel numbers
// them (tcp_info's tcpi_state, inet_sk_entry's state): established, and
// every state a connection passes while it closes. A socket whose
// connection went through TIME_WAIT or LAST_ACK (or was reset) is in
// StateClose while its fd is open.
const (
	StateEstablished = 1  // TCP_ESTABLISHED
	StateFinWait1    = 4  // TCP_FIN_WAIT1: shut down, its FIN not acked
	StateFinWait2    = 5  // TCP_FIN_WAIT2: shut down, its FIN acked
	StateClose       = 7  // TCP_CLOSE: closed both ways
	StateCloseWait   = 8  // TCP_CLOSE_WAIT: the peer's FIN received
	StateLastAck     = 9  // TCP_LAST_ACK: the peer's FIN, then its own, not acked
	StateClosing     = 11 // TCP_CLOSING: both FINs crossed, its own not acked
)

// ErrNotEstablished is returned when the socket to save is not a TCP
// connection in one of the states above.
var ErrNotEstablished = errors.New("socket is not a TCP connection established or closing")

// ErrBadState is returned when a State cannot describe a connection
// (queue lengths that do not match their data, addresses missing).
var ErrBadState = errors.New("inconsistent TCP connection state")

// ErrReplay is returned by Finish when a segment made up for the peer of
// a closing connection did not bring the socket to its state (a firewall
// dropping it, say).
var ErrReplay = errors.New("TCP close not replayed")

// ErrMoving is returned by Save for a connection whose peer kept sending
// while its state was read, so that no reading was consistent.
var ErrMoving = errors.New("TCP connection still receiving")

// State is everything needed to bring back one established TCP connection.
// Field names follow CRIU's tcp_stream_entry where one exists.
type State struct {
	Src, Dst netip.AddrPort // local and remote address

	// TCPState is one of the State* constants; 0 is StateEstablished.
	// The sequence numbers and queue lengths below are the kernel's, as
	// CRIU's tcp_stream image keeps them: a FIN counts in InqSeq once
	// received and in OutqSeq once shut down, and in neither queue.
	TCPState uint8

	InqSeq  uint32 // sequence number at the end of the receive queue (rcv_nxt)
	OutqSeq uint32 // sequence number at the end of the send queue (write_seq)
	InQ     []byte // received, not yet read by the application
	OutQ    []byte // written by the application, not yet acked by the peer
	UnsqLen uint32 // how many bytes at the end of OutQ were never sent

	OptMask   uint32 // OptTimestamps | OptSACK | OptWScale
	SndWscale uint32
	RcvWscale uint32
	MSSClamp  uint32
	Timestamp uint32 // the socket's TCP timestamp clock

	Cork, NoDelay bool

	SndBuf, RcvBuf uint32 // SO_SNDBUF and SO_RCVBUF as the kernel reports them

	// Window state (TCP_REPAIR_WINDOW); HaveWindow is false for states
	// saved by a kernel without it.
	HaveWindow bool
	SndWl1     uint32
	SndWnd     uint32
	MaxWindow  uint32
	RcvWnd     uint32
	RcvWup     uint32
}

// check tells whether s can be restored.
func (s *State) check() error {
	if !s.Src.IsValid() || !s.Dst.IsValid() {
		return fmt.Errorf("%w: missing address", ErrBadState)
	}
	if s.Src.Addr().Is4() != s.Dst.Addr().Is4() {
		return fmt.Errorf("%w: address families differ", ErrBadState)
	}
	if int(s.UnsqLen) > len(s.OutQ) {
		return fmt.Errorf("%w: unsent length %d exceeds send queue of %d bytes", ErrBadState, s.UnsqLen, len(s.OutQ))
	}
	switch s.state() {
	case StateEstablished, StateFinWait1, StateCloseWait, StateLastAck, StateClosing:
	case StateFinWait2, StateClose:
		// Its FIN acked, nothing can be left to send.
		if len(s.OutQ) != 0 {
			return fmt.Errorf("%w: %d bytes in the send queue in state %s", ErrBadState, len(s.OutQ), StateName(s.state()))
		}
	default:
		return fmt.Errorf("%w: state %s", ErrBadState, StateName(s.state()))
	}
	return nil
}

// state is the connection's TCP state, StateEstablished when unset.
func (s *State) state() uint8 {
	if s.TCPState == 0 {
		return StateEstablished
	}
	return s.TCPState
}

// How a closing connection's FINs stand, by state (CRIU's soccr keeps
// the same table):
//
//	state        own FIN (send queue)   peer's FIN (receive queue)
//	FIN_WAIT1    sent first, not acked  -
//	FIN_WAIT2    sent first, acked      -
//	CLOSING      sent first, not acked  received second
//	CLOSE_WAIT   -                      received first
//	LAST_ACK     sent second, not acked received first
//	CLOSE        sent second, acked     received first

// stateIn says whether st is one of set.
func stateIn(st uint8, set ...uint8) bool {
	for _, s := range set {
		if st == s {
			return true
		}
	}
	return false
}

// finSentFirst: the socket shut down before any FIN of its peer came.
func (s *State) finSentFirst() bool {
	return stateIn(s.state(), StateFinWait1, StateFinWait2, StateClosing)
}

// finSentSecond: the socket shut down after its peer's FIN came.
func (s *State) finSentSecond() bool { return stateIn(s.state(), StateLastAck, StateClose) }

// finSent: the socket's FIN is in its send queue, acked or not.
func (s *State) finSent() bool { return s.finSentFirst() || s.finSentSecond() }

// finAcked: the peer acked the socket's FIN.
func (s *State) finAcked() bool { return stateIn(s.state(), StateFinWait2, StateClose) }

// finReceived: the peer's FIN is in the receive queue.
func (s *State) finReceived() bool {
	return stateIn(s.state(), StateCloseWait, StateLastAck, StateClose, StateClosing)
}

// StateName names a TCP state as the kernel does.
func StateName(st uint8) string {
	names := map[uint8]string{
		StateEstablished: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", StateFinWait1: "FIN_WAIT1",
		StateFinWait2: "FIN_WAIT2", 6: "TIME_WAIT", StateClose: "CLOSE", StateCloseWait: "CLOSE_WAIT",
		StateLastAck: "LAST_ACK", 10: "LISTEN", StateClosing: "CLOSING",
	}
	if n, ok := names[st]; ok {
		return n
	}
	return fmt.Sprintf("%d", st)
}
