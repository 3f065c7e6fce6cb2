package restore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/netlink"
	"github.com/criugo/criugo/pkg/netns"
	"github.com/criugo/criugo/pkg/nsenter"
)

// Network namespaces. A root that had a network namespace of its own
// unshares CLONE_NEWNET with its UTS and IPC namespaces (ns_linux.go),
// before any child exists, and criu-restore fills the new namespace from
// a thread that joined it, before any socket is made:
//
//	1. the sysctls of netns-<id>.img ("all", "default", net.unix, net.ipv4)
//	2. the network lock (inventory.img's method, or Options.NetworkLock)
//	3. the links of netdev-<id>.img, with their index, name, mtu, flags
//	   and address: lo is set, a veth is made with its peer (the outer
//	   end named by Options.External, made in criu-restore's namespace,
//	   or the dumped peer when both ends were inside), a macvlan on the
//	   parent link External names; then each link's conf sysctls
//	4. addresses, routes, rules, iptables and nftables from the raw
//	   images, with the tools that saved them (package netns)
//
// Sockets of the tree are made inside the namespace (netSocket), as are
// the sockets that hand descriptors to the tasks, whose abstract names
// are the namespace's. The lock comes off once every TCP connection has
// left repair mode, right before the tree runs. With Options.EmptyNetNs
// the namespace stays empty (but for the lock).
//
// A namespace netns-<id>.img holds as external (ext_key: CRIU's dump with
// --external net[INODE]:KEY, as runc asks for a container whose network
// namespace it was given by path) is not made: the root joins the one
// the caller passes under that key (--inherit-fd fd[N]:KEY, RPC
// inherit_fd; ns_linux.go) and nothing is put into it, as CRIU's
// net_set_ext. The dump left that namespace locked if it killed the
// tree, as CRIU does, so the lock of the images' method and run id comes
// off at the end when it is there; a namespace made anew by the caller
// has none.

// netRestore is the tree's network namespace.
type netRestore struct {
	// file is the namespace, open; nil when the tree has none of its
	// own. fd is its descriptor.
	file   *os.File
	fd     int
	method uint32
	locked bool
	// extKey is netns-<id>.img's ext_key: the namespace is external,
	// the caller's (set by joinedNs).
	extKey string
	runID  string
	// raw are the raw images of a stream (ifaddr, route, ...), by name,
	// kept as they come.
	raw map[string][]byte
}

// netRawKinds are the raw images of a network namespace.
var netRawKinds = []*image.Kind{image.Ifaddr, image.Route, image.Route6, image.Rule, image.Iptables, image.Ip6tables, image.Nftables}

// isNetRaw says whether k is one of netRawKinds.
func isNetRaw(k *image.Kind) bool {
	for _, n := range netRawKinds {
		if n == k {
			return true
		}
	}
	return false
}

// keepNetRaw keeps a raw network image of a stream.
func (r *restorer) keepNetRaw(name string, src io.Reader) error {
	const maxRaw = 64 << 20
	b, err := io.ReadAll(io.LimitReader(src, maxRaw+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxRaw {
		return fmt.Errorf("read %s: over %d bytes: %w", name, maxRaw, ErrBadImage)
	}
	if r.net.raw == nil {
		r.net.raw = map[string][]byte{}
	}
	r.net.raw[name] = b
	return nil
}

// netRaw returns the raw image name, from the stream or the directory;
// nil when there is none.
func (r *restorer) netRaw(name string) ([]byte, error) {
	if b, ok := r.net.raw[name]; ok {
		return b, nil
	}
	f, err := r.set.openFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// external returns the value of Options.External's key (veth[eth0]).
func (r *restorer) external(key string) (string, bool) {
	for _, e := range r.opts.External {
		if v, ok := strings.CutPrefix(e, key+":"); ok {
			return v, true
		}
	}
	return "", false
}

// extNetKey returns the key of the tree's network namespace when the
// images hold it as external (netns-<id>.img's ext_key), else "".
func (r *restorer) extNetKey() (string, error) {
	flags, err := r.ownNamespaces()
	if err != nil || flags&unix.CLONE_NEWNET == 0 {
		return "", err
	}
	root, err := r.rootIDs()
	if err != nil {
		return "", err
	}
	// A dump with --empty-ns net writes no netns image.
	ne, err := entries[*images.NetnsEntry](r.set, image.NetNS.FileName(root.GetNetNsId()), true)
	if err != nil || len(ne) == 0 {
		return "", err
	}
	return ne[0].GetExtKey(), nil
}

// inheritedKey returns the first of Options.InheritFds with key key, nil
// when there is none.
func (r *restorer) inheritedKey(key string) *os.File {
	for _, in := range r.opts.InheritFds {
		if in.Key == key {
			return in.File
		}
	}
	return nil
}

// checkNetNs refuses, before anything is made, images whose network
// namespace is external when the caller gives none for its key. A check
// of a dump's own images (Check) has no caller's files to look at.
func (r *restorer) checkNetNs() error {
	if r.checkOnly {
		return nil
	}
	_, err := r.joinedNs()
	return err
}

// openNetNs holds the network namespace root pid is in as the tree's.
func (r *restorer) openNetNs(pid int) error {
	f, err := os.Open(nsPath(pid, "net"))
	if err != nil {
		return fmt.Errorf("open network namespace of pid %d: %w", pid, err)
	}
	r.net.file, r.net.fd = f, int(f.Fd())
	return nil
}

// restoreNetNs fills the new network namespace id of the root pid.
func (r *restorer) restoreNetNs(pid int, id uint32) error {
	if err := r.openNetNs(pid); err != nil {
		return err
	}
	var err error
	r.net.runID = r.inv.GetDumpCriuRunId()
	r.net.method = r.inv.GetNetworkLockMethod()
	if r.opts.NetworkLock != "" {
		if r.net.method, err = netns.ParseLock(r.opts.NetworkLock); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if r.net.extKey != "" {
		// The caller's namespace, joined already (joinedNs): nothing
		// goes in, and the dump's lock comes off at the end if it is
		// there.
		r.net.locked = true
		r.logf("network namespace %s is external (key %s): joined as it is", image.NetNS.FileName(id), r.net.extKey)
		return nil
	}
	var (
		ne   *images.NetnsEntry
		devs []*images.NetDeviceEntry
		raw  = map[string][]byte{}
	)
	if !r.opts.EmptyNetNs {
		if ne, err = single[*images.NetnsEntry](r.set, image.NetNS.FileName(id)); err != nil {
			return fmt.Errorf("%w (a dump with --empty-ns net needs it on restore too)", err)
		}
		if devs, err = entries[*images.NetDeviceEntry](r.set, image.Netdev.FileName(id), false); err != nil {
			return err
		}
		for _, k := range netRawKinds {
			b, err := r.netRaw(k.FileName(id))
			if err != nil {
				return err
			}
			raw[k.Name] = b
		}
	}
	// criu-restore's own namespace, where outer ends go.
	host, err := ownNetNs()
	if err != nil {
		return err
	}
	defer host.Close()
	err = nsenter.RunFd(r.net.fd, unix.CLONE_NEWNET, func() error {
		if ne != nil {
			if err := netns.WriteNamespace(ne, r.opts.WeakSysctls); err != nil {
				return err
			}
		}
		if err := netns.Lock(r.net.method, r.net.runID); err != nil {
			return err
		}
		r.net.locked = true
		if err := r.restoreLinks(devs, id, int(host.Fd())); err != nil {
			return err
		}
		return netns.Restore(raw)
	})
	if err != nil {
		return fmt.Errorf("restore network namespace of pid %d (netns-%d.img): %w", pid, id, err)
	}
	r.step("restore network namespace")
	return nil
}

// ownNetNs opens the network namespace of the calling thread, which is
// criu-restore's.
func ownNetNs() (*os.File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open own network namespace: %w", err)
	}
	return f, nil
}

// unlockNetwork takes the lock off the tree's namespace, or, for a
// tree in criu-restore's namespace, the dump's lock of each TCP
// connection (unlockConns).
func (r *restorer) unlockNetwork() error {
	if r.net.file == nil {
		return r.unlockConns()
	}
	if !r.net.locked {
		return nil
	}
	r.net.locked = false
	err := nsenter.RunFd(r.net.fd, unix.CLONE_NEWNET, func() error {
		if r.net.extKey != "" {
			if on, err := netns.Locked(r.net.method, r.net.runID); err != nil || !on {
				return err
			}
			r.logf("external network namespace: the dump's lock (%s) comes off", netns.LockName(r.net.method))
		}
		return netns.Unlock(r.net.method, r.net.runID)
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// unlockConns takes off the locks a dump (CRIU's or ours) put on the TCP
// connections of a tree in its own network namespace, which is ours:
// with the images' method (or Options.NetworkLock), for every TCP socket
// with a peer, as CRIU's rst_unlock_tcp_connections, the two iptables
// rules of the connection where they are, or the nftables table inet
// CRIU-<dump_criu_run_id> if it is there. It runs once every connection
// is restored, right before the tree runs.
func (r *restorer) unlockConns() error {
	method := r.inv.GetNetworkLockMethod()
	if r.opts.NetworkLock != "" {
		var err error
		if method, err = netns.ParseLock(r.opts.NetworkLock); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	var conns []netns.Conn
	if method == netns.LockIptables {
		for _, s := range *stateOf[inetSks](r.files, images.FdTypes_INETSK) {
			if !tcpConnection(s.e) {
				continue
			}
			src, err := inetAddr(s.e.GetFamily(), s.e.GetSrcAddr())
			if err != nil {
				return err
			}
			dst, err := inetAddr(s.e.GetFamily(), s.e.GetDstAddr())
			if err != nil {
				return err
			}
			conns = append(conns, netns.Conn{
				Local: netip.AddrPortFrom(src, uint16(s.e.GetSrcPort())),
				Peer:  netip.AddrPortFrom(dst, uint16(s.e.GetDstPort())),
			})
		}
	}
	runID := r.inv.GetDumpCriuRunId()
	if runID == "" {
		// Images of a CRIU older than dump_criu_run_id: its table was
		// named after the root's pid (CRIU's nftables_get_table).
		runID = strconv.Itoa(r.tree.root().real)
	}
	if err := netns.UnlockConns(method, runID, conns); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

// closeNetNs closes the namespace the restore held.
func (r *restorer) closeNetNs() {
	if r.net.file != nil {
		r.net.file.Close()
	}
}

// netSocket makes a socket in the tree's network namespace (criu-restore's
// when the tree has none of its own).
func (r *restorer) netSocket(domain, typ, proto int) (int, error) {
	if r.net.file == nil {
		return unix.Socket(domain, typ, proto)
	}
	fd := -1
	err := nsenter.RunFd(r.net.fd, unix.CLONE_NEWNET, func() error {
		var err error
		fd, err = unix.Socket(domain, typ, proto)
		return err
	})
	return fd, err
}

// netSocketpair is netSocket for a pair.
func (r *restorer) netSocketpair(domain, typ, proto int) ([2]int, error) {
	if r.net.file == nil {
		return unix.Socketpair(domain, typ, proto)
	}
	var fds [2]int
	err := nsenter.RunFd(r.net.fd, unix.CLONE_NEWNET, func() error {
		var err error
		fds, err = unix.Socketpair(domain, typ, proto)
		return err
	})
	return fds, err
}

const (
	vethInfoPeer = 1  // VETH_INFO_PEER
	iflaNetNsFd  = 28 // IFLA_NET_NS_FD
)

// restoreLinks makes the links of devs, from inside the namespace id;
// hostFd is criu-restore's network namespace.
func (r *restorer) restoreLinks(devs []*images.NetDeviceEntry, id uint32, hostFd int) error {
	c, err := netlink.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	made := map[uint32]bool{} // ifindex
	byIndex := map[uint32]*images.NetDeviceEntry{}
	for _, nd := range devs {
		byIndex[nd.GetIfindex()] = nd
	}
	for _, nd := range devs {
		name := nd.GetName()
		if len(name) == 0 || len(name) >= unix.IFNAMSIZ {
			return fmt.Errorf("link %q: bad name: %w", name, ErrBadImage)
		}
		if made[nd.GetIfindex()] {
			// The peer of a veth made before.
			if err := setLink(c, nd); err != nil {
				return err
			}
			continue
		}
		switch nd.GetType() {
		case images.NdType_LOOPBACK:
			err = setLink(c, nd)
		case images.NdType_VETH:
			err = r.makeVeth(c, nd, id, byIndex, made, hostFd)
		case images.NdType_MACVLAN:
			err = r.makeMacvlan(nd, hostFd)
		default:
			err = fmt.Errorf("link %s: type %v: %w", name, nd.GetType(), ErrNotSupported)
		}
		if err != nil {
			return err
		}
		made[nd.GetIfindex()] = true
	}
	for _, nd := range devs {
		if err := netns.WriteConf(nd.GetName(), nd.GetConf4(), nd.GetConf6(), r.opts.WeakSysctls); err != nil {
			return err
		}
	}
	return nil
}

// linkBody starts an RTM_NEWLINK/SETLINK body for nd: index (0 to let
// the kernel pick), flags, name, mtu, address.
func linkBody(nd *images.NetDeviceEntry, index int32) *netlink.Builder {
	b := netlink.NewBuilder(netlink.IfInfo{Family: unix.AF_UNSPEC, Index: index, Flags: nd.GetFlags(), Change: ^uint32(0)}.Marshal())
	b.String(unix.IFLA_IFNAME, nd.GetName())
	b.Uint32(unix.IFLA_MTU, nd.GetMtu())
	if len(nd.GetAddress()) > 0 {
		b.Attr(unix.IFLA_ADDRESS, nd.GetAddress())
	}
	return b
}

// setLink sets the mtu, address and flags of a link that exists (lo).
func setLink(c *netlink.Conn, nd *images.NetDeviceEntry) error {
	b := linkBody(nd, int32(nd.GetIfindex()))
	if err := c.Do(unix.RTM_SETLINK, 0, b.Bytes()); err != nil {
		return fmt.Errorf("set link %s (index %d): %w", nd.GetName(), nd.GetIfindex(), err)
	}
	return nil
}

// makeVeth makes veth nd with its peer: the dumped one when it was in
// this namespace too, else the outer end External names, in
// criu-restore's namespace.
func (r *restorer) makeVeth(c *netlink.Conn, nd *images.NetDeviceEntry, id uint32, byIndex map[uint32]*images.NetDeviceEntry, made map[uint32]bool, hostFd int) error {
	name := nd.GetName()
	var peer *images.NetDeviceEntry
	outer, bridge := "", ""
	if nd.PeerNsid != nil && nd.GetPeerNsid() == id && byIndex[nd.GetPeerIfindex()] != nil && nd.GetPeerIfindex() != nd.GetIfindex() {
		peer = byIndex[nd.GetPeerIfindex()]
	} else {
		v, ok := r.external("veth[" + name + "]")
		if !ok {
			return fmt.Errorf("veth %s: its peer was outside the namespace: name the outer end with --external veth[%s]:OUTER[@BRIDGE]: %w", name, name, ErrNotSupported)
		}
		outer, bridge, _ = strings.Cut(v, "@")
		if outer == "" || len(outer) >= unix.IFNAMSIZ {
			return fmt.Errorf("veth %s: outer name %q from --external: %w", name, outer, ErrBadImage)
		}
	}
	b := linkBody(nd, int32(nd.GetIfindex()))
	b.Nest(unix.IFLA_LINKINFO, func() {
		b.String(unix.IFLA_INFO_KIND, "veth")
		b.Nest(unix.IFLA_INFO_DATA, func() {
			b.Nest(vethInfoPeer, func() {
				if peer != nil {
					b.Raw(netlink.IfInfo{Index: int32(peer.GetIfindex()), Flags: peer.GetFlags(), Change: ^uint32(0)}.Marshal())
					b.String(unix.IFLA_IFNAME, peer.GetName())
					b.Uint32(unix.IFLA_MTU, peer.GetMtu())
					if len(peer.GetAddress()) > 0 {
						b.Attr(unix.IFLA_ADDRESS, peer.GetAddress())
					}
					return
				}
				b.Raw(netlink.IfInfo{}.Marshal())
				b.String(unix.IFLA_IFNAME, outer)
				b.Uint32(iflaNetNsFd, uint32(hostFd))
			})
		})
	})
	if err := c.Do(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b.Bytes()); err != nil {
		if peer == nil && errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("make veth %s (index %d) with outer end %s: %w (is %s taken outside?)", name, nd.GetIfindex(), outer, err, outer)
		}
		return fmt.Errorf("make veth %s (index %d): %w", name, nd.GetIfindex(), err)
	}
	if peer != nil {
		made[peer.GetIfindex()] = true
		return nil
	}
	if bridge != "" {
		return nsenter.RunFd(hostFd, unix.CLONE_NEWNET, func() error { return enslave(outer, bridge) })
	}
	return nil
}

// enslave puts link into bridge, both of the calling thread's namespace.
func enslave(link, bridge string) error {
	c, err := netlink.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var li, bi int32
	links, err := c.Links()
	if err != nil {
		return err
	}
	for _, l := range links {
		switch l.Name() {
		case link:
			li = l.Index
		case bridge:
			bi = l.Index
		}
	}
	if li == 0 || bi == 0 {
		return fmt.Errorf("put %s into bridge %s: no such link", link, bridge)
	}
	b := netlink.NewBuilder(netlink.IfInfo{Index: li}.Marshal())
	b.Uint32(unix.IFLA_MASTER, uint32(bi))
	if err := c.Do(unix.RTM_SETLINK, 0, b.Bytes()); err != nil {
		return fmt.Errorf("put %s into bridge %s: %w", link, bridge, err)
	}
	return nil
}

// makeMacvlan makes macvlan nd on the link External names in
// criu-restore's namespace, straight into the tree's namespace.
func (r *restorer) makeMacvlan(nd *images.NetDeviceEntry, hostFd int) error {
	name := nd.GetName()
	parent, ok := r.external("macvlan[" + name + "]")
	if !ok {
		return fmt.Errorf("macvlan %s: name the link it sits on with --external macvlan[%s]:PARENT: %w", name, name, ErrNotSupported)
	}
	if nd.GetMacvlan() == nil {
		return fmt.Errorf("macvlan %s without its mode: %w", name, ErrBadImage)
	}
	target := r.net.fd
	return nsenter.RunFd(hostFd, unix.CLONE_NEWNET, func() error {
		c, err := netlink.Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		links, err := c.Links()
		if err != nil {
			return err
		}
		pi := int32(0)
		for _, l := range links {
			if l.Name() == parent {
				pi = l.Index
			}
		}
		if pi == 0 {
			return fmt.Errorf("macvlan %s: no link %s to make it on", name, parent)
		}
		b := linkBody(nd, int32(nd.GetIfindex()))
		b.Uint32(unix.IFLA_LINK, uint32(pi))
		b.Uint32(iflaNetNsFd, uint32(target))
		b.Nest(unix.IFLA_LINKINFO, func() {
			b.String(unix.IFLA_INFO_KIND, "macvlan")
			b.Nest(unix.IFLA_INFO_DATA, func() {
				b.Uint32(1, nd.GetMacvlan().GetMode()) // IFLA_MACVLAN_MODE
				if nd.GetMacvlan().Flags != nil {
					f := nd.GetMacvlan().GetFlags()
					b.Attr(2, []byte{byte(f), byte(f >> 8)}) // IFLA_MACVLAN_FLAGS, u16
				}
			})
		})
		if err := c.Do(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, b.Bytes()); err != nil {
			return fmt.Errorf("make macvlan %s (index %d) on %s: %w", name, nd.GetIfindex(), parent, err)
		}
		return nil
	})
}

// treeNetNs says whether network namespace id is the tree's: criu-restore's
// (inventory.img's root_ids) or the one the root had of its own.
func (r *restorer) treeNetNs(id uint32) bool {
	inv := r.inv.GetRootIds()
	if inv.GetNetNsId() == 0 || id == inv.GetNetNsId() {
		return true
	}
	root, err := r.rootIDs()
	return err == nil && root.GetNetNsId() == id
}
