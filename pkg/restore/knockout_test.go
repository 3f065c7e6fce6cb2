package restore

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// TestPrepareKnockout reads the fixture sets with one field of one entry
// (or of a message right inside it) cleared at a time, and checks that
// reading and planning the restore never panics: a broken image is an
// error naming it.
func TestPrepareKnockout(t *testing.T) {
	for _, name := range []string{"state", "tree"} {
		dir := filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", name)
		files, err := image.ListDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		base := map[string]*image.Image{}
		for _, f := range files {
			if k := image.KindForFile(f); k == nil || k.Raw() {
				continue
			}
			img, err := image.ReadFile(dir, f)
			if err != nil {
				t.Fatal(err)
			}
			base[f] = img
		}
		names := make([]string, 0, len(base))
		for f := range base {
			names = append(names, f)
		}
		sort.Strings(names)
		runs := 0
		for _, f := range names {
			for i := range base[f].Entries {
				for _, path := range fieldPaths(base[f].Entries[i].Msg) {
					runs++
					set := cloneSet(base, dir)
					img, _ := set.Recorded(f)
					clearPath(img.Entries[i].Msg.ProtoReflect(), path)
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Errorf("%s/%s entry %d without %v: panic: %v", name, f, i, path, p)
							}
						}()
						r := &restorer{set: set, pages: dirPages{set}, self: os.Getpid()}
						r.prepare()
					}()
				}
			}
		}
		t.Logf("%s: %d knocked-out fields", name, runs)
	}
}

// fieldPaths lists the fields of m that are set, and those of the messages
// right inside it, as paths of field numbers.
func fieldPaths(m proto.Message) [][]protoreflect.FieldNumber {
	var out [][]protoreflect.FieldNumber
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		out = append(out, []protoreflect.FieldNumber{fd.Number()})
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			v.Message().Range(func(sub protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
				out = append(out, []protoreflect.FieldNumber{fd.Number(), sub.Number()})
				return true
			})
		}
		return true
	})
	return out
}

func clearPath(m protoreflect.Message, path []protoreflect.FieldNumber) {
	fd := m.Descriptor().Fields().ByNumber(path[0])
	if len(path) == 1 {
		m.Clear(fd)
		return
	}
	clearPath(m.Mutable(fd).Message(), path[1:])
}

func cloneSet(base map[string]*image.Image, dir string) *imageSet {
	set := &imageSet{image.NewSet(dir)}
	for f, img := range base {
		c := &image.Image{Kind: img.Kind}
		for _, e := range img.Entries {
			c.Entries = append(c.Entries, image.Entry{Msg: proto.Clone(e.Msg), Extra: e.Extra})
		}
		set.Add(f, c)
	}
	return set
}
