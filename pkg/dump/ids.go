package dump

// Object identity. CRIU gives every kernel object that tasks may share (an
// address space, an fd table, an fs_struct, a signal handler table, an
// open file) an id, the same id for every task or fd that shares it, and
// numbers them in the order it meets them: the first object of a kind is 1
// (criu itself, for address spaces and the like), the next new one 2, ...
// Two objects are the same when kcmp(2) says so; a cheap "generation" key
// (0 for tables, dev^ino^pos for files) avoids comparing objects that
// cannot be the same.

// kcmpFunc compares object idx1 of pid1 with object idx2 of pid2 as
// kcmp(2) orders kernel objects: 0 when they are the same object, -1 or
// +1 when the first comes before or after the second, and unordered when
// kcmp can only say they differ.
type kcmpFunc func(pid1, pid2, idx1, idx2 int) (order int, unordered bool, err error)

type kidElem struct {
	pid, idx int
	genid    uint64
	id       uint32
}

// kidTree hands out ids for one kind of object. The objects of a
// generation are kept in kcmp's order, so that finding one takes
// log2(n) comparisons (as CRIU's red-black kid tree): a tree of a
// thousand tasks compares each task with ten others, not with all.
type kidTree struct {
	cmp   kcmpFunc
	next  uint32
	elems map[uint64][]kidElem // by genid, in kcmp's order
}

func newKidTree(cmp kcmpFunc) *kidTree {
	return &kidTree{cmp: cmp, next: 1, elems: make(map[uint64][]kidElem)}
}

// id returns the id of object idx of pid and whether it is new.
func (k *kidTree) id(pid, idx int, genid uint64) (uint32, bool, error) {
	elems := k.elems[genid]
	lo, hi := 0, len(elems)
	for lo < hi {
		mid := (lo + hi) / 2
		e := elems[mid]
		order, unordered, err := k.cmp(pid, e.pid, idx, e.idx)
		if err != nil {
			return 0, false, err
		}
		if unordered {
			return k.scan(pid, idx, genid)
		}
		switch {
		case order == 0:
			return e.id, false, nil
		case order < 0:
			hi = mid
		default:
			lo = mid + 1
		}
	}
	id := k.fresh()
	elems = append(elems, kidElem{})
	copy(elems[lo+1:], elems[lo:])
	elems[lo] = kidElem{pid: pid, idx: idx, genid: genid, id: id}
	k.elems[genid] = elems
	return id, true, nil
}

// scan is id for objects kcmp cannot order: each is compared with all
// of its generation, and a new one goes last.
func (k *kidTree) scan(pid, idx int, genid uint64) (uint32, bool, error) {
	for _, e := range k.elems[genid] {
		order, _, err := k.cmp(pid, e.pid, idx, e.idx)
		if err != nil {
			return 0, false, err
		}
		if order == 0 {
			return e.id, false, nil
		}
	}
	id := k.fresh()
	k.elems[genid] = append(k.elems[genid], kidElem{pid: pid, idx: idx, genid: genid, id: id})
	return id, true, nil
}

// fresh returns a new id that no object has.
func (k *kidTree) fresh() uint32 {
	id := k.next
	k.next++
	return id
}

// fileKey identifies a file without an fd (a mapped file, an exe link) the
// way CRIU's fd id cache does.
type fileKey struct {
	dev, ino uint64
	mntID    int
}

// fileIDs numbers open files, mapped files and cwd/root directories with
// one counter, as CRIU does: fds through kcmp, files without an fd
// through a cache keyed by device, inode and mount.
type fileIDs struct {
	fds   *kidTree
	cache map[fileKey]uint32
}

func newFileIDs(cmp kcmpFunc) *fileIDs {
	return &fileIDs{fds: newKidTree(cmp), cache: make(map[fileKey]uint32)}
}

// forFd returns the id of fd of pid; new reports an object not seen yet,
// which the caller then dumps.
func (f *fileIDs) forFd(pid, fd int, key fileKey, pos uint64) (id uint32, isNew bool, err error) {
	gen := uint64(uint32(key.dev) ^ uint32(key.ino) ^ uint32(pos))
	id, isNew, err = f.fds.id(pid, fd, gen)
	if err == nil && isNew {
		if _, ok := f.cache[key]; !ok {
			f.cache[key] = id
		}
	}
	return id, isNew, err
}

// forFile returns the id of a file met without an fd (a mapping, the exe
// link): a file seen before under the same key keeps its id.
func (f *fileIDs) forFile(key fileKey) (id uint32, isNew bool) {
	if id, ok := f.cache[key]; ok {
		return id, false
	}
	id = f.fds.fresh()
	f.cache[key] = id
	return id, true
}

// unique returns an id of its own (CRIU 4.2 records every task's cwd and
// root as files of their own, even when tasks share them).
func (f *fileIDs) unique() uint32 { return f.fds.fresh() }

// nsIDs numbers namespaces: one counter for all kinds, seeded with the
// ids inventory.img gives the root task's namespaces.
type nsIDs struct {
	next uint32
	ids  map[nsKey]uint32
}

type nsKey struct {
	kind string
	ino  uint64
}

func newNsIDs() *nsIDs { return &nsIDs{next: 1, ids: make(map[nsKey]uint32)} }

// seed records that namespace ino of kind has id.
func (n *nsIDs) seed(kind string, ino uint64, id uint32) {
	n.ids[nsKey{kind, ino}] = id
	if id >= n.next {
		n.next = id + 1
	}
}

func (n *nsIDs) id(kind string, ino uint64) uint32 {
	k := nsKey{kind, ino}
	if id, ok := n.ids[k]; ok {
		return id
	}
	id := n.next
	n.next++
	n.ids[k] = id
	return id
}
