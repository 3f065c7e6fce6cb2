package netlink

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Conn is a NETLINK_ROUTE socket.
type Conn struct {
	fd  int
	seq uint32
}

// Dial opens a NETLINK_ROUTE socket in the calling thread's network
// namespace.
func Dial() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind rtnetlink socket: %w", err)
	}
	return &Conn{fd: fd}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

func (c *Conn) send(typ, flags uint16, body []byte) (uint32, error) {
	c.seq++
	b := make([]byte, hdrLen, hdrLen+len(body))
	ne.PutUint32(b, uint32(hdrLen+len(body)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], flags|unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], c.seq)
	b = append(b, body...)
	if err := unix.Sendto(c.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("send rtnetlink message %d: %w", typ, err)
	}
	return c.seq, nil
}

// receive reads the answers to request seq until its end (an ack, an
// error or NLMSG_DONE), handing every other message to fn.
func (c *Conn) receive(seq uint32, fn func(Message) error) error {
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			return fmt.Errorf("receive rtnetlink answer: %w", err)
		}
		ms, err := parseMessages(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range ms {
			switch m.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Body) < 4 {
					return ErrTruncated
				}
				if e := int32(ne.Uint32(m.Body)); e != 0 {
					return unix.Errno(-e)
				}
				return nil
			}
			if err := fn(m); err != nil {
				return err
			}
		}
	}
}

// Dump sends a dump request of type typ and returns every answer.
func (c *Conn) Dump(typ uint16, body []byte) ([]Message, error) {
	seq, err := c.send(typ, unix.NLM_F_DUMP, body)
	if err != nil {
		return nil, err
	}
	var ms []Message
	err = c.receive(seq, func(m Message) error {
		ms = append(ms, Message{Type: m.Type, Body: append([]byte(nil), m.Body...)})
		return nil
	})
	return ms, err
}

// Do sends a request that asks for an ack and returns the kernel's
// error, as an errno.
func (c *Conn) Do(typ, flags uint16, body []byte) error {
	seq, err := c.send(typ, flags|unix.NLM_F_ACK, body)
	if err != nil {
		return err
	}
	return c.receive(seq, func(Message) error { return nil })
}

// Links lists the links of the socket's namespace.
func (c *Conn) Links() ([]Link, error) {
	ms, err := c.Dump(unix.RTM_GETLINK, IfInfo{Family: unix.AF_UNSPEC}.Marshal())
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var ls []Link
	for _, m := range ms {
		if m.Type != unix.RTM_NEWLINK {
			continue
		}
		i, as, err := ParseIfInfo(m.Body)
		if err != nil {
			return nil, fmt.Errorf("list links: %w", err)
		}
		ls = append(ls, Link{IfInfo: i, Attrs: as})
	}
	return ls, nil
}

// Link is one link as RTM_GETLINK describes it.
type Link struct {
	IfInfo
	Attrs Attrs
}

// Name is the link's IFLA_IFNAME.
func (l Link) Name() string { return l.Attrs.String(unix.IFLA_IFNAME) }

// Kind is the link's IFLA_INFO_KIND ("veth", "macvlan", ...), empty for
// links without one (lo, physical devices).
func (l Link) Kind() string {
	info, err := l.Attrs.Nested(unix.IFLA_LINKINFO)
	if err != nil {
		return ""
	}
	return info.String(unix.IFLA_INFO_KIND)
}

// InfoData is the link's IFLA_INFO_DATA, parsed.
func (l Link) InfoData() (Attrs, error) {
	info, err := l.Attrs.Nested(unix.IFLA_LINKINFO)
	if err != nil {
		return nil, err
	}
	return info.Nested(unix.IFLA_INFO_DATA)
}
