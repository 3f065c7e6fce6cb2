package dump

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
)

// An AIO context (io_setup(2)) is its completion ring, which the kernel
// maps shared from its aio file system ("/[aio] (deleted)" in smaps) at
// the address that is the context's id. As CRIU, the dump records the
// mapping as a VMA_AREA_AIORING vma whose pages are all dumped, and an
// aio_ring_entry in mm-PID.img (its address, length and the number of
// requests to ask io_setup for to get a ring of that length); the restore
// makes a new context, brings its kernel-side tail to the dumped one,
// copies the completions in and moves the ring to the dumped address.
//
//	struct aio_ring (fs/aio.c), at the context's address:
//	 0 id  4 nr  8 head  12 tail  16 magic  20 compat  24 incompat  28 header_length
//	32 struct io_event io_events[nr] (32 bytes each)
//
// Requests still in flight (submitted, not completed) are not seen: the
// kernel shows them nowhere (CRIU's dump does not look either); they
// would complete into the dumped ring of a tree left running, and are
// lost to a restored one.
const (
	aioRingMagic  = 0xa10a10a1
	aioRingHeader = 32
	aioEventSize  = 32
)

// isAioRing reports whether a file mapping's path is an AIO ring.
func isAioRing(path string) bool { return strings.HasPrefix(path, "/[aio]") }

// aioMapping builds the vma of an AIO ring as CRIU records it: shared,
// its protection, the access mode of its file, and nothing else.
func aioMapping(v proc.VMA, fdflags uint32) mapping {
	return mapping{VMA: v, kind: vmaAio, e: &images.VmaEntry{
		Start: ptr(v.Start), End: ptr(v.End), Pgoff: ptr(uint64(0)), Shmid: ptr(uint64(0)),
		Prot: ptr(vmaProt(v.Perm)), Flags: ptr(uint32(mapShared)), Status: ptr(uint32(images.VmaAreaAioring)),
		Fd: ptr(int64(-1)), Fdflags: ptr(fdflags),
	}}
}

// aioNrReq is the number of requests an io_setup must ask for to get a
// ring of size bytes: the kernel takes max(nr, 4 * CPUs), doubles it, adds
// 2 and rounds the ring up to whole pages, so this reverses the last
// steps (as CRIU's aio_estimate_nr_reqs); the restore checks the ring it
// gets has the dumped number of events.
func aioNrReq(size uint64) (uint32, error) {
	if size%pageSize != 0 || size < pageSize {
		return 0, fmt.Errorf("ring of %d bytes is not whole pages: %w", size, ErrNotSupported)
	}
	events := (size - aioRingHeader) / aioEventSize
	if events < 4 {
		return 0, fmt.Errorf("ring of %d bytes holds %d events: %w", size, events, ErrNotSupported)
	}
	return uint32((events - 2) / 2), nil
}

// checkAioRing reads the header of the ring mapped at m in pid and checks
// it is one the restore can rebuild (CRIU's sane_ring): the magic, no
// feature unknown, the header's size and as many events as the mapping
// holds.
func checkAioRing(pid int, m *mapping) error {
	var h [aioRingHeader]byte
	if _, err := ptrace.ReadMem(pid, m.Start, h[:]); err != nil {
		return fmt.Errorf("read the AIO ring at %#x of pid %d: %w", m.Start, pid, err)
	}
	u := func(off int) uint32 { return binary.LittleEndian.Uint32(h[off:]) }
	nr, head, tail := u(4), u(8), u(12)
	want := (m.End - m.Start - aioRingHeader) / aioEventSize
	if u(16) != aioRingMagic || u(20) != 1 || u(24) != 0 || u(28) != aioRingHeader || uint64(nr) != want || head >= nr || tail >= nr {
		return fmt.Errorf("AIO ring at %#x of pid %d: magic %#x, features %d/%d, header %d, nr %d (want %d), head %d, tail %d: %w",
			m.Start, pid, u(16), u(20), u(24), u(28), nr, want, head, tail, ErrNotSupported)
	}
	return nil
}

// aioEntries lists t's AIO rings for mm-PID.img, in address order.
func aioEntries(t *taskDump) ([]*images.AioRingEntry, error) {
	var out []*images.AioRingEntry
	for i := range t.maps {
		m := &t.maps[i]
		if m.kind != vmaAio {
			continue
		}
		nr, err := aioNrReq(m.Len())
		if err != nil {
			return nil, fmt.Errorf("AIO ring at %#x of pid %d: %w", m.Start, t.pid, err)
		}
		out = append(out, &images.AioRingEntry{Id: ptr(m.Start), NrReq: ptr(nr), RingLen: ptr(uint32(m.Len()))})
	}
	return out, nil
}
