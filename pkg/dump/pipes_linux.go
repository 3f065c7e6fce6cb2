package dump

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

// A pipe is recorded with the data queued in it (pipes-data.img); a FIFO
// as its path (a REG entry) and the data queued in it (fifo-data.img).
func init() {
	registerFdKind(images.FdTypes_PIPE, &fdKind{link: proc.LinkPipe, dump: (*dumper).pipe})
	registerFdKind(images.FdTypes_FIFO, &fdKind{
		link: proc.LinkPath,
		path: func(_ *dumper, fs *fileStat) bool { return isFifo(&fs.st) },
		dump: (*dumper).fifo,
	})
}

func (d *dumper) pipe(x *fdDump) error {
	pipeID := uint32(x.f.link.Ino)
	d.addFile(&images.FileEntry{Type: images.FdTypes_PIPE.Enum(), Id: ptr(x.id), Pipe: &images.PipeEntry{
		Id: ptr(x.id), PipeId: ptr(pipeID), Flags: ptr(x.flags &^ unix.O_DIRECT), Fown: x.fown,
	}})
	return d.recordPipeData(&d.pipeDone, &d.pipeData, pipeID, x.flags, x.theirs)
}

func (d *dumper) fifo(x *fdDump) error {
	regID := d.fileIDs.unique()
	if err := d.regFile(regID, x.f.fs, x.flags, x.pos, x.fown, x.reopen); err != nil {
		return err
	}
	pipeID := uint32(x.f.fs.st.Ino)
	d.addFile(&images.FileEntry{Type: images.FdTypes_FIFO.Enum(), Id: ptr(x.id), Fifo: &images.FifoEntry{
		Id: ptr(x.id), PipeId: ptr(pipeID), RegfId: ptr(regID),
	}})
	return d.recordPipeData(&d.fifoDone, &d.fifoData, pipeID, x.flags, x.theirs)
}

// pipeDataEntry is one entry of pipes-data.img or fifo-data.img.
type pipeDataEntry struct {
	e    *images.PipeDataEntry
	data []byte
}

// recordPipeData records the bytes queued in a pipe, once per pipe, read
// through a read end without taking them out: tee(2) duplicates them into
// a pipe of our own. A pipe only seen through write ends is not read
// (CRIU records data at a read end).
func (d *dumper) recordPipeData(done *map[uint32]bool, out *[]pipeDataEntry, pipeID, flags uint32, theirs *os.File) error {
	if flags&unix.O_ACCMODE == unix.O_WRONLY || (*done)[pipeID] {
		return nil
	}
	if *done == nil {
		*done = make(map[uint32]bool)
	}
	(*done)[pipeID] = true
	fd := int(theirs.Fd())
	size, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		return fmt.Errorf("read pipe %d size: %w", pipeID, err)
	}
	queued, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
	if err != nil {
		return fmt.Errorf("read pipe %d queue: %w", pipeID, err)
	}
	e := &images.PipeDataEntry{PipeId: ptr(pipeID), Bytes: ptr(uint32(queued)), Size: ptr(uint32(size))}
	if queued == 0 {
		*out = append(*out, pipeDataEntry{e: e})
		return nil
	}
	data, err := peekPipe(fd, size, queued)
	if err != nil {
		return fmt.Errorf("read pipe %d: %w", pipeID, err)
	}
	*out = append(*out, pipeDataEntry{e: e, data: data})
	return nil
}

// peekPipe returns the queued bytes of the pipe read end fd, leaving them
// in the pipe.
func peekPipe(fd, size, queued int) ([]byte, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, max(size, queued)); err != nil {
		return nil, fmt.Errorf("size our pipe to %d: %w", size, err)
	}
	n, err := unix.Tee(fd, p[1], queued, unix.SPLICE_F_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("tee: %w", err)
	}
	if int(n) != queued {
		return nil, fmt.Errorf("tee copied %d of %d bytes: %w", n, queued, ErrKernel)
	}
	data := make([]byte, queued)
	for got := 0; got < queued; {
		n, err := unix.Read(p[0], data[got:])
		if err != nil {
			return nil, fmt.Errorf("read our pipe: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("read our pipe: %w", io.ErrUnexpectedEOF)
		}
		got += n
	}
	return data, nil
}
