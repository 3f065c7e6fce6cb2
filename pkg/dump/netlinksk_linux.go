package dump

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFdKind(images.FdTypes_NETLINKSK, &fdKind{link: proc.LinkSocket, domains: []int{unix.AF_NETLINK},
		dump: func(d *dumper, x *fdDump) error { return d.netlinkSocket(x) }})
}

// Netlink sockets, as CRIU records them in netlink_sk_entry: protocol,
// port id and multicast groups (from getsockname, the groups above 32
// from NETLINK_LIST_MEMBERSHIPS), the peer (getpeername), socket options.
// As CRIU, the dump refuses a socket with data waiting to be read (the
// image has no queue for it: replies or notifications would be lost) and
// one in groups above 32 (the image's bind takes a 32-bit mask).

// Netlink socket states (net/netlink/af_netlink.h).
const (
	netlinkUnconnected = 0
	netlinkConnected   = 1
)

func (d *dumper) netlinkSocket(x *fdDump) error {
	fd := int(x.theirs.Fd())
	ino := uint32(x.f.fs.st.Ino)
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return fmt.Errorf("netlink socket %d: get SO_PROTOCOL: %w", ino, err)
	}
	// Data waiting: a peek takes nothing out.
	var b [1]byte
	if n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT|unix.MSG_TRUNC); err == nil && n > 0 {
		return fmt.Errorf("netlink socket %d (protocol %d) has %d bytes waiting to be read: %w", ino, proto, n, ErrNotSupported)
	} else if err != nil && !errors.Is(err, unix.EAGAIN) {
		return fmt.Errorf("netlink socket %d: peek at queue: %w", ino, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fmt.Errorf("netlink socket %d: get socket name: %w", ino, err)
	}
	local, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return fmt.Errorf("netlink socket %d: socket name %T: %w", ino, sa, ErrKernel)
	}
	// Groups beyond the first 32 do not show in nl_groups.
	var groups [32]byte
	n, err := getsockoptRaw(fd, unix.SOL_NETLINK, unix.NETLINK_LIST_MEMBERSHIPS, groups[:], uint32(len(groups)))
	if err != nil {
		return fmt.Errorf("netlink socket %d: get NETLINK_LIST_MEMBERSHIPS: %w", ino, err)
	}
	for i := 4; i < int(min(n, uint32(len(groups)))); i++ {
		if groups[i] != 0 {
			return fmt.Errorf("netlink socket %d (protocol %d) is in multicast groups above 32: %w", ino, proto, ErrNotSupported)
		}
	}
	if n > uint32(len(groups)) {
		return fmt.Errorf("netlink socket %d (protocol %d) is in multicast groups above %d: %w", ino, proto, 8*len(groups), ErrNotSupported)
	}
	if local.Groups != 0 && local.Pid == 0 {
		return fmt.Errorf("netlink socket %d is in multicast groups without a port id: %w", ino, ErrNotSupported)
	}
	ne := &images.NetlinkSkEntry{
		Id:        ptr(x.id),
		Ino:       ptr(ino),
		Protocol:  ptr(uint32(proto)),
		State:     ptr(uint32(netlinkUnconnected)),
		Flags:     ptr(x.flags),
		Portid:    ptr(local.Pid),
		DstPortid: ptr(uint32(0)),
		DstGroup:  ptr(uint32(0)),
		Fown:      x.fown,
	}
	if local.Groups != 0 {
		ne.Groups = []uint32{local.Groups}
	}
	if pa, err := unix.Getpeername(fd); err == nil {
		if peer, ok := pa.(*unix.SockaddrNetlink); ok && (peer.Pid != 0 || peer.Groups != 0) {
			ne.State = ptr(uint32(netlinkConnected))
			ne.DstPortid = ptr(peer.Pid)
			// getpeername gives the group as a mask, the image its number.
			for g := uint32(0); g < 32; g++ {
				if peer.Groups == 1<<g {
					ne.DstGroup = ptr(g + 1)
				}
			}
		}
	}
	nsfd, err := d.netOf(fd)
	if err != nil {
		return err
	}
	ne.NsId = ptr(nsfd.id)
	if ne.Opts, err = skOpts(fd, unix.AF_NETLINK); err != nil {
		return fmt.Errorf("netlink socket %d: %w", ino, err)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_NETLINKSK.Enum(), Id: ptr(x.id), Nlsk: ne})
	return nil
}
