package imgtool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

func diffLines(t *testing.T, a, b *Set) []string {
	t.Helper()
	ds, err := Diff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, d := range ds {
		lines = append(lines, d.String())
	}
	return lines
}

func TestDiffSameSet(t *testing.T) {
	for _, name := range []string{"loop", "state", "tree"} {
		ref := fixtureSet(t, name)
		keep := LoadOptions{KeepRaw: true}
		dir := loadDir(t, ref, keep)
		if d := diffLines(t, dir, loadDir(t, testutil.CopyDir(t, ref), keep)); d != nil {
			t.Errorf("%s differs from its copy: %q", name, d)
		}
		// A stream of the set holds the same.
		var stream bytes.Buffer
		if err := image.PackDir(ref, &stream, true); err != nil {
			t.Fatal(err)
		}
		s, err := LoadStream(&stream, keep)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffLines(t, dir, s); d != nil {
			t.Errorf("%s differs from its stream: %q", name, d)
		}
	}
}

func TestDiffNamesWhatDiffers(t *testing.T) {
	ref := fixtureSet(t, "state")
	dir := testutil.CopyDir(t, ref)
	var core, mm string
	names, _ := image.ListDir(dir)
	for _, n := range names {
		switch image.KindForFile(n) {
		case image.Core:
			if core == "" {
				core = n
			}
		case image.MM:
			mm = n
		}
	}
	var state uint32
	rewrite(t, dir, core, func(img *image.Image) {
		tc := img.Entries[0].Msg.(*images.CoreEntry).Tc
		state = tc.GetTaskState()
		tc.TaskState = proto.Uint32(state + 1)
	})
	var vmas int
	rewrite(t, dir, mm, func(img *image.Image) {
		m := img.Entries[0].Msg.(*images.MmEntry)
		vmas = len(m.Vmas)
		m.Vmas[3].Fd = proto.Int64(9)
		m.Vmas = m.Vmas[:vmas-1]
	})
	rewrite(t, dir, "pipes-data.img", func(img *image.Image) {
		img.Entries[0].Extra.Data[5] ^= 0xff
	})
	pages := filepath.Join(dir, "pages-1.img")
	b, err := os.ReadFile(pages)
	if err != nil {
		t.Fatal(err)
	}
	b[4097] ^= 0xff
	if err := os.WriteFile(pages, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "pages-2.img"), 4096); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "seccomp.img")); err != nil {
		t.Fatal(err)
	}
	keep := LoadOptions{KeepRaw: true}
	got := diffLines(t, loadDir(t, ref, keep), loadDir(t, dir, keep))
	refPages, err := os.ReadFile(filepath.Join(ref, "pages-1.img"))
	if err != nil {
		t.Fatal(err)
	}
	refPipes, err := image.ReadFile(ref, "pipes-data.img")
	if err != nil {
		t.Fatal(err)
	}
	pd := refPipes.Entries[0].Extra.Data[5]
	ref2, err := os.Stat(filepath.Join(ref, "pages-2.img"))
	if err != nil {
		t.Fatal(err)
	}
	itoa := strconv.Itoa
	hexByte := func(b byte) string { return fmt.Sprintf("0x%02x", b) }
	want := []string{
		core + "[0] core_entry.tc.task_state: A " + itoa(int(state)) + ", B " + itoa(int(state+1)),
		mm + "[0] mm_entry.vmas length: A " + itoa(vmas) + ", B " + itoa(vmas-1),
		mm + "[0] mm_entry.vmas[3].fd: A -1, B 9",
		"pages-1.img byte 4097: A " + hexByte(refPages[4097]) + ", B " + hexByte(refPages[4097]^0xff),
		"pages-2.img size: A " + itoa(int(ref2.Size())) + ", B 4096",
		"pipes-data.img[0] extra.data byte 5: A " + hexByte(pd) + ", B " + hexByte(pd^0xff),
		"seccomp.img: A present, B absent",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff:\n got %q\nwant %q", got, want)
	}
}

func TestDiffNeedsRaw(t *testing.T) {
	ref := fixtureSet(t, "loop")
	if _, err := Diff(loadDir(t, ref, LoadOptions{}), loadDir(t, ref, LoadOptions{})); err == nil {
		t.Fatal("Diff of sets loaded without their raw images succeeded")
	}
}

func TestDiffUndecodable(t *testing.T) {
	ref := fixtureSet(t, "loop")
	dir := testutil.CopyDir(t, ref)
	if err := os.Truncate(filepath.Join(dir, "pstree.img"), 9); err != nil {
		t.Fatal(err)
	}
	keep := LoadOptions{KeepRaw: true}
	if _, err := Diff(loadDir(t, ref, keep), loadDir(t, dir, keep)); err == nil {
		t.Fatal("Diff with a cut pstree.img succeeded")
	}
}
