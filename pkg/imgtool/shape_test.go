package imgtool

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

func fixtureSet(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", name)
}

func loadDir(t *testing.T, dir string, opts LoadOptions) *Set {
	t.Helper()
	s, err := LoadDir(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func shapeOf(t *testing.T, dir string) *Shape {
	t.Helper()
	sh, err := ShapeOf(loadDir(t, dir, LoadOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// rewrite decodes name of dir, lets edit change it and writes it back.
func rewrite(t *testing.T, dir, name string, edit func(img *image.Image)) {
	t.Helper()
	img, err := image.ReadFile(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	edit(img)
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteFile(dir, name, img); err != nil {
		t.Fatal(err)
	}
}

func TestFieldPathsMergesListElements(t *testing.T) {
	mm := &images.MmEntry{
		MmStartCode: proto.Uint64(1),
		Vmas: []*images.VmaEntry{
			{Start: proto.Uint64(1), End: proto.Uint64(2)},
			{Start: proto.Uint64(3), Shmid: proto.Uint64(4)},
		},
	}
	got := map[string]bool{}
	FieldPaths(mm.ProtoReflect(), "mm_entry", got)
	want := map[string]bool{
		"mm_entry.mm_start_code": true,
		"mm_entry.vmas":          true,
		"mm_entry.vmas.start":    true,
		"mm_entry.vmas.end":      true,
		"mm_entry.vmas.shmid":    true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FieldPaths = %v, want %v", got, want)
	}
}

func TestShapeOfFixture(t *testing.T) {
	dir := fixtureSet(t, "state")
	sh := shapeOf(t, dir)
	names, err := image.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range sh.Files {
		total += n
	}
	if total != len(names) {
		t.Errorf("shape counts %d files, the directory holds %d", total, len(names))
	}
	for kind, n := range map[string]int{"CORE": 4, "PAGES": 2, "SHMEM_PAGEMAP": 1, "PAGEMAP": 1, "INVENTORY": 1} {
		if sh.Files[kind] != n {
			t.Errorf("%s: %d files, want %d", kind, sh.Files[kind], n)
		}
	}
	for kind, path := range map[string]string{
		"CORE":    "core_entry.tc.task_state",
		"MM":      "mm_entry.vmas.start",
		"PAGEMAP": "pagemap_head.pages_id",
		"FILES":   "file_entry.memfd.inode_id",
	} {
		if !sh.Fields[kind][path] {
			t.Errorf("%s does not set %s: %v", kind, path, sh.Fields[kind])
		}
	}
	if sh.Fields["PAGES"] != nil {
		t.Errorf("raw PAGES has fields: %v", sh.Fields["PAGES"])
	}
}

func TestCompareShapes(t *testing.T) {
	ref := fixtureSet(t, "state")
	if d := CompareShapes(shapeOf(t, ref), shapeOf(t, ref)); d != nil {
		t.Fatalf("a set differs from itself: %v", d)
	}
	// A copy with other values but the same fields has the same shape.
	dir := testutil.CopyDir(t, ref)
	rewrite(t, dir, "inventory.img", func(img *image.Image) {
		inv := img.Entries[0].Msg.(*images.InventoryEntry)
		inv.ImgVersion = proto.Uint32(inv.GetImgVersion() + 1)
	})
	if d := CompareShapes(shapeOf(t, dir), shapeOf(t, ref)); d != nil {
		t.Fatalf("other values, same fields: %v", d)
	}
	// Clear a field in every core, add aio rings to mm, drop one pages file.
	names, _ := image.ListDir(dir)
	for _, n := range names {
		if image.KindForFile(n) == image.Core {
			rewrite(t, dir, n, func(img *image.Image) {
				img.Entries[0].Msg.(*images.CoreEntry).ThreadCore.BlkSigset = nil
			})
		}
	}
	var mm string
	for _, n := range names {
		if image.KindForFile(n) == image.MM {
			mm = n
		}
	}
	rewrite(t, dir, mm, func(img *image.Image) {
		mm := img.Entries[0].Msg.(*images.MmEntry)
		mm.Aios = append(mm.Aios, &images.AioRingEntry{Id: proto.Uint64(1), NrReq: proto.Uint32(1), RingLen: proto.Uint32(1)})
	})
	if err := os.Remove(filepath.Join(dir, "pages-2.img")); err != nil {
		t.Fatal(err)
	}
	got := CompareShapes(shapeOf(t, dir), shapeOf(t, ref))
	want := []string{
		"CORE core_entry.thread_core.blk_sigset: A unset, B set",
		"MM mm_entry.aios: A set, B unset",
		"MM mm_entry.aios.id: A set, B unset",
		"MM mm_entry.aios.nr_req: A set, B unset",
		"MM mm_entry.aios.ring_len: A set, B unset",
		"PAGES files: A 1, B 2",
	}
	var lines []string
	for _, d := range got {
		lines = append(lines, d.String())
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("CompareShapes:\n got %q\nwant %q", lines, want)
	}
}

func TestCompareShapesKindOnlyOneHas(t *testing.T) {
	a := &Shape{Files: map[string]int{"CORE": 1, "TTY_FILES": 1}, Fields: map[string]map[string]bool{
		"CORE": {"core_entry.mtype": true}, "TTY_FILES": {"tty_file_entry.id": true},
	}}
	b := &Shape{Files: map[string]int{"CORE": 1}, Fields: map[string]map[string]bool{
		"CORE": {"core_entry.mtype": true},
	}}
	got := CompareShapes(a, b)
	if len(got) != 1 || got[0].String() != "TTY_FILES files: A 1, B 0" {
		t.Errorf("CompareShapes = %v, want only the count of TTY_FILES", got)
	}
}

func TestUnderLoneFileKind(t *testing.T) {
	a := &Shape{Fields: map[string]map[string]bool{"FILES": {
		"file_entry.type": true, "file_entry.reg": true, "file_entry.reg.name": true, "file_entry.reg.size": true,
		"file_entry.pipe": true, "file_entry.pipe.id": true,
	}}}
	b := &Shape{Fields: map[string]map[string]bool{"FILES": {
		"file_entry.type": true, "file_entry.reg": true, "file_entry.reg.name": true,
		"file_entry.tty": true, "file_entry.tty.id": true,
	}}}
	for _, tc := range []struct {
		d    ShapeDiff
		want bool
	}{
		{ShapeDiff{Kind: "FILES", Path: "file_entry.pipe.id", InA: true}, true},
		{ShapeDiff{Kind: "FILES", Path: "file_entry.pipe", InA: true}, true},
		{ShapeDiff{Kind: "FILES", Path: "file_entry.tty.id"}, true},
		// Both hold regular files: a field only one sets is the dumper's.
		{ShapeDiff{Kind: "FILES", Path: "file_entry.reg.size", InA: true}, false},
		{ShapeDiff{Kind: "FILES", Path: "file_entry.type"}, false},
		{ShapeDiff{Kind: "CORE", Path: "file_entry.pipe.id", InA: true}, false},
		{ShapeDiff{Kind: "FILES", FilesA: 1}, false},
	} {
		if got := tc.d.UnderLoneFileKind(a, b); got != tc.want {
			t.Errorf("%v: UnderLoneFileKind = %v, want %v", tc.d, got, tc.want)
		}
	}
}

func TestShapeOfUndecodable(t *testing.T) {
	dir := testutil.CopyDir(t, fixtureSet(t, "loop"))
	if err := os.Truncate(filepath.Join(dir, "inventory.img"), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := ShapeOf(loadDir(t, dir, LoadOptions{})); err == nil {
		t.Fatal("ShapeOf of a set with a cut inventory.img succeeded")
	}
}
