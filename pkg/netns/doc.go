// Package netns holds what the dump and the restore of a network
// namespace share: the sysctls CRIU keeps for a namespace and for each of
// its links, in CRIU's order (the images store them by position), the
// tools CRIU runs inside the namespace to save and restore its
// addresses, routes and firewall rules, and the network lock.
//
// Everything here runs inside the namespace: Enter gives a function an
// OS thread of its own that joined it (package nsenter), and the tools it
// starts from there inherit the namespace, as the sysctls under
// /proc/sys/net it opens belong to it.
//
//	image                 tool inside the namespace (CRIU's)
//	ifaddr-N.img          ip addr save           | ip addr restore
//	route-N.img           ip route save          | ip route restore
//	route6-N.img          ip -6 route save       | ip -6 route restore
//	rule-N.img            ip rule save           | ip rule restore (after a flush)
//	iptables-N.img        iptables-legacy-save   | iptables-legacy-restore
//	ip6tables-N.img       ip6tables-legacy-save  | ip6tables-legacy-restore
//	nftables-N.img        nft list ruleset       | nft -f -
//
// as CRIU 4.2 built with libnftables does: nft rules (iptables-nft's
// included) go through nftables-N.img, and the legacy iptables tables
// only when the legacy tools are installed, so that no rule is saved
// twice.
//
// The network lock (CRIU's lock_network for a tree in its own network
// namespace) drops every packet of the namespace but those marked
// 0xC114 (SOCCR_MARK) while a tree with TCP connections is frozen, so
// that its peers see neither a reset nor an acked byte the dump missed:
//
//	nftables  table inet CRIU-<dump_criu_run_id> (the name cut to 31 bytes, as
//	          CRIU's 32-byte buffer cuts it), chains input and output
//	          (filter hooks, priority 0, policy drop), "meta mark 0xc114 accept"
//	iptables  a chain CRIU jumped to first from INPUT and OUTPUT (iptables
//	          and ip6tables): mark 0xc114 accepted, the rest dropped
//
// Unlock deletes what Lock added.
//
// A tree that has no network namespace of its own (it shares criu's) has
// each of its TCP connections locked instead (ConnLocker, CRIU's
// iptables_lock_connection and nftables_lock_connection), right before
// the dump puts the connection in repair mode:
//
//	iptables  -I INPUT  -p tcp -m mark ! --mark 0xC114 -s PEER -sport PP -d LOCAL -dport LP -j DROP
//	          -I OUTPUT -p tcp -m mark ! --mark 0xC114 -s LOCAL ... -d PEER ... -j DROP
//	          (ip6tables for IPv6; an IPv4-mapped peer goes to iptables)
//	nftables  table inet CRIU-<run id> (cut as above) made with the first
//	          connection: chains input and output (filter hooks, priority
//	          0, policy accept), mark 0xc114 accepted, packets whose
//	          saddr . sport . daddr . dport is in set conns4 (conns6) dropped;
//	          each connection adds both of its directions to the set
//
// The dump takes them off when it fails or leaves the tree running
// (ConnLocker.Unlock); otherwise the restore does, once the connections
// are made again (UnlockConns: each TCP socket's two rules where they
// are, or the table).
package netns
