package restore

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
)

// zooFiles opens the file objects of a CRIU 4.2 zoo image set, with the
// path of regular file entry id moved to path.
func zooFiles(t *testing.T, set string, id uint32, path string) *fileObjs {
	t.Helper()
	s, err := openDirSet(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", set))
	if err != nil {
		t.Fatal(err)
	}
	r := &restorer{set: s, pages: dirPages{s}, self: os.Getpid()}
	f, err := newFileObjs(r)
	if err != nil {
		t.Fatal(err)
	}
	r.files = f
	e, err := f.entry(id)
	if err != nil || e.GetReg() == nil {
		t.Fatalf("file %d of %s: %v", id, set, err)
	}
	e.Reg.Name = &path
	t.Cleanup(f.close)
	return f
}

func TestGhostFile(t *testing.T) {
	testutil.RequireRoot(t) // the ghost belongs to uid 1
	path := filepath.Join(t.TempDir(), "unlink_fstat00.test")
	f := zooFiles(t, "unlink_fstat00", 8, path)
	d, err := f.descFor(8)
	if err != nil {
		t.Fatal(err)
	}
	img, err := f.r.set.get("ghost-file-1.img")
	if err != nil {
		t.Fatal(err)
	}
	want := img.Entries[0].Extra.Data
	got := make([]byte, len(want)+1)
	n, err := d.ReadAt(got, 0)
	if err != nil && err != io.EOF || !bytes.Equal(got[:n], want) {
		t.Fatalf("ghost holds %d bytes (%v), want the %d saved", n, err, len(want))
	}
	if fl, _ := unix.FcntlInt(d.Fd(), unix.F_GETFL, 0); fl&unix.O_ACCMODE != unix.O_RDWR {
		t.Errorf("ghost opened with flags %#o, want O_RDWR", fl)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil || st.Uid != 1 || st.Mode&07777 != 0o645 {
		t.Errorf("ghost owner %d mode %#o (%v), want uid 1 mode 0645", st.Uid, st.Mode&07777, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("ghost name gone before the restore ends: %v", err)
	}
	f.close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ghost name left after the restore: %v", err)
	}
}

func TestFifoWithData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo.test")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	f := zooFiles(t, "fifo", 9, path)
	d, err := f.descFor(8)
	if err != nil {
		t.Fatal(err)
	}
	ents, data, err := f.pipeData("fifo-data.img")
	if err != nil {
		t.Fatal(err)
	}
	want := data[ents[10068929].GetPipeId()]
	if len(want) != 65536 {
		t.Fatalf("fixture holds %d bytes of fifo data", len(want))
	}
	if err := unix.SetNonblock(int(d.Fd()), true); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.LimitReader(d, int64(len(want))))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("read %d bytes of fifo data (%v), want the %d saved", len(got), err, len(want))
	}
}

// TestUnsupportedFile: CRIU's packet_sock and packet_sock_mmap hold
// packet sockets with rings, refused before anything is made; without
// their rings they are accepted.
func TestUnsupportedFile(t *testing.T) {
	refused := 0
	for _, set := range []string{"packet_sock", "packet_sock_mmap"} {
		f := zooFiles(t, set, 1, "/nonexistent")
		for id, e := range f.table {
			if e.GetType() != images.FdTypes_PACKETSK || e.GetPsk().GetRxRing() == nil && e.GetPsk().GetTxRing() == nil {
				continue
			}
			if _, err := f.descFor(id); !errors.Is(err, ErrNotSupported) {
				t.Errorf("%s: packet socket with a ring: %v, want ErrNotSupported", set, err)
			}
			if err := f.checkEntry(e); !errors.Is(err, ErrNotSupported) {
				t.Errorf("%s: check packet socket with a ring: %v, want ErrNotSupported", set, err)
			}
			e.Psk.RxRing, e.Psk.TxRing = nil, nil
			if err := f.checkEntry(e); err != nil {
				t.Errorf("%s: check packet socket without its rings: %v", set, err)
			}
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no packet socket with a ring in packet_sock or packet_sock_mmap")
	}
}

func TestFileLocksChecked(t *testing.T) {
	s, err := openDirSet(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "file_locks00"))
	if err != nil {
		t.Fatal(err)
	}
	r := &restorer{set: s, pages: dirPages{s}, self: os.Getpid()}
	if r.files, err = newFileObjs(r); err != nil {
		t.Fatal(err)
	}
	defer r.files.close()
	r.tree = &tree{}
	if err := r.checkFiles(); !errors.Is(err, ErrBadImage) {
		t.Errorf("file locks of no planned task: %v, want ErrBadImage", err)
	}
}
