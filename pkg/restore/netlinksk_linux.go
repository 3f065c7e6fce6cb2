package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// A netlink socket is made with its protocol, bound to its port id and
// multicast groups, connected to its peer, and given its options. A port
// id taken meanwhile (port ids are often the pid of the first socket's
// task, and another process may hold it) is replaced by one the kernel
// picks, as CRIU does.
func init() {
	registerFileKind(images.FdTypes_NETLINKSK, &fileKind{
		has:  func(e *images.FileEntry) bool { return e.GetNlsk() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.netlinkDesc(e.GetNlsk()) },
		fown: func(e *images.FileEntry) *images.FownEntry { return e.GetNlsk().GetFown() },
	})
}

func (f *fileObjs) netlinkDesc(e *images.NetlinkSkEntry) (*os.File, error) {
	name := fmt.Sprintf("netlink socket %d (inode %d)", e.GetId(), e.GetIno())
	if root := f.r.inv.GetRootIds(); e.NsId != nil && root.GetNetNsId() != 0 && e.GetNsId() != root.GetNetNsId() {
		return nil, fmt.Errorf("%s: in a network namespace of its own: %w", name, ErrNotSupported)
	}
	if len(e.GetGroups()) > 1 {
		for _, g := range e.GetGroups()[1:] {
			if g != 0 {
				return nil, fmt.Errorf("%s: multicast groups above 32: %w", name, ErrNotSupported)
			}
		}
	}
	if g := e.GetDstGroup(); g > 32 {
		return nil, fmt.Errorf("%s: peer group %d: %w", name, g, ErrNotSupported)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(e.GetProtocol()))
	if err != nil {
		return nil, fmt.Errorf("make %s of protocol %d: %w", name, e.GetProtocol(), err)
	}
	file := f.keep(os.NewFile(uintptr(fd), name))
	if e.GetPortid() != 0 {
		sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: e.GetPortid()}
		if len(e.GetGroups()) > 0 {
			sa.Groups = e.GetGroups()[0]
		}
		if err := unix.Bind(fd, sa); err != nil {
			sa.Pid = 0
			if err2 := unix.Bind(fd, sa); err2 != nil {
				return nil, fmt.Errorf("bind %s to port %d (%v), or any: %w", name, e.GetPortid(), err, err2)
			}
		}
	}
	if e.GetState() == netlinkConnected {
		sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: e.GetDstPortid()}
		if g := e.GetDstGroup(); g != 0 {
			sa.Groups = 1 << (g - 1)
		}
		if err := unix.Connect(fd, sa); err != nil {
			return nil, fmt.Errorf("connect %s to port %d group %d: %w", name, e.GetDstPortid(), e.GetDstGroup(), err)
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

// netlinkConnected is NETLINK_CONNECTED, the state of a socket connected
// to a peer.
const netlinkConnected = 1
