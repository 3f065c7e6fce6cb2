package crit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/criugo/criugo/pkg/image"
)

// Explorers are crit x's reports on an image set: the process tree (ps),
// the files of each task (fds), its memory map (mems) and its resident
// pages (rss). The text is crit's, column for column. Where crit stops with
// a Python traceback, on a task without ids, fs or mm image (a zombie), the
// explorers print the task's pid line and go on.
var Explorers = []string{"ps", "fds", "mems", "rss"}

// ImageSource gives the images of one set by file name. A missing file is
// an error matching fs.ErrNotExist.
type ImageSource interface {
	ReadImage(name string) (*image.Image, error)
}

// DirSource reads images from a directory.
type DirSource string

// ReadImage reads one image file of the directory.
func (d DirSource) ReadImage(name string) (*image.Image, error) {
	return image.ReadFile(string(d), name)
}

// Explore writes the report what ("ps", "fds", "mems" or "rss") on the
// images of src to w.
func Explore(w io.Writer, src ImageSource, what string) error {
	x := &explorer{src: src, w: w, fileStr: map[string]string{}, vmaIDs: map[uint64]int{}}
	var err error
	switch what {
	case "ps":
		err = x.ps()
	case "fds":
		err = x.fds()
	case "mems":
		err = x.mems()
	case "rss":
		err = x.rss()
	default:
		return fmt.Errorf("explore: unknown report %q (want one of %s)", what, strings.Join(Explorers, ", "))
	}
	if err != nil {
		return fmt.Errorf("explore %s: %w", what, err)
	}
	return nil
}

type explorer struct {
	src ImageSource
	w   io.Writer
	err error // first write error

	files    map[int64]protoreflect.Message // files.img entries by id; nil until loaded
	legacy   map[string]map[int64]protoreflect.Message
	fileStr  map[string]string // crit's files_cache, by "TYPE/id"
	vmaIDs   map[uint64]int    // crit's vma_id: shmid -> small number, shared by all tasks
	nextVMID int
}

func (x *explorer) printf(format string, args ...any) {
	if x.err == nil {
		_, x.err = fmt.Fprintf(x.w, format, args...)
	}
}

// entries reads image name and returns its entries' messages.
func (x *explorer) entries(name string) ([]protoreflect.Message, error) {
	img, err := x.src.ReadImage(name)
	if err != nil {
		return nil, err
	}
	msgs := make([]protoreflect.Message, len(img.Entries))
	for i, e := range img.Entries {
		msgs[i] = e.Msg.ProtoReflect()
	}
	return msgs, nil
}

// first reads the first entry of image name; ok is false when the file does
// not exist or holds no entry.
func (x *explorer) first(name string) (m protoreflect.Message, ok bool, err error) {
	msgs, err := x.entries(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil || len(msgs) == 0 {
		return nil, false, err
	}
	return msgs[0], true, nil
}

// taskID is crit's get_task_id: the field, or the first of its ns_ list.
func taskID(p protoreflect.Message, name string) int64 {
	if hasField(p, name) {
		return intByName(p, name)
	}
	if l := listByName(p, "ns_"+name); l != nil && l.Len() > 0 {
		return int64(l.Get(0).Uint())
	}
	return intByName(p, name)
}

func (x *explorer) pstree() ([]protoreflect.Message, error) {
	return x.entries("pstree.img")
}

type psItem struct {
	p    protoreflect.Message
	pid  int64
	comm string
	kids []*psItem
}

func (x *explorer) ps() error {
	tasks, err := x.pstree()
	if err != nil {
		return err
	}
	byPid := map[int64]*psItem{}
	var order []*psItem
	for _, p := range tasks {
		pid := taskID(p, "pid")
		core, ok, err := x.first("core-" + strconv.FormatInt(pid, 10) + ".img")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("task %d: no core image", pid)
		}
		it := &psItem{p: p, pid: pid, comm: strByName(msgByName(core, "tc"), "comm")}
		if _, dup := byPid[pid]; !dup {
			order = append(order, it)
		}
		byPid[pid] = it
	}
	var roots []*psItem
	for _, it := range order {
		if parent, ok := byPid[intByName(it.p, "ppid")]; ok && intByName(it.p, "ppid") != 0 {
			parent.kids = append(parent.kids, it)
		} else {
			roots = append(roots, it)
		}
	}
	x.printf("%7s%7s%7s   %s\n", "PID", "PGID", "SID", "COMM")
	var show func(it *psItem, depth int)
	show = func(it *psItem, depth int) {
		x.printf("%7d%7d%7d   %s%s\n", it.pid, taskID(it.p, "pgid"), taskID(it.p, "sid"),
			strings.Repeat(" ", 4*depth), it.comm)
		for _, k := range it.kids {
			show(k, depth+1)
		}
	}
	for _, r := range roots {
		show(r, 0)
	}
	return x.err
}

// fileEntry finds file id in files.img, or in the per-type image that
// CRIU before 3.x wrote (reg-files.img, pipes.img, unixsk.img) when
// files.img lacks it. It returns the message crit's lookup returns: the
// sub-message field of the files.img entry (nil if that entry has none), or
// the legacy image's entry.
func (x *explorer) fileEntry(id int64, field, legacyImage string) (protoreflect.Message, error) {
	if x.files == nil {
		x.files = map[int64]protoreflect.Message{}
		msgs, err := x.entries("files.img")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, f := range msgs {
			if _, dup := x.files[intByName(f, "id")]; !dup {
				x.files[intByName(f, "id")] = f
			}
		}
	}
	if f, ok := x.files[id]; ok {
		return msgByName(f, field), nil
	}
	if x.legacy == nil {
		x.legacy = map[string]map[int64]protoreflect.Message{}
	}
	byID, ok := x.legacy[legacyImage]
	if !ok {
		byID = map[int64]protoreflect.Message{}
		msgs, err := x.entries(legacyImage)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, m := range msgs {
			if _, dup := byID[intByName(m, "id")]; !dup {
				byID[intByName(m, "id")] = m
			}
		}
		x.legacy[legacyImage] = byID
	}
	return byID[id], nil
}

// fileString is crit's get_file_str: how a file shows in fds, mems and rss.
func (x *explorer) fileString(typ string, id int64) (string, error) {
	key := typ + "/" + strconv.FormatInt(id, 10)
	if s, ok := x.fileStr[key]; ok && s != "" {
		return s, nil
	}
	var s string
	switch typ {
	case "REG":
		rf, err := x.fileEntry(id, "reg", "reg-files.img")
		if err != nil {
			return "", err
		}
		s = strByName(rf, "name")
		if s == "" {
			s = "unknown path"
		}
	case "PIPE":
		p, err := x.fileEntry(id, "pipe", "pipes.img")
		if err != nil {
			return "", err
		}
		if p == nil {
			s = "pipe[?]"
		} else {
			s = "pipe[" + strconv.FormatInt(intByName(p, "pipe_id"), 10) + "]"
		}
	case "UNIXSK":
		ux, err := x.fileEntry(id, "usk", "unixsk.img")
		if err != nil {
			return "", err
		}
		if ux == nil {
			s = "unix[?]"
			break
		}
		name := ""
		if raw := []byte(strByName(ux, "name")); len(raw) > 0 {
			// crit prints the name as its JSON shows it.
			name = " " + encodeQP(raw)
		}
		s = fmt.Sprintf("unix[%d (%d)%s]", intByName(ux, "ino"), intByName(ux, "peer"), name)
	default:
		s = typ + "." + strconv.FormatInt(id, 10)
	}
	x.fileStr[key] = s
	return s, nil
}

// eachTask prints each task's pid on a line of its own and calls fn with
// the first entry of its NAME-PID.img; a task without one (a zombie) gets
// only its line.
func (x *explorer) eachTask(name string, fn func(spid string, m protoreflect.Message) error) error {
	tasks, err := x.pstree()
	if err != nil {
		return err
	}
	for _, p := range tasks {
		pid := taskID(p, "pid")
		spid := strconv.FormatInt(pid, 10)
		m, ok, err := x.first(name + "-" + spid + ".img")
		if err != nil {
			return err
		}
		x.printf("%d\n", pid)
		if !ok {
			continue // a zombie: no files, no memory
		}
		if err := fn(spid, m); err != nil {
			return err
		}
	}
	return x.err
}

func (x *explorer) fds() error {
	return x.eachTask("ids", func(spid string, ids protoreflect.Message) error {
		fdinfo, err := x.entries("fdinfo-" + strconv.FormatInt(intByName(ids, "files_id"), 10) + ".img")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, fd := range fdinfo {
			s, err := x.fileString(enumNameByName(fd, "type"), intByName(fd, "id"))
			if err != nil {
				return err
			}
			x.printf("\t%7d: %s\n", intByName(fd, "fd"), s)
		}
		fsEnt, ok, err := x.first("fs-" + spid + ".img")
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		for _, d := range []struct{ label, field string }{{"cwd", "cwd_id"}, {"root", "root_id"}} {
			s, err := x.fileString("REG", intByName(fsEnt, d.field))
			if err != nil {
				return err
			}
			x.printf("\t%7s: %s\n", d.label, s)
		}
		return nil
	})
}

// vma status bits crit's explorers test.
const (
	vmaRegular    = 1 << 0
	vmaStack      = 1 << 1
	vmaVsyscall   = 1 << 2
	vmaVDSO       = 1 << 3
	vmaFilePriv   = 1 << 6
	vmaFileShared = 1 << 7
	vmaAnonShared = 1 << 8
	vmaSysVIPC    = 1 << 10
	vmaSocket     = 1 << 11
	mapGrowsdown  = 0x0100
	pageShift     = 12
)

// vmaID is crit's vma_id: numbers shared mappings 1, 2, ... in the order
// they are met.
func (x *explorer) vmaID(shmid uint64) int {
	if id, ok := x.vmaIDs[shmid]; ok {
		return id
	}
	x.nextVMID++
	x.vmaIDs[shmid] = x.nextVMID
	return x.nextVMID
}

func (x *explorer) mems() error {
	return x.eachTask("mm", func(spid string, mm protoreflect.Message) error {
		exe, err := x.fileString("REG", intByName(mm, "exe_file_id"))
		if err != nil {
			return err
		}
		x.printf("\t%-36s    %s\n", "exe", exe)
		vmas := listByName(mm, "vmas")
		for i := 0; vmas != nil && i < vmas.Len(); i++ {
			vma := vmas.Get(i).Message()
			st := uintByName(vma, "status")
			shmid := uintByName(vma, "shmid")
			var fn string
			switch {
			case st&vmaSysVIPC != 0:
				fn = fmt.Sprintf(" ips[%x]", x.vmaID(shmid))
			case st&vmaAnonShared != 0:
				fn = fmt.Sprintf(" shmem[%x]", x.vmaID(shmid))
			case st&vmaSocket != 0:
				fn = fmt.Sprintf(" packet[%x]", x.vmaID(shmid))
			case st&(vmaFilePriv|vmaFileShared) != 0:
				s, err := x.fileString("REG", int64(shmid))
				if err != nil {
					return err
				}
				fn = " " + s
				if pgoff := uintByName(vma, "pgoff"); pgoff != 0 {
					fn += fmt.Sprintf(" + %#x", pgoff)
				}
				if st&vmaFileShared != 0 {
					fn += " (s)"
				}
			case st&vmaStack != 0:
				fn = " [stack]"
			case st&vmaVsyscall != 0:
				fn = " [vsyscall]"
			case st&vmaVDSO != 0:
				fn = " [vdso]"
			case uintByName(vma, "flags")&mapGrowsdown != 0:
				fn = " [stack?]"
			}
			if st&vmaRegular == 0 {
				fn += " *"
			}
			prot := uintByName(vma, "prot")
			perms := []byte("---")
			for b, c := range "rwx" {
				if prot&(1<<b) != 0 {
					perms[b] = byte(c)
				}
			}
			addr := fmt.Sprintf("%08x-%08x", uintByName(vma, "start"), uintByName(vma, "end"))
			x.printf("\t%-36s%s%s\n", addr, perms, fn)
		}
		return nil
	})
}

func (x *explorer) rss() error {
	return x.eachTask("mm", func(spid string, mm protoreflect.Message) error {
		pms, err := x.entries("pagemap-" + spid + ".img")
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		vmas := listByName(mm, "vmas")
		nvmas := 0
		if vmas != nil {
			nvmas = vmas.Len()
		}
		vma := func(i int) protoreflect.Message { return vmas.Get(i).Message() }
		vmi, pvmi := 0, -1
		for i := 1; i < len(pms); i++ {
			pm := pms[i]
			vaddr := uintByName(pm, "vaddr")
			nr, err := image.PagemapNrPages(pm.Interface())
			if err != nil {
				return err
			}
			pstr := fmt.Sprintf("\t%x / %-8d", vaddr, nr)
			for vmi < nvmas && uintByName(vma(vmi), "end") <= vaddr {
				vmi++
			}
			pme := vaddr + nr<<pageShift
			var vstr strings.Builder
			for vmi < nvmas && uintByName(vma(vmi), "start") < pme {
				v := vma(vmi)
				if vmi == pvmi {
					vstr.WriteString(" ~")
				} else {
					start, end := uintByName(v, "start"), uintByName(v, "end")
					fmt.Fprintf(&vstr, " %08x / %-8d", start, (end-start)>>pageShift)
					if uintByName(v, "status")&(vmaFilePriv|vmaFileShared) != 0 {
						s, err := x.fileString("REG", int64(uintByName(v, "shmid")))
						if err != nil {
							return err
						}
						vstr.WriteString(" " + s)
					}
					pvmi = vmi
				}
				fmt.Fprintf(&vstr, "\n\t%23s", "")
				vmi++
			}
			if vmi > 0 {
				vmi--
			}
			x.printf("%-24s%s\n", pstr, vstr.String())
		}
		return nil
	})
}
