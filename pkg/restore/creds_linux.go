package restore

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/proc"
)

// secbitNoSetuidFixup keeps capabilities untouched across uid changes.
const secbitNoSetuidFixup = 1 << 2

// capSet joins the two 32-bit words CRIU stores a capability set in.
func capSet(w []uint32) uint64 {
	var v uint64
	for i, x := range w {
		if i > 1 {
			break
		}
		v |= uint64(x) << (32 * i)
	}
	return v
}

// ownState is what every created task inherits from criu-restore, read
// once before the tree is created: a task whose image has the same needs
// no call to change it.
type ownState struct {
	st          *proc.Status
	secbits     uint64
	personality uint64
	nice        int
}

func readOwnState() (*ownState, error) {
	st, err := proc.FS{}.Status(os.Getpid(), unix.Gettid())
	if err != nil {
		return nil, fmt.Errorf("read own status: %w", err)
	}
	sb, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("read own securebits: %w", err)
	}
	pers, _, errno := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if errno != 0 {
		return nil, fmt.Errorf("read own personality: %w", errno)
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return nil, fmt.Errorf("read own nice value: %w", err)
	}
	// The raw getpriority returns 20 - nice.
	return &ownState{st: st, secbits: uint64(sb), personality: uint64(pers), nice: 20 - prio}, nil
}

// sameCreds reports whether c are the credentials o already gives.
func sameCreds(c *images.CredsEntry, o *ownState) bool {
	st := o.st
	return st.Uid == [4]uint32{c.GetUid(), c.GetEuid(), c.GetSuid(), c.GetFsuid()} &&
		st.Gid == [4]uint32{c.GetGid(), c.GetEgid(), c.GetSgid(), c.GetFsgid()} &&
		slices.Equal(st.Groups, c.GetGroups()) &&
		st.CapInh == capSet(c.GetCapInh()) && st.CapPrm == capSet(c.GetCapPrm()) &&
		st.CapEff == capSet(c.GetCapEff()) && st.CapBnd == capSet(c.GetCapBnd()) &&
		st.CapAmb == capSet(c.GetCapAmb()) && o.secbits == uint64(c.GetSecbits())
}

// restoreCreds gives a thread its credentials. Each step needs rights the
// next may take away, hence the order: securebits that keep capabilities
// across uid changes, groups and gids, uids, the bounding set, the final
// securebits, the capability sets, and the ambient set last.
func (r *restorer) restoreCreds(t *task, th *thread, c *images.CredsEntry) error {
	if c == nil {
		return nil
	}
	own := r.own
	fail := func(err error) error {
		return fmt.Errorf("restore credentials of tid %d (%s): %w", th.tid, coreName(uint32(th.vtid)), err)
	}
	call := func(name string, nr uintptr, args ...uint64) error {
		_, err := r.call(t, th, name, nr, args...)
		return err
	}
	// no_new_privs cannot be cleared, and criu-restore never has it, so
	// it is set here whether or not the ids change.
	if c.GetNoNewPrivs() != 0 {
		if err := call("prctl PR_SET_NO_NEW_PRIVS", unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fail(err)
		}
	}
	if sameCreds(c, own) {
		return nil
	}
	if err := call("prctl PR_SET_SECUREBITS", unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, own.secbits|secbitNoSetuidFixup); err != nil {
		return fail(err)
	}
	if len(c.GetGroups()) > 65536 {
		return fail(fmt.Errorf("%d groups: %w", len(c.GetGroups()), ErrBadImage))
	}
	b := newScratchBuf(t.scratch)
	g := make([]byte, 4*len(c.GetGroups()))
	for i, gid := range c.GetGroups() {
		binary.LittleEndian.PutUint32(g[4*i:], gid)
	}
	groups := b.put(g)
	if err := b.flush(t.real); err != nil {
		return fail(err)
	}
	steps := []struct {
		name string
		nr   uintptr
		args []uint64
	}{
		{"setgroups", unix.SYS_SETGROUPS, []uint64{uint64(len(c.GetGroups())), groups}},
		{"setresgid", unix.SYS_SETRESGID, []uint64{uint64(c.GetGid()), uint64(c.GetEgid()), uint64(c.GetSgid())}},
		{"setfsgid", unix.SYS_SETFSGID, []uint64{uint64(c.GetFsgid())}},
		{"setresuid", unix.SYS_SETRESUID, []uint64{uint64(c.GetUid()), uint64(c.GetEuid()), uint64(c.GetSuid())}},
		{"setfsuid", unix.SYS_SETFSUID, []uint64{uint64(c.GetFsuid())}},
	}
	for _, s := range steps {
		ret, err := r.in.rawCall(th, t.scratch, s.name, s.nr, s.args...)
		if err != nil {
			return fail(err)
		}
		// setfsuid and setfsgid return the previous id, never an error.
		if s.nr != unix.SYS_SETFSUID && s.nr != unix.SYS_SETFSGID {
			if _, err := compel.Result(th.tid, s.name, uint64(s.nr), ret); err != nil {
				return fail(err)
			}
		}
	}
	bnd := capSet(c.GetCapBnd())
	for cap := 0; cap < 64; cap++ {
		if own.st.CapBnd&(1<<cap) != 0 && bnd&(1<<cap) == 0 {
			if err := call("prctl PR_CAPBSET_DROP", unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uint64(cap)); err != nil {
				return fail(err)
			}
		}
	}
	if err := call("prctl PR_SET_SECUREBITS", unix.SYS_PRCTL, unix.PR_SET_SECUREBITS, uint64(c.GetSecbits())); err != nil {
		return fail(err)
	}
	inh, prm, eff := capSet(c.GetCapInh()), capSet(c.GetCapPrm()), capSet(c.GetCapEff())
	b = newScratchBuf(t.scratch)
	hdr := b.put([]byte{0x22, 0x05, 0x08, 0x20, 0, 0, 0, 0}) // _LINUX_CAPABILITY_VERSION_3, pid 0
	data := make([]byte, 24)
	for i := 0; i < 2; i++ {
		binary.LittleEndian.PutUint32(data[12*i:], uint32(eff>>(32*i)))
		binary.LittleEndian.PutUint32(data[12*i+4:], uint32(prm>>(32*i)))
		binary.LittleEndian.PutUint32(data[12*i+8:], uint32(inh>>(32*i)))
	}
	datap := b.put(data)
	if err := b.flush(t.real); err != nil {
		return fail(err)
	}
	if err := call("capset", unix.SYS_CAPSET, hdr, datap); err != nil {
		return fail(err)
	}
	amb := capSet(c.GetCapAmb())
	if amb != own.st.CapAmb {
		if err := call("prctl PR_CAP_AMBIENT_CLEAR_ALL", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
			return fail(err)
		}
		for cap := 0; cap < 64; cap++ {
			if amb&(1<<cap) != 0 {
				if err := call("prctl PR_CAP_AMBIENT_RAISE", unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uint64(cap), 0, 0); err != nil {
					return fail(err)
				}
			}
		}
	}
	return nil
}
