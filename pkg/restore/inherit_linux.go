package restore

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// Inherited files (CRIU's --inherit-fd fd[N]:KEY, RPC inherit_fd): a file
// of the images whose key is KEY is not made again but taken from the
// caller, who knows it stands for something outside the tree: runc passes
// a container's standard input and output pipes, which lead to its shim,
// under their "pipe:[INODE]" keys from descriptors.json. The keys are
// CRIU's:
//
//	PIPE   pipe:[PIPE_ID]        (pipe_id is the dumped pipe's inode)
//	REG    the path without its leading "/" ("." for "/"): tmp/log
//
// A pipe end is opened again from the inherited pipe with the entry's
// flags, so that it has a description of its own, as CRIU reopens it; the
// data pipes-data.img holds for that pipe is not written, since the pipe
// is not new. A regular file is the caller's description itself (a dup:
// its offset and flags are the caller's), as CRIU's open_path returns the
// inherited fd. The first Options.InheritFds entry with a key wins, as in
// CRIU's list. Kinds without a key here (sockets, ttys, memfds) are made
// as always.

// inheritKeys are the kinds whose files can be inherited: the key of an
// entry, and how the inherited file becomes the entry's description.
var inheritKeys = map[images.FdTypes]struct {
	key  func(e *images.FileEntry) string
	take func(f *fileObjs, e *images.FileEntry, file *os.File) (*os.File, error)
}{
	images.FdTypes_PIPE: {
		key: func(e *images.FileEntry) string { return fmt.Sprintf("pipe:[%d]", e.GetPipe().GetPipeId()) },
		take: func(f *fileObjs, e *images.FileEntry, file *os.File) (*os.File, error) {
			flags := int(e.GetPipe().GetFlags())
			d, err := f.reopen(file, flags)
			if err != nil {
				return nil, err
			}
			if err := setStatusFlags(d, flags); err != nil {
				return nil, err
			}
			return d, nil
		},
	},
	images.FdTypes_REG: {
		key: func(e *images.FileEntry) string { return regKey(e.GetReg().GetName()) },
		take: func(f *fileObjs, e *images.FileEntry, file *os.File) (*os.File, error) {
			fd, err := unix.FcntlInt(file.Fd(), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				return nil, fmt.Errorf("dup inherited %s: %w", file.Name(), err)
			}
			return f.keep(os.NewFile(uintptr(fd), e.GetReg().GetName())), nil
		},
	},
}

// regKey is CRIU's key of a file by path: the path without its leading
// slash, "." for the root.
func regKey(name string) string {
	if name == "/" {
		return "."
	}
	return strings.TrimPrefix(name, "/")
}

// inherited returns the file the caller gave for entry e, nil when there
// is none.
func (f *fileObjs) inherited(e *images.FileEntry) *os.File {
	ik, ok := inheritKeys[e.GetType()]
	if !ok || len(f.r.opts.InheritFds) == 0 {
		return nil
	}
	if e.GetType() == images.FdTypes_PIPE && e.GetPipe() == nil || e.GetType() == images.FdTypes_REG && e.GetReg() == nil {
		return nil
	}
	key := ik.key(e)
	for _, in := range f.r.opts.InheritFds {
		if in.Key == key {
			return in.File
		}
	}
	return nil
}

// takeInherited makes entry e's description from the caller's file.
func (f *fileObjs) takeInherited(e *images.FileEntry, file *os.File) (*os.File, error) {
	ik := inheritKeys[e.GetType()]
	d, err := ik.take(f, e, file)
	if err != nil {
		return nil, fmt.Errorf("file id %d (%s) from the inherited fd: %w", e.GetId(), ik.key(e), err)
	}
	f.r.logf("file id %d (%s) restored from the inherited %s", e.GetId(), ik.key(e), file.Name())
	return d, nil
}
