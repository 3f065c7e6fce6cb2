package dump

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/sockdiag"
)

func init() {
	registerFdKind(images.FdTypes_PACKETSK, &fdKind{link: proc.LinkSocket, domains: []int{unix.AF_PACKET},
		dump: func(d *dumper, x *fdDump) error { return d.packetSocket(x) }})
}

// AF_PACKET sockets (SOCK_RAW, SOCK_DGRAM and the old SOCK_PACKET), as
// CRIU records them in packet_sock_entry: type, protocol, the interface
// bound to, PACKET_VERSION, _RESERVE, _TIMESTAMP, _COPY_THRESH, the
// _AUXDATA, _ORIGDEV, _VNET_HDR and _LOSS flags, multicast memberships
// and fanout group, all from sock_diag (packet_diag: copy_thresh and the
// memberships have no getsockopt), and the socket options. As CRIU,
// frames queued to be read are not kept (a network loses frames too).
// Refused: an mmap-ed ring (PACKET_RX_RING/PACKET_TX_RING, which CRIU
// restores with its mapping; our memory dump has no socket mappings), a
// membership added more than once (the image keeps no count) and one of
// a kind CRIU does not know.

// Multicast membership types (PACKET_MR_*).
const (
	packetMrMulticast = 0
	packetMrPromisc   = 1
	packetMrAllmulti  = 2
	packetMrUnicast   = 3
)

// packetSocks lists the packet sockets of the namespace, once.
func (n *netSocks) packetSocks() (map[uint32]*sockdiag.PacketSock, error) {
	if n.packet != nil {
		return n.packet, nil
	}
	m, err := n.conn.Packet()
	if err != nil {
		return nil, err
	}
	n.packet = m
	return m, nil
}

func (d *dumper) packetSocket(x *fdDump) error {
	fd := int(x.theirs.Fd())
	ino := uint32(x.f.fs.st.Ino)
	n, err := d.netOf(fd)
	if err != nil {
		return err
	}
	m, err := n.packetSocks()
	if err != nil {
		return fmt.Errorf("packet socket %d: %w", ino, err)
	}
	sk := m[ino]
	if sk == nil {
		return fmt.Errorf("packet socket %d: not listed by sock_diag: %w", ino, ErrKernel)
	}
	if sk.RxRing != nil || sk.TxRing != nil {
		return fmt.Errorf("packet socket %d with an mmap-ed ring (PACKET_RX_RING/PACKET_TX_RING): %w", ino, ErrNotSupported)
	}
	pe := &images.PacketSockEntry{
		Id:         ptr(x.id),
		Type:       ptr(uint32(sk.Type)),
		Protocol:   ptr(uint32(sk.Num>>8 | sk.Num<<8)), // as socket(2) takes it: network order
		Flags:      ptr(x.flags),
		Ifindex:    ptr(sk.Ifindex),
		Fown:       x.fown,
		Version:    ptr(sk.Version),
		Reserve:    ptr(sk.Reserve),
		AuxData:    ptr(sk.Flags&sockdiag.PacketAuxData != 0),
		OrigDev:    ptr(sk.Flags&sockdiag.PacketOrigDev != 0),
		VnetHdr:    ptr(sk.Flags&sockdiag.PacketVnetHdr != 0),
		Loss:       ptr(sk.Flags&sockdiag.PacketLoss != 0),
		Timestamp:  ptr(sk.Tstamp),
		CopyThresh: ptr(sk.CopyThresh),
		NsId:       ptr(n.id),
	}
	for _, mc := range sk.Mclist {
		if mc.Count != 1 {
			return fmt.Errorf("packet socket %d: membership of type %d on interface %d added %d times: %w", ino, mc.Type, mc.Ifindex, mc.Count, ErrNotSupported)
		}
		e := &images.PacketMclist{Index: ptr(mc.Ifindex), Type: ptr(uint32(mc.Type)), Addr: []byte{}}
		switch mc.Type {
		case packetMrMulticast, packetMrUnicast:
			e.Addr = mc.Addr
		case packetMrPromisc, packetMrAllmulti:
		default:
			return fmt.Errorf("packet socket %d: membership of type %d: %w", ino, mc.Type, ErrNotSupported)
		}
		pe.Mclist = append(pe.Mclist, e)
	}
	if sk.HasFanout {
		pe.Fanout = ptr(sk.Fanout)
	}
	if pe.Opts, err = skOpts(fd, unix.AF_PACKET); err != nil {
		return fmt.Errorf("packet socket %d: %w", ino, err)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_PACKETSK.Enum(), Id: ptr(x.id), Psk: pe})
	return nil
}
