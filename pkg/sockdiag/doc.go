// Package sockdiag asks the kernel about sockets over NETLINK_SOCK_DIAG:
// for unix sockets their peer, bound name, bound inode, in-flight
// connections, queue lengths and shutdown state; for TCP, UDP and MPTCP
// sockets (IPPROTO_MPTCP, 262, asked in an INET_DIAG_REQ_PROTOCOL attribute)
// their addresses, state, queue lengths and shutdown state; for AF_PACKET
// sockets their interface, packet options, multicast memberships, rings
// and fanout group (packet.go draws their messages). A dump needs
// this to record a socket together with the socket at its other end,
// which nothing in /proc says.
//
// The kernel answers for the network namespace the netlink socket was
// created in; Open creates it in the namespace of a socket to dump, from
// a thread that joined it (pkg/nsenter).
//
// One request, a stream of answers, each a netlink message:
//
//	request:   | nlmsghdr (16) | unix_diag_req (24) or inet_diag_req_v2 (56) |
//	answer:    | nlmsghdr | unix_diag_msg (16) | attr | attr | ... |   repeated,
//	           | nlmsghdr type NLMSG_DONE |                            then done
//
//	nlmsghdr:  | len u32 | type u16 | flags u16 | seq u32 | pid u32 |
//	attribute: | len u16 | type u16 | value ... | pad to 4 |
//
//	unix_diag_msg:  | family u8 | type u8 | state u8 | pad u8 | ino u32 | cookie 2*u32 |
//	inet_diag_msg:  | family u8 | state u8 | timer u8 | retrans u8 |
//	                | sport be16 | dport be16 | src 16 | dst 16 | if u32 | cookie 2*u32 |
//	                | expires u32 | rqueue u32 | wqueue u32 | uid u32 | inode u32 |
//
// The parsers (ParseMessages, ParseUnix, ParseInet) take bytes and make no
// syscalls; they bound every length by the bytes at hand, so a short or
// lying answer gives ErrMalformed, never a panic. Conn (Linux) sends the
// requests.
package sockdiag
