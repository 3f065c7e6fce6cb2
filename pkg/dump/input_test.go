package dump

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/seize"
)

// seizeFiles builds the three images of a seize stream for one task with
// one thread; mod may change them before encoding.
func seizeFiles(t testing.TB, mod func(*images.PstreeEntry, *images.CriugoFreezeEntry)) map[string][]byte {
	t.Helper()
	ps := &images.PstreeEntry{Pid: proto.Uint32(42), Ppid: proto.Uint32(0), Pgid: proto.Uint32(42), Sid: proto.Uint32(42), Threads: []uint32{42}}
	rec := &images.CriugoFreezeEntry{
		Method:  images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP.Enum(),
		RootPid: proto.Uint32(42),
		Tasks: []*images.CriugoFreezeTaskEntry{{
			Pid: proto.Uint32(42), NsPid: proto.Uint32(42), State: images.CriugoTaskState_CRIUGO_TASK_RUNNING.Enum(),
			StoppedByUs: proto.Bool(true), Shdpnd: proto.Uint64(0), StartTime: proto.Uint64(1),
			Threads: []*images.CriugoFreezeThreadEntry{{Tid: proto.Uint32(42), NsTid: proto.Uint32(42), Sigpnd: proto.Uint64(0)}},
		}},
	}
	if mod != nil {
		mod(ps, rec)
	}
	inv, err := encodeImage(image.Inventory, image.Entry{Msg: seize.Inventory("run")})
	if err != nil {
		t.Fatal(err)
	}
	pst, err := encodeImage(image.Pstree, image.Entry{Msg: ps})
	if err != nil {
		t.Fatal(err)
	}
	var fr bytes.Buffer
	if err := seize.WriteRecord(&fr, rec); err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"inventory.img": inv, "pstree.img": pst, seize.FreezeFile: fr.Bytes()}
}

func streamOf(t testing.TB, files map[string][]byte, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	sw, err := image.NewStreamWriter(&b, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := sw.AddBytes(n, files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadSeizeStream(t *testing.T) {
	files := seizeFiles(t, nil)
	all := []string{"inventory.img", "pstree.img", seize.FreezeFile}
	in, err := readSeizeStream(bytes.NewReader(streamOf(t, files, all...)))
	if err != nil {
		t.Fatal(err)
	}
	if in.rec.GetRootPid() != 42 || len(in.pstree) != 1 || !bytes.Equal(in.inventory, files["inventory.img"]) {
		t.Errorf("read %+v", in)
	}

	// No freeze record: refused, and nothing to thaw with.
	in, err = readSeizeStream(bytes.NewReader(streamOf(t, files, "inventory.img", "pstree.img")))
	if !errors.Is(err, ErrBadInput) || in.rec != nil {
		t.Errorf("no record: %v, rec %v", err, in.rec)
	}
	// Cut after the record: refused, but the record is there to thaw.
	s := streamOf(t, files, seize.FreezeFile, "inventory.img", "pstree.img")
	in, err = readSeizeStream(bytes.NewReader(s[:len(s)-1500]))
	if !errors.Is(err, ErrBadInput) || in.rec == nil {
		t.Errorf("cut stream: %v, rec %v", err, in.rec)
	}
	// An unexpected member.
	files["core-42.img"] = []byte("x")
	if _, err := readSeizeStream(bytes.NewReader(streamOf(t, files, append(all, "core-42.img")...))); !errors.Is(err, ErrBadInput) {
		t.Errorf("extra member: %v", err)
	}
}

func TestSeizeInputDisagrees(t *testing.T) {
	for name, mod := range map[string]func(*images.PstreeEntry, *images.CriugoFreezeEntry){
		"pid":     func(p *images.PstreeEntry, _ *images.CriugoFreezeEntry) { p.Pid = proto.Uint32(43) },
		"threads": func(p *images.PstreeEntry, _ *images.CriugoFreezeEntry) { p.Threads = []uint32{42, 44} },
		"tasks": func(_ *images.PstreeEntry, r *images.CriugoFreezeEntry) {
			r.Tasks = append(r.Tasks, proto.Clone(r.Tasks[0]).(*images.CriugoFreezeTaskEntry))
		},
	} {
		files := seizeFiles(t, mod)
		_, err := readSeizeStream(bytes.NewReader(streamOf(t, files, "inventory.img", "pstree.img", seize.FreezeFile)))
		if !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: %v, want ErrBadInput", name, err)
		}
	}
}

func TestDirSink(t *testing.T) {
	dir := t.TempDir()
	d := newDirSink(dir)
	if err := d.add("a.img", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := d.add("a.img", []byte("y")); err == nil {
		t.Error("an existing file was overwritten")
	}
	if err := d.add("../b.img", nil); err == nil {
		t.Error("a name outside the directory was accepted")
	}
	d.abort()
	if names, _ := image.ListDir(dir); len(names) != 0 {
		t.Errorf("abort left %v", names)
	}
}

func FuzzReadSeizeStream(f *testing.F) {
	files := seizeFiles(f, nil)
	f.Add(streamOf(f, files, "inventory.img", "pstree.img", seize.FreezeFile))
	f.Add(streamOf(f, files, seize.FreezeFile))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := readSeizeStream(bytes.NewReader(b))
		if err == nil && (in.rec == nil || in.inv == nil || in.pstree == nil) {
			t.Fatalf("accepted an incomplete input: %+v", in)
		}
	})
}
