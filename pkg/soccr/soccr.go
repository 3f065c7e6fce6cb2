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

// ErrNotEstablished is returned when the socket to save is not an
// established TCP connection.
var ErrNotEstablished = errors.New("socket is not an established TCP connection")

// ErrBadState is returned when a State cannot describe a connection
// (queue lengths that do not match their data, addresses missing).
var ErrBadState = errors.New("inconsistent TCP connection state")

// ErrMoving is returned by Save for a connection whose peer kept sending
// while its state was read, so that no reading was consistent.
var ErrMoving = errors.New("TCP connection still receiving")

// State is everything needed to bring back one established TCP connection.
// Field names follow CRIU's tcp_stream_entry where one exists.
type State struct {
	Src, Dst netip.AddrPort // local and remote address

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
	return nil
}
