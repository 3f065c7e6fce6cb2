package sockdiag

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/nsenter"
)

// Conn is a NETLINK_SOCK_DIAG socket in one network namespace.
type Conn struct {
	fd  int
	seq uint32
}

// Open opens a sock_diag socket in the network namespace netns (an open
// /proc/PID/ns/net or SIOCGSKNS fd), or in the caller's when netns < 0.
func Open(netns int) (*Conn, error) {
	if netns < 0 {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return nil, fmt.Errorf("open sock_diag socket: %w", err)
		}
		return &Conn{fd: fd}, nil
	}
	// The socket belongs to the namespace of the thread that creates it:
	// one that joined netns (pkg/nsenter; the thread is never given back).
	fd := -1
	err := nsenter.RunFd(netns, unix.CLONE_NEWNET, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return fmt.Errorf("open sock_diag socket: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enter network namespace: %w", err)
	}
	return &Conn{fd: fd}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return unix.Close(c.fd) }

// Unix returns every unix socket of the namespace by inode.
func (c *Conn) Unix() (map[uint32]*UnixSock, error) {
	out := make(map[uint32]*UnixSock)
	err := c.dump(unixRequest(c.next()), func(p []byte) error {
		s, err := ParseUnix(p)
		if err != nil {
			return err
		}
		out[s.Ino] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list unix sockets: %w", err)
	}
	return out, nil
}

// Inet returns every socket of family (AF_INET, AF_INET6) and protocol
// (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_MPTCP) in states (a mask of
// 1<<TCP_*) by inode. For IPPROTO_MPTCP the kernel lists the MPTCP
// sockets themselves (a listener's pending connections and backlog, a
// connection's MPTCP-level state); their TCP subflows are in the
// IPPROTO_TCP list, under the same inode when the kernel attached them
// to the socket's file.
func (c *Conn) Inet(family uint8, protocol uint16, states uint32) (map[uint32]*InetSock, error) {
	out := make(map[uint32]*InetSock)
	err := c.dump(inetRequest(c.next(), family, protocol, states), func(p []byte) error {
		s, err := ParseInet(p, protocol)
		if err != nil {
			return err
		}
		out[s.Ino] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list inet sockets (family %d, protocol %d): %w", family, protocol, err)
	}
	return out, nil
}

func (c *Conn) next() uint32 {
	c.seq++
	return c.seq
}

// dump sends a dump request and hands every answer's payload to each
// until NLMSG_DONE.
func (c *Conn) dump(req []byte, each func([]byte) error) error {
	if err := unix.Sendto(c.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	buf := make([]byte, 64<<10)
	for count := 0; ; {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive answer: %w", err)
		}
		msgs, err := ParseMessages(buf[:n])
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return fmt.Errorf("empty answer: %w", ErrMalformed)
		}
		for _, m := range msgs {
			switch m.Type {
			case nlmsgDone:
				return nil
			case nlmsgError:
				e, err := errorOf(m.Payload)
				if err != nil {
					return err
				}
				if e == 0 {
					continue
				}
				return fmt.Errorf("kernel answered: %w", unix.Errno(-e))
			}
			if count++; count > maxAnswerMessages {
				return fmt.Errorf("more than %d answers: %w", maxAnswerMessages, ErrMalformed)
			}
			if err := each(m.Payload); err != nil {
				return err
			}
		}
	}
}

// Packet returns every AF_PACKET socket of the namespace by inode.
func (c *Conn) Packet() (map[uint32]*PacketSock, error) {
	out := make(map[uint32]*PacketSock)
	err := c.dump(packetRequest(c.next()), func(p []byte) error {
		s, err := ParsePacket(p)
		if err != nil {
			return err
		}
		out[s.Ino] = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packet sockets: %w", err)
	}
	return out, nil
}
