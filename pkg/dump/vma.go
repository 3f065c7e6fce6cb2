package dump

import (
	"strings"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

// mmap(2) flags and protections as x86_64 Linux defines them; vma_entry
// stores them raw.
const (
	mapShared    = 0x1
	mapPrivate   = 0x2
	mapDroppable = 0x08
	mapAnonymous = 0x20
	mapGrowsDown = 0x100
	mapLocked    = 0x2000
	mapNoReserve = 0x4000
	mapHugeTLB   = 0x40000

	protRead  = 0x1
	protWrite = 0x2
	protExec  = 0x4
)

// madvise(2) advice numbers; vma_entry.madv holds 1<<advice for each.
const (
	madvRandom     = 1
	madvSequential = 2
	madvDontFork   = 10
	madvMergeable  = 12
	madvHugePage   = 14
	madvNoHugePage = 15
	madvDontDump   = 16
	madvWipeOnFork = 18
)

// vmaKind says how a mapping is dumped.
type vmaKind uint8

const (
	vmaAnonPriv    vmaKind = iota // private anonymous memory: pages in pagemap
	vmaShmem                      // shared anonymous memory or a memfd: a MEMFD file and pagemap-shmem
	vmaFile                       // a file mapping, private or shared: a REG file
	vmaSpecial                    // [vdso], [vvar], [vsyscall]: kept as the kernel made them
	vmaSysV                       // SysV shared memory: needs its IPC namespace dumped
	vmaUnsupported                // anything else with VM_IO or VM_PFNMAP
	vmaAio                        // an AIO context's ring: pages in pagemap, aio_ring_entry in mm (aio_linux.go)
)

// mapping is one VMA of a task as the dump sees it: the smaps line, the
// vma_entry being built from it and how it is dumped.
type mapping struct {
	proc.VMA
	e    *images.VmaEntry
	kind vmaKind
}

// vmFlagsMmap turns the smaps VmFlags that mmap(2) can set into MAP_* bits.
func vmFlagsMmap(f proc.VmFlags) uint32 {
	var fl uint32
	if f&proc.VmGrowsDown != 0 {
		fl |= mapGrowsDown
	}
	if f&proc.VmLocked != 0 {
		fl |= mapLocked
	}
	if f&proc.VmNoReserve != 0 {
		fl |= mapNoReserve
	}
	if f&proc.VmHugeTLB != 0 {
		fl |= mapHugeTLB
	}
	if f&proc.VmDroppable != 0 {
		fl |= mapDroppable
	}
	return fl
}

// vmFlagsMadv turns the smaps VmFlags that madvise(2) sets into the madv
// bit set of vma_entry.
func vmFlagsMadv(f proc.VmFlags) uint64 {
	var m uint64
	for _, p := range []struct {
		flag   proc.VmFlags
		advice uint
	}{
		{proc.VmSeqRead, madvSequential},
		{proc.VmRandRead, madvRandom},
		{proc.VmDontCopy, madvDontFork},
		{proc.VmDontDump, madvDontDump},
		{proc.VmMergeable, madvMergeable},
		{proc.VmHugePage, madvHugePage},
		{proc.VmNoHugePage, madvNoHugePage},
		{proc.VmWipeOnFork, madvWipeOnFork},
	} {
		if f&p.flag != 0 {
			m |= 1 << p.advice
		}
	}
	return m
}

func vmaProt(p proc.Perm) uint32 {
	var prot uint32
	if p&proc.PermRead != 0 {
		prot |= protRead
	}
	if p&proc.PermWrite != 0 {
		prot |= protWrite
	}
	if p&proc.PermExec != 0 {
		prot |= protExec
	}
	return prot
}

// classifyVMA builds the vma_entry of one smaps mapping as far as the
// mapping alone tells it. shmemDev is the device of the kernel's internal
// shmem mount (where memfds and shared anonymous memory live), fileDev is
// the device of the file behind a file mapping (from map_files); both are
// only looked at for file mappings. The caller sets shmid (the file id)
// and fdflags of file and shmem mappings once it has dumped the file.
func classifyVMA(v proc.VMA, fileDev, shmemDev uint64) mapping {
	e := &images.VmaEntry{
		Start:  ptr(v.Start),
		End:    ptr(v.End),
		Pgoff:  ptr(uint64(0)),
		Shmid:  ptr(uint64(0)),
		Prot:   ptr(vmaProt(v.Perm)),
		Fd:     ptr(int64(-1)),
		Status: ptr(uint32(0)),
	}
	flags := vmFlagsMmap(v.VmFlags)
	switch {
	case v.Shared:
		flags |= mapShared
	case flags&mapDroppable == 0:
		// MAP_DROPPABLE is a mapping type of its own: mmap(2) takes it
		// instead of MAP_PRIVATE, and CRIU records it so.
		flags |= mapPrivate
	}
	if madv := vmFlagsMadv(v.VmFlags); madv != 0 {
		e.Madv = ptr(madv)
	}
	if v.VmFlags&proc.VmSealed != 0 {
		// criugo's own field: CRIU 4.2 does not know mseal(2).
		e.CriugoSealed = ptr(true)
	}
	m := mapping{VMA: v, e: e}
	status := uint32(0)
	ioPfn := v.VmFlags&(proc.VmIO|proc.VmPfnMap) != 0

	switch v.Kind {
	case proc.VMAVsyscall:
		// Not REGULAR: the kernel puts it at a fixed address in every task.
		status = images.VmaAreaVsyscall | images.VmaAnonPrivate
		flags |= mapAnonymous
		m.kind = vmaSpecial
	case proc.VMAVdso:
		status = images.VmaAreaRegular | images.VmaAreaVdso | images.VmaAnonPrivate
		flags |= mapAnonymous
		m.kind = vmaSpecial
	case proc.VMAVvar, proc.VMAVvarVclock:
		status = images.VmaAreaRegular | images.VmaAreaVvar | images.VmaAnonPrivate
		flags |= mapAnonymous
		m.kind = vmaSpecial
	case proc.VMAFile:
		e.Pgoff = ptr(v.Offset)
		switch {
		case fileDev == shmemDev && strings.HasPrefix(v.Path, "/SYSV"):
			status = images.VmaAreaRegular | images.VmaAreaSysvipc | images.VmaAnonShared
			m.kind = vmaSysV
		case fileDev == shmemDev:
			status = images.VmaAreaRegular | images.VmaAreaMemfd
			if v.Shared {
				status |= images.VmaFileShared
			} else {
				status |= images.VmaFilePrivate
			}
			m.kind = vmaShmem
			if !v.Shared {
				// A private mapping of a memfd keeps its COWed
				// pages in the task's pagemap like any file.
				m.kind = vmaFile
			}
		default:
			status = images.VmaAreaRegular
			if v.Shared {
				status |= images.VmaFileShared
			} else {
				status |= images.VmaFilePrivate
			}
			m.kind = vmaFile
		}
		if ioPfn {
			m.kind = vmaUnsupported
		}
	default:
		// Anonymous memory: plain, [heap], [stack], [anon:NAME].
		status = images.VmaAreaRegular | images.VmaAnonPrivate
		flags |= mapAnonymous
		if v.Kind == proc.VMAHeap {
			status |= images.VmaAreaHeap
		}
		if v.Shared {
			// Shared anonymous memory without a file shows as
			// "/dev/zero (deleted)" and so comes as VMAFile; a bare
			// shared anonymous line means a mapping we cannot reach.
			status = images.VmaAreaRegular | images.VmaAnonShared
		}
		m.kind = vmaAnonPriv
		if ioPfn || v.Kind == proc.VMASpecial {
			m.kind = vmaUnsupported
		}
	}
	e.Flags = ptr(flags)
	e.Status = ptr(status)
	return m
}

// mergeVvar folds a [vvar_vclock] mapping into the [vvar] mapping right
// before it, as CRIU 4.2 records the two as one VVAR area.
func mergeVvar(ms []mapping) []mapping {
	out := ms[:0]
	for _, m := range ms {
		if n := len(out); n > 0 && m.Kind == proc.VMAVvarVclock {
			prev := &out[n-1]
			if prev.Kind == proc.VMAVvar && prev.End == m.Start {
				prev.End = m.End
				prev.e.End = ptr(m.End)
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

func (m *mapping) is(status uint32) bool { return m.e.GetStatus()&status != 0 }

// droppable reports whether the kernel may drop m's pages at any time
// (MAP_DROPPABLE): as CRIU, none of them is dumped, they come back zero.
func (m *mapping) droppable() bool { return m.e.GetFlags()&mapDroppable != 0 }

// private reports whether the mapping's pages go to the task's pagemap
// (CRIU's vma_area_is_private): an AIO ring's do, whole.
func (m *mapping) private() bool {
	return m.is(images.VmaAreaRegular) && m.is(images.VmaAnonPrivate|images.VmaFilePrivate) && m.End <= taskSize ||
		m.is(images.VmaAreaAioring)
}

// canBeLazy reports whether the mapping's pages may be restored on demand
// (CRIU's vma_entry_can_be_lazy): they are marked PE_LAZY.
func (m *mapping) canBeLazy() bool {
	f := m.e.GetFlags()
	return f&mapAnonymous != 0 && f&mapPrivate != 0 && f&mapLocked == 0 &&
		!m.is(images.VmaAreaVdso|images.VmaAreaVsyscall) && m.e.GetMadv()&(1<<madvHugePage) == 0
}

// taskSize is the top of the x86_64 user address space (4-level paging).
const taskSize = 0x7ffffffff000

func ptr[T any](v T) *T { return &v }
