package sockdiag

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
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
	// a locked thread enters netns, creates it and goes back. Should going
	// back fail, the thread stays locked and the runtime ends it with the
	// goroutine rather than run other code in the wrong namespace.
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := inNamespace(netns)
		if !errors.Is(err, errStuck) {
			runtime.UnlockOSThread()
		}
		ch <- result{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	return &Conn{fd: r.fd}, nil
}

// errStuck: the thread could not go back to its own network namespace.
var errStuck = errors.New("thread left in another network namespace")

// inNamespace creates a sock_diag socket in netns from the calling,
// locked thread and puts the thread back in its namespace.
func inNamespace(netns int) (int, error) {
	own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open our network namespace: %w", err)
	}
	defer unix.Close(own)
	if err := unix.Setns(netns, unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("enter network namespace: %w", err)
	}
	fd, serr := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
		if serr == nil {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("go back to our network namespace: %w: %w", errStuck, err)
	}
	if serr != nil {
		return -1, fmt.Errorf("open sock_diag socket: %w", serr)
	}
	return fd, nil
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
// (IPPROTO_TCP, IPPROTO_UDP) in states (a mask of 1<<TCP_*) by inode.
func (c *Conn) Inet(family, protocol uint8, states uint32) (map[uint32]*InetSock, error) {
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
