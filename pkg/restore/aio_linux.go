package restore

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// AIO rings, as CRIU restores them: the dumped ring's pages go into a
// private anonymous stand-in at the ring's address like any memory; then
// the task makes a new context with io_setup (the kernel maps its ring
// somewhere), whose kernel-side tail is brought to the dumped one with
// writes to /dev/null (which complete at once: each adds an event) and
// whose head is set in the ring as a reader of events would set it; the
// dumped events are copied in, and the new ring is moved over the
// stand-in with mremap, which the kernel follows: the context's id is its
// ring's address, the dumped one.
//
//	struct aio_ring: 0 id  4 nr  8 head  12 tail  16 magic ... 32 io_events[nr]
const (
	aioRingHeader = 32
	aioEventSize  = 32
	iocbSize      = 64
	iocbCmdPwrite = 1
	// aioMaxBatch bounds the requests of one io_submit so that they fit
	// the scratch area (one iocb and a pointer to it for each).
	aioMaxBatch = 1024
)

// restoreAioRing makes the AIO context of ring v in task t (its pages
// are in v's stand-in).
func (r *restorer) restoreAioRing(t *task, v *vma) error {
	th := t.threads[0]
	fail := func(err error) error {
		return fmt.Errorf("restore AIO ring [%#x, %#x) of pid %d: %w", v.start(), v.end(), t.pid, err)
	}
	saved := make([]byte, v.size())
	if err := readMemFull(t.real, v.start(), saved); err != nil {
		return fail(err)
	}
	u32 := func(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
	nr, head, tail := u32(saved, 4), u32(saved, 8), u32(saved, 12)
	if want := (v.size() - aioRingHeader) / aioEventSize; uint64(nr) != want || head >= nr || tail >= nr {
		return fail(fmt.Errorf("dumped ring has nr %d (its size holds %d), head %d, tail %d: %w", nr, want, head, tail, ErrBadImage))
	}

	b := newScratchBuf(t.scratch)
	ctxp := b.u64s(0)
	if err := b.flush(t.real); err != nil {
		return fail(err)
	}
	if _, err := r.call(t, th, "io_setup", unix.SYS_IO_SETUP, uint64(v.aioNrReq), ctxp); err != nil {
		return fail(err)
	}
	var cb [8]byte
	if err := readMemFull(t.real, ctxp, cb[:]); err != nil {
		return fail(err)
	}
	ctx := binary.LittleEndian.Uint64(cb[:])
	var hdr [aioRingHeader]byte
	if err := readMemFull(t.real, ctx, hdr[:]); err != nil {
		return fail(err)
	}
	if got := u32(hdr[:], 4); got != nr {
		// A ring of another size could not be moved over the dumped one.
		return fail(fmt.Errorf("io_setup(%d) made a ring of %d events, not %d: %w", v.aioNrReq, got, nr, ErrNotSupported))
	}

	if head != 0 || tail != 0 {
		if err := r.aioMoveTail(t, ctx, nr, head, tail); err != nil {
			return fail(err)
		}
	}
	if err := writeMem(t.real, ctx+aioRingHeader, saved[aioRingHeader:]); err != nil {
		return fail(err)
	}
	n := v.size()
	got, err := r.call(t, th, "mremap", unix.SYS_MREMAP, ctx, n, n, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, v.start())
	if err != nil {
		return fail(err)
	}
	if got != v.start() {
		return fail(fmt.Errorf("mremap moved the ring to %#x", got))
	}
	return nil
}

// aioMoveTail brings the new context ctx (a ring of nr events, empty) to
// the dumped head and tail: it completes writes of one byte to /dev/null
// until the kernel's tail is the dumped one, having gone round the ring
// when the tail is below the head (so that the kernel's count of events
// in the ring is right), and sets the ring's head as io_getevents would
// after each submission, to make room, never past the dumped head.
func (r *restorer) aioMoveTail(t *task, ctx uint64, nr, head, tail uint32) error {
	th := t.threads[0]
	b := newScratchBuf(t.scratch)
	path := b.cstring("/dev/null")
	if err := b.flush(t.real); err != nil {
		return err
	}
	fd, err := r.call(t, th, "openat /dev/null", unix.SYS_OPENAT, atFDCWD, path, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer r.call(t, th, "close", unix.SYS_CLOSE, fd)

	count := tail
	if tail < head {
		count = nr + tail
	}
	maxr := min(count, nr-1, aioMaxBatch)
	b = newScratchBuf(t.scratch)
	buf := b.put(make([]byte, 8))
	iocb := make([]byte, iocbSize)
	binary.LittleEndian.PutUint16(iocb[16:], iocbCmdPwrite)
	binary.LittleEndian.PutUint32(iocb[20:], uint32(fd))
	binary.LittleEndian.PutUint64(iocb[24:], buf)
	binary.LittleEndian.PutUint64(iocb[32:], 1)
	iocbAddr := b.put(iocb)
	ptrs := make([]uint64, maxr)
	for i := range ptrs {
		ptrs[i] = iocbAddr
	}
	ptrsAddr := b.u64s(ptrs...)
	if err := b.flush(t.real); err != nil {
		return err
	}
	var hb [4]byte
	for done := uint32(0); done < count; {
		n := min(count-done, maxr)
		got, err := r.call(t, th, "io_submit", unix.SYS_IO_SUBMIT, ctx, uint64(n), ptrsAddr)
		if err != nil {
			return err
		}
		if got == 0 || got > uint64(n) {
			return fmt.Errorf("io_submit of %d writes to /dev/null took %d", n, got)
		}
		done += uint32(got)
		binary.LittleEndian.PutUint32(hb[:], min(done, head))
		if err := writeMem(t.real, ctx+8, hb[:]); err != nil {
			return err
		}
	}
	return nil
}
