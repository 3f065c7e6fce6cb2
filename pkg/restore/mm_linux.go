package restore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
)

// atFDCWD is AT_FDCWD as a register holds it.
const atFDCWD = ^uint64(99)

// madvGuardInstall is MADV_GUARD_INSTALL (kernel 6.13+).
const madvGuardInstall = 102

// sealVMAs adds the batch's mseal calls for the sealed VMAs of p, the
// memory of t. They come after everything else, in restoreTask: a sealed
// mapping takes no mprotect, munmap, mremap or guard any more, and the
// children, forked once t's memory is in, must be free to unmap what
// they do not keep of it (a seal is inherited by fork).
func sealVMAs(t *task, p *mmPlan, bt *callBatch) {
	name := mmName(uint32(t.pid))
	for _, v := range p.vmas {
		if !v.e.GetCriugoSealed() || v.kind == vmaKindSkip {
			continue
		}
		bt.onError(bt.add("mseal", unix.SYS_MSEAL, v.start(), v.size(), 0), func(err error) error {
			return fmt.Errorf("restore seal of vma [%#x, %#x) of pid %d (%s): %w", v.start(), v.end(), t.pid, name, err)
		})
	}
}

// restoreMM replaces the memory of task t (a copy of its parent, or of
// criu-restore) by the memory of its image: everything but the scratch
// area and the kernel's special mappings is unmapped, the special mappings
// move to their dumped addresses, every VMA is mapped at its address and
// filled with its pages, protections and advice are set, and the mm's
// fields (brk, arg and env areas, auxv, exe file) are set with
// PR_SET_MM_MAP.
func (r *restorer) restoreMM(t *task, p *mmPlan, src io.Reader) error {
	name := mmName(uint32(t.pid))
	th := t.threads[0]
	cur, err := readMaps(t.real)
	if err != nil {
		return err
	}
	keep := []span{{t.scratch, t.scratch + scratchSize}}
	var specials []proc.VMA
	for _, v := range cur {
		switch v.Kind {
		case proc.VMAVdso, proc.VMAVvar, proc.VMAVvarVclock:
			specials = append(specials, v)
			keep = append(keep, span{v.Start, v.End})
		}
	}
	// What the task keeps of its parent's memory (cow_linux.go).
	shared := inheritedVMAs(t, p, cur)
	for _, v := range p.vmas {
		if v.inherited {
			keep = append(keep, span{v.start(), v.end()})
		}
	}
	// Unmapping, moving the special mappings, opening the mapped files
	// and mapping every VMA make one batch; mprotect, madvise, guards,
	// PR_SET_MM_MAP and the closes after the pages another.
	bt := r.batch(t, th)
	wrapMem := func(err error) error { return fmt.Errorf("restore memory of pid %d: %w", t.pid, err) }
	// The fds the task inherited (criu-restore's, for the root) go first.
	// A task sharing its parent's fd table holds the parent's fds: the
	// parent closed what it inherited, or will.
	// All but the copy of criu-restore's /proc fd, closed once the memory
	// is in (taskPath, restoreMemory).
	if !r.sharesParentFiles(t) {
		ranges := [][2]uint64{{0, ^uint64(0) >> 32}}
		if keep := uint64(r.procFd); keep > 0 {
			ranges = [][2]uint64{{0, keep - 1}, {keep + 1, ^uint64(0) >> 32}}
		}
		for _, rg := range ranges {
			bt.onError(bt.add("close_range", unix.SYS_CLOSE_RANGE, rg[0], rg[1], 0), func(err error) error {
				return fmt.Errorf("restore pid %d: %w", t.pid, err)
			})
		}
	}
	for _, g := range gaps(keep, 0, taskSize) {
		bt.onError(bt.add("munmap", unix.SYS_MUNMAP, g.start, g.end-g.start), wrapMem)
	}
	hs, err := r.placeSpecials(t, p, specials, bt)
	if err != nil {
		return fmt.Errorf("restore memory of pid %d (%s): %w", t.pid, name, err)
	}

	// criu-restore's file -> the batch call that opens it in the task
	opens := map[*os.File]int{}
	defer func() {
		// On failure: close what the task opened. (On success the
		// second batch closes them.)
		for _, i := range opens {
			if bt.ok(i) {
				r.call(t, th, "close", unix.SYS_CLOSE, bt.result(i))
			}
		}
	}()
	var sent []uint64 // fds openIn gave the task, closed at the end
	defer func() {
		for _, fd := range sent {
			r.call(t, th, "close", unix.SYS_CLOSE, fd)
		}
	}()
	taskFd := func(file *os.File, accmode int) (int, error) {
		if i, ok := opens[file]; ok {
			return i, nil
		}
		if r.userns != nil {
			// Sent over a socket (openIn), which a batch cannot do: the
			// batch so far goes first, then the batch takes a copy.
			if err := bt.run(); err != nil {
				return -1, err
			}
			fd, err := r.openIn(t, th, file, accmode)
			if err != nil {
				return -1, err
			}
			sent = append(sent, fd)
			i := bt.add("fcntl F_DUPFD_CLOEXEC "+file.Name(), unix.SYS_FCNTL, fd, unix.F_DUPFD_CLOEXEC, 0)
			opens[file] = i
			return i, nil
		}
		dir, rel := r.files.taskPath(t, file)
		path := bt.cstring(rel)
		i := bt.add("openat "+file.Name(), unix.SYS_OPENAT, dir, path, uint64(accmode|unix.O_CLOEXEC))
		opens[file] = i
		return i, nil
	}

	for _, v := range p.vmas {
		open := -1
		if v.inherited {
			// Kept from the fork; writable while its pages go in.
			if v.mapProt() != v.e.GetProt() {
				bt.onError(bt.add("mprotect", unix.SYS_MPROTECT, v.start(), v.size(), uint64(v.mapProt())), func(err error) error {
					return fmt.Errorf("restore vma [%#x, %#x) of pid %d (%s): %w", v.start(), v.end(), t.pid, name, err)
				})
			}
			continue
		}
		switch v.kind {
		case vmaKindSkip, vmaKindVdso, vmaKindVvar:
			continue
		case vmaKindSysV:
			// Its calls are injected alone: the batch so far goes first.
			if err := bt.run(); err != nil {
				return err
			}
			if err := r.mapSysvShm(t, th, v); err != nil {
				return fmt.Errorf("restore vma [%#x, %#x) of pid %d (%s): %w", v.start(), v.end(), t.pid, name, err)
			}
			continue
		case vmaKindFile:
			acc := vmaAccmode(v)
			file, err := r.files.mapFile(uint32(v.e.GetShmid()), acc)
			if err != nil {
				return fmt.Errorf("restore vma [%#x, %#x) of pid %d (%s): %w", v.start(), v.end(), t.pid, name, err)
			}
			if open, err = taskFd(file, acc); err != nil {
				return err
			}
		case vmaKindAnonShared:
			file, err := r.files.anonShared(v.e.GetShmid(), r.shmemSize(v.e.GetShmid()))
			if err != nil {
				return fmt.Errorf("restore vma [%#x, %#x) of pid %d (%s): %w", v.start(), v.end(), t.pid, name, err)
			}
			if open, err = taskFd(file, unix.O_RDWR); err != nil {
				return err
			}
		}
		off := uint64(0)
		if v.kind != vmaKindAnon {
			off = v.e.GetPgoff()
		}
		i := bt.add("mmap", unix.SYS_MMAP, v.start(), v.size(), uint64(v.mapProt()), uint64(v.mapFlags()), ^uint64(0), off)
		if open >= 0 {
			bt.ref(i, 4, open)
		}
		bt.expect(i, v.start())
		bt.onError(i, func(err error) error {
			return fmt.Errorf("restore vma [%#x, %#x) of pid %d (%s): %w", v.start(), v.end(), t.pid, name, err)
		})
	}
	exeOpen := -1
	// A task forked from its restored parent has the parent's exe file
	// already; setting it again would fail while the kept VMAs map it
	// (EBUSY), so it stays.
	if id := p.mm.GetExeFileId(); id != 0 && !r.sameExe(t, id) {
		file, err := r.files.mapFile(id, unix.O_RDONLY)
		if err != nil {
			return fmt.Errorf("restore exe file of pid %d (%s): %w", t.pid, name, err)
		}
		if exeOpen, err = taskFd(file, unix.O_RDONLY); err != nil {
			return err
		}
	}
	uffdCall := queueUffd(bt, p)
	if err := bt.run(); err != nil {
		return err
	}

	if err := r.writePages(t, p, hs, src, bt, uffdCall, shared); err != nil {
		return err
	}

	for _, v := range p.vmas {
		if v.kind != vmaKindAio {
			continue
		}
		// Its calls are injected alone: the batch so far goes first.
		if err := bt.run(); err != nil {
			return err
		}
		if err := r.restoreAioRing(t, v); err != nil {
			return err
		}
	}
	for _, v := range p.vmas {
		if v.kind == vmaKindSkip || v.kind == vmaKindVdso || v.kind == vmaKindVvar || v.kind == vmaKindAio {
			continue
		}
		if v.mapProt() != v.e.GetProt() {
			bt.onError(bt.add("mprotect", unix.SYS_MPROTECT, v.start(), v.size(), uint64(v.e.GetProt())), func(err error) error {
				return fmt.Errorf("restore vma [%#x, %#x) of pid %d (%s): %w", v.start(), v.end(), t.pid, name, err)
			})
		}
		for bit := 0; bit < 64; bit++ {
			if v.e.GetMadv()&(1<<bit) == 0 {
				continue
			}
			bt.onError(bt.add("madvise", unix.SYS_MADVISE, v.start(), v.size(), uint64(bit)), func(err error) error {
				return fmt.Errorf("restore advice %d of vma [%#x, %#x) of pid %d (%s): %w", bit, v.start(), v.end(), t.pid, name, err)
			})
		}
		// Locked once its pages are in, so that they are written once
		// (a MAP_LOCKED mmap would fault in every page before the write).
		// mlock sets VM_LOCKED and brings in what is not resident yet.
		if v.e.GetFlags()&mapLocked != 0 {
			bt.onError(bt.add("mlock", unix.SYS_MLOCK, v.start(), v.size()), func(err error) error {
				return fmt.Errorf("restore lock of vma [%#x, %#x) of pid %d (%s): %w", v.start(), v.end(), t.pid, name, err)
			})
		}
	}

	// Guards last: installing one zaps what its range holds.
	for _, g := range p.guards {
		bt.onError(bt.add("madvise MADV_GUARD_INSTALL", unix.SYS_MADVISE, g.start, g.end-g.start, madvGuardInstall), func(err error) error {
			return fmt.Errorf("restore guard region [%#x, %#x) of pid %d (%s): %w", g.start, g.end, t.pid, name, err)
		})
	}
	exeFd := ^uint64(0)
	if exeOpen >= 0 {
		exeFd = bt.result(exeOpen)
	}
	if err := r.setMMMap(t, p.mm, exeFd, bt); err != nil {
		return fmt.Errorf("restore mm of pid %d (%s): %w", t.pid, name, err)
	}
	// A close that fails still closes the fd: as before batching, its
	// error does not count.
	closes := map[*os.File]int{}
	for f, i := range opens {
		c := bt.add("close", unix.SYS_CLOSE, bt.result(i))
		bt.mayFail(c)
		closes[f] = c
	}
	err = bt.run()
	for f, c := range closes {
		if bt.calls[c].ran {
			delete(opens, f)
		}
	}
	return err
}

// vmaAccmode is the access mode to open a mapped file with: the one the
// file had (CRIU records it), so that a later mprotect behaves as it
// would have; read-write for shared writable mappings otherwise.
func vmaAccmode(v *vma) int {
	if v.e.Fdflags != nil {
		if acc := int(v.e.GetFdflags()) & unix.O_ACCMODE; acc != unix.O_WRONLY {
			return acc
		}
		return unix.O_RDWR
	}
	if v.shared() && v.e.GetProt()&protWrite != 0 {
		return unix.O_RDWR
	}
	return unix.O_RDONLY
}

// shmemSize is the size shared anonymous memory shmid needs: the furthest
// any task maps it.
func (r *restorer) shmemSize(shmid uint64) uint64 {
	var size uint64
	for _, t := range r.tree.tasks {
		mm, err := entries[*images.MmEntry](r.set, mmName(uint32(t.pid)), true)
		if err != nil || len(mm) != 1 {
			continue
		}
		for _, v := range mm[0].GetVmas() {
			if v.GetStatus()&images.VmaAnonShared != 0 && v.GetShmid() == shmid && v.GetEnd() > v.GetStart() {
				size = max(size, v.GetPgoff()+v.GetEnd()-v.GetStart())
			}
		}
	}
	return size
}

func readMaps(pid int) ([]proc.VMA, error) {
	vmas, err := proc.FS{}.Maps(pid)
	if err != nil {
		return nil, fmt.Errorf("read maps of pid %d: %w", pid, err)
	}
	return vmas, nil
}

// gaps returns the parts of [lo, hi) no span of keep covers.
func gaps(keep []span, lo, hi uint64) []span {
	k := append([]span(nil), keep...)
	sort.Slice(k, func(i, j int) bool { return k[i].start < k[j].start })
	var out []span
	at := lo
	for _, s := range k {
		if s.start > at {
			out = append(out, span{at, min(s.start, hi)})
		}
		at = max(at, s.end)
		if at >= hi {
			break
		}
	}
	if at < hi {
		out = append(out, span{at, hi})
	}
	return out
}

// hostSpecials is where the kernel's [vvar], [vvar_vclock] and [vdso] of
// a task under restore are: at the dumped addresses (inPlace), or parked
// beside the scratch area, in their own layout, for a proxy (vdso_linux.go).
type hostSpecials struct {
	spans   []span // every special mapping, in address order
	vdsoIdx int    // which of them is the [vdso]
	inPlace bool
}

func (hs *hostSpecials) vdso() span { return hs.spans[hs.vdsoIdx] }

// placeSpecials moves the kernel's [vvar], [vvar_vclock] and [vdso]
// mappings (given in address order) to where the image had them, or
// unmaps them when the image has none. The image holds [vvar] and
// [vvar_vclock] as one VMA. When the image's areas do not have this
// kernel's sizes and layout (it was dumped on another kernel), the
// kernel's are parked instead and the dumped vDSO becomes a proxy once
// its pages are read (proxyVdso); if they do fit, the dumped code is
// compared with this kernel's then, and a proxy made if it differs.
func (r *restorer) placeSpecials(t *task, p *mmPlan, cur []proc.VMA, bt *callBatch) (*hostSpecials, error) {
	if p.vdso == nil {
		// The task had no vDSO: it has none now either.
		for _, v := range cur {
			bt.add("munmap", unix.SYS_MUNMAP, v.Start, v.Len())
		}
		return nil, nil
	}
	if !hasKind(cur, proc.VMAVdso) {
		return nil, fmt.Errorf("the image has a [vdso], this task has none: %w", ErrNotSupported)
	}
	type move struct {
		from span
		to   uint64
	}
	var moves []move
	hs := &hostSpecials{inPlace: true}
	var vvarLen uint64
	for _, v := range cur {
		hs.spans = append(hs.spans, span{v.Start, v.End})
		switch v.Kind {
		case proc.VMAVdso:
			hs.vdsoIdx = len(hs.spans) - 1
			if p.vdso.size() != v.Len() {
				hs.inPlace = false
			}
			moves = append(moves, move{span{v.Start, v.End}, p.vdso.start()})
		case proc.VMAVvar, proc.VMAVvarVclock:
			if p.vvar == nil {
				hs.inPlace = false
				continue
			}
			moves = append(moves, move{span{v.Start, v.End}, p.vvar.start() + vvarLen})
			vvarLen += v.Len()
		}
	}
	if p.vvar != nil && p.vvar.size() != vvarLen {
		hs.inPlace = false
	}
	// The kernel's vDSO reads its data at a fixed distance: moved, every
	// area keeps its distance to the others.
	for _, m := range moves {
		if m.to-moves[0].to != m.from.start-moves[0].from.start {
			hs.inPlace = false
		}
	}
	if !hs.inPlace {
		if err := r.parkSpecials(t, hs, bt); err != nil {
			return nil, err
		}
		return hs, nil
	}
	// Park them beside the scratch area when a destination overlaps a
	// current place, then move.
	overlap := false
	for i, a := range moves {
		for j, b := range moves {
			dst := span{a.to, a.to + (a.from.end - a.from.start)}
			if i == j && a.to == a.from.start {
				continue
			}
			if dst.start < b.from.end && b.from.start < dst.end {
				overlap = true
			}
		}
	}
	if overlap {
		base := moves[0].from.start
		if last := moves[len(moves)-1].from.end; last-base > specialReserve {
			return nil, fmt.Errorf("special mappings span %d bytes: %w", last-base, ErrNotSupported)
		}
		for i, m := range moves {
			tmp := t.parking() + (m.from.start - base)
			r.mremapIn(bt, m.from, tmp)
			moves[i].from = span{tmp, tmp + (m.from.end - m.from.start)}
		}
	}
	for i, m := range moves {
		if m.to != m.from.start {
			r.mremapIn(bt, m.from, m.to)
		}
		hs.spans[i] = span{m.to, m.to + (m.from.end - m.from.start)}
	}
	return hs, nil
}

// parkSpecials moves the kernel's special mappings of a task, wherever they
// are, to the parking room beside its scratch area, which no VMA of the
// image uses, keeping their layout; they stay there for good. The moves
// go into bt when it is given, else they are injected at once.
func (r *restorer) parkSpecials(t *task, hs *hostSpecials, bt *callBatch) error {
	base := hs.spans[0].start
	if last := hs.spans[len(hs.spans)-1].end; last-base > specialReserve {
		return fmt.Errorf("special mappings span %d bytes: %w", last-base, ErrNotSupported)
	}
	for i, s := range hs.spans {
		to := t.parking() + (s.start - base)
		if to != s.start {
			if bt != nil {
				r.mremapIn(bt, s, to)
			} else if err := r.mremap(t, s, to); err != nil {
				return err
			}
		}
		hs.spans[i] = span{to, to + (s.end - s.start)}
	}
	hs.inPlace = false
	return nil
}

func hasKind(vmas []proc.VMA, k proc.VMAKind) bool {
	for _, v := range vmas {
		if v.Kind == k {
			return true
		}
	}
	return false
}

// mremapIn is mremap as a call of batch bt.
func (r *restorer) mremapIn(bt *callBatch, from span, to uint64) {
	n := from.end - from.start
	i := bt.add("mremap", unix.SYS_MREMAP, from.start, n, n, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, to)
	bt.expect(i, to)
	bt.onError(i, func(err error) error { return fmt.Errorf("move special mapping %#x to %#x: %w", from.start, to, err) })
}

func (r *restorer) mremap(t *task, from span, to uint64) error {
	n := from.end - from.start
	got, err := r.call(t, t.threads[0], "mremap", unix.SYS_MREMAP, from.start, n, n, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, to)
	if err != nil {
		return fmt.Errorf("move special mapping %#x to %#x: %w", from.start, to, err)
	}
	if got != to {
		return fmt.Errorf("move special mapping %#x: went to %#x, not %#x", from.start, got, to)
	}
	return nil
}

// prctlMMMap is struct prctl_mm_map, 104 bytes.
func prctlMMMap(mm *images.MmEntry, auxv uint64, auxvLen int, exeFd uint64) []byte {
	b := make([]byte, 104)
	le := func(off int, v uint64) {
		for i := 0; i < 8; i++ {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	for i, v := range []uint64{
		mm.GetMmStartCode(), mm.GetMmEndCode(), mm.GetMmStartData(), mm.GetMmEndData(),
		mm.GetMmStartBrk(), mm.GetMmBrk(), mm.GetMmStartStack(),
		mm.GetMmArgStart(), mm.GetMmArgEnd(), mm.GetMmEnvStart(), mm.GetMmEnvEnd(),
		auxv,
	} {
		le(8*i, v)
	}
	size := uint32(auxvLen * 8)
	b[96], b[97], b[98], b[99] = byte(size), byte(size>>8), byte(size>>16), byte(size>>24)
	fd := uint32(exeFd)
	b[100], b[101], b[102], b[103] = byte(fd), byte(fd>>8), byte(fd>>16), byte(fd>>24)
	return b
}

// maxAuxv bounds the saved auxiliary vector (the kernel keeps 2*(2+20+1)
// words on x86_64; later kernels a few more).
const maxAuxv = 128

// setMMMap adds PR_SET_MM_MAP to bt (its error wrapped by run as any).
func (r *restorer) setMMMap(t *task, mm *images.MmEntry, exeFd uint64, bt *callBatch) error {
	auxv := mm.GetMmSavedAuxv()
	if len(auxv) > maxAuxv {
		return fmt.Errorf("saved auxv of %d words: %w", len(auxv), ErrBadImage)
	}
	bt.reserve(8*len(auxv) + 8 + 104)
	auxp := bt.u64s(auxv...)
	m := bt.put(prctlMMMap(mm, auxp, len(auxv), exeFd))
	bt.onError(bt.add("prctl PR_SET_MM_MAP", unix.SYS_PRCTL, unix.PR_SET_MM, unix.PR_SET_MM_MAP, m, 104, 0), func(err error) error {
		return fmt.Errorf("restore mm of pid %d (%s): %w", t.pid, mmName(uint32(t.pid)), err)
	})
	return nil
}

// pageSink takes the pages of a pagemap in pages-file order: each piece is
// either written into the task or skipped (kept aside when keep is set).
// A sink reading a file can be moved to another place (seek) for pages in
// a parent image set; a stream cannot.
type pageSink interface {
	page(addr, n uint64) error
	skip(n uint64, keep []byte) error
	seek(f *os.File, off uint64) error
	flush() error
}

// errSeekStream is the seek of a sink that reads a stream. A stream's
// pagemaps have no pages in a parent (readPagemap refuses them).
var errSeekStream = fmt.Errorf("pages in a parent image set from a stream: %w", ErrNotSupported)

// streamSink writes pages read from a stream with process_vm_writev: 4 MiB
// and up to 1024 ranges per call.
type streamSink struct {
	pid    int
	src    io.Reader
	name   string
	buf    []byte
	used   int
	remote []unix.RemoteIovec
}

const (
	pageBatchBytes = 4 << 20
	iovMax         = 1024
)

func (s *streamSink) page(addr, n uint64) error {
	for n > 0 {
		if s.used == len(s.buf) || len(s.remote) == iovMax {
			if err := s.flush(); err != nil {
				return err
			}
		}
		k := min(n, uint64(len(s.buf)-s.used))
		if _, err := io.ReadFull(s.src, s.buf[s.used:s.used+int(k)]); err != nil {
			return fmt.Errorf("read %s: %w", s.name, truncatedErr(err))
		}
		s.used += int(k)
		s.remote = append(s.remote, unix.RemoteIovec{Base: uintptr(addr), Len: int(k)})
		addr += k
		n -= k
	}
	return nil
}

func (s *streamSink) skip(n uint64, keep []byte) error {
	if keep == nil {
		keep = make([]byte, n)
	}
	if _, err := io.ReadFull(s.src, keep[:n]); err != nil {
		return fmt.Errorf("read %s: %w", s.name, truncatedErr(err))
	}
	return nil
}

func (s *streamSink) seek(*os.File, uint64) error { return errSeekStream }

func (s *streamSink) flush() error {
	if s.used == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &s.buf[0]}}
	local[0].SetLen(s.used)
	for {
		n, err := unix.ProcessVMWritev(s.pid, local, s.remote, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write pages at %#x: %w", s.remote[0].Base, err)
		}
		if n != s.used {
			return fmt.Errorf("write pages: %d of %d bytes written: %w", n, s.used, ptrace.ErrFault)
		}
		break
	}
	s.used, s.remote = 0, s.remote[:0]
	return nil
}

// fileSink has the task read its pages itself from the pages file, with
// injected preadv calls of up to fileIovMax ranges: the kernel copies from
// the page cache straight into the task, with no copy through
// criu-restore.
type fileSink struct {
	r    *restorer
	t    *task
	file *os.File
	fd   uint64 // the task's fd of file
	off  uint64 // offset in file of the next piece
	// fds are the task's fds of the pages files opened, closed by close.
	fds map[*os.File]uint64
	// Pending ranges, read from pages-file offset start.
	start  uint64
	ranges [][2]uint64
}

const fileIovMax = 512

// use has the task open f, once, and read the next pages from off of it.
func (s *fileSink) use(f *os.File, off uint64) error {
	fd, ok := s.fds[f]
	if !ok {
		var err error
		fd, err = s.r.openIn(s.t, s.t.threads[0], f, unix.O_RDONLY)
		if err != nil {
			return err
		}
		if s.fds == nil {
			s.fds = map[*os.File]uint64{}
		}
		s.fds[f] = fd
	}
	s.file, s.fd, s.off = f, fd, off
	return nil
}

func (s *fileSink) seek(f *os.File, off uint64) error {
	if err := s.flush(); err != nil {
		return err
	}
	return s.use(f, off)
}

// close has the task close the pages files it opened.
func (s *fileSink) close() {
	for _, fd := range s.fds {
		s.r.call(s.t, s.t.threads[0], "close", unix.SYS_CLOSE, fd)
	}
	s.fds = nil
}

func (s *fileSink) page(addr, n uint64) error {
	if len(s.ranges) == fileIovMax {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if len(s.ranges) == 0 {
		s.start = s.off
	}
	s.ranges = append(s.ranges, [2]uint64{addr, n})
	s.off += n
	return nil
}

func (s *fileSink) skip(n uint64, keep []byte) error {
	if err := s.flush(); err != nil {
		return err
	}
	if keep != nil {
		if _, err := s.file.ReadAt(keep[:n], int64(s.off)); err != nil {
			return fmt.Errorf("read %s: %w", s.file.Name(), truncatedErr(err))
		}
	}
	s.off += n
	return nil
}

func (s *fileSink) flush() error {
	for len(s.ranges) > 0 {
		b := newScratchBuf(s.t.scratch)
		words := make([]uint64, 0, 2*len(s.ranges))
		for _, rg := range s.ranges {
			words = append(words, rg[0], rg[1])
		}
		iov := b.u64s(words...)
		if err := b.flush(s.t.real); err != nil {
			return err
		}
		got, err := s.r.call(s.t, s.t.threads[0], "preadv pages", unix.SYS_PREADV, s.fd, iov, uint64(len(s.ranges)), s.start, 0)
		if err != nil {
			return fmt.Errorf("read pages into pid %d: %w", s.t.pid, err)
		}
		if got == 0 {
			return fmt.Errorf("read %s at %d: %w", s.file.Name(), s.start, truncatedErr(io.EOF))
		}
		// A short read (the kernel caps one read at about 2 GiB): go on
		// from where it stopped.
		s.start += got
		for got > 0 && len(s.ranges) > 0 {
			if got >= s.ranges[0][1] {
				got -= s.ranges[0][1]
				s.ranges = s.ranges[1:]
				continue
			}
			s.ranges[0][0] += got
			s.ranges[0][1] -= got
			got = 0
		}
	}
	s.ranges = s.ranges[:0]
	return nil
}

// writePages puts the present pages of p's runs into the task, reading
// them from src in order, and the pages of runs in the parent image set
// from where the parent chain holds them, except those of [vdso] (which
// must equal this kernel's) and [vvar] (data the kernel provides). An
// image directory's pages files are read by the task itself; a stream's
// pages go through criu-restore.
//
// bt is the batch of t's leader that made the userfaultfd call uffdCall
// (queueUffd); calls it must make later are added to it. shared are the
// pages t holds from its parent in the VMAs it kept (inheritedVMAs):
// compared there, written where they differ, dropped where t's pagemap
// has none (cowSink).
func (r *restorer) writePages(t *task, p *mmPlan, hs *hostSpecials, src io.Reader, bt *callBatch, uffdCall int, shared []span) (err error) {
	var sink pageSink
	u, err := r.openUffd(t, p, bt, uffdCall)
	if err != nil {
		return fmt.Errorf("restore pages of pid %d: %w", t.pid, err)
	}
	if u != nil {
		us := newUffdSink(u, t.real, pagesName(p.pagesID), src)
		defer func() {
			// No copy may be left running when the userfaultfd goes (a
			// failure returns before the flush).
			ferr := us.flush()
			if err == nil {
				err = ferr
			}
			if cerr := u.close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("restore pages of pid %d: %w", t.pid, cerr))
			}
		}()
		sink = us
	} else if f, ok := src.(*os.File); ok {
		fs := &fileSink{r: r, t: t}
		defer fs.close()
		if err := fs.use(f, 0); err != nil {
			return fmt.Errorf("restore pages of pid %d: %w", t.pid, err)
		}
		sink = fs
	} else {
		sink = &streamSink{pid: t.real, src: src, name: pagesName(p.pagesID), buf: make([]byte, pageBatchBytes)}
	}
	var cow *cowSink
	if len(shared) > 0 {
		cow = newCOWSink(sink, t.real, shared)
		defer cow.close()
		sink = cow
	}
	var vdso []byte
	var vdsoBytes, written uint64
	if p.vdso != nil {
		vdso = make([]byte, p.vdso.size())
	}
	// put hands the sink the pages [start, end), which it reads from
	// where it is.
	put := func(start, end uint64) error {
		for addr := start; addr < end; {
			v := p.vmaAt(addr)
			if v == nil {
				return fmt.Errorf("restore pages of pid %d: %#x is in no vma: %w", t.pid, addr, ErrBadImage)
			}
			n := min(end, v.end()) - addr
			var err error
			switch v.kind {
			case vmaKindVdso:
				err = sink.skip(n, vdso[addr-v.start():])
				vdsoBytes += n
			case vmaKindVvar:
				err = sink.skip(n, nil)
			default:
				err = sink.page(addr, n)
				written += n
			}
			if err != nil {
				return fmt.Errorf("restore pages of pid %d: %w", t.pid, err)
			}
			addr += n
		}
		return nil
	}
	// Runs in the parent are read from the parent chain's pages files;
	// the sink comes back to src, at off, for the next present run.
	var off uint64
	away := false
	for _, run := range p.runs {
		switch {
		case run.present:
			if away {
				f, _ := src.(*os.File)
				if err := sink.seek(f, off); err != nil {
					return fmt.Errorf("restore pages of pid %d: %w", t.pid, err)
				}
				away = false
			}
			if err := put(run.vaddr, run.end()); err != nil {
				return err
			}
			off += run.nr * pageSize
		case run.inParent:
			for _, pc := range run.from {
				if err := sink.seek(pc.file, pc.off); err != nil {
					return fmt.Errorf("restore pages of pid %d from %s: %w", t.pid, pc.file.Name(), err)
				}
				away = true
				if err := put(pc.vaddr, pc.vaddr+pc.n); err != nil {
					return err
				}
			}
		}
	}
	if err := sink.flush(); err != nil {
		return fmt.Errorf("restore pages of pid %d: %w", t.pid, err)
	}
	r.stats.restored += written / pageSize
	if cow != nil {
		cow.dropParentOnly(t, bt)
		// As CRIU counts them: a page found equal is compared, not restored.
		r.stats.restored -= cow.same
		r.stats.compared += cow.compare
		r.stats.sharedCOW += cow.same
		r.logf("pid %d: %d pages compared with its parent's, %d of them left shared", t.pid, cow.compare, cow.same)
	}
	if p.vdso != nil {
		if err := r.settleVdso(t, p, hs, vdso, vdsoBytes == p.vdso.size()); err != nil {
			return err
		}
		// Its pages are in the task as the image has them (CRIU counts
		// them too).
		r.stats.restored += vdsoBytes / pageSize
	}
	return nil
}
