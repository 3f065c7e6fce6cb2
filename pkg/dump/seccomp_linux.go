package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// seccompFilterFlagTsync is SECCOMP_FILTER_FLAG_TSYNC (linux/seccomp.h).
const seccompFilterFlagTsync = 1

// seccompOf records the seccomp filters of t's threads in seccomp.img in
// CRIU 4.2's form: each thread's chain in full, oldest filter first, each
// filter pointing at the one installed before it (prev), flags always
// present. The kernel cannot tell whether threads share one chain (a
// TSYNC install) or installed equal chains each; as CRIU does, when every
// thread has the leader's chain, only the leader records it, with
// SECCOMP_FILTER_FLAG_TSYNC on every filter, so that the restore installs
// it once for all threads, and a later TSYNC install of the program still
// finds every thread on one chain.
func (d *dumper) seccompOf(t *taskDump) error {
	chains := make([][]seccompFilter, len(t.threads))
	for i, th := range t.threads {
		if th.status.Seccomp != 2 {
			continue
		}
		c, err := d.seccompChain(th.tid)
		if err != nil {
			return err
		}
		chains[i] = c
	}
	if sameSeccompChains(t.threads, chains) {
		for i := range chains[0] {
			chains[0][i].flags |= seccompFilterFlagTsync
		}
		for i, th := range t.threads[1:] {
			th.seccompSynced = true
			chains[i+1] = nil
		}
	}
	for i, th := range t.threads {
		prev := -1
		for _, f := range chains[i] {
			e := &images.SeccompFilter{Filter: f.prog, Flags: ptr(uint32(f.flags))}
			if prev >= 0 {
				e.Prev = ptr(uint32(prev))
			}
			d.seccomp = append(d.seccomp, e)
			prev = len(d.seccomp) - 1
		}
		if prev >= 0 {
			th.seccompFilter, th.hasSeccompFilter = uint32(prev), true
		}
	}
	return nil
}

// seccompFilter is one classic BPF program of a chain, as seccomp.img
// holds it (struct sock_filter, 8 bytes per instruction), and the flags
// the kernel reports for it (only SECCOMP_FILTER_FLAG_LOG).
type seccompFilter struct {
	prog  []byte
	flags uint64
}

// seccompChain reads the filters of thread tid, oldest first. The kernel
// numbers them from the newest (index 0).
func (d *dumper) seccompChain(tid int) ([]seccompFilter, error) {
	var chain []seccompFilter
	for idx := 0; ; idx++ {
		prog, err := d.tr.SeccompGetFilter(tid, idx)
		if errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read seccomp filter %d of tid %d: %w", idx, tid, err)
		}
		fl, err := d.tr.SeccompGetFlags(tid, idx)
		if err != nil {
			return nil, fmt.Errorf("read seccomp flags %d of tid %d: %w", idx, tid, err)
		}
		b := make([]byte, 0, 8*len(prog))
		for _, in := range prog {
			b = binary.LittleEndian.AppendUint16(b, in.Code)
			b = append(b, in.Jt, in.Jf)
			b = binary.LittleEndian.AppendUint32(b, in.K)
		}
		chain = append(chain, seccompFilter{prog: b, flags: fl})
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}

// sameSeccompChains reports whether the leader (threads[0]) is in filter
// mode with at least one filter and every other thread has the same
// filters in the same order.
func sameSeccompChains(threads []*threadState, chains [][]seccompFilter) bool {
	if threads[0].status.Seccomp != 2 || len(chains[0]) == 0 {
		return false
	}
	for i := 1; i < len(threads); i++ {
		if threads[i].status.Seccomp != 2 || len(chains[i]) != len(chains[0]) {
			return false
		}
		for j, f := range chains[i] {
			if !bytes.Equal(f.prog, chains[0][j].prog) || f.flags != chains[0][j].flags {
				return false
			}
		}
	}
	return true
}
