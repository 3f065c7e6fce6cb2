package restore

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/ptrace"
	"github.com/criugo/criugo/pkg/x86"
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
		if _, err := ptrace.ReadMem(t.real, p.vdso.start(), live); err != nil {
			return fmt.Errorf("read [vdso] of pid %d: %w", t.pid, err)
		}
		if sameVdsoCode(saved, live) {
			r.logf("vdso: pid %d: the dumped [vdso] is this kernel's: kept in place at %#x", t.pid, p.vdso.start())
			return nil
		}
		if err := r.parkSpecials(t, hs, nil); err != nil {
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
	if _, err := ptrace.ReadMem(t.real, hv.start, host); err != nil {
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
	if err := ptrace.PokeText(t.real, p.vdso.start(), patched); err != nil {
		return fmt.Errorf("proxy [vdso] of pid %d: %w", t.pid, err)
	}
	t.proxy = &vdsoProxy{hs: hs, vdso: p.vdso, vvar: p.vvar, saved: saved, patched: patched}
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

// vdsoProxy is what a task's proxied vDSO was made of.
type vdsoProxy struct {
	hs             *hostSpecials
	vdso, vvar     *vma // the dumped areas
	saved, patched []byte
}

// maxVdsoSteps bounds the instructions a thread is stepped through the
// dumped vDSO: a vDSO function is some hundred instructions, its loops
// wait for a clock update of microseconds.
const maxVdsoSteps = 100000

// leaveVdso finishes, before the task runs, the vDSO call of every thread
// of t that was dumped inside its proxied vDSO, so that no thread runs
// the dumped code afterwards: left to it, such a thread would read the
// zeroed vvar (time() gives 0), or land in the middle of a jump written
// over an entry point. The leader, with the thread's registers, steps
// through the dumped code, as it was, until it returns out of the vDSO;
// this kernel's vvar sits at the dumped vvar's address meanwhile when its
// size and its distance to the vDSO are the dumped ones (the dumped code
// reads it there), else the zeroed vvar stays. The thread's registers
// are then the ones it comes back with. vDSO code uses no FPU or vector
// registers, and touches only the thread's stack and the call's output.
func (r *restorer) leaveVdso(t *task, p *taskPlan) error {
	px := t.proxy
	if px == nil {
		return nil
	}
	var inside []int
	for _, tid := range t.tids {
		if ip := p.core(tid).GetThreadInfo().GetGpregs().GetIp(); ip >= px.vdso.start() && ip < px.vdso.end() {
			inside = append(inside, tid)
		}
	}
	if len(inside) == 0 {
		return nil
	}
	th := t.threads[0]
	hostVvar, ok := px.hostVvar()
	if ok {
		if _, err := r.call(t, th, "munmap", unix.SYS_MUNMAP, px.vvar.start(), px.vvar.size()); err != nil {
			return fmt.Errorf("finish vdso calls of pid %d: %w", t.pid, err)
		}
		to := px.vvar.start()
		for _, s := range hostVvar {
			if err := r.mremap(t, s, to); err != nil {
				return fmt.Errorf("finish vdso calls of pid %d: %w", t.pid, err)
			}
			to += s.end - s.start
		}
	} else {
		r.logf("vdso: pid %d: this kernel's [vvar] has another size or place than the dumped one: threads inside the dumped [vdso] finish their call without it", t.pid)
	}
	if err := ptrace.PokeText(t.real, px.vdso.start(), px.saved); err != nil {
		return fmt.Errorf("finish vdso calls of pid %d: %w", t.pid, err)
	}
	own, err := r.tr.GetRegs(th.tid)
	if err != nil {
		return fmt.Errorf("finish vdso calls of pid %d: %w", t.pid, err)
	}
	for _, tid := range inside {
		if err := r.finishVdsoCall(t, th, tid, p.core(tid).GetThreadInfo()); err != nil {
			return err
		}
	}
	if err := r.tr.SetRegs(th.tid, own); err != nil {
		return fmt.Errorf("finish vdso calls of pid %d: %w", t.pid, err)
	}
	if err := ptrace.PokeText(t.real, px.vdso.start(), px.patched); err != nil {
		return fmt.Errorf("finish vdso calls of pid %d: %w", t.pid, err)
	}
	if ok {
		at := px.vvar.start()
		for _, s := range hostVvar {
			if err := r.mremap(t, span{at, at + (s.end - s.start)}, s.start); err != nil {
				return fmt.Errorf("finish vdso calls of pid %d: %w", t.pid, err)
			}
			at += s.end - s.start
		}
		addr, err := r.call(t, th, "mmap", unix.SYS_MMAP, px.vvar.start(), px.vvar.size(), uint64(px.vvar.e.GetProt()), mapPrivate|mapAnonymous|mapFixedNoRep, ^uint64(0), 0)
		if err != nil || addr != px.vvar.start() {
			return fmt.Errorf("finish vdso calls of pid %d: map [%#x, %#x) at %#x: %w", t.pid, px.vvar.start(), px.vvar.end(), addr, err)
		}
	}
	return nil
}

// hostVvar returns this kernel's vvar areas (parked) when together they
// have the dumped vvar's size and lie at its distance before the vDSO.
func (px *vdsoProxy) hostVvar() ([]span, bool) {
	if px.vvar == nil {
		return nil, false
	}
	var out []span
	var size uint64
	for i, s := range px.hs.spans {
		if i != px.hs.vdsoIdx {
			out = append(out, s)
			size += s.end - s.start
		}
	}
	hv := px.hs.vdso()
	if len(out) == 0 || size != px.vvar.size() || hv.start-out[0].start != px.vdso.start()-px.vvar.start() {
		return nil, false
	}
	return out, true
}

// finishVdsoCall steps the leader th, given the registers of thread tid,
// through the dumped vDSO until it leaves it, and gives tid the registers
// it ends with.
func (r *restorer) finishVdsoCall(t *task, th *thread, tid int, ti *images.ThreadInfoX86) error {
	g := ti.GetGpregs()
	regs, err := x86.RegsFromGpregs(g)
	if err != nil {
		return fmt.Errorf("finish vdso call of tid %d: %w", tid, fromX86(err))
	}
	from := regs.Rip
	if err := r.tr.SetRegs(th.tid, regs); err != nil {
		return fmt.Errorf("finish vdso call of tid %d: %w", tid, err)
	}
	px := t.proxy
	n := 0
	for ; regs.Rip >= px.vdso.start() && regs.Rip < px.vdso.end(); n++ {
		if n == maxVdsoSteps {
			return fmt.Errorf("finish vdso call of tid %d: still in the [vdso] at %#x after %d instructions: %w", tid, regs.Rip, n, ErrNotSupported)
		}
		if err := r.tr.SingleStep(th.tid); err != nil {
			return fmt.Errorf("finish vdso call of tid %d: %w", tid, err)
		}
		st, err := r.tr.Wait(th.tid)
		if err != nil {
			return fmt.Errorf("finish vdso call of tid %d: %w", tid, err)
		}
		if st.Kind != ptrace.SignalStop || st.Signal != unix.SIGTRAP {
			return fmt.Errorf("finish vdso call of tid %d at %#x: %v: %w", tid, regs.Rip, st, ptrace.ErrUnexpectedStop)
		}
		if regs, err = r.tr.GetRegs(th.tid); err != nil {
			return fmt.Errorf("finish vdso call of tid %d: %w", tid, err)
		}
	}
	// The thread keeps its own segment bases and selectors; only what the
	// call changed is taken.
	ng := x86.GpregsFromRegs(*regs)
	ng.FsBase, ng.GsBase, ng.Fs, ng.Gs, ng.Cs, ng.Ss, ng.Ds, ng.Es = g.FsBase, g.GsBase, g.Fs, g.Gs, g.Cs, g.Ss, g.Ds, g.Es
	ng.OrigAx = g.OrigAx
	ti.Gpregs = ng
	r.logf("vdso: tid %d was dumped inside the [vdso] at %#x: its call finished in %d instructions, back at %#x", tid, from, n, regs.Rip)
	return nil
}
