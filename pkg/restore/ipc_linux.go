package restore

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/nsenter"
	"github.com/criugo/criugo/pkg/sysv"
)

// SysV IPC objects. restoreIPC recreates every object of the dumped IPC
// namespace inside the root's new one, from an OS thread of criu-restore
// that joined it: each with its id (kernel.{shm,sem,msg}_next_id set just
// before it is made), key, mode, owner and contents. A segment's pages
// are copied through an attach in criu-restore, at once from an image
// directory, or, from a stream (where they come after every task's),
// when they come (fillSysvShm); the attach is dropped once filled. Tasks'
// mappings of segments are made with an injected shmat (mapSysvShm).

const shmExecFlag = 0o100000 // SHM_EXEC

func writeSysctl(name string, v string) error {
	if err := os.WriteFile("/proc/sys/"+name, []byte(v), 0); err != nil {
		return fmt.Errorf("set %s to %s: %w", name, v, err)
	}
	return nil
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

func (r *restorer) restoreIPC(t *task, id uint32) error {
	imgs := map[*image.Kind]*image.Image{}
	for _, k := range []*image.Kind{image.IPCVar, image.IPCNSShm, image.IPCNSSem, image.IPCNSMsg} {
		img, err := r.set.lookup(k.FileName(id))
		if err != nil {
			return err
		}
		imgs[k] = img
	}
	if r.sysv == nil {
		r.sysv = map[uint64][]byte{}
	}
	err := nsenter.Run(nsPath(t.real, "ipc"), unix.CLONE_NEWIPC, func() error {
		var vars *images.IpcVarEntry
		if img := imgs[image.IPCVar]; img != nil && len(img.Entries) == 1 {
			v, ok := img.Entries[0].Msg.(*images.IpcVarEntry)
			if !ok {
				return fmt.Errorf("read %s: %w", image.IPCVar.FileName(id), ErrBadImage)
			}
			vars = v
			if err := r.asNsRoot(func() error { return setIPCVars(v) }); err != nil {
				return err
			}
		}
		if err := r.makeShm(imgs[image.IPCNSShm]); err != nil {
			return err
		}
		if err := r.makeSem(imgs[image.IPCNSSem]); err != nil {
			return err
		}
		if err := r.makeMsg(imgs[image.IPCNSMsg]); err != nil {
			return err
		}
		if vars != nil {
			for _, n := range []struct {
				name string
				v    *uint32
			}{{"kernel/shm_next_id", vars.ShmNextId}, {"kernel/sem_next_id", vars.SemNextId}, {"kernel/msg_next_id", vars.MsgNextId}} {
				if n.v != nil {
					if err := writeSysctl(n.name, u(uint64(*n.v))); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore ipc namespace %d: %w", id, err)
	}
	return nil
}

func setIPCVars(v *images.IpcVarEntry) error {
	if s := v.GetSemCtls(); len(s) == 4 {
		if err := writeSysctl("kernel/sem", fmt.Sprintf("%d %d %d %d", s[0], s[1], s[2], s[3])); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		v    uint64
		set  bool
	}{
		{"kernel/msgmax", uint64(v.GetMsgCtlmax()), true}, {"kernel/msgmnb", uint64(v.GetMsgCtlmnb()), true},
		{"kernel/msgmni", uint64(v.GetMsgCtlmni()), true}, {"kernel/shmmax", v.GetShmCtlmax(), true},
		{"kernel/shmall", v.GetShmCtlall(), true}, {"kernel/shmmni", uint64(v.GetShmCtlmni()), true},
		{"kernel/shm_rmid_forced", uint64(v.GetShmRmidForced()), true},
		{"fs/mqueue/queues_max", uint64(v.GetMqQueuesMax()), true}, {"fs/mqueue/msg_max", uint64(v.GetMqMsgMax()), true},
		{"fs/mqueue/msgsize_max", uint64(v.GetMqMsgsizeMax()), true},
		{"fs/mqueue/msg_default", uint64(v.GetMqMsgDefault()), v.MqMsgDefault != nil},
		{"fs/mqueue/msgsize_default", uint64(v.GetMqMsgsizeDefault()), v.MqMsgsizeDefault != nil},
	} {
		if f.set {
			if err := writeSysctl(f.name, u(f.v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextID makes the next object of kind ("shm", "sem", "msg") get id.
func nextID(kind string, id uint32) error {
	return writeSysctl("kernel/"+kind+"_next_id", u(uint64(id)))
}

func createFlags(d *images.IpcDescEntry) int {
	return unix.IPC_CREAT | unix.IPC_EXCL | int(d.GetMode()&0o777)
}

func (r *restorer) makeShm(img *image.Image) error {
	if img == nil {
		return nil
	}
	for _, e := range img.Entries {
		s, ok := e.Msg.(*images.IpcShmEntry)
		if !ok || s.GetDesc() == nil {
			return fmt.Errorf("read ipcns-shm: %w", ErrBadImage)
		}
		d := s.GetDesc()
		if !s.GetInPagemaps() {
			return fmt.Errorf("SysV shared memory %d with contents inside the image (pre-4.x CRIU): %w", d.GetId(), ErrNotSupported)
		}
		if err := nextID("shm", d.GetId()); err != nil {
			return err
		}
		id, err := unix.SysvShmGet(int(int32(d.GetKey())), int(s.GetSize()), createFlags(d))
		if err != nil {
			return fmt.Errorf("create SysV shared memory %d: %w", d.GetId(), err)
		}
		if uint32(id) != d.GetId() {
			return fmt.Errorf("create SysV shared memory %d: got id %d", d.GetId(), id)
		}
		var ds unix.SysvShmDesc
		uid, gid, err := r.hostOwner(d.GetUid(), d.GetGid())
		if err != nil {
			return err
		}
		ds.Perm.Uid, ds.Perm.Gid, ds.Perm.Mode = uint32(uid), uint32(gid), d.GetMode()&0o777
		if _, err := unix.SysvShmCtl(id, unix.IPC_SET, &ds); err != nil {
			return fmt.Errorf("set owner of SysV shared memory %d: %w", id, err)
		}
		mem, err := unix.SysvShmAttach(id, 0, 0)
		if err != nil {
			return fmt.Errorf("attach SysV shared memory %d: %w", id, err)
		}
		r.sysv[uint64(id)] = sysv.WholePages(mem)
		if !r.deferFill {
			if err := r.fillSysvShm(uint64(id), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// fillSysvShm copies the saved pages of segment shmid into it, from src
// or, when src is nil, from its pages file, and drops criu-restore's
// attach.
func (r *restorer) fillSysvShm(shmid uint64, src io.Reader) error {
	mem := r.sysv[shmid]
	delete(r.sysv, shmid)
	defer unix.SysvShmDetach(mem)
	name := shmemPagemapName(shmid)
	img, err := r.set.lookup(name)
	if err != nil || img == nil {
		return err
	}
	id, runs, err := readPagemap(r.set, name)
	if err != nil {
		return err
	}
	if src == nil {
		rc, err := r.pages.open(id)
		if err != nil {
			return fmt.Errorf("restore SysV shared memory %d (%s): %w", shmid, name, err)
		}
		defer rc.Close()
		src = rc
	}
	for _, run := range runs {
		if run.inParent {
			if run.end() > uint64(len(mem)) {
				return fmt.Errorf("read %s: pages at %#x+%d beyond the %d-byte segment: %w", name, run.vaddr, run.nr, len(mem), ErrBadImage)
			}
			for _, pc := range run.from {
				if err := readAt(pc.file, mem[pc.vaddr:pc.vaddr+pc.n], pc.off); err != nil {
					return fmt.Errorf("restore SysV shared memory %d (%s): %w", shmid, name, err)
				}
			}
			continue
		}
		if !run.present {
			continue
		}
		if run.end() > uint64(len(mem)) {
			return fmt.Errorf("read %s: pages at %#x+%d beyond the %d-byte segment: %w", name, run.vaddr, run.nr, len(mem), ErrBadImage)
		}
		if _, err := io.ReadFull(src, mem[run.vaddr:run.end()]); err != nil {
			return fmt.Errorf("read %s for %s: %w", pagesName(id), name, truncatedErr(err))
		}
	}
	return nil
}

// sysvPages takes the pages of pagemap-shmem-<shmid> from a stream if
// shmid is a SysV segment waiting for them.
func (r *restorer) sysvPages(shmid uint64, src io.Reader) (bool, error) {
	if _, ok := r.sysv[shmid]; !ok {
		return false, nil
	}
	return true, r.fillSysvShm(shmid, src)
}

func (r *restorer) makeSem(img *image.Image) error {
	if img == nil {
		return nil
	}
	for _, e := range img.Entries {
		s, ok := e.Msg.(*images.IpcSemEntry)
		if !ok || s.GetDesc() == nil || e.Extra == nil || len(e.Extra.Sems) != int(s.GetNsems()) {
			return fmt.Errorf("read ipcns-sem: %w", ErrBadImage)
		}
		d := s.GetDesc()
		if err := nextID("sem", d.GetId()); err != nil {
			return err
		}
		id, _, errno := unix.Syscall(unix.SYS_SEMGET, uintptr(int32(d.GetKey())), uintptr(s.GetNsems()), uintptr(createFlags(d)))
		if errno != 0 {
			return fmt.Errorf("create semaphore set %d: %w", d.GetId(), errno)
		}
		if uint32(id) != d.GetId() {
			return fmt.Errorf("create semaphore set %d: got id %d", d.GetId(), id)
		}
		if err := sysv.SemSetAll(int(id), e.Extra.Sems); err != nil {
			return fmt.Errorf("set values of semaphore set %d: %w", id, err)
		}
		var ds sysv.SemidDS
		uid, gid, err := r.hostOwner(d.GetUid(), d.GetGid())
		if err != nil {
			return err
		}
		ds.Perm.Uid, ds.Perm.Gid, ds.Perm.Mode = uint32(uid), uint32(gid), d.GetMode()&0o777
		if err := sysv.SemSet(int(id), &ds); err != nil {
			return fmt.Errorf("set owner of semaphore set %d: %w", id, err)
		}
	}
	return nil
}

func (r *restorer) makeMsg(img *image.Image) error {
	if img == nil {
		return nil
	}
	for _, e := range img.Entries {
		m, ok := e.Msg.(*images.IpcMsgEntry)
		if !ok || m.GetDesc() == nil || (e.Extra == nil && m.GetQnum() > 0) {
			return fmt.Errorf("read ipcns-msg: %w", ErrBadImage)
		}
		d := m.GetDesc()
		if err := nextID("msg", d.GetId()); err != nil {
			return err
		}
		id, _, errno := unix.Syscall(unix.SYS_MSGGET, uintptr(int32(d.GetKey())), uintptr(createFlags(d)), 0)
		if errno != 0 {
			return fmt.Errorf("create message queue %d: %w", d.GetId(), errno)
		}
		if uint32(id) != d.GetId() {
			return fmt.Errorf("create message queue %d: got id %d", d.GetId(), id)
		}
		var ds sysv.MsqidDS
		uid, gid, err := r.hostOwner(d.GetUid(), d.GetGid())
		if err != nil {
			return err
		}
		ds.Perm.Uid, ds.Perm.Gid, ds.Perm.Mode = uint32(uid), uint32(gid), d.GetMode()&0o777
		ds.Qbytes = uint64(m.GetQbytes())
		if err := sysv.MsgSet(int(id), &ds); err != nil {
			return fmt.Errorf("set owner of message queue %d: %w", id, err)
		}
		if e.Extra == nil {
			continue
		}
		for i, msg := range e.Extra.Msgs {
			h, ok := msg.Hdr.(*images.IpcMsg)
			if !ok {
				return fmt.Errorf("read ipcns-msg: message %d of queue %d: %w", i, id, ErrBadImage)
			}
			if err := sysv.MsgSend(int(id), h.GetMtype(), msg.Data); err != nil {
				return fmt.Errorf("queue message %d of queue %d: %w", i, id, err)
			}
		}
	}
	return nil
}

// mapSysvShm attaches segment v's shmid at v's address in task t.
func (r *restorer) mapSysvShm(t *task, th *thread, v *vma) error {
	if v.e.GetPgoff() != 0 {
		return fmt.Errorf("SysV shared memory mapping at offset %#x: %w", v.e.GetPgoff(), ErrNotSupported)
	}
	var flags uint64
	if v.e.GetProt()&protWrite == 0 {
		flags |= unix.SHM_RDONLY
	}
	if v.e.GetProt()&unix.PROT_EXEC != 0 {
		flags |= shmExecFlag
	}
	addr, err := r.call(t, th, "shmat", unix.SYS_SHMAT, v.e.GetShmid(), v.start(), flags)
	if err != nil {
		return err
	}
	if addr != v.start() {
		return fmt.Errorf("shmat at %#x gave %#x", v.start(), addr)
	}
	return nil
}
