package dump

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
)

// TestDumpPidfd dumps test/programs/pidfd.c: six pidfd files (a running
// child's twice, its own, a zombie's, a reaped child's twice), each
// naming its process, -1 for the reaped one, in CRIU's shape.
func TestDumpPidfd(t *testing.T) {
	p := testProgram(t, "pidfd")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_PIDFD)
	if len(es) != 6 {
		t.Fatalf("%d pidfd entries, want 6", len(es))
	}
	live := map[int32]bool{}
	for _, e := range readImg(t, dir, "pstree.img").Entries {
		live[int32(e.Msg.(*images.PstreeEntry).GetPid())] = true
	}
	byPid := map[int32][]*images.PidfdEntry{}
	for _, fe := range es {
		pe := fe.GetPidfd()
		if pe.GetId() != fe.GetId() || pe.GetFlags()&^oNonblock != 0 {
			t.Errorf("pidfd %d: id %d flags %#o", fe.GetId(), pe.GetId(), pe.GetFlags())
		}
		if pe.GetNspid() != -1 && !live[pe.GetNspid()] {
			t.Errorf("pidfd %d names pid %d, not in pstree.img", fe.GetId(), pe.GetNspid())
		}
		byPid[pe.GetNspid()] = append(byPid[pe.GetNspid()], pe)
	}
	if own := byPid[int32(p.pid)]; len(own) != 1 || own[0].GetFlags() != 0 {
		t.Errorf("own pidfds: %v, want one without flags", own)
	}
	dead := byPid[-1]
	if len(dead) != 2 || dead[0].GetIno() != dead[1].GetIno() || dead[0].GetFlags()|dead[1].GetFlags() != oNonblock {
		t.Errorf("pidfds of the reaped child: %v, want two of one inode, one PIDFD_NONBLOCK", dead)
	}
	if len(byPid) != 4 {
		t.Errorf("pidfds name %d processes, want 4 (itself, a child, a zombie, a reaped child)", len(byPid))
	}
	checkShape(t, es, images.FdTypes_PIDFD, []string{"pidfd_self"})
	debianCrit(t, dir, "files.img")
}

// TestDumpPidfdOutsideTree: a pidfd of a process that is not in the
// tree (here, the test) fails the dump, and the program runs on.
func TestDumpPidfdOutsideTree(t *testing.T) {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		t.Fatalf("pidfd_open: %v", err)
	}
	pfd := os.NewFile(uintptr(fd), "pidfd")
	p := startTestProgram(t, "eventfd", []*os.File{pfd})
	pfd.Close()
	dir := t.TempDir()
	seizeDir(t, p.pid, dir)
	_, err = Dump(context.Background(), Options{Dir: dir, LeaveRunning: true})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "which is not in the dumped tree") {
		t.Errorf("dump: %v, want ErrNotSupported for the pidfd", err)
	}
	if got := p.finishRepeat(t); got != "PASS" {
		t.Errorf("program after the failed dump: %s", got)
	}
}

// TestDumpFanotify dumps test/programs/fanotify.c: two groups, one with
// three inode marks, one with a mount mark, in CRIU's shape.
func TestDumpFanotify(t *testing.T) {
	p := testProgram(t, "fanotify")
	dir := dumpLeave(t, p, Options{})
	es := fileEntries(t, dir, images.FdTypes_FANOTIFY)
	if len(es) != 2 {
		t.Fatalf("%d fanotify entries, want 2", len(es))
	}
	var inodes, mounts int
	for _, fe := range es {
		for _, m := range fe.GetFfy().GetMark() {
			switch m.GetType() {
			case images.MarkType_INODE:
				if m.GetIe().GetFHandle().GetPath() == "" {
					t.Errorf("inode mark %d without a path", m.GetIe().GetIIno())
				}
				inodes++
			case images.MarkType_MOUNT:
				if m.GetMe().GetPath() == "" {
					t.Errorf("mount mark %d without a path", m.GetMe().GetMntId())
				}
				mounts++
			}
		}
	}
	if inodes != 3 || mounts != 1 {
		t.Errorf("%d inode and %d mount marks, want 3 and 1", inodes, mounts)
	}
	// CRIU's one group holds both kinds of marks; ours are in two groups,
	// so their marks are compared together.
	both := proto.Clone(es[0]).(*images.FileEntry)
	both.GetFfy().Mark = append(both.GetFfy().Mark, es[1].GetFfy().GetMark()...)
	checkShape(t, []*images.FileEntry{both}, images.FdTypes_FANOTIFY, []string{"fanotify00"})
	debianCrit(t, dir, "files.img")
}
