package restore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

func TestSameVdsoCode(t *testing.T) {
	pages, err := os.ReadFile(filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", "loop", "pages-1.img"))
	if err != nil {
		t.Fatal(err)
	}
	// pagemap-16226.img: 1+5+1+2 pages come before the 2 [vdso] pages.
	vdso := pages[9*pageSize : 11*pageSize]
	if vdso[0] != 0x7f || string(vdso[1:4]) != "ELF" {
		t.Fatal("no ELF header where the vdso pages should be")
	}
	if !sameVdsoCode(vdso, vdso) {
		t.Error("a vdso differs from itself")
	}
	other := append([]byte(nil), vdso...)
	other[0x604] ^= 0xff // in the build-id note
	if !sameVdsoCode(vdso, other) {
		t.Error("a different build id makes the code differ")
	}
	other = append([]byte(nil), vdso...)
	other[0x800] ^= 0xff // in .text
	if sameVdsoCode(vdso, other) {
		t.Error("different code passes")
	}
	if sameVdsoCode(vdso, make([]byte, len(vdso))) {
		t.Error("zeros pass for a vdso")
	}
}
