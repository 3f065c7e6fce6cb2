package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Conn is one TCP connection of a tree that shares criu's network
// namespace: Local is the tree's end, Peer the other.
type Conn struct {
	Local, Peer netip.AddrPort
}

func (c Conn) String() string { return c.Local.String() + " -> " + c.Peer.String() }

// unmapped gives the connection with IPv4 addresses when the peer's is
// an IPv4-mapped IPv6 one (as CRIU: the peer's address decides, and the
// rules are then iptables' and conns4's), and whether it is IPv4.
func (c Conn) unmapped() (Conn, bool) {
	if c.Peer.Addr().Is4In6() {
		c.Local = netip.AddrPortFrom(c.Local.Addr().Unmap(), c.Local.Port())
		c.Peer = netip.AddrPortFrom(c.Peer.Addr().Unmap(), c.Peer.Port())
	}
	return c, c.Peer.Addr().Is4()
}

// connRule is the iptables rule of one direction of c: on INPUT the
// peer's packets to the tree, on OUTPUT the tree's to the peer, each
// dropped unless marked SOCCR_MARK (CRIU's IPTABLES_CONN_CMD), in the
// order of arguments CRIU gives them. op is -I, -D or -C.
func connRule(op string, c Conn, input bool) []string {
	from, to, chain := c.Peer, c.Local, "INPUT"
	if !input {
		from, to, chain = c.Local, c.Peer, "OUTPUT"
	}
	return []string{"-w", "-t", "filter", op, chain, "--protocol", "tcp",
		"-m", "mark", "!", "--mark", soccrMark,
		"--source", from.Addr().String(), "--sport", strconv.Itoa(int(from.Port())),
		"--destination", to.Addr().String(), "--dport", strconv.Itoa(int(to.Port())),
		"-j", "DROP"}
}

func iptablesTool(v4 bool) string {
	if v4 {
		return "iptables"
	}
	return "ip6tables"
}

// connLockTable makes CRIU's per-connection nftables table (its
// nftables_init_connection_lock): chains input and output at the filter
// hooks, priority 0, accepting by default, packets marked SOCCR_MARK
// accepted, and those of a connection in the set conns4 or conns6
// (saddr . sport . daddr . dport) dropped.
func connLockTable(runID string) error {
	t := nftTable(runID)
	var rules string
	rules += fmt.Sprintf("add table %s\n", t)
	for _, chain := range []string{"output", "input"} {
		rules += fmt.Sprintf("add chain %[1]s %[2]s { type filter hook %[2]s priority 0; }\n"+
			"add rule %[1]s %[2]s meta mark %[3]s accept\n", t, chain, soccrMark)
	}
	for _, f := range []struct{ v, ip, addr string }{{"4", "ip", "ipv4_addr"}, {"6", "ip6", "ipv6_addr"}} {
		rules += fmt.Sprintf("add set %[1]s conns%[2]s { type %[3]s . inet_service . %[3]s . inet_service; }\n", t, f.v, f.addr)
		for _, chain := range []string{"output", "input"} {
			rules += fmt.Sprintf("add rule %[1]s %[2]s %[3]s saddr . tcp sport . %[3]s daddr . tcp dport @conns%[4]s drop\n", t, chain, f.ip, f.v)
		}
	}
	if _, err := Run([]byte(rules), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("make connection lock table %s: %w", t, err)
	}
	return nil
}

// ConnLocker locks connections one by one, as CRIU does for a tree in
// its own network namespace (which it shares with the tree): with
// iptables two rules per connection (Conn's INPUT and OUTPUT drops), with
// nftables the connection's two directions in the conns4/conns6 set of
// table inet CRIU-<runID>, made with the first connection.
type ConnLocker struct {
	Method uint32
	RunID  string
	table  bool
	locked []Conn
}

// Lock locks c.
func (l *ConnLocker) Lock(c Conn) error {
	u, v4 := c.unmapped()
	switch l.Method {
	case LockSkip:
		return nil
	case LockIptables:
		tool := iptablesTool(v4)
		if _, err := Run(nil, tool, connRule("-I", u, true)...); err != nil {
			return fmt.Errorf("lock connection %s: %w", c, err)
		}
		if _, err := Run(nil, tool, connRule("-I", u, false)...); err != nil {
			_, _ = Run(nil, tool, connRule("-D", u, true)...)
			return fmt.Errorf("lock connection %s: %w", c, err)
		}
	case LockNftables:
		if !l.table {
			if err := connLockTable(l.RunID); err != nil {
				return err
			}
			l.table = true
		}
		set := "conns6"
		if v4 {
			set = "conns4"
		}
		elem := func(a, b netip.AddrPort) string {
			return fmt.Sprintf("%s . %d . %s . %d", a.Addr(), a.Port(), b.Addr(), b.Port())
		}
		cmd := fmt.Sprintf("add element %s %s { %s, %s }\n", nftTable(l.RunID), set, elem(u.Peer, u.Local), elem(u.Local, u.Peer))
		if _, err := Run([]byte(cmd), "nft", "-f", "-"); err != nil {
			return fmt.Errorf("lock connection %s: %w", c, err)
		}
	default:
		return fmt.Errorf("lock connection %s: unknown method %d", c, l.Method)
	}
	l.locked = append(l.locked, c)
	return nil
}

// Unlock takes off every lock Lock put on (a dump that fails or leaves
// the tree running).
func (l *ConnLocker) Unlock() error {
	locked := l.locked
	l.locked = nil
	if l.Method == LockNftables {
		if !l.table {
			return nil
		}
		l.table = false
		return UnlockConns(l.Method, l.RunID, nil)
	}
	return UnlockConns(l.Method, l.RunID, locked)
}

// Locked says whether any connection is locked.
func (l *ConnLocker) Locked() bool { return len(l.locked) > 0 || l.table }

// UnlockConns takes the connection locks of a dump off conns (the
// restore's, once they are restored, as CRIU's rst_unlock_tcp_connections
// and network_unlock): with iptables each connection's two rules that
// are there (a connection the dump did not lock has none), with nftables
// the table inet CRIU-<runID> if it is there.
func UnlockConns(method uint32, runID string, conns []Conn) error {
	switch method {
	case LockSkip:
		return nil
	case LockNftables:
		if _, err := Run(nil, "nft", "list", "table", nftTable(runID)); err != nil {
			return nil
		}
		if _, err := Run(nil, "nft", "delete", "table", nftTable(runID)); err != nil {
			return fmt.Errorf("unlock connections: %w", err)
		}
		return nil
	case LockIptables:
		var errs []error
		for _, c := range conns {
			u, v4 := c.unmapped()
			tool := iptablesTool(v4)
			for _, input := range []bool{true, false} {
				// -C fails when the rule is not there.
				if _, err := Run(nil, tool, connRule("-C", u, input)...); err != nil {
					continue
				}
				if _, err := Run(nil, tool, connRule("-D", u, input)...); err != nil {
					errs = append(errs, fmt.Errorf("unlock connection %s: %w", c, err))
				}
			}
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("unlock connections: unknown method %d", method)
}
