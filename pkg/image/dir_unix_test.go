//go:build unix

package image

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestDirRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "core-1.img"), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := OpenFile(dir, "core-1.img"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenFile on a FIFO: got %v, want ErrNotRegular", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "mm-1.img"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(dir, "mm-1.img"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenFile on a directory: got %v, want ErrNotRegular", err)
	}
}
