package restore

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

func init() {
	registerFileKind(images.FdTypes_PIPE, &fileKind{
		has:  func(e *images.FileEntry) bool { return e.GetPipe() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.pipeEnd(e.GetPipe()) },
		fown: func(e *images.FileEntry) *images.FownEntry { return e.GetPipe().GetFown() },
	})
	// A FIFO's owner is its regular file's (fifoEnd).
	registerFileKind(images.FdTypes_FIFO, &fileKind{
		has:  func(e *images.FileEntry) bool { return e.GetFifo() != nil },
		open: func(f *fileObjs, e *images.FileEntry) (*os.File, error) { return f.fifoEnd(e.GetFifo()) },
	})
}

// pipePair is one pipe of the tree: both ends as criu-restore created
// them, handed out to the first file entry of each direction; later entries
// of the same direction (distinct descriptions of one end) get reopened
// copies.
type pipePair struct {
	ends [2]*os.File // read, write
	used [2]bool
}

// pipeData returns the saved contents of pipes (or FIFOs) by pipe_id.
func (f *fileObjs) pipeData(name string) (map[uint32]*images.PipeDataEntry, map[uint32][]byte, error) {
	img, err := f.r.set.lookup(name)
	if err != nil || img == nil {
		return nil, nil, err
	}
	ents := map[uint32]*images.PipeDataEntry{}
	data := map[uint32][]byte{}
	for i, e := range img.Entries {
		pd, ok := e.Msg.(*images.PipeDataEntry)
		if !ok {
			return nil, nil, fmt.Errorf("read %s: entry %d is %T: %w", name, i, e.Msg, ErrBadImage)
		}
		ents[pd.GetPipeId()] = pd
		if e.Extra != nil {
			data[pd.GetPipeId()] = e.Extra.Data
		}
	}
	return ents, data, nil
}

// fillPipe sizes a pipe as it was and puts its unread bytes back, through
// its write end.
func fillPipe(w *os.File, pd *images.PipeDataEntry, data []byte) error {
	if pd == nil {
		return nil
	}
	if sz := int(pd.GetSize()); sz > 0 {
		cur, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			return fmt.Errorf("get pipe size: %w", err)
		}
		if cur != sz {
			if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, sz); err != nil {
				return fmt.Errorf("set pipe size %d: %w", sz, err)
			}
		}
	}
	for len(data) > 0 {
		n, err := unix.Write(int(w.Fd()), data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %d bytes of pipe data: %w", len(data), err)
		}
		data = data[n:]
	}
	return nil
}

// pipePairs are the pipes made so far, by pipe_id; fifoKeepers the
// O_RDWR keeper of each FIFO opened so far, by pipe_id.
type (
	pipePairs   map[uint32]*pipePair
	fifoKeepers map[uint32]*os.File
)

// pipeEnd returns the description a pipe file entry stands for.
func (f *fileObjs) pipeEnd(pe *images.PipeEntry) (*os.File, error) {
	if pe == nil {
		return nil, fmt.Errorf("PIPE without pipe entry: %w", ErrBadImage)
	}
	pipes := stateOf[pipePairs](f, images.FdTypes_PIPE)
	p, ok := (*pipes)[pe.GetPipeId()]
	if !ok {
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
			return nil, fmt.Errorf("create pipe %d: %w", pe.GetPipeId(), err)
		}
		p = &pipePair{ends: [2]*os.File{
			f.keep(os.NewFile(uintptr(fds[0]), fmt.Sprintf("pipe:[%d]", pe.GetPipeId()))),
			f.keep(os.NewFile(uintptr(fds[1]), fmt.Sprintf("pipe:[%d]", pe.GetPipeId()))),
		}}
		if *pipes == nil {
			*pipes = pipePairs{}
		}
		(*pipes)[pe.GetPipeId()] = p
		ents, data, err := f.pipeData("pipes-data.img")
		if err != nil {
			return nil, err
		}
		if err := fillPipe(p.ends[1], ents[pe.GetPipeId()], data[pe.GetPipeId()]); err != nil {
			return nil, fmt.Errorf("restore pipe %d (pipes-data.img): %w", pe.GetPipeId(), err)
		}
	}
	flags := int(pe.GetFlags())
	end := 0
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
	case unix.O_WRONLY:
		end = 1
	default:
		return nil, fmt.Errorf("pipe %d with flags %#x: %w", pe.GetPipeId(), flags, ErrBadImage)
	}
	d := p.ends[end]
	if p.used[end] {
		var err error
		if d, err = f.reopen(d, flags); err != nil {
			return nil, err
		}
	}
	p.used[end] = true
	if err := setStatusFlags(d, flags); err != nil {
		return nil, err
	}
	return d, nil
}

// fifoEnd opens a FIFO as its file entry says. An O_RDWR keeper opened
// first makes the open not block whichever way it goes, and holds the
// saved data until a reader takes it.
func (f *fileObjs) fifoEnd(fe *images.FifoEntry) (*os.File, error) {
	if fe == nil {
		return nil, fmt.Errorf("FIFO without fifo entry: %w", ErrBadImage)
	}
	re, err := f.entry(fe.GetRegfId())
	if err != nil || re.GetReg() == nil {
		return nil, fmt.Errorf("fifo %d: path entry %d: %w", fe.GetId(), fe.GetRegfId(), ErrBadImage)
	}
	reg := re.GetReg()
	// A FIFO deleted while open comes back as a ghost.
	path, err := f.regPath(reg)
	if err != nil {
		return nil, err
	}
	keepers := stateOf[fifoKeepers](f, images.FdTypes_FIFO)
	if _, ok := (*keepers)[fe.GetPipeId()]; !ok {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open fifo %s: %w", reg.GetName(), err)
		}
		keeper := f.keep(os.NewFile(uintptr(fd), reg.GetName()))
		if *keepers == nil {
			*keepers = fifoKeepers{}
		}
		(*keepers)[fe.GetPipeId()] = keeper
		ents, data, err := f.pipeData("fifo-data.img")
		if err != nil {
			return nil, err
		}
		if err := fillPipe(keeper, ents[fe.GetPipeId()], data[fe.GetPipeId()]); err != nil {
			return nil, fmt.Errorf("restore fifo %s (fifo-data.img): %w", reg.GetName(), err)
		}
	}
	flags := int(reg.GetFlags())
	fd, err := unix.Open(path, (flags&^(unix.O_CREAT|unix.O_EXCL|unix.O_TRUNC|unix.O_NOCTTY))|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open fifo %s: %w", reg.GetName(), err)
	}
	return f.keep(os.NewFile(uintptr(fd), reg.GetName())), nil
}
