package restore

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// An AF_PACKET socket is made with its type and protocol in its network
// namespace, bound to its interface (a SOCK_PACKET one by the interface's
// name, as its bind takes), and given its packet options, multicast
// memberships, fanout group and socket options. Rings are refused, as
// the dump refuses them.
func init() {
	registerFileKind(images.FdTypes_PACKETSK, &fileKind{
		has:   func(e *images.FileEntry) bool { return e.GetPsk() != nil },
		check: func(_ *fileObjs, e *images.FileEntry) error { return checkPacket(e) },
		open:  func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.packetDesc(e.GetPsk()) },
		fown:  func(e *images.FileEntry) *images.FownEntry { return e.GetPsk().GetFown() },
	})
}

// checkPacket refuses, before anything is made, a packet socket entry
// with a ring.
func checkPacket(e *images.FileEntry) error {
	pe := e.GetPsk()
	if pe == nil {
		return fmt.Errorf("file id %d: PACKETSK without packet socket entry: %w", e.GetId(), ErrBadImage)
	}
	if pe.GetRxRing() != nil || pe.GetTxRing() != nil {
		return fmt.Errorf("packet socket %d: mmap-ed ring: %w", pe.GetId(), ErrNotSupported)
	}
	return nil
}

// sockPacket is SOCK_PACKET, the old packet socket type.
const sockPacket = 10

func (f *fileObjs) packetDesc(e *images.PacketSockEntry) (*os.File, error) {
	name := fmt.Sprintf("packet socket %d", e.GetId())
	if e.GetRxRing() != nil || e.GetTxRing() != nil {
		return nil, fmt.Errorf("%s: mmap-ed ring: %w", name, ErrNotSupported)
	}
	fd, err := f.r.netSocket(unix.AF_PACKET, int(e.GetType())|unix.SOCK_CLOEXEC, int(e.GetProtocol()))
	if err != nil {
		return nil, fmt.Errorf("make %s of type %d protocol %#x: %w", name, e.GetType(), e.GetProtocol(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), name))
	if e.GetType() == sockPacket {
		if err := bindSockPacket(fd, int(e.GetIfindex())); err != nil {
			return nil, fmt.Errorf("bind %s: %w", name, err)
		}
	} else {
		// Interface 0 binds to every interface, with the protocol the
		// socket was made with.
		sa := &unix.SockaddrLinklayer{Ifindex: int(e.GetIfindex())}
		if err := unix.Bind(fd, sa); err != nil {
			return nil, fmt.Errorf("bind %s to interface %d: %w", name, e.GetIfindex(), err)
		}
		// The flags are set only when on: PACKET_VNET_HDR takes no
		// value at all on a SOCK_DGRAM socket.
		for _, o := range []struct {
			opt int
			v   uint32
			set bool
		}{
			{unix.PACKET_VERSION, e.GetVersion(), true}, {unix.PACKET_RESERVE, e.GetReserve(), true},
			{unix.PACKET_TIMESTAMP, e.GetTimestamp(), true}, {unix.PACKET_COPY_THRESH, e.GetCopyThresh(), true},
			{unix.PACKET_AUXDATA, 1, e.GetAuxData()}, {unix.PACKET_ORIGDEV, 1, e.GetOrigDev()},
			{unix.PACKET_VNET_HDR, 1, e.GetVnetHdr()}, {unix.PACKET_LOSS, 1, e.GetLoss()},
		} {
			if !o.set {
				continue
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, o.opt, int(o.v)); err != nil {
				return nil, fmt.Errorf("set packet option %d of %s to %d: %w", o.opt, name, o.v, err)
			}
		}
		for _, mc := range e.GetMclist() {
			mr := &unix.PacketMreq{Ifindex: int32(mc.GetIndex()), Type: uint16(mc.GetType())}
			if len(mc.GetAddr()) > len(mr.Address) {
				return nil, fmt.Errorf("%s: membership address of %d bytes: %w", name, len(mc.GetAddr()), ErrBadImage)
			}
			mr.Alen = uint16(copy(mr.Address[:], mc.GetAddr()))
			if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mr); err != nil {
				return nil, fmt.Errorf("add membership of type %d on interface %d to %s: %w", mc.GetType(), mc.GetIndex(), name, err)
			}
		}
		if e.Fanout != nil && e.GetFanout() != ^uint32(0) {
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(e.GetFanout())); err != nil {
				return nil, fmt.Errorf("join %s to fanout group %#x: %w", name, e.GetFanout(), err)
			}
		}
	}
	if err := setSockOpts(file, e.GetOpts()); err != nil {
		return nil, err
	}
	if err := setStatusFlags(file, int(e.GetFlags())); err != nil {
		return nil, err
	}
	return file, nil
}

// bindSockPacket binds a SOCK_PACKET socket to the interface of index
// ifindex, which its bind names in a struct sockaddr (family, then the
// name in sa_data's 14 bytes).
func bindSockPacket(fd, ifindex int) error {
	if ifindex <= 0 {
		return nil
	}
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(ifindex))
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFNAME, ifr); err != nil {
		return fmt.Errorf("name interface %d: %w", ifindex, err)
	}
	var sa [16]byte
	binary.NativeEndian.PutUint16(sa[:], unix.AF_PACKET)
	copy(sa[2:15], ifr.Name())
	if err := bindRaw(fd, sa[:]); err != nil {
		return fmt.Errorf("bind to %s: %w", ifr.Name(), err)
	}
	return nil
}
