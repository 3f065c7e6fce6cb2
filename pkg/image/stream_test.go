package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
)

// dirFiles reads every regular file of dir into a map.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

func sameFiles(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d files, want %d", len(got), len(want))
	}
	for n, b := range want {
		if !bytes.Equal(got[n], b) {
			t.Errorf("%s differs after pack/unpack", n)
		}
	}
}

// streamNames lists the members of a stream in order.
func streamNames(t *testing.T, stream []byte) []string {
	t.Helper()
	sr, err := NewStreamReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	var names []string
	for {
		f, err := sr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
	}
}

func TestPackUnpackFixtures(t *testing.T) {
	for _, set := range testutil.ImageSets(t) {
		want := dirFiles(t, set)
		for _, compress := range []bool{false, true} {
			var stream bytes.Buffer
			if err := PackDir(set, &stream, compress); err != nil {
				t.Fatalf("%s: %v", set, err)
			}
			if compress != bytes.HasPrefix(stream.Bytes(), zstdMagic) {
				t.Fatalf("%s: compress=%v but stream starts % x", set, compress, stream.Bytes()[:4])
			}
			out := filepath.Join(t.TempDir(), "out")
			if err := UnpackStream(bytes.NewReader(stream.Bytes()), out); err != nil {
				t.Fatalf("%s: unpack: %v", set, err)
			}
			sameFiles(t, dirFiles(t, out), want)
			checkOrder(t, set, streamNames(t, stream.Bytes()))
		}
	}
}

// checkOrder checks the stream order contract on one packed set.
func checkOrder(t *testing.T, set string, names []string) {
	t.Helper()
	if len(names) == 1 {
		return // the cpuinfo set: one file, no tree
	}
	if len(names) < 2 || names[0] != "inventory.img" || names[1] != "pstree.img" {
		t.Errorf("%s: stream starts %v", set, names[:min(2, len(names))])
	}
	pos := map[string]int{}
	for i, n := range names {
		pos[n] = i
	}
	for _, n := range names {
		k := KindForFile(n)
		if k != Pagemap && k != ShmemPagemap {
			continue
		}
		id, err := pagesIDOf(set, n)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := pos[Pages.FileName(id)]; ok && p != pos[n]+1 {
			t.Errorf("%s: %s at %d, its pages at %d", set, n, pos[n], p)
		}
	}
	if last := names[len(names)-1]; !strings.HasPrefix(last, "stats-") {
		t.Errorf("%s: stream ends with %s, not the stats file", set, last)
	}
}

func TestStreamOrder(t *testing.T) {
	names := []string{"stats-dump", "pages-2.img", "pages-1.img", "core-10.img", "mm-9.img", "pagemap-9.img",
		"files.img", "fdinfo-10.img", "fdinfo-2.img", "pstree.img", "inventory.img", "core-9.img", "pagemap-10.img",
		"pagemap-shmem-77.img", "pages-3.img", "pages-4.img", "dump.log"}
	got := StreamOrder(names, map[string]string{
		"pagemap-9.img": "pages-2.img", "pagemap-10.img": "pages-1.img", "pagemap-shmem-77.img": "pages-3.img",
	})
	want := []string{"inventory.img", "pstree.img", "fdinfo-2.img", "fdinfo-10.img", "files.img",
		"core-9.img", "mm-9.img", "pagemap-9.img", "pages-2.img",
		"core-10.img", "pagemap-10.img", "pages-1.img",
		"pagemap-shmem-77.img", "pages-3.img",
		"dump.log", "pages-4.img", "stats-dump"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("order\n%v\nwant\n%v", got, want)
	}
}

func packed(t *testing.T, compress bool) []byte {
	t.Helper()
	var b bytes.Buffer
	sw, err := NewStreamWriter(&b, compress)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.AddBytes("inventory.img", bytes.Repeat([]byte("i"), 100)); err != nil {
		t.Fatal(err)
	}
	if err := sw.AddBytes("pages-1.img", bytes.Repeat([]byte("p"), 3000)); err != nil {
		t.Fatal(err)
	}
	// Not an image file: read past, not handed out.
	if err := sw.AddBytes("dump.log", bytes.Repeat([]byte("l"), 700)); err != nil {
		t.Fatal(err)
	}
	if err := sw.AddBytes("seccomp.img", nil); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCutStreams cuts a stream at many points: reading it must fail with
// ErrTruncated and name a member, never succeed, never panic.
func TestCutStreams(t *testing.T) {
	for _, compress := range []bool{false, true} {
		full := packed(t, compress)
		if got := streamNames(t, full); strings.Join(got, ",") != "inventory.img,pages-1.img,seccomp.img" {
			t.Fatalf("members %v", got)
		}
		for n := 0; n < len(full); n++ {
			if !compress && n >= len(full)-tarTrailerSlack(full) {
				break // the cut only removes the tar's zero padding after the end marker
			}
			err := drain(bytes.NewReader(full[:n]))
			if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("compress=%v cut at %d of %d: got %v, want ErrTruncated", compress, n, len(full), err)
			}
			if n > 1024 && !strings.Contains(err.Error(), ".img") && !strings.Contains(err.Error(), "dump.log") {
				t.Errorf("cut at %d: error %q names no member", n, err)
			}
		}
	}
}

// drain reads a whole stream, member contents included, into nothing.
func drain(r io.Reader) error {
	sr, err := NewStreamReader(r)
	if err != nil {
		return err
	}
	defer sr.Close()
	for {
		f, err := sr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, f); err != nil {
			return err
		}
	}
}

// tarTrailerSlack is how many bytes at the end of a tar come after the
// two-block end marker (archive/tar adds none, but be exact).
func tarTrailerSlack(b []byte) int {
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	// After the last non-zero byte come the member's padding, then 1024
	// bytes of marker; anything beyond is slack.
	padded := (end + tarBlock - 1) / tarBlock * tarBlock
	return len(b) - padded - 2*tarBlock
}

func TestCutInsideMemberNamesIt(t *testing.T) {
	full := packed(t, false)
	// 512 header + 512 inventory, then the pages header and 1000 bytes of pages.
	err := UnpackStream(bytes.NewReader(full[:2048+1000]), t.TempDir())
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "pages-1.img") {
		t.Fatalf("got %v", err)
	}
	out := t.TempDir()
	UnpackStream(bytes.NewReader(full[:2048+1000]), out)
	if _, err := os.Stat(filepath.Join(out, "pages-1.img")); !os.IsNotExist(err) {
		t.Errorf("truncated member left behind: %v", err)
	}
	// A cut exactly between members, where tar itself sees a clean EOF.
	err = UnpackStream(bytes.NewReader(full[:1024]), t.TempDir())
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "after inventory.img") {
		t.Fatalf("cut between members: got %v", err)
	}
}

func rawTar(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return b.Bytes()
}

func TestStreamRejects(t *testing.T) {
	for _, c := range []struct {
		name     string
		hdr      *tar.Header
		sentinel error
	}{
		{"nested", &tar.Header{Name: "a/b/core-1.img", Typeflag: tar.TypeReg, Mode: 0o600}, ErrBadName},
		{"dotdot", &tar.Header{Name: "..", Typeflag: tar.TypeReg, Mode: 0o600}, ErrBadName},
		{"parent path", &tar.Header{Name: "../x.img", Typeflag: tar.TypeReg, Mode: 0o600}, ErrBadName},
		{"symlink", &tar.Header{Name: "core-1.img", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, ErrNotRegular},
		{"hardlink", &tar.Header{Name: "core-2.img", Typeflag: tar.TypeLink, Linkname: "core-1.img"}, ErrNotRegular},
	} {
		err := UnpackStream(bytes.NewReader(rawTar(t, c.hdr)), t.TempDir())
		if !errors.Is(err, c.sentinel) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.sentinel)
		}
	}
	// Duplicate member: the reader refuses the second.
	dup := rawTar(t, &tar.Header{Name: "core-1.img", Typeflag: tar.TypeReg, Size: 1, Mode: 0o600},
		&tar.Header{Name: "core-1.img", Typeflag: tar.TypeReg, Size: 1, Mode: 0o600})
	if err := UnpackStream(bytes.NewReader(dup), t.TempDir()); !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), "comes twice") {
		t.Errorf("duplicate member: got %v", err)
	}
	// Into a directory that already has the file: O_EXCL refuses it.
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "core-1.img"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := UnpackStream(bytes.NewReader(dup), out); !errors.Is(err, os.ErrExist) {
		t.Errorf("unpack over an existing file: got %v", err)
	}
	var b bytes.Buffer
	sw, _ := NewStreamWriter(&b, false)
	if err := sw.AddBytes("../x", nil); !errors.Is(err, ErrBadName) {
		t.Errorf("AddBytes ../x: %v", err)
	}
	if err := sw.AddBytes("x.img", nil); err != nil {
		t.Fatal(err)
	}
	if err := sw.AddBytes("x.img", nil); !errors.Is(err, ErrBadName) {
		t.Errorf("AddBytes twice: %v", err)
	}
	if err := sw.AddFile("y.img", 10, strings.NewReader("short")); !errors.Is(err, ErrTruncated) {
		t.Errorf("AddFile with short reader: %v", err)
	}
	if err := UnpackStream(strings.NewReader(""), t.TempDir()); !errors.Is(err, ErrTruncated) {
		t.Errorf("empty stream: %v", err)
	}
}

// TestStreamInterop checks the stream against GNU tar and the zstd tool:
// what tar -x unpacks from a stream is the directory that was packed, and
// a stream compressed by the zstd tool reads like one of ours.
func TestStreamInterop(t *testing.T) {
	set := filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", "state")
	want := dirFiles(t, set)
	var stream bytes.Buffer
	if err := PackDir(set, &stream, false); err != nil {
		t.Fatal(err)
	}
	if tarBin, err := exec.LookPath("tar"); err == nil {
		out := t.TempDir()
		cmd := exec.Command(tarBin, "-x", "-C", out)
		cmd.Stdin = bytes.NewReader(stream.Bytes())
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tar -x: %v: %s", err, b)
		}
		sameFiles(t, dirFiles(t, out), want)
	} else {
		t.Log("no tar binary; skipping tar -x check")
	}
	if zstdBin, err := exec.LookPath("zstd"); err == nil {
		cmd := exec.Command(zstdBin, "-q", "-c")
		cmd.Stdin = bytes.NewReader(stream.Bytes())
		z, err := cmd.Output()
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		out := filepath.Join(t.TempDir(), "z")
		if err := UnpackStream(bytes.NewReader(z), out); err != nil {
			t.Fatalf("unpack zstd tool output: %v", err)
		}
		sameFiles(t, dirFiles(t, out), want)
		var ours bytes.Buffer
		if err := PackDir(set, &ours, true); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(zstdBin, "-q", "-d", "-c")
		cmd.Stdin = bytes.NewReader(ours.Bytes())
		plain, err := cmd.Output()
		if err != nil {
			t.Fatalf("zstd -d of our stream: %v", err)
		}
		if !bytes.Equal(plain, stream.Bytes()) {
			t.Error("zstd -d of a compressed stream differs from the plain stream")
		}
	} else {
		t.Log("no zstd binary; skipping zstd interop check")
	}
}

// TestStreamHeaderFormat pins the member header: ustar, mode 0600, zero
// mtime and owner, so the same files always give the same stream bytes.
func TestStreamHeaderFormat(t *testing.T) {
	b := packed(t, false)
	if got := string(b[257:265]); got != "ustar\x0000" {
		t.Errorf("format magic %q, want ustar", got)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Mode != 0o600 || h.ModTime.Unix() != 0 || h.Uid != 0 || h.Gid != 0 || h.Typeflag != tar.TypeReg {
		t.Errorf("header %+v", h)
	}
	if again := packed(t, false); !bytes.Equal(again, b) {
		t.Error("packing the same files twice gives different bytes")
	}
}
