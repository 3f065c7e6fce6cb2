package proc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
)

// FS reads a mounted proc file system. The zero FS reads /proc; a dump
// that must see a task's pids as its own pid namespace does points Root at
// a proc mounted from inside that namespace.
type FS struct {
	// Root is the mount point; "" means "/proc".
	Root string
}

func (p FS) root() string {
	if p.Root == "" {
		return "/proc"
	}
	return p.Root
}

// Path is the path of a file under /proc/PID, or /proc/PID/task/TID when
// tid is not 0.
func (p FS) Path(pid, tid int, name ...string) string {
	parts := []string{p.root(), strconv.Itoa(pid)}
	if tid != 0 {
		parts = append(parts, "task", strconv.Itoa(tid))
	}
	return filepath.Join(append(parts, name...)...)
}

// parseFile opens path and runs parse on it; errors name the full path.
func parseFile[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	return v, withPath(err, path)
}

// Maps reads /proc/PID/maps.
func (p FS) Maps(pid int) ([]VMA, error) {
	return parseFile(p.Path(pid, 0, "maps"), ParseMaps)
}

// Smaps reads /proc/PID/smaps: the mappings with VmFlags and counters.
func (p FS) Smaps(pid int) ([]VMA, error) {
	return parseFile(p.Path(pid, 0, "smaps"), ParseSmaps)
}

// Status reads /proc/PID/status, or task/TID/status when tid is not 0.
func (p FS) Status(pid, tid int) (*Status, error) {
	return parseFile(p.Path(pid, tid, "status"), ParseStatus)
}

// Stat reads /proc/PID/stat, or task/TID/stat when tid is not 0.
func (p FS) Stat(pid, tid int) (*Stat, error) {
	return parseFile(p.Path(pid, tid, "stat"), ParseStat)
}

// Tasks lists the thread ids of /proc/PID/task, in increasing order.
func (p FS) Tasks(pid int) ([]int, error) {
	dir := p.Path(pid, 0, "task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			return nil, &ParseError{Path: dir, Msg: fmt.Sprintf("entry %q", e.Name()), Err: ErrSyntax}
		}
		tids = append(tids, tid)
	}
	sort.Ints(tids)
	return tids, nil
}

// Children reads /proc/PID/task/TID/children: the children forked by that
// one thread. The children of a process are the union over its threads.
func (p FS) Children(pid, tid int) ([]int, error) {
	return parseFile(p.Path(pid, tid, "children"), ParseChildren)
}

// Fd is one open file descriptor of a task.
type Fd struct {
	Num    int
	Target string // what readlink gives
	Link   Link   // Target, classified
}

// Fds lists /proc/PID/fd with the link targets, in increasing fd order. A
// descriptor closed between the listing and its readlink is left out (a
// frozen task closes none; a live one, such as the caller itself, may).
func (p FS) Fds(pid int) ([]Fd, error) {
	dir := p.Path(pid, 0, "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fds := make([]Fd, 0, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n < 0 {
			return nil, &ParseError{Path: dir, Msg: fmt.Sprintf("entry %q", e.Name()), Err: ErrSyntax}
		}
		t, err := os.Readlink(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		fds = append(fds, Fd{Num: n, Target: t, Link: ParseLink(t)})
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i].Num < fds[j].Num })
	return fds, nil
}

// FdLink reads and classifies the link /proc/PID/fd/FD.
func (p FS) FdLink(pid, fd int) (Link, error) {
	t, err := os.Readlink(p.Path(pid, 0, "fd", strconv.Itoa(fd)))
	if err != nil {
		return Link{}, err
	}
	return ParseLink(t), nil
}

// FdInfo reads /proc/PID/fdinfo/FD.
func (p FS) FdInfo(pid, fd int) (*FdInfo, error) {
	return parseFile(p.Path(pid, 0, "fdinfo", strconv.Itoa(fd)), ParseFdInfo)
}

// Timers reads /proc/PID/timers: the POSIX timers of the process.
func (p FS) Timers(pid int) ([]PosixTimer, error) {
	return parseFile(p.Path(pid, 0, "timers"), ParseTimers)
}

// Mountinfo reads /proc/PID/mountinfo.
func (p FS) Mountinfo(pid int) ([]Mount, error) {
	return parseFile(p.Path(pid, 0, "mountinfo"), ParseMountinfo)
}

// Auxv reads /proc/PID/auxv.
func (p FS) Auxv(pid int) ([]AuxvEntry, error) {
	return parseFile(p.Path(pid, 0, "auxv"), ParseAuxv)
}

// Limits reads /proc/PID/limits.
func (p FS) Limits(pid int) (*Limits, error) {
	return parseFile(p.Path(pid, 0, "limits"), ParseLimits)
}

// Personality reads /proc/PID/personality (readable by a ptrace-capable
// reader only).
func (p FS) Personality(pid int) (uint32, error) {
	return parseFile(p.Path(pid, 0, "personality"), ParsePersonality)
}

// Cgroups reads /proc/PID/cgroup.
func (p FS) Cgroups(pid int) ([]Cgroup, error) {
	return parseFile(p.Path(pid, 0, "cgroup"), ParseCgroup)
}

// Namespaces reads the links of /proc/PID/ns: inode numbers by entry name
// ("net", "pid", "pid_for_children", ...). A link the kernel will not
// resolve (ENOENT) is left out.
func (p FS) Namespaces(pid int) (map[string]uint64, error) {
	return p.namespacesIn(p.Path(pid, 0, "ns"))
}

// OwnNamespaces reads the namespaces of the calling thread
// (/proc/thread-self/ns), held on its OS thread while it reads. Not
// /proc/self: a thread that entered another namespace and was locked to
// its goroutine stays in it when it is the main thread, which Go cannot
// end, and /proc/self shows the main thread's.
func (p FS) OwnNamespaces() (map[string]uint64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return p.namespacesIn(filepath.Join(p.root(), "thread-self", "ns"))
}

func (p FS) namespacesIn(dir string) (map[string]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(ents))
	for _, e := range ents {
		path := filepath.Join(dir, e.Name())
		t, err := os.Readlink(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		_, ino, err := ParseNsLink(t)
		if err != nil {
			return nil, withPath(err, path)
		}
		out[e.Name()] = ino
	}
	return out, nil
}

// Sysctl reads the numbers of /proc/sys/NAME ("kernel/pid_max",
// "kernel/sem"), of the caller's namespaces.
func (p FS) Sysctl(name string) ([]int64, error) {
	return parseFile(filepath.Join(p.root(), "sys", name), ParseInts)
}

// BootID reads /proc/sys/kernel/random/boot_id: an id that changes with
// every boot.
func (p FS) BootID() (string, error) {
	return parseFile(filepath.Join(p.root(), "sys", "kernel", "random", "boot_id"), ParseBootID)
}

// Int reads a file of /proc/PID that holds one decimal number
// ("oom_score_adj", "loginuid").
func (p FS) Int(pid int, name string) (int64, error) {
	path := p.Path(pid, 0, name)
	v, err := parseFile(path, ParseInts)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, &ParseError{Path: path, Msg: fmt.Sprintf("%d values, want 1", len(v)), Err: ErrSyntax}
	}
	return v[0], nil
}

// Loginuid reads /proc/PID/loginuid (4294967295: unset).
func (p FS) Loginuid(pid int) (uint32, error) {
	v, err := p.Int(pid, "loginuid")
	if err != nil {
		return 0, err
	}
	if v < 0 || v > 1<<32-1 {
		return 0, &ParseError{Path: p.Path(pid, 0, "loginuid"), Msg: fmt.Sprintf("%d", v), Err: ErrSyntax}
	}
	return uint32(v), nil
}

// Comm reads /proc/PID/comm, or task/TID/comm when tid is not 0.
func (p FS) Comm(pid, tid int) (string, error) {
	return parseFile(p.Path(pid, tid, "comm"), ParseComm)
}

// TimensOffsets reads /proc/PID/timens_offsets.
func (p FS) TimensOffsets(pid int) ([]TimensOffset, error) {
	return parseFile(p.Path(pid, 0, "timens_offsets"), ParseTimensOffsets)
}

// PidfdPid is the pid that pidfd fd, open in process pid (os.Getpid() for
// the caller's own), names: -1 once that process is gone.
func (p FS) PidfdPid(pid, fd int) (int, error) {
	return parseFile(p.Path(pid, 0, "fdinfo", strconv.Itoa(fd)), ParsePidfd)
}

// HasPid reports whether /proc shows process (or thread) pid: a task,
// zombies included, holds the number.
func (p FS) HasPid(pid int) bool {
	_, err := os.Lstat(p.Path(pid, 0))
	return err == nil
}

// Pagemap reads /proc/PID/pagemap. Reading needs PTRACE_MODE_READ on the
// task; PFNs are shown to CAP_SYS_ADMIN only.
type Pagemap struct {
	f        *os.File
	pageSize uint64
	buf      []byte
}

// pagemapChunk is how many entries one pread fetches: 64 KiB of entries
// covers 32 MiB of address space.
const pagemapChunk = 8192

// OpenPagemap opens /proc/PID/pagemap.
func (p FS) OpenPagemap(pid int) (*Pagemap, error) {
	f, err := os.Open(p.Path(pid, 0, "pagemap"))
	if err != nil {
		return nil, err
	}
	return &Pagemap{f: f, pageSize: uint64(os.Getpagesize())}, nil
}

// Read fills out with the entries of len(out) consecutive pages starting
// at the page-aligned address addr: out[i] describes addr + i*pagesize.
func (pm *Pagemap) Read(addr uint64, out []PagemapEntry) error {
	if addr%pm.pageSize != 0 {
		return fmt.Errorf("read %s: address %#x is not page aligned", pm.f.Name(), addr)
	}
	if pm.buf == nil {
		pm.buf = make([]byte, pagemapChunk*PagemapEntrySize)
	}
	for len(out) > 0 {
		n := min(len(out), pagemapChunk)
		b := pm.buf[:n*PagemapEntrySize]
		off := addr / pm.pageSize * PagemapEntrySize
		if _, err := pm.f.ReadAt(b, int64(off)); err != nil {
			if err == io.EOF {
				// Past the end of the user address space.
				return fmt.Errorf("read %s for address %#x: %w", pm.f.Name(), addr, io.ErrUnexpectedEOF)
			}
			return fmt.Errorf("read pagemap for address %#x: %w", addr, err) // err names the file
		}
		if err := DecodePagemap(b, out[:n]); err != nil {
			return err
		}
		out = out[n:]
		addr += uint64(n) * pm.pageSize
	}
	return nil
}

// Close closes the pagemap file.
func (pm *Pagemap) Close() error { return pm.f.Close() }

// IDMap reads /proc/PID/uid_map (name "uid_map") or gid_map, as the
// caller's user namespace sees it.
func (p FS) IDMap(pid int, name string) ([]IDExtent, error) {
	return parseFile(p.Path(pid, 0, name), ParseIDMap)
}

// SetgroupsAllowed reads /proc/PID/setgroups.
func (p FS) SetgroupsAllowed(pid int) (bool, error) {
	return parseFile(p.Path(pid, 0, "setgroups"), ParseSetgroups)
}
