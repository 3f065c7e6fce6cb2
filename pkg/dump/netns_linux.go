package dump

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/netlink"
	"github.com/criugo/criugo/pkg/netns"
	"github.com/criugo/criugo/pkg/nsenter"
)

// Network namespaces. A tree whose root has a network namespace of its
// own (every task must share it) gets it dumped as CRIU does, into
// images named after the namespace's id:
//
//	netns-<id>.img     netns_entry: the "all" and "default" ipv4/ipv6
//	                   conf sysctls, net.unix and net.ipv4 ones
//	netdev-<id>.img    net_device_entry per link: type, index, name, mtu,
//	                   flags, address, its conf sysctls; for a veth the
//	                   peer's index (and the namespace's id when the
//	                   peer is inside), for a macvlan its mode
//	ifaddr-<id>.img    raw, ip addr save; route-, route6-, rule-<id>.img
//	                   ip [-6] route/rule save; nftables-<id>.img nft list
//	                   ruleset; iptables-, ip6tables-<id>.img the legacy
//	                   tables (see package netns)
//
// Links other than lo, veth and macvlan are refused, naming the link.
// With Options.EmptyNetNs (CRIU's --empty-ns net, for runtimes that set
// up the network themselves) nothing of the namespace is dumped: the
// restore makes an empty one. A namespace Options.ExternalNetNs names
// (CRIU's --external net[INODE]:KEY) is someone else's, who gives it
// back on restore: only netns-<id>.img is written, holding nothing but
// the key (ext_key), as CRIU's dump_net_ns writes it.
//
// While the tree is frozen its namespace is locked (Options.NetworkLock,
// package netns): the lock goes on before any socket is dumped and comes
// off when the dump fails or the tree runs on; a killed tree takes its
// namespace, and the lock, with it (a namespace someone else holds stays
// locked for the restore to open, as CRIU leaves it). A namespace that
// dies with the tree is held open until every link but lo is down: the
// kernel takes its firewall rules away before its devices, and a peer's
// packet arriving in between would be answered with a reset.
//
// A tree in criu-dump's own namespace has its TCP connections locked one
// by one, as CRIU's tcp_repair_established does, each right before it
// goes into repair mode (package netns, ConnLocker): with iptables a DROP
// rule on INPUT and one on OUTPUT for the connection's addresses and
// ports (packets marked 0xC114 pass), with nftables both directions of
// it in the set conns4/conns6 of table inet CRIU-<dump_criu_run_id>. A
// dump that fails or leaves the tree running takes them off; after a
// kill they stay for the restore to take off (CRIU's or ours).

// netState is the dump's view of the tree's network namespace.
type netState struct {
	// own: the root has a network namespace other than criu-parasite's.
	own bool
	// empty: Options.EmptyNetNs.
	empty bool
	// external maps Options.ExternalNetNs; extKey is the key of the
	// tree's namespace when it is one of them.
	external map[uint64]string
	extKey   string
	// method is the lock's (netns.Lock*); locked says it is on.
	method uint32
	locked bool
	runID  string
	path   string // the root's /proc/PID/ns/net
	// held is the namespace, open while it is locked, when it dies
	// with the tree (its own, not external).
	held *os.File
	// raw are the tool dumps (ifaddr, route, ..., nftables), by kind
	// name, taken before the lock.
	raw map[string][]byte
	// inventory: inventory.img was encoded anew with the lock method.
	inventory bool
	hook      func(string) error // Options.NetworkHook
	// conns locks the TCP connections one by one when the tree shares
	// our namespace (!own): nil for a tree in a namespace of its own.
	conns *netns.ConnLocker
}

// ownNetNs says whether pid has a network namespace other than ours.
func (d *dumper) ownNetNs(pid int) (bool, uint64, error) {
	self, err := d.fs.OwnNamespaces()
	if err != nil {
		return false, 0, fmt.Errorf("read own namespaces: %w", err)
	}
	ns, err := d.fs.Namespaces(pid)
	if err != nil {
		return false, 0, fmt.Errorf("read namespaces of pid %d: %w", pid, err)
	}
	ino, ok := ns["net"]
	return ok && ino != self["net"], ino, nil
}

// lockNetwork locks the root's network namespace, if it has one of its
// own, and pushes the unlock.
func (d *dumper) lockNetwork(root int) error {
	own, ino, err := d.ownNetNs(root)
	if err != nil {
		return err
	}
	if !own {
		// As CRIU: each connection is locked as it is dumped (lockConn).
		d.net.conns = &netns.ConnLocker{Method: d.net.method, RunID: d.net.runID}
		return nil
	}
	d.net.own = true
	d.net.extKey = d.net.external[ino]
	d.net.path = d.fs.Path(root, 0, "ns", "net")
	if d.net.hook != nil {
		if err := d.net.hook("network-lock"); err != nil {
			return fmt.Errorf("network-lock action: %w", err)
		}
	}
	// The rules are saved before the lock goes on, so that they do not
	// hold it (the tree is frozen already).
	err = netns.Enter(d.net.path, func() error {
		if !d.net.empty && d.net.extKey == "" {
			var err error
			if d.net.raw, err = netns.Save(); err != nil {
				return err
			}
		}
		return netns.Lock(d.net.method, d.net.runID)
	})
	if err != nil {
		return fmt.Errorf("lock network namespace of pid %d: %w", root, err)
	}
	d.net.locked = true
	if d.net.extKey == "" {
		if d.net.held, err = os.Open(d.net.path); err != nil {
			return fmt.Errorf("hold network namespace of pid %d: %w", root, err)
		}
	}
	return nil
}

// linksDown, once the tree is killed, takes every link of its dying
// namespace but lo down while the lock still stands, then lets the
// namespace go.
func (d *dumper) linksDown() error {
	if d.net.held == nil {
		return nil
	}
	defer d.releaseNetNs()
	err := nsenter.RunFd(int(d.net.held.Fd()), unix.CLONE_NEWNET, func() error {
		c, err := netlink.Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		links, err := c.Links()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Flags&unix.IFF_LOOPBACK != 0 || l.Flags&unix.IFF_UP == 0 {
				continue
			}
			body := netlink.IfInfo{Family: unix.AF_UNSPEC, Index: l.Index, Change: unix.IFF_UP}.Marshal()
			if err := c.Do(unix.RTM_SETLINK, 0, body); err != nil {
				return fmt.Errorf("set link %s down: %w", l.Name(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("take the links of the killed tree's network namespace down: %w", err)
	}
	return nil
}

// releaseNetNs lets go of the held namespace of a tree that runs on.
func (d *dumper) releaseNetNs() {
	if d.net.held != nil {
		d.net.held.Close()
		d.net.held = nil
	}
}

// lockConn locks one TCP connection of a tree that shares our network
// namespace, before it goes into repair mode.
func (d *dumper) lockConn(local, peer netip.AddrPort) error {
	if d.net.conns == nil {
		return nil
	}
	return d.net.conns.Lock(netns.Conn{Local: local, Peer: peer})
}

// unlockNetwork takes the lock off, once.
func (d *dumper) unlockNetwork() error {
	d.releaseNetNs()
	if d.net.conns != nil {
		if err := d.net.conns.Unlock(); err != nil {
			return err
		}
	}
	if !d.net.locked {
		return nil
	}
	d.net.locked = false
	if d.net.hook != nil {
		// As CRIU's: the lock comes off whatever the hook says.
		_ = d.net.hook("network-unlock")
	}
	err := netns.Enter(d.net.path, func() error { return netns.Unlock(d.net.method, d.net.runID) })
	if err != nil {
		return fmt.Errorf("unlock network namespace (%s): %w", d.net.path, err)
	}
	return nil
}

// dumpNetNs writes the images of the root's network namespace, whose
// id is id.
func (d *dumper) dumpNetNs(root int, id uint32) error {
	if d.net.extKey != "" {
		return d.put(image.NetNS, id, &images.NetnsEntry{ExtKey: ptr(d.net.extKey)})
	}
	if d.net.empty {
		return nil
	}
	var (
		devs []*images.NetDeviceEntry
		ne   *images.NetnsEntry
		raw  map[string][]byte
	)
	err := netns.Enter(d.fs.Path(root, 0, "ns", "net"), func() error {
		c, err := netlink.Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		links, err := c.Links()
		if err != nil {
			return err
		}
		for _, l := range links {
			nd, err := netDevice(l, id)
			if err != nil {
				return fmt.Errorf("pid %d: %w", root, err)
			}
			if nd.Conf4, nd.Conf6, err = netns.ReadConf(nd.GetName()); err != nil {
				return err
			}
			devs = append(devs, nd)
		}
		ne, err = netns.ReadNamespace()
		return err
	})
	raw = d.net.raw
	if err != nil {
		return fmt.Errorf("dump network namespace of pid %d: %w", root, err)
	}
	var es []image.Entry
	for _, nd := range devs {
		es = append(es, image.Entry{Msg: nd})
	}
	img, err := encodeImage(image.Netdev, es...)
	if err != nil {
		return err
	}
	d.out[image.Netdev.FileName(id)] = img
	if err := d.put(image.NetNS, id, ne); err != nil {
		return err
	}
	for kind, b := range raw {
		k := image.KindByName(kind)
		if k == nil {
			return fmt.Errorf("dump network namespace: no image kind %s", kind)
		}
		d.out[k.FileName(id)] = b
	}
	return nil
}

// netDevice describes one link as CRIU's net_device_entry, or refuses a
// kind the restore cannot make.
func netDevice(l netlink.Link, nsID uint32) (*images.NetDeviceEntry, error) {
	name := l.Name()
	mtu, _ := l.Attrs.Uint32(unix.IFLA_MTU)
	nd := &images.NetDeviceEntry{
		Ifindex: ptr(uint32(l.Index)),
		Mtu:     ptr(mtu),
		Flags:   ptr(l.Flags),
		Name:    ptr(name),
	}
	kind := l.Kind()
	switch {
	case l.Type == unix.ARPHRD_LOOPBACK:
		nd.Type = images.NdType_LOOPBACK.Enum()
	case l.Type == unix.ARPHRD_ETHER && kind == "veth":
		nd.Type = images.NdType_VETH.Enum()
	case l.Type == unix.ARPHRD_ETHER && kind == "macvlan":
		nd.Type = images.NdType_MACVLAN.Enum()
		data, err := l.InfoData()
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", name, err)
		}
		const macvlanMode, macvlanFlags = 1, 2 // IFLA_MACVLAN_*
		mode, ok := data.Uint32(macvlanMode)
		if !ok {
			return nil, fmt.Errorf("link %s: macvlan without a mode: %w", name, ErrNotSupported)
		}
		mv := &images.MacvlanLinkEntry{Mode: ptr(mode)}
		if f, ok := data.Get(macvlanFlags); ok && len(f) >= 2 {
			mv.Flags = ptr(uint32(f[0]) | uint32(f[1])<<8)
		}
		nd.Macvlan = mv
	default:
		if kind == "" {
			kind = fmt.Sprintf("type %d", l.Type)
		}
		return nil, fmt.Errorf("network link %s (index %d, %s): only lo, veth and macvlan links are restored: %w", name, l.Index, kind, ErrNotSupported)
	}
	// As CRIU: the peer of a link (IFLA_LINK, else the link itself), in
	// this namespace unless IFLA_LINK_NETNSID names another one, which
	// is not dumped: no peer_nsid then.
	peer := uint32(l.Index)
	if v, ok := l.Attrs.Uint32(unix.IFLA_LINK); ok {
		peer = v
	}
	nd.PeerIfindex = ptr(peer)
	if _, ok := l.Attrs.Get(unix.IFLA_LINK_NETNSID); !ok {
		nd.PeerNsid = ptr(nsID)
	}
	if a, ok := l.Attrs.Get(unix.IFLA_ADDRESS); ok && l.Type != unix.ARPHRD_LOOPBACK {
		nd.Address = append([]byte(nil), a...)
	}
	if m, ok := l.Attrs.Uint32(unix.IFLA_MASTER); ok {
		nd.Master = ptr(m)
	}
	return nd, nil
}

// netOptions takes the network options of o.
func (d *dumper) netOptions(o Options) error {
	d.net.method = netns.LockIptables
	if o.NetworkLock != "" {
		m, err := netns.ParseLock(o.NetworkLock)
		if err != nil {
			return fmt.Errorf("dump: %w: %w", ErrOptions, err)
		}
		d.net.method = m
	}
	d.net.empty = o.EmptyNetNs
	d.net.external = o.ExternalNetNs
	d.net.hook = o.NetworkHook
	d.net.runID = d.in.inv.GetDumpCriuRunId()
	return nil
}

// netInventory records the lock method in inventory.img, for the
// restore, when it is not what criu-seize wrote there (iptables, 0).
func (d *dumper) netInventory() error {
	if d.net.method == d.in.inv.GetNetworkLockMethod() {
		return nil
	}
	inv := proto.Clone(d.in.inv).(*images.InventoryEntry)
	inv.NetworkLockMethod = ptr(d.net.method)
	img, err := encodeImage(image.Inventory, image.Entry{Msg: inv})
	if err != nil {
		return err
	}
	d.out["inventory.img"] = img
	d.net.inventory = true
	return nil
}
