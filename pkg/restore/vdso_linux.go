package restore

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/ptrace"
)

// settleVdso decides, once the dumped [vdso] is read (saved, whole when
// complete), how the task gets its vDSO:
//
//   - in place: the dumped vDSO runs this kernel's code (same build), and
//     the kernel's own [vvar] and [vdso] now sit at the dumped addresses;
//   - proxy: it does not (a dump made on another kernel). The kernel's
//     areas stay parked beside the scratch area, the dumped vDSO is put
//     back at its address as private memory with a jump from each of its
//     entry points to the kernel's function of the same name, and the
//     dumped [vvar] becomes zeroed read-only memory: it belonged to the
//     other kernel and is never given its data. A thread that was inside
//     the dumped code goes on there; with no kernel data it finds no
//     usable clock and falls back to the system call.
//
// A [vdso] whose pages the dump did not save cannot be compared: it is
// kept in place when it fits, and refused otherwise.
func (r *restorer) settleVdso(t *task, p *mmPlan, hs *hostSpecials, saved []byte, whole bool) error {
	if !whole {
		if hs.inPlace {
			r.logf("vdso: pid %d: the dump holds no [vdso] pages to compare; this kernel's is kept at %#x", t.pid, p.vdso.start())
			return nil
		}
		return fmt.Errorf("restore [vdso] of pid %d: it is not this kernel's (other size or layout) and the dump holds no pages of it to proxy: %w", t.pid, ErrNotSupported)
	}
	if hs.inPlace {
		live := make([]byte, len(saved))
		if _, err := ptrace.ReadMem(t.pid, p.vdso.start(), live); err != nil {
			return fmt.Errorf("read [vdso] of pid %d: %w", t.pid, err)
		}
		if sameVdsoCode(saved, live) {
			r.logf("vdso: pid %d: the dumped [vdso] is this kernel's: kept in place at %#x", t.pid, p.vdso.start())
			return nil
		}
		if err := r.parkSpecials(t, hs); err != nil {
			return fmt.Errorf("restore [vdso] of pid %d: %w", t.pid, err)
		}
	}
	return r.proxyVdso(t, p, hs, saved)
}

// proxyVdso maps the dumped vDSO and vvar areas at their addresses as
// private memory and redirects the dumped vDSO's entry points to the
// kernel's vDSO, parked at hs.
func (r *restorer) proxyVdso(t *task, p *mmPlan, hs *hostSpecials, saved []byte) error {
	th := t.threads[0]
	hv := hs.vdso()
	host := make([]byte, hv.end-hv.start)
	if _, err := ptrace.ReadMem(t.pid, hv.start, host); err != nil {
		return fmt.Errorf("read this kernel's [vdso] in pid %d: %w", t.pid, err)
	}
	patched, patches, unmatched, err := proxyPlan(saved, host, hv.start)
	if err != nil {
		return fmt.Errorf("proxy [vdso] of pid %d: %w", t.pid, err)
	}
	for _, v := range []*vma{p.vdso, p.vvar} {
		if v == nil {
			continue
		}
		addr, err := r.call(t, th, "mmap", unix.SYS_MMAP, v.start(), v.size(), uint64(v.e.GetProt()), mapPrivate|mapAnonymous|mapFixedNoRep, ^uint64(0), 0)
		if err != nil {
			return fmt.Errorf("proxy [vdso] of pid %d: map [%#x, %#x): %w", t.pid, v.start(), v.end(), err)
		}
		if addr != v.start() {
			return fmt.Errorf("proxy [vdso] of pid %d: map [%#x, %#x): mapped at %#x", t.pid, v.start(), v.end(), addr)
		}
	}
	// The area is not writable: write it as a debugger does.
	if err := ptrace.PokeText(t.pid, p.vdso.start(), patched); err != nil {
		return fmt.Errorf("proxy [vdso] of pid %d: %w", t.pid, err)
	}
	t.vdsoPatches = make([]vdsoPatch, len(patches))
	for i, pt := range patches {
		pt.off += p.vdso.start()
		t.vdsoPatches[i] = pt
	}
	var names []string
	for _, pt := range patches {
		names = append(names, pt.names[0])
	}
	r.logf("vdso: pid %d: the dumped [vdso] is not this kernel's: proxy at %#x, %d entry points (%s) redirected to this kernel's [vdso] at %#x",
		t.pid, p.vdso.start(), len(patches), strings.Join(names, " "), hv.start)
	if len(unmatched) > 0 {
		r.logf("vdso: pid %d: this kernel's [vdso] lacks %s: left to the dumped code", t.pid, strings.Join(unmatched, " "))
	}
	return nil
}
