package dump

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/nsenter"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/sysv"
)

// Bounds on what the kernel reports, before allocating for it.
const (
	maxSems   = 1 << 16 // SEMMSL cannot exceed 65535 semaphores
	maxMsgBuf = 1 << 24 // a message text (msgmax) we read at most
)

// ipcDump is what dumpIPC reads inside an IPC namespace.
type ipcDump struct {
	vars *images.IpcVarEntry
	shm  []image.Entry
	segs []*sysvSeg
	sem  []image.Entry
	msg  []image.Entry
}

// sysvSeg is a SysV shared memory segment attached in criu-parasite
// (read-only) so that its pages can be read while they are written.
type sysvSeg struct {
	id  int
	mem []byte
}

func (s *sysvSeg) readAt(buf []byte, addr uint64) error {
	if addr > uint64(len(s.mem)) || uint64(len(buf)) > uint64(len(s.mem))-addr {
		return fmt.Errorf("read SysV shared memory %d at %#x: %w", s.id, addr, io.ErrUnexpectedEOF)
	}
	copy(buf, s.mem[addr:])
	return nil
}

func (s *sysvSeg) close() error {
	if s.mem == nil {
		return nil
	}
	err := unix.SysvShmDetach(s.mem)
	s.mem = nil
	return err
}

func (s *sysvSeg) Close() error { return s.close() }

// dumpIPC records the IPC namespace of pid: its sysctls and every shared
// memory segment (contents as shared memory pages), semaphore set and
// message queue (messages copied with MSG_COPY, left queued).
func (d *dumper) dumpIPC(pid int, id uint32) error {
	var st ipcDump
	err := nsenter.Run(d.fs.Path(pid, 0, "ns", "ipc"), unix.CLONE_NEWIPC, func() error {
		return readIPC(&st)
	})
	if err != nil {
		for _, s := range st.segs {
			s.close()
		}
		return fmt.Errorf("dump ipc namespace of pid %d: %w", pid, err)
	}
	if err := d.put(image.IPCVar, id, st.vars); err != nil {
		return err
	}
	// Owners and creators as the tree's user namespace sees them, as CRIU
	// keeps them (IPC_STAT gave them in criu-parasite's).
	for _, es := range [][]image.Entry{st.shm, st.sem, st.msg} {
		for _, e := range es {
			var desc *images.IpcDescEntry
			switch m := e.Msg.(type) {
			case *images.IpcShmEntry:
				desc = m.GetDesc()
			case *images.IpcSemEntry:
				desc = m.GetDesc()
			case *images.IpcMsgEntry:
				desc = m.GetDesc()
			}
			if desc != nil {
				desc.Uid, desc.Gid = d.fileOwner(desc.GetUid(), desc.GetGid())
				desc.Cuid, desc.Cgid = d.fileOwner(desc.GetCuid(), desc.GetCgid())
			}
		}
	}
	// CRIU leaves out the images of kinds the namespace has none of.
	for _, o := range []struct {
		k  *image.Kind
		es []image.Entry
	}{{image.IPCNSShm, st.shm}, {image.IPCNSSem, st.sem}, {image.IPCNSMsg, st.msg}} {
		if len(o.es) == 0 {
			continue
		}
		img, err := encodeImage(o.k, o.es...)
		if err != nil {
			return err
		}
		d.out[o.k.FileName(id)] = img
	}
	for _, s := range st.segs {
		if err := d.sysvPages(s); err != nil {
			return err
		}
	}
	return nil
}

// sysvPages plans the resident pages of segment s and registers its
// pagemap-shmem-<shmid>.img and pages image, as CRIU does for segments
// it stores "in pagemaps".
func (d *dumper) sysvPages(s *sysvSeg) error {
	plan := newPagePlan(d.maxPipe)
	if len(s.mem) > 0 {
		vec := make([]byte, (len(s.mem)+pageSize-1)/pageSize)
		if err := mincore(s.mem, vec); err != nil {
			return fmt.Errorf("mincore of SysV shared memory %d: %w", s.id, err)
		}
		for i, v := range vec {
			if v&1 != 0 {
				plan.add(uint64(i)*pageSize, false)
			}
		}
		plan.scanned = uint64(len(vec))
	}
	d.stats.shScanned += plan.scanned
	d.stats.shWritten += plan.written
	d.stats.pipeBufs += plan.bufs
	d.nextPages++
	pagesID := d.nextPages
	name := image.ShmemPagemap.FileName(s.id)
	img, err := encodeImage(image.ShmemPagemap, append(
		[]image.Entry{{Msg: &images.PagemapHead{PagesId: ptr(pagesID)}}},
		msgs(plan.entries()...)...)...)
	if err != nil {
		return err
	}
	d.out[name] = img
	d.addPagesImage(name, pagesID, newRunPages(s, plan.runs), s)
	return nil
}

// readIPC reads the IPC namespace the calling thread is in.
func readIPC(st *ipcDump) error {
	var err error
	if st.vars, err = readIPCVars(); err != nil {
		return err
	}
	if err := readShm(st); err != nil {
		return err
	}
	if st.sem, err = readSem(); err != nil {
		return err
	}
	st.msg, err = readMsg(st.vars.GetMsgCtlmax())
	return err
}

// sysctlInts reads the n integers of /proc/sys/<name>, as the calling
// thread's namespaces show them.
func sysctlInts(name string, n int) ([]int64, error) {
	v, err := proc.FS{}.Sysctl(name)
	if err != nil {
		return nil, err
	}
	if len(v) != n {
		return nil, fmt.Errorf("read /proc/sys/%s: %d values, want %d", name, len(v), n)
	}
	return v, nil
}

func readIPCVars() (*images.IpcVarEntry, error) {
	one := func(name string) (int64, error) {
		v, err := sysctlInts(name, 1)
		if err != nil {
			return 0, err
		}
		return v[0], nil
	}
	sem, err := sysctlInts("kernel/sem", 4)
	if err != nil {
		return nil, err
	}
	e := &images.IpcVarEntry{}
	for _, v := range sem {
		e.SemCtls = append(e.SemCtls, uint32(v))
	}
	u32 := []struct {
		name string
		dst  **uint32
	}{
		{"kernel/msgmax", &e.MsgCtlmax}, {"kernel/msgmnb", &e.MsgCtlmnb}, {"kernel/msgmni", &e.MsgCtlmni},
		{"kernel/shmmni", &e.ShmCtlmni}, {"kernel/shm_rmid_forced", &e.ShmRmidForced},
		{"fs/mqueue/queues_max", &e.MqQueuesMax}, {"fs/mqueue/msg_max", &e.MqMsgMax},
		{"fs/mqueue/msgsize_max", &e.MqMsgsizeMax}, {"fs/mqueue/msg_default", &e.MqMsgDefault},
		{"fs/mqueue/msgsize_default", &e.MqMsgsizeDefault},
	}
	for _, f := range u32 {
		v, err := one(f.name)
		if err != nil {
			return nil, err
		}
		*f.dst = ptr(uint32(v))
	}
	// auto_msgmni is gone from kernels since 4.1: CRIU records 0.
	e.AutoMsgmni = ptr(uint32(0))
	if v, err := one("kernel/auto_msgmni"); err == nil {
		e.AutoMsgmni = ptr(uint32(v))
	}
	for _, f := range []struct {
		name string
		dst  **uint64
	}{{"kernel/shmmax", &e.ShmCtlmax}, {"kernel/shmall", &e.ShmCtlall}} {
		v, err := one(f.name)
		if err != nil {
			return nil, err
		}
		*f.dst = ptr(uint64(v))
	}
	// The next-id knobs are -1 unless set; CRIU records them only then.
	for _, f := range []struct {
		name string
		dst  **uint32
	}{{"kernel/msg_next_id", &e.MsgNextId}, {"kernel/sem_next_id", &e.SemNextId}, {"kernel/shm_next_id", &e.ShmNextId}} {
		v, err := one(f.name)
		if err != nil {
			return nil, err
		}
		if v >= 0 {
			*f.dst = ptr(uint32(v))
		}
	}
	return e, nil
}

func ipcDesc(p *unix.SysvIpcPerm, id int) *images.IpcDescEntry {
	return &images.IpcDescEntry{
		Key: ptr(uint32(p.Key)), Uid: ptr(p.Uid), Gid: ptr(p.Gid),
		Cuid: ptr(p.Cuid), Cgid: ptr(p.Cgid), Mode: ptr(uint32(p.Mode) & 0o777), Id: ptr(uint32(id)),
	}
}

// readShm records every segment and attaches it read-only for its pages.
func readShm(st *ipcDump) error {
	maxIdx, err := sysv.ShmInfo()
	if err != nil {
		return fmt.Errorf("shmctl SHM_INFO: %w", err)
	}
	for idx := 0; idx <= maxIdx; idx++ {
		var ds unix.SysvShmDesc
		id, err := sysv.ShmStat(idx, &ds)
		if errors.Is(err, unix.EINVAL) {
			continue
		}
		if err != nil {
			return fmt.Errorf("shmctl SHM_STAT %d: %w", idx, err)
		}
		mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
		if err != nil {
			return fmt.Errorf("attach SysV shared memory %d: %w", id, err)
		}
		st.segs = append(st.segs, &sysvSeg{id: id, mem: sysv.WholePages(mem)})
		st.shm = append(st.shm, image.Entry{Msg: &images.IpcShmEntry{
			Desc: ipcDesc(&ds.Perm, id), Size: ptr(ds.Segsz), InPagemaps: ptr(true),
		}})
	}
	return nil
}

func readSem() ([]image.Entry, error) {
	maxIdx, err := sysv.SemInfo()
	if err != nil {
		return nil, fmt.Errorf("semctl SEM_INFO: %w", err)
	}
	var out []image.Entry
	for idx := 0; idx <= maxIdx; idx++ {
		var ds sysv.SemidDS
		id, err := sysv.SemStat(idx, &ds)
		if errors.Is(err, unix.EINVAL) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("semctl SEM_STAT %d: %w", idx, err)
		}
		if ds.Nsems > maxSems {
			return nil, fmt.Errorf("semaphore set %d: %d semaphores: %w", id, ds.Nsems, ErrNotSupported)
		}
		vals := make([]uint16, ds.Nsems)
		if err := sysv.SemGetAll(id, vals); err != nil {
			return nil, fmt.Errorf("semctl GETALL %d: %w", id, err)
		}
		out = append(out, image.Entry{
			Msg:   &images.IpcSemEntry{Desc: ipcDesc(&ds.Perm, id), Nsems: ptr(uint32(ds.Nsems))},
			Extra: &image.Extra{Sems: vals},
		})
	}
	return out, nil
}

func readMsg(msgmax uint32) ([]image.Entry, error) {
	maxIdx, err := sysv.MsgInfo()
	if err != nil {
		return nil, fmt.Errorf("msgctl MSG_INFO: %w", err)
	}
	var out []image.Entry
	var buf []byte
	for idx := 0; idx <= maxIdx; idx++ {
		var ds sysv.MsqidDS
		id, err := sysv.MsgStat(idx, &ds)
		if errors.Is(err, unix.EINVAL) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("msgctl MSG_STAT %d: %w", idx, err)
		}
		// A queued message is no longer than msgmax was when it was sent
		// nor than the queue's byte limit.
		size := max(uint64(msgmax), min(ds.Qbytes, ds.Cbytes))
		if size > maxMsgBuf {
			return nil, fmt.Errorf("message queue %d: messages up to %d bytes: %w", id, size, ErrNotSupported)
		}
		if uint64(len(buf)) < 8+size {
			buf = make([]byte, 8+size)
		}
		e := &images.IpcMsgEntry{Desc: ipcDesc(&ds.Perm, id), Qbytes: ptr(uint32(ds.Qbytes)), Qnum: ptr(uint32(ds.Qnum))}
		extra := &image.Extra{}
		for n := 0; n < int(ds.Qnum); n++ {
			l, err := sysv.MsgCopy(id, n, buf)
			if err != nil {
				return nil, fmt.Errorf("copy message %d of queue %d (MSG_COPY): %w", n, id, err)
			}
			mtype := uint64(buf[0]) | uint64(buf[1])<<8 | uint64(buf[2])<<16 | uint64(buf[3])<<24 |
				uint64(buf[4])<<32 | uint64(buf[5])<<40 | uint64(buf[6])<<48 | uint64(buf[7])<<56
			extra.Msgs = append(extra.Msgs, image.IPCMsg{
				Hdr:  &images.IpcMsg{Mtype: ptr(mtype), Msize: ptr(uint32(l))},
				Data: append([]byte(nil), buf[8:8+l]...),
			})
		}
		out = append(out, image.Entry{Msg: e, Extra: extra})
	}
	return out, nil
}

// sysvMapping completes the vma_entry of a task's mapping of a SysV
// shared memory segment as CRIU does: shmid is the segment's id (the
// inode number of its file), fdflags the access it was attached with; its
// pages are the segment's, dumped with the IPC namespace. A segment of an
// IPC namespace that is not dumped (criu-parasite's own) is refused.
func (d *dumper) sysvMapping(pid int, e *images.VmaEntry, fs *fileStat, path string) error {
	self, err := d.fs.OwnNamespaces()
	if err != nil {
		return err
	}
	ns, err := d.fs.Namespaces(pid)
	if err != nil {
		return err
	}
	if ns["ipc"] == self["ipc"] {
		return fmt.Errorf("segment of the host's IPC namespace: %w", ErrNotSupported)
	}
	flags, err := fdflagsOf(path)
	if err != nil {
		return err
	}
	e.Shmid = ptr(fs.st.Ino)
	e.Fdflags = ptr(flags)
	e.Flags = ptr(e.GetFlags() | unix.MAP_ANONYMOUS)
	return nil
}
