package restore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// Checking one unix socket checks them all, with their peers (which must
// be in the images).
func init() {
	registerFileKind(images.FdTypes_UNIXSK, &fileKind{
		check: func(f *fileObjs, e *images.FileEntry) error {
			if _, err := f.checkUnixSk(e); err != nil {
				return err
			}
			_, err := f.unixSockets()
			return err
		},
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.unixSocket(e.GetId()) },
		fown: func(e *images.FileEntry) *images.FownEntry { return e.GetUsk().GetFown() },
	})
}

// Unix sockets are all made at once, inside criu-restore, the first time a
// task needs one: a socket's state depends on others (its peer, the
// sockets connected to it, the queues they refill), and criu-restore
// holds every one of them, so no task has to wait for another as in CRIU.
//
//	create   socketpair for two sockets that are each other's peer;
//	         socketpair with a stand-in peer for a stream socket whose
//	         peer had closed, and for a datagram socket with queued
//	         messages that no socket of the images can send again;
//	         socket() for the others
//	bind     the saved name: abstract, or a path (a stale socket file
//	         there is removed first; owner and mode as saved); a relative
//	         path is bound from the directory it was bound in, so that the
//	         socket reports the same name; not for a connected stream
//	         socket, whose name is its listener's
//	listen   listening sockets, with their backlog
//	accept   a connection a listener of the images had accepted is made
//	         again by connecting to that listener and accepting, so that
//	         both ends report the listener's name as before (CRIU makes
//	         a socketpair, whose ends have no name)
//	connect  stream sockets waiting in a listener's accept queue, in the
//	         order of their inodes; datagram sockets, each once every
//	         socket connected to it is (the kernel refuses a message, and
//	         a connect, from anyone but the peer of a connected socket)
//	queues   every saved receive queue, sent again in order: a datagram
//	         socket's by the first socket connected to it (before the
//	         socket itself connects elsewhere), a stream socket's by its
//	         peer, or by the stand-in, which is then closed
//	finally  socket options, shutdown state, file status flags; names of
//	         sockets whose file had been deleted are removed at the end
//	         of the restore

// Values of unix_sk_entry fields (Linux's).
const (
	tcpEstablished = 1  // TCP_ESTABLISHED: connected
	tcpClose       = 7  // TCP_CLOSE: not connected
	tcpListen      = 10 // TCP_LISTEN
	// maxUnixName is the size of sun_path.
	maxUnixName = 108
)

// unixSk is one AF_UNIX socket of files.img.
type unixSk struct {
	e    *images.UnixSkEntry
	file *os.File
	peer *unixSk
	// pair: made by socketpair with its peer, which is its peer in turn.
	pair bool
	// fake is the stand-in peer made with the socket, -1 if none.
	fake int
	// connectors are the other sockets whose peer this one is (pair
	// excepted), in the order of their inodes.
	connectors []*unixSk
	connected  bool
	// accepted: the listener this end of a pair was accepted from.
	accepted *unixSk
	// addr is the struct sockaddr_un to bind or connect to, nil for an
	// unnamed socket (see unixAddr); dir is the directory to do it from
	// for a relative name; path is the file system path of a path name,
	// "" for an abstract one.
	addr      []byte
	dir, path string
}

func (s *unixSk) stream() bool { return s.e.GetType() != unix.SOCK_DGRAM }

func (s *unixSk) String() string {
	return fmt.Sprintf("unix socket %d (inode %d)", s.e.GetId(), s.e.GetIno())
}

// unixState is what the unix sockets keep: every unix socket of
// files.img, checked once (listed), or listErr; sks are the same by file
// id once made together, or err.
type unixState struct {
	list    []*unixSk
	listErr error
	listed  bool
	sks     map[uint32]*unixSk
	err     error
}

// unixSocket returns the socket of file id, making every unix socket of
// the images on first use.
func (f *fileObjs) unixSocket(id uint32) (*os.File, error) {
	st := stateOf[unixState](f, images.FdTypes_UNIXSK)
	if st.err != nil {
		return nil, st.err
	}
	if st.sks == nil {
		if err := f.makeUnixSockets(); err != nil {
			st.err = err
			return nil, err
		}
	}
	s, ok := st.sks[id]
	if !ok || s.file == nil {
		return nil, fmt.Errorf("unix socket %d was not made: %w", id, ErrBadImage)
	}
	return s.file, nil
}

// unixSockets reads and checks the unix sockets of files.img, with their
// peers resolved, in the order of their inodes; once.
func (f *fileObjs) unixSockets() ([]*unixSk, error) {
	st := stateOf[unixState](f, images.FdTypes_UNIXSK)
	if !st.listed {
		st.list, st.listErr = f.listUnixSockets()
		st.listed = true
	}
	return st.list, st.listErr
}

func (f *fileObjs) listUnixSockets() ([]*unixSk, error) {
	var all []*unixSk
	byIno := map[uint32]*unixSk{}
	for _, e := range f.table {
		if e.GetType() != images.FdTypes_UNIXSK {
			continue
		}
		s, err := f.checkUnixSk(e)
		if err != nil {
			return nil, err
		}
		if byIno[s.e.GetIno()] != nil {
			return nil, fmt.Errorf("%v: inode twice in files.img: %w", s, ErrBadImage)
		}
		byIno[s.e.GetIno()] = s
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].e.GetIno() < all[j].e.GetIno() })
	for _, s := range all {
		if s.e.GetPeer() == 0 {
			continue
		}
		p := byIno[s.e.GetPeer()]
		if p == nil {
			return nil, fmt.Errorf("%v: its peer, inode %d, is not in the images (a socket outside the tree): %w", s, s.e.GetPeer(), ErrNotSupported)
		}
		if p.e.GetType() != s.e.GetType() {
			return nil, fmt.Errorf("%v: peer of another type: %w", s, ErrBadImage)
		}
		s.peer = p
		if p != s && p.e.GetPeer() != s.e.GetIno() {
			p.connectors = append(p.connectors, s)
		}
	}
	// An accepted connection: a pair one end of which has the name of a
	// listener of the images (the other end may have a name of its own).
	listeners := map[string]*unixSk{}
	for _, s := range all {
		if s.e.GetState() == tcpListen && s.addr != nil {
			listeners[s.dir+"\x00"+string(s.addr)] = s
		}
	}
	for _, s := range all {
		p := s.peer
		if !s.stream() || s.e.GetState() != tcpEstablished || p == nil || p == s || p.peer != s || s.addr == nil {
			continue
		}
		if l := listeners[s.dir+"\x00"+string(s.addr)]; l != nil && l.e.GetType() == s.e.GetType() && p.accepted == nil {
			s.accepted = l
		}
	}
	return all, nil
}

// checkUnixSk refuses a unix socket entry criu-restore cannot make.
func (f *fileObjs) checkUnixSk(e *images.FileEntry) (*unixSk, error) {
	ue := e.GetUsk()
	if ue == nil {
		return nil, fmt.Errorf("file id %d: UNIXSK without unix socket entry: %w", e.GetId(), ErrBadImage)
	}
	s := &unixSk{e: ue, fake: -1}
	switch ue.GetType() {
	case unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET:
	default:
		return nil, fmt.Errorf("%v: type %d: %w", s, ue.GetType(), ErrNotSupported)
	}
	switch ue.GetState() {
	case tcpEstablished, tcpClose:
	case tcpListen:
		if !s.stream() {
			return nil, fmt.Errorf("%v: listening datagram socket: %w", s, ErrBadImage)
		}
	default:
		return nil, fmt.Errorf("%v: state %d: %w", s, ue.GetState(), ErrNotSupported)
	}
	if ue.GetUflags() != 0 {
		// External (USK_EXTERN, a dump with --ext-unix-sk), criu
		// service, plugin or inherited sockets.
		return nil, fmt.Errorf("%v: flags %#x (external, service, plugin or inherited: criugo has no --ext-unix-sk restore yet): %w", s, ue.GetUflags(), ErrNotSupported)
	}
	if ue.NsId != nil && !f.r.treeNetNs(ue.GetNsId()) {
		return nil, fmt.Errorf("%v: in a network namespace of its own: %w", s, ErrNotSupported)
	}
	var err error
	if s.addr, s.dir, s.path, err = unixAddr(ue); err != nil {
		return nil, fmt.Errorf("%v: %w", s, err)
	}
	return s, nil
}

// unixAddr returns the struct sockaddr_un a socket binds or is connected
// to, the directory to do it from (for a relative path), and the file
// system path of a path name. An abstract name keeps every byte (a 0 byte
// starts it, and trailing zeros are part of it); a path ends at its first
// 0 byte.
func unixAddr(ue *images.UnixSkEntry) (addr []byte, dir, path string, err error) {
	name := ue.GetName()
	if len(name) == 0 {
		return nil, "", "", nil
	}
	if len(name) > maxUnixName {
		return nil, "", "", fmt.Errorf("name of %d bytes: %w", len(name), ErrBadImage)
	}
	if name[0] == 0 {
		return sockaddrUnix(name), "", "", nil
	}
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	path = string(name)
	if !filepath.IsAbs(path) {
		dir = ue.GetNameDir()
		if !filepath.IsAbs(dir) {
			return nil, "", "", fmt.Errorf("relative name %q bound in directory %q: %w", path, dir, ErrNotSupported)
		}
		path = filepath.Join(dir, path)
	}
	return sockaddrUnix(append(name, 0)), dir, path, nil
}

// inDir runs fn with dir as the working directory, so that a relative
// socket name is bound or connected to as the program did, while
// criu-restore's other threads stay where they are. fn runs on the one
// thread of dirWorker.
func inDir(dir string, fn func() error) error {
	if dir == "" {
		return fn()
	}
	dirWorkerOnce.Do(func() { go dirWorker() })
	req := dirRequest{dir: dir, fn: fn, done: make(chan error, 1)}
	dirRequests <- req
	return <-req.done
}

type dirRequest struct {
	dir  string
	fn   func() error
	done chan error
}

var (
	dirWorkerOnce sync.Once
	dirRequests   = make(chan dirRequest)
)

// dirWorker serves inDir on an OS thread of its own, whose working
// directory is its own (unshare(CLONE_FS)). The thread never ends: the
// root of a tree is killed when the thread that forked it exits
// (PR_SET_PDEATHSIG), and this thread may be that one.
func dirWorker() {
	runtime.LockOSThread()
	err := unix.Unshare(unix.CLONE_FS)
	for req := range dirRequests {
		switch {
		case err != nil:
			req.done <- fmt.Errorf("unshare the working directory: %w", err)
		default:
			if cerr := unix.Chdir(req.dir); cerr != nil {
				req.done <- fmt.Errorf("change to directory %s: %w", req.dir, cerr)
				continue
			}
			req.done <- req.fn()
		}
	}
}

// sockaddrUnix is a struct sockaddr_un holding name, as long as the name.
func sockaddrUnix(name []byte) []byte {
	return append(binary.LittleEndian.AppendUint16(nil, unix.AF_UNIX), name...)
}

// unspecSockaddr is a struct sockaddr of family AF_UNSPEC.
var unspecSockaddr = []byte{unix.AF_UNSPEC, 0}

// makeUnixSockets makes every unix socket of the images (see the steps at
// the top of this file).
func (f *fileObjs) makeUnixSockets() error {
	all, err := f.unixSockets()
	if err != nil {
		return err
	}
	st := stateOf[unixState](f, images.FdTypes_UNIXSK)
	st.sks = map[uint32]*unixSk{}
	for _, s := range all {
		st.sks[s.e.GetId()] = s
	}
	// Stand-ins are only needed while queues are refilled.
	defer func() {
		for _, s := range all {
			if s.fake >= 0 {
				unix.Close(s.fake)
				s.fake = -1
			}
		}
	}()
	queues, err := f.skQueues()
	if err != nil {
		return err
	}
	for _, s := range all {
		if err := f.createUnixSk(s, len(queues[s.e.GetId()]) > 0); err != nil {
			return err
		}
	}
	for _, s := range all {
		if err := f.bindUnixSk(s); err != nil {
			return err
		}
		if s.e.GetState() == tcpListen {
			if err := unix.Listen(int(s.file.Fd()), int(s.e.GetBacklog())); err != nil {
				return fmt.Errorf("listen on %v: %w", s, err)
			}
		}
	}
	for _, s := range all {
		if s.accepted != nil {
			if err := f.acceptUnixSk(s); err != nil {
				return err
			}
		}
	}
	for _, s := range all {
		if s.stream() && !s.pair && s.peer != nil {
			if err := connectUnixSk(s, s.peer); err != nil {
				return err
			}
		}
	}
	if err := f.connectDgrams(all); err != nil {
		return err
	}
	for _, s := range all {
		if !s.stream() {
			continue
		}
		from := s.fake
		if s.pair {
			from = int(s.peer.file.Fd())
		}
		if len(queues[s.e.GetId()]) > 0 && from < 0 {
			return fmt.Errorf("%v: no socket to send its %d queued messages again: %w", s, len(queues[s.e.GetId()]), ErrNotSupported)
		}
		if err := f.sendQueue(from, s.e.GetId()); err != nil {
			return err
		}
	}
	for _, s := range all {
		if s.fake >= 0 {
			unix.Close(s.fake)
			s.fake = -1
		}
	}
	for _, s := range all {
		if err := setSockOpts(s.file, s.e.GetOpts()); err != nil {
			return err
		}
		if how := shutdownHow(s.e.GetShutdown()); how >= 0 {
			if err := unix.Shutdown(int(s.file.Fd()), how); err != nil {
				return fmt.Errorf("shut %v down (%v): %w", s, s.e.GetShutdown(), err)
			}
		}
		if err := setStatusFlags(s.file, int(s.e.GetFlags())); err != nil {
			return err
		}
	}
	return nil
}

// createUnixSk makes socket s (and its peer, for a pair), but for an
// accepted connection, which acceptUnixSk makes.
func (f *fileObjs) createUnixSk(s *unixSk, queued bool) error {
	if s.file != nil || s.accepted != nil || s.peer != nil && s.peer.accepted != nil {
		return nil
	}
	typ := int(s.e.GetType()) | unix.SOCK_CLOEXEC
	p := s.peer
	switch {
	case p != nil && p != s && p.peer == s:
		fds, err := f.r.netSocketpair(unix.AF_UNIX, typ, 0)
		if err != nil {
			return fmt.Errorf("make socket pair for %v and %v: %w", s, p, err)
		}
		s.file = f.keep(os.NewFile(uintptr(fds[0]), s.String()))
		p.file = f.keep(os.NewFile(uintptr(fds[1]), p.String()))
		s.pair, p.pair = true, true
	case s.stream() && s.e.GetState() == tcpEstablished && p == nil,
		!s.stream() && queued && len(s.connectors) == 0 && p != s:
		// A connected stream socket whose peer is gone, or a datagram
		// socket whose queue nobody in the images can refill: the
		// stand-in peer sends the queue, and then is closed.
		fds, err := f.r.netSocketpair(unix.AF_UNIX, typ, 0)
		if err != nil {
			return fmt.Errorf("make %v: %w", s, err)
		}
		s.file = f.keep(os.NewFile(uintptr(fds[0]), s.String()))
		s.fake = fds[1]
		if !s.stream() {
			// Leave only the stand-in connected (to s): connect with
			// AF_UNSPEC drops the socket's own peer.
			if err := connectRaw(fds[0], unspecSockaddr); err != nil {
				return fmt.Errorf("disconnect %v from its stand-in: %w", s, err)
			}
		}
	default:
		fd, err := f.r.netSocket(unix.AF_UNIX, typ, 0)
		if err != nil {
			return fmt.Errorf("make %v: %w", s, err)
		}
		s.file = f.keep(os.NewFile(uintptr(fd), s.String()))
	}
	return nil
}

// bindUnixSk gives socket s its saved name.
func (f *fileObjs) bindUnixSk(s *unixSk) error {
	if s.addr == nil || s.accepted != nil || s.stream() && s.e.GetState() == tcpEstablished && (s.peer == nil || s.peer.accepted == nil) {
		// A connected stream socket has its listener's name, but the
		// client of an accepted connection may have bound one itself.
		return nil
	}
	if s.file == nil {
		return nil // made and bound when accepted
	}
	return f.bindUnixFd(s, int(s.file.Fd()))
}

func (f *fileObjs) bindUnixFd(s *unixSk, fd int) error {
	if s.path != "" {
		var st unix.Stat_t
		err := unix.Lstat(s.path, &st)
		switch {
		case err == nil && s.e.GetDeleted():
			return fmt.Errorf("bind %v to %s, deleted when dumped: the name is taken: %w", s, s.path, ErrNotSupported)
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK:
			// A socket file left by the dumped program (or an earlier
			// restore) is stale: nothing listens on it any more.
			if err := unix.Unlink(s.path); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("remove stale socket file %s: %w", s.path, err)
			}
		}
	}
	if s.path != "" && s.e.GetDeleted() {
		// The directory it was bound in may be gone too: made again
		// for the bind, and removed with the name at the end.
		if err := f.makeGoneDirs(filepath.Dir(s.path)); err != nil {
			return fmt.Errorf("bind %v to %s, deleted when dumped: %w", s, s.path, err)
		}
	}
	if err := inDir(s.dir, func() error { return bindRaw(fd, s.addr) }); err != nil {
		return fmt.Errorf("bind %v to %q: %w", s, s.addr[2:], err)
	}
	if s.path == "" {
		return nil
	}
	if s.e.GetDeleted() {
		f.unlinks = append(f.unlinks, s.path)
	}
	if fp := s.e.GetFilePerms(); fp != nil {
		uid, gid, err := f.r.hostOwner(fp.GetUid(), fp.GetGid())
		if err != nil {
			return err
		}
		if err := unix.Fchownat(unix.AT_FDCWD, s.path, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown socket file %s: %w", s.path, err)
		}
		if err := unix.Fchmodat(unix.AT_FDCWD, s.path, fp.GetMode()&07777, 0); err != nil {
			return fmt.Errorf("chmod socket file %s: %w", s.path, err)
		}
	}
	return nil
}

// makeGoneDirs makes dir and whichever of its parents are missing,
// recording each for removal once the restore is done (deepest first).
func (f *fileObjs) makeGoneDirs(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		var st unix.Stat_t
		err := unix.Lstat(d, &st)
		if err == nil {
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return fmt.Errorf("%s is not a directory: %w", d, unix.ENOTDIR)
			}
			break
		}
		if !errors.Is(err, unix.ENOENT) || d == filepath.Dir(d) {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := unix.Mkdir(missing[i], 0o755); err != nil {
			return fmt.Errorf("make directory %s again: %w", missing[i], err)
		}
		f.rmdirs = append(f.rmdirs, missing[i])
	}
	return nil
}

// connectUnixSk connects socket s to the name of p.
func connectUnixSk(s, p *unixSk) error {
	if p.addr == nil {
		return fmt.Errorf("connect %v to %v: the peer has no name: %w", s, p, ErrBadImage)
	}
	if s.stream() && p.e.GetState() != tcpListen {
		return fmt.Errorf("connect %v to %v, which is not listening: %w", s, p, ErrNotSupported)
	}
	if err := inDir(p.dir, func() error { return connectRaw(int(s.file.Fd()), p.addr) }); err != nil {
		return fmt.Errorf("connect %v to %v at %q: %w", s, p, p.addr[2:], err)
	}
	s.connected = true
	return nil
}

// acceptUnixSk makes the accepted connection a (accepted from a listener
// of the images) and its client: the client connects to the listener and
// the listener accepts. Nothing else waits on the listener yet, so the
// connection accepted is the client's.
func (f *fileObjs) acceptUnixSk(a *unixSk) error {
	c, l := a.peer, a.accepted
	fd, err := f.r.netSocket(unix.AF_UNIX, int(c.e.GetType())|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("make %v: %w", c, err)
	}
	c.file = f.keep(os.NewFile(uintptr(fd), c.String()))
	if c.addr != nil {
		if err := f.bindUnixFd(c, fd); err != nil {
			return err
		}
	}
	if err := connectUnixSk(c, l); err != nil {
		return err
	}
	afd, _, err := unix.Accept4(int(l.file.Fd()), unix.SOCK_CLOEXEC)
	if err != nil {
		return fmt.Errorf("accept %v from %v: %w", a, l, err)
	}
	a.file = f.keep(os.NewFile(uintptr(afd), a.String()))
	a.pair, c.pair = true, true
	return nil
}

// connectDgrams refills the queues of the datagram sockets and connects
// them, each once every socket connected to it is: until then the kernel
// would refuse them a message, or a connect, from anyone but its peer.
func (f *fileObjs) connectDgrams(all []*unixSk) error {
	var todo []*unixSk
	for _, s := range all {
		if !s.stream() {
			todo = append(todo, s)
		}
	}
	for len(todo) > 0 {
		var later []*unixSk
		for _, s := range todo {
			if !connectorsDone(s) {
				later = append(later, s)
				continue
			}
			if err := f.refillDgram(s); err != nil {
				return err
			}
		}
		if len(later) == len(todo) {
			return fmt.Errorf("%v: datagram sockets connected in a cycle: %w", todo[0], ErrBadImage)
		}
		todo = later
	}
	return nil
}

func connectorsDone(s *unixSk) bool {
	for _, c := range s.connectors {
		if !c.connected {
			return false
		}
	}
	return true
}

// refillDgram sends the saved queue of datagram socket s again and
// connects it to its peer.
func (f *fileObjs) refillDgram(s *unixSk) error {
	from := s.fake
	if from < 0 && len(s.connectors) > 0 {
		from = int(s.connectors[0].file.Fd())
	}
	if s.pair {
		from = int(s.peer.file.Fd())
	}
	self := s.peer == s
	if from < 0 && !self {
		q, err := f.skQueues()
		if err != nil {
			return err
		}
		if len(q[s.e.GetId()]) > 0 {
			return fmt.Errorf("%v: no socket to send its queued messages again: %w", s, ErrNotSupported)
		}
	}
	if from >= 0 {
		if err := f.sendQueue(from, s.e.GetId()); err != nil {
			return err
		}
	}
	if s.peer != nil && !s.pair {
		if err := connectUnixSk(s, s.peer); err != nil {
			return err
		}
	}
	if self {
		if err := f.sendQueue(int(s.file.Fd()), s.e.GetId()); err != nil {
			return err
		}
	}
	s.connected = true
	return nil
}
