// Package netlink speaks just enough rtnetlink (NETLINK_ROUTE) for the
// network namespaces of a dumped or restored tree: list the links of a
// namespace, create links, move them between namespaces and set their
// flags. A Conn works in the network namespace of the thread that opened
// it, for its whole life, wherever it is used afterwards.
//
// Every message is a header followed by a fixed struct of its family and
// attributes, each 4-byte aligned:
//
//	+-------------------------------------------+
//	| nlmsghdr: len u32 | type u16 | flags u16 |
//	|           seq u32 | pid u32              |
//	+-------------------------------------------+
//	| ifinfomsg (16 bytes) for RTM_*LINK        |
//	+-------------------------------------------+
//	| rtattr: len u16 | type u16 | data, padded |  ... repeated; a nested
//	+-------------------------------------------+      attribute holds rtattrs
//
// Byte order is the host's. Lengths read from the kernel are bounded by
// the buffer they arrive in.
package netlink
