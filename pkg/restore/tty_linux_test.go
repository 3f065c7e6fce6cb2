package restore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
)

// TestZooPty checks CRIU 4.2's pty00 set: the pty pair, its queued data
// and /dev/tty (a CTTY terminal, reopened by its task: restoreDevTty) are
// accepted.
func TestZooPty(t *testing.T) {
	s, err := openDirSet(filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", "pty00"))
	if err != nil {
		t.Fatal(err)
	}
	r := &restorer{set: s, pages: dirPages{s}, self: os.Getpid()}
	if r.files, err = newFileObjs(r); err != nil {
		t.Fatal(err)
	}
	f := r.files
	for id, want := range map[uint32]error{8: nil, 10: nil, 12: nil} {
		e, err := f.entry(id)
		if err != nil || e.GetType() != images.FdTypes_TTY {
			t.Fatalf("file %d: %v, %v", id, e.GetType(), err)
		}
		if err := f.checkEntry(e); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("check file %d: %v, want %v", id, err, want)
		}
	}
	if ok, err := f.isDevTty(f.table[8]); !ok || err != nil {
		t.Errorf("file 8 not /dev/tty: %v", err)
	}
	if ok, err := f.isDevTty(f.table[10]); ok || err != nil {
		t.Errorf("file 10 taken for /dev/tty: %v", err)
	}
	tt, err := f.ttys()
	if err != nil {
		t.Fatal(err)
	}
	if len(tt.data[0]) != 60 || len(tt.data[1]) != 70 {
		t.Errorf("queued data: %d bytes of the slave, %d of the master; want 60 and 70", len(tt.data[0]), len(tt.data[1]))
	}
	p, err := f.ptyOf(f.table[10])
	if err != nil || p.master || p.index != 0 || p.path != "/dev/pts/0" {
		t.Errorf("slave: %+v, %v", p, err)
	}
}
