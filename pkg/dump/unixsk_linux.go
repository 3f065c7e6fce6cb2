package dump

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/sockdiag"
)

func init() {
	registerFdKind(images.FdTypes_UNIXSK, &fdKind{link: proc.LinkSocket, domains: []int{unix.AF_UNIX},
		dump: func(d *dumper, x *fdDump) error { return d.unixSocket(x.t, x.f, x.id, x.flags, x.fown, x.theirs) }})
}

// Unix sockets. Each one is recorded with the inode of its peer, and the
// entries are written in CRIU's order: a socket whose peer is not
// recorded yet waits for it, and follows it into files.img (the latest
// waiter first):
//
//	fd 4: a, peer b   waits for b
//	fd 5: c, peer b   waits for b          files.img: ... b c a ...
//	fd 6: b           written, then c, a
//
// A connection not accepted yet has no peer (its other end is an embryo
// socket without a file); the listener's in-flight list (sock_diag's
// icons) names it, and the entry takes the listener as its peer, which is
// where a restore connects it. A peer that no task of the tree holds is
// outside the dump: the dump fails, as CRIU's does without --ext-unix-sk.

// unixSocket records a unix socket.
func (d *dumper) unixSocket(t *taskDump, f *fdFile, id, flags uint32, fown *images.FownEntry, theirs *os.File) error {
	fd := int(theirs.Fd())
	n, err := d.netOf(fd)
	if err != nil {
		return err
	}
	all, err := n.unixSocks()
	if err != nil {
		return err
	}
	ino := uint32(f.fs.st.Ino)
	sk := all[ino]
	if sk == nil {
		return fmt.Errorf("unix socket %d: not listed by sock_diag: %w", ino, ErrKernel)
	}
	switch sk.Type {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
	default:
		return fmt.Errorf("unix socket %d of type %d: %w", ino, sk.Type, ErrNotSupported)
	}
	switch sk.State {
	case tcpListen, tcpEstablished, tcpClose:
	default:
		return fmt.Errorf("unix socket %d in state %d: %w", ino, sk.State, ErrNotSupported)
	}
	ue := &images.UnixSkEntry{
		Id:       ptr(id),
		Ino:      ptr(ino),
		Type:     ptr(uint32(sk.Type)),
		State:    ptr(uint32(sk.State)),
		Flags:    ptr(flags),
		Uflags:   ptr(uint32(0)),
		Backlog:  ptr(sk.WQueue),
		Peer:     ptr(sk.Peer),
		Fown:     fown,
		Name:     append([]byte{}, sk.Name...),
		Shutdown: shutdownOf(sk.Shutdown),
		NsId:     ptr(n.id),
	}
	if len(sk.Name) > 0 && sk.Name[0] != 0 {
		if err := unixFile(fd, sk.Name, ue); err != nil {
			return fmt.Errorf("unix socket %d: %w", ino, err)
		}
		if fp := ue.FilePerms; fp != nil {
			fp.Uid, fp.Gid = d.fileOwner(fp.GetUid(), fp.GetGid())
		}
	}
	// A listener's queue holds connections (sock_diag counts them in
	// RQueue), recorded through the icons; a stream and a seqpacket
	// listener alike, which a peek would answer with ENOTCONN.
	if sk.RQueue != 0 && sk.State != tcpListen {
		if err := d.socketQueue(fd, id); err != nil {
			return fmt.Errorf("unix socket %d: %w", ino, err)
		}
	}
	if err := unixPeer(n, sk, ue); err != nil {
		return err
	}
	if ue.Opts, err = skOpts(fd, unix.AF_UNIX); err != nil {
		return fmt.Errorf("unix socket %d: %w", ino, err)
	}

	s := &d.socks
	if s.unixDumped == nil {
		s.unixDumped = make(map[uint32]bool)
		s.unixWaiting = make(map[uint32][]*images.FileEntry)
	}
	fe := &images.FileEntry{Type: images.FdTypes_UNIXSK.Enum(), Id: ptr(id), Usk: ue}
	if sk.Peer != 0 && !s.unixDumped[sk.Peer] {
		s.unixWaiting[sk.Peer] = append([]*images.FileEntry{fe}, s.unixWaiting[sk.Peer]...)
	} else {
		d.addFile(fe)
	}
	s.unixDumped[ino] = true
	for _, w := range s.unixWaiting[ino] {
		d.addFile(w)
	}
	delete(s.unixWaiting, ino)
	return nil
}

// unixPeer checks that the socket's peer can be reached and gives an
// in-flight connection its listener as peer.
func unixPeer(n *netSocks, sk *sockdiag.UnixSock, ue *images.UnixSkEntry) error {
	if sk.Peer != 0 {
		peer := n.unix[sk.Peer]
		if peer == nil {
			return fmt.Errorf("unix socket %d: peer %d not listed by sock_diag: %w", sk.Ino, sk.Peer, ErrKernel)
		}
		// A peer connected elsewhere must have a name to connect to.
		if peer.Peer != sk.Ino && peer.Name == nil {
			return fmt.Errorf("unix socket %d: peer %d is connected to %d and has no name: %w",
				sk.Ino, sk.Peer, peer.Peer, ErrNotSupported)
		}
		return nil
	}
	// A datagram socket others connected to is "established" too, with
	// no peer of its own.
	if sk.State != tcpEstablished || sk.Type == unix.SOCK_DGRAM {
		return nil
	}
	listener, ok := n.icons[sk.Ino]
	if !ok {
		// Its peer is gone: only a connection shut both ways can be
		// recorded that way.
		if sk.Shutdown&3 == 3 {
			return nil
		}
		return fmt.Errorf("unix socket %d: connected, but its peer is gone: %w", sk.Ino, ErrNotSupported)
	}
	if l := n.unix[listener]; l == nil || l.State != tcpListen {
		return fmt.Errorf("unix socket %d: in-flight connection on socket %d, which does not listen: %w",
			sk.Ino, listener, ErrNotSupported)
	}
	ue.Peer = ptr(listener)
	return nil
}

// unixFile records the file of a socket bound to a path: its mode and
// owner, whether it was unlinked, and for a relative name the directory
// the name is relative to (name_dir), as the socket file's path tells.
func unixFile(fd int, name []byte, ue *images.UnixSkEntry) error {
	pfd, err := unix.IoctlRetInt(fd, siocUnixFile)
	if err != nil {
		return fmt.Errorf("open socket file: %w", err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return fmt.Errorf("stat socket file: %w", err)
	}
	ue.FilePerms = &images.FilePermsEntry{Mode: ptr(st.Mode), Uid: ptr(st.Uid), Gid: ptr(st.Gid)}
	path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(pfd))
	if err != nil {
		return fmt.Errorf("read socket file path: %w", err)
	}
	path, deleted := strings.CutSuffix(path, " (deleted)")
	if deleted {
		ue.Deleted = ptr(true)
	}
	rel := string(bytes.TrimRight(name, "\x00"))
	if !strings.HasPrefix(rel, "/") {
		dir, ok := strings.CutSuffix(path, "/"+rel)
		if !ok {
			return fmt.Errorf("socket name %q is not the end of its file's path %q: %w", rel, path, ErrNotSupported)
		}
		ue.NameDir = ptr(dir)
	}
	return nil
}

// socketsDone ends the socket part of the dump once every task is
// recorded: no unix socket may still wait for a peer, and the queued
// packets become sk-queues.img.
func (d *dumper) socketsDone() error {
	for peer, ws := range d.socks.unixWaiting {
		why := "CRIU's --ext-unix-sk would take it as external"
		if d.socks.extUnixSk {
			why = "--ext-unix-sk is given"
		}
		return fmt.Errorf("unix socket %d (file id %d) is connected to socket %d, which no task of the tree holds (%s, but criugo does not dump external unix sockets yet): %w",
			ws[0].GetUsk().GetIno(), ws[0].GetId(), peer, why, ErrNotSupported)
	}
	if len(d.socks.queues) == 0 {
		return nil
	}
	img, err := encodeImage(image.SkQueues, d.socks.queues...)
	if err != nil {
		return err
	}
	d.out[image.SkQueues.FileName(nil)] = img
	return nil
}
