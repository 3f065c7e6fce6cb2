package restore

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// fileObjs creates the open files of the tree inside criu-restore, each
// file object once, so that tasks that shared an open file description
// share it again: every task receives the same description over a unix
// socket (fds_linux.go). Files a task maps are opened by the task itself
// through /proc/<criu-restore>/fd/N, which also reaches files that no
// longer have a name (ghost files, memfds).
type fileObjs struct {
	r     *restorer
	table fileTable
	// remaps are remap-fpath.img by the id of the file they stand for.
	remaps map[uint32]*images.RemapFilePathEntry

	desc   map[uint32]*os.File  // file id -> its open file description
	mapped map[mapKey]*os.File  // files opened to be mapped
	memfds map[uint64]*memfdObj // memfd inode id -> memfd
	shmem  map[uint64]*os.File  // shmid of shared anonymous memory -> memfd
	// unfilled are shared memory objects whose pages have not come yet.
	unfilled map[uint64]*os.File
	ghosts   map[uint32]string // remap id -> path of the recreated ghost
	// queues are sk-queues.img by socket file id, read once.
	queues map[uint32][]skPacket
	// kinds holds what each kind keeps between its files (stateOf).
	kinds map[images.FdTypes]any
	// unlinks are paths to remove once every task has opened its files.
	unlinks []string
	// rmdirs are directories made again for them (a unix socket bound
	// in a directory deleted since), removed after them, the last made
	// first.
	rmdirs []string
	// all holds every file criu-restore opened, closed at the end.
	all []*os.File
}

type mapKey struct {
	id      uint32
	accmode int
}

// fileKind is what criu-restore does with one kind of file of files.img.
// Each kind registers its own from its file (regfile_linux.go,
// pipes_linux.go, ...), as CRIU's fdtype_ops, so that a new kind is a new
// file and no switch; a kind nobody registered is refused with
// ErrNotSupported. What a kind keeps between its files is a type of its
// own file, held for it by fileObjs (stateOf); what several kinds share
// (memfd inodes, sk-queues.img) is fileObjs' own.
type fileKind struct {
	// has says whether an entry holds its kind's own message, all that
	// checkEntry asks of it when check is nil.
	has func(e *images.FileEntry) bool
	// check, when set, refuses before anything is created an entry that
	// cannot be made (it says more than has).
	check func(f *fileObjs, e *images.FileEntry) error
	// open creates the open file description of entry e, once per entry.
	open func(f *fileObjs, e *images.FileEntry) (*os.File, error)
	// fown, when set, is the owner for SIGIO the description gets back.
	fown func(e *images.FileEntry) *images.FownEntry
	// mapped, when set, opens a file for tasks to map with accmode; a
	// kind without it cannot be mapped.
	mapped func(f *fileObjs, e *images.FileEntry, accmode int) (*os.File, error)
	// fill, when set, completes in task t what of the kind needs the
	// task's other fds at their numbers (epoll targets, the controlling
	// terminal); it runs in every task, in the order of the kinds' types.
	fill func(r *restorer, t *task, p *taskPlan) error
	// finish, when set, completes every file of the kind when all tasks
	// have theirs and the tree is about to run; kinds finish in the
	// order of stage.
	finish func(f *fileObjs) error
	stage  finishStage
}

// finishStage orders the kinds' finish steps.
type finishStage int

const (
	finishSeal  finishStage = iota // close files for good (memfd seals)
	finishClock                    // start the clocks (timerfds)
	finishLive                     // let the outside in (TCP leaves repair mode)
)

// fileKinds are the registered kinds by type; filling and finishing are
// those of them with a fill or finish step, in their order.
var (
	fileKinds = map[images.FdTypes]*fileKind{}
	filling   []images.FdTypes
	finishing []*fileKind
)

// registerFileKind makes typ a kind criu-restore opens; called from the
// init of the kind's file.
func registerFileKind(typ images.FdTypes, k *fileKind) {
	if _, dup := fileKinds[typ]; dup || k.open == nil || (k.has == nil && k.check == nil) {
		panic(fmt.Sprintf("restore: file kind %v registered twice or without open and has", typ))
	}
	fileKinds[typ] = k
	if k.fill != nil {
		filling = append(filling, typ)
		slices.Sort(filling)
	}
	if k.finish != nil {
		i := sort.Search(len(finishing), func(i int) bool { return finishing[i].stage > k.stage })
		finishing = slices.Insert(finishing, i, k)
	}
}

// stateOf returns what kind typ keeps in f between its files: an S of the
// kind's own file, zero until the kind first asks for it.
func stateOf[S any](f *fileObjs, typ images.FdTypes) *S {
	if s, ok := f.kinds[typ]; ok {
		return s.(*S)
	}
	if f.kinds == nil {
		f.kinds = map[images.FdTypes]any{}
	}
	s := new(S)
	f.kinds[typ] = s
	return s
}

func (k *fileKind) ownerOf(e *images.FileEntry) *images.FownEntry {
	if k.fown == nil {
		return nil
	}
	return k.fown(e)
}

func newFileObjs(r *restorer) (*fileObjs, error) {
	t, err := r.set.files()
	if err != nil {
		return nil, err
	}
	f := &fileObjs{
		r: r, table: t,
		remaps:   map[uint32]*images.RemapFilePathEntry{},
		desc:     map[uint32]*os.File{},
		mapped:   map[mapKey]*os.File{},
		memfds:   map[uint64]*memfdObj{},
		shmem:    map[uint64]*os.File{},
		unfilled: map[uint64]*os.File{},
		ghosts:   map[uint32]string{},
	}
	rms, err := entries[*images.RemapFilePathEntry](r.set, "remap-fpath.img", true)
	if err != nil {
		return nil, err
	}
	for _, rm := range rms {
		f.remaps[rm.GetOrigId()] = rm
	}
	return f, nil
}

// keep records a file criu-restore holds until the end of the restore.
func (f *fileObjs) keep(file *os.File) *os.File {
	f.all = append(f.all, file)
	return file
}

// close drops criu-restore's copies of every file and removes the names
// of files that were unlinked when dumped.
func (f *fileObjs) close() {
	for _, file := range f.all {
		file.Close()
	}
	f.all = nil
	for _, p := range f.unlinks {
		os.Remove(p)
	}
	f.unlinks = nil
	for i := len(f.rmdirs) - 1; i >= 0; i-- {
		os.Remove(f.rmdirs[i])
	}
	f.rmdirs = nil
}

// procPath is how a task of the tree opens one of criu-restore's files.
func (f *fileObjs) procPath(file *os.File) string {
	return "/proc/" + strconv.Itoa(f.r.self) + "/fd/" + strconv.Itoa(int(file.Fd()))
}

// taskPath is how a task whose memory is being restored opens one of
// criu-restore's files: the directory fd and the path below it to give
// openat. Its own /proc may be of a PID namespace where criu-restore has
// no pid; the copy of criu-restore's /proc fd it holds until then is not.
// A task sharing its parent's fd table may have lost that copy to its
// parent's restore: it goes through its /proc.
func (f *fileObjs) taskPath(t *task, file *os.File) (uint64, string) {
	if f.r.procFd <= 0 || f.r.sharesParentFiles(t) {
		return atFDCWD, f.procPath(file)
	}
	return uint64(f.r.procFd), strconv.Itoa(f.r.self) + "/fd/" + strconv.Itoa(int(file.Fd()))
}

// entry returns the files.img entry with the given id.
func (f *fileObjs) entry(id uint32) (*images.FileEntry, error) {
	e, ok := f.table[id]
	if !ok {
		return nil, fmt.Errorf("file id %d is not in files.img: %w", id, ErrBadImage)
	}
	return e, nil
}

// descFor returns the open file description of file id, creating it on
// first use.
func (f *fileObjs) descFor(id uint32) (*os.File, error) {
	if d, ok := f.desc[id]; ok {
		return d, nil
	}
	e, err := f.entry(id)
	if err != nil {
		return nil, err
	}
	k, ok := fileKinds[e.GetType()]
	if !ok {
		return nil, fmt.Errorf("file id %d of type %v: %w", id, e.GetType(), ErrNotSupported)
	}
	var d *os.File
	if in := f.inherited(e); in != nil {
		d, err = f.takeInherited(e, in)
	} else {
		d, err = k.open(f, e)
	}
	if err != nil {
		return nil, err
	}
	if err := setFown(d, k.ownerOf(e)); err != nil {
		return nil, err
	}
	f.desc[id] = d
	return d, nil
}

// checkEntry refuses, before anything is created, a file entry of a kind
// criu-restore cannot open, or one it can see is incomplete.
func (f *fileObjs) checkEntry(e *images.FileEntry) error {
	k, ok := fileKinds[e.GetType()]
	if !ok {
		return fmt.Errorf("file of type %v: %w", e.GetType(), ErrNotSupported)
	}
	if k.check != nil && f.inherited(e) == nil {
		return k.check(f, e)
	}
	if !k.has(e) {
		return fmt.Errorf("file id %d: %v without its entry: %w", e.GetId(), e.GetType(), ErrBadImage)
	}
	return nil
}

// fillFiles completes the files of task t once restoreFds has put its fds
// at their numbers.
func (r *restorer) fillFiles(t *task, p *taskPlan) error {
	for _, typ := range filling {
		if err := fileKinds[typ].fill(r, t, p); err != nil {
			return err
		}
	}
	return nil
}

// finish completes the file objects when every task has its files and
// the tree is about to run, kind by kind in the order of their
// finishStage: memfds get their seals, timerfds start, and TCP
// connections leave repair mode.
func (f *fileObjs) finish() error {
	for _, k := range finishing {
		if err := k.finish(f); err != nil {
			return err
		}
	}
	return nil
}

// setFown gives a description back its owner for SIGIO (F_SETOWN_EX) and
// the signal it sends (F_SETSIG).
func setFown(file *os.File, fo *images.FownEntry) error {
	if fo == nil || (fo.GetPid() == 0 && fo.GetSignum() == 0) {
		return nil
	}
	fd := int(file.Fd())
	if fo.GetSignum() != 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETSIG, int(fo.GetSignum())); err != nil {
			return fmt.Errorf("set owner signal of %s: %w", file.Name(), err)
		}
	}
	if fo.GetPid() != 0 {
		if err := setOwnerEx(uintptr(fd), int32(fo.GetPidType()), int32(fo.GetPid())); err != nil {
			return fmt.Errorf("set owner of %s: %w", file.Name(), err)
		}
	}
	return nil
}

// mapFile returns a file a task can map for VMAs that name file id, opened
// with the given access mode.
func (f *fileObjs) mapFile(id uint32, accmode int) (*os.File, error) {
	k := mapKey{id, accmode}
	if m, ok := f.mapped[k]; ok {
		return m, nil
	}
	e, err := f.entry(id)
	if err != nil {
		return nil, err
	}
	if in := f.inherited(e); in != nil {
		// The task maps it through criu-restore's fd, which opens it
		// again with the mapping's access mode.
		return in, nil
	}
	kind, ok := fileKinds[e.GetType()]
	if !ok || kind.mapped == nil {
		return nil, fmt.Errorf("map file id %d of type %v: %w", id, e.GetType(), ErrNotSupported)
	}
	m, err := kind.mapped(f, e, accmode)
	if err != nil {
		return nil, err
	}
	f.mapped[k] = m
	return m, nil
}

// reopen opens a new description of the same file as file, with flags.
func (f *fileObjs) reopen(file *os.File, flags int) (*os.File, error) {
	p := "/proc/self/fd/" + strconv.Itoa(int(file.Fd()))
	fd, err := unix.Open(p, (flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_TRUNC|unix.O_NOCTTY))|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", file.Name(), err)
	}
	return f.keep(os.NewFile(uintptr(fd), file.Name())), nil
}

// statusFlags are the file status flags F_SETFL can change.
const statusFlags = unix.O_APPEND | unix.O_NONBLOCK | unix.O_DIRECT | unix.O_NOATIME | unix.O_ASYNC

func setStatusFlags(file *os.File, flags int) error {
	cur, err := unix.FcntlInt(file.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("get flags of %s: %w", file.Name(), err)
	}
	want := cur&^statusFlags | flags&statusFlags
	if want == cur {
		return nil
	}
	if _, err := unix.FcntlInt(file.Fd(), unix.F_SETFL, want); err != nil {
		return fmt.Errorf("set flags %#o of %s: %w", flags, file.Name(), err)
	}
	return nil
}
