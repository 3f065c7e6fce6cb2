package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// member files of the archives below: names as an archive holds them,
// with their contents. Image names are the ones tar -x gives a set.
var (
	setFiles = map[string][]byte{
		"inventory.img": []byte("inventory"),
		"pstree.img":    []byte("pstree"),
		"core-7.img":    []byte("core"),
		"mm-7.img":      []byte("mm"),
		"pagemap-7.img": []byte("pagemap"),
		"pages-1.img":   bytes.Repeat([]byte{0xa5}, 5000),
		"seccomp.img":   nil,
	}
	// podmanTop are the files Podman's checkpoint --export puts next to
	// its checkpoint/ directory; only stats-dump is an image.
	podmanTop = map[string][]byte{
		"config.dump":           []byte(`{"id": "c0ffee"}`),
		"spec.dump":             []byte(`{"ociVersion": "1.0.2"}`),
		"network.status":        []byte("[]"),
		"stats-dump":            []byte("stats"),
		"rootfs-diff.tar":       bytes.Repeat([]byte{0}, 3*tarBlock),
		"deleted.files":         []byte("[]"),
		"bind.mounts":           []byte("[]"),
		"devshm-checkpoint.tar": bytes.Repeat([]byte{0}, 2*tarBlock),
	}
)

type tarMember struct {
	hdr  tar.Header
	data []byte
}

func regular(name string, data []byte) tarMember {
	return tarMember{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(data))}, data}
}

func directory(name string) tarMember {
	return tarMember{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o700}}
}

// makeTar writes ms as a tar archive in format (FormatUnknown: as
// archive/tar chooses).
func makeTar(t *testing.T, format tar.Format, ms ...tarMember) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		h := m.hdr
		h.Format = format
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readAll reads every member a StreamReader hands out.
func readAll(t *testing.T, stream []byte) (map[string][]byte, error) {
	t.Helper()
	ms, err := readMembers(bytes.NewReader(stream))
	if err != nil {
		return nil, err
	}
	got := map[string][]byte{}
	for _, m := range ms {
		got[m.name] = m.data
	}
	return got, nil
}

func wantFiles(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	var g, w []string
	for n := range got {
		g = append(g, n)
	}
	for n := range want {
		w = append(w, n)
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: members %v, want %v", what, g, w)
	}
	for n := range want {
		if !bytes.Equal(got[n], want[n]) {
			t.Errorf("%s: %s differs", what, n)
		}
	}
}

// withStats is setFiles and a stats-dump.
func withStats() map[string][]byte {
	m := map[string][]byte{"stats-dump": podmanTop["stats-dump"]}
	for n, b := range setFiles {
		m[n] = b
	}
	return m
}

// TestStreamShapes reads the archives tar and Podman make, written here
// with archive/tar so that every shape is checked on any machine.
func TestStreamShapes(t *testing.T) {
	dotSlash := []tarMember{directory("./")}
	for n, b := range setFiles {
		dotSlash = append(dotSlash, regular("./"+n, b))
	}
	dotSlash = append(dotSlash, regular("./dump.log", []byte("log")), directory("./sub/"), regular("./sub/notes", []byte("x")))

	podman := func(top, dir string) []tarMember {
		var ms []tarMember
		if top != "" {
			ms = append(ms, directory(top))
		}
		for _, n := range []string{"config.dump", "spec.dump", "network.status", "stats-dump", "devshm-checkpoint.tar"} {
			ms = append(ms, regular(top+n, podmanTop[n]))
		}
		ms = append(ms, directory(top+dir+"/"))
		for n, b := range setFiles {
			ms = append(ms, regular(top+dir+"/"+n, b))
		}
		for _, n := range []string{"rootfs-diff.tar", "deleted.files", "bind.mounts"} {
			ms = append(ms, regular(top+n, podmanTop[n]))
		}
		return append(ms, directory(top+"volumes/"), regular(top+"volumes/data.tar", podmanTop["rootfs-diff.tar"]))
	}
	// stats-dump in the image directory, not at the top.
	statsInside := []tarMember{directory("checkpoint")}
	for n, b := range withStats() {
		statsInside = append(statsInside, regular("checkpoint/"+n, b))
	}

	for _, c := range []struct {
		name string
		ms   []tarMember
		want map[string][]byte
	}{
		{"tar -C DIR -cf - .", dotSlash, setFiles},
		{"podman", podman("", "checkpoint"), withStats()},
		{"podman through ./", podman("./", "checkpoint"), withStats()},
		{"podman pre-checkpoint", podman("", "pre-checkpoint"), withStats()},
		{"stats in the image directory", statsInside, withStats()},
	} {
		for _, format := range []tar.Format{tar.FormatUnknown, tar.FormatUSTAR, tar.FormatPAX, tar.FormatGNU} {
			got, err := readAll(t, makeTar(t, format, c.ms...))
			if err != nil {
				t.Fatalf("%s (%v): %v", c.name, format, err)
			}
			wantFiles(t, fmt.Sprintf("%s (%v)", c.name, format), got, c.want)
		}
	}
}

// TestStreamLongNames: names over ustar's 100 bytes come in PAX records or
// GNU long-name headers, which archive/tar merges into the member.
func TestStreamLongNames(t *testing.T) {
	dir := strings.Repeat("d", 150)
	for _, format := range []tar.Format{tar.FormatPAX, tar.FormatGNU} {
		b := makeTar(t, format, directory(dir+"/"), regular(dir+"/inventory.img", []byte("i")),
			regular(dir+"/"+strings.Repeat("n", 120), []byte("not an image")))
		got, err := readAll(t, b)
		if err != nil {
			t.Fatalf("%v: %v", format, err)
		}
		wantFiles(t, format.String(), got, map[string][]byte{"inventory.img": []byte("i")})
	}
}

// setType rewrites the type of the first header of an archive (and its
// checksum), for the old types archive/tar does not write.
func setType(b []byte, flag byte) {
	b[156] = flag
	copy(b[148:156], "        ")
	var sum int
	for _, c := range b[:tarBlock] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// TestStreamOldTypes: '\x00' (pre-POSIX tar) and '7' (contiguous file) are
// regular files.
func TestStreamOldTypes(t *testing.T) {
	for _, flag := range []byte{0, tar.TypeCont} { // 0 is '\x00', the deprecated tar.TypeRegA
		b := makeTar(t, tar.FormatUSTAR, regular("inventory.img", []byte("inv")), regular("pstree.img", []byte("ps")))
		setType(b, flag)
		if h, err := tar.NewReader(bytes.NewReader(b)).Next(); err != nil {
			t.Fatalf("patched header: %v", err)
		} else if flag == tar.TypeCont && h.Typeflag != flag {
			t.Fatalf("patched header has type %q", h.Typeflag)
		}
		got, err := readAll(t, b)
		if err != nil {
			t.Fatalf("type %q: %v", flag, err)
		}
		wantFiles(t, fmt.Sprintf("type %q", flag), got, map[string][]byte{"inventory.img": []byte("inv"), "pstree.img": []byte("ps")})
	}
	// A pax global header (git archive writes one) is skipped.
	b := makeTar(t, tar.FormatPAX,
		tarMember{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "made by hand"}}},
		regular("inventory.img", []byte("inv")))
	got, err := readAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles(t, "global header", got, map[string][]byte{"inventory.img": []byte("inv")})
}

// TestStreamRefusesShapes: what the reader refuses in an archive, with the
// member named in the error.
func TestStreamRefusesShapes(t *testing.T) {
	huge := regular("rootfs-diff.tar", nil)
	huge.hdr.Size = MaxStreamFileSize + 1
	hugeTar := func() []byte {
		// Only the header: the reader must refuse before any data.
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		h := huge.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()
	for _, c := range []struct {
		name     string
		stream   []byte
		sentinel error
		says     []string
	}{
		{"nested image directory", makeTar(t, 0, directory("checkpoint/"), regular("checkpoint/inventory.img", nil),
			directory("checkpoint/sub/"), regular("checkpoint/sub/core-1.img", nil)),
			ErrBadName, []string{"checkpoint/sub/core-1.img", "2 directories deep"}},
		{"two image directories", makeTar(t, 0, regular("a/inventory.img", nil), regular("b/core-1.img", nil)),
			ErrBadName, []string{"member b/core-1.img", "both in a/ and in b/"}},
		{"top and directory", makeTar(t, 0, regular("./inventory.img", nil), regular("./checkpoint/core-1.img", nil)),
			ErrBadName, []string{"./checkpoint/core-1.img", "the top of the archive and in checkpoint/"}},
		{"stats-dump twice", makeTar(t, 0, regular("stats-dump", nil), regular("checkpoint/stats-dump", nil)),
			ErrBadName, []string{"checkpoint/stats-dump", "comes twice"}},
		{"dotdot", makeTar(t, 0, regular("../core-1.img", nil)), ErrBadName, []string{"../core-1.img", `".."`}},
		{"dotdot after ./", makeTar(t, 0, regular("./../core-1.img", nil)), ErrBadName, []string{"./../core-1.img"}},
		{"dotdot inside", makeTar(t, 0, regular("checkpoint/../core-1.img", nil)), ErrBadName, []string{"checkpoint/../core-1.img"}},
		{"dotdot in a skipped file", makeTar(t, 0, regular("../config.dump", nil)), ErrBadName, []string{"../config.dump"}},
		{"dotdot directory", makeTar(t, 0, directory("../")), ErrBadName, []string{`".."`}},
		{"absolute", makeTar(t, 0, regular("/tmp/inventory.img", nil)), ErrBadName, []string{"/tmp/inventory.img", "absolute"}},
		{"double slash", makeTar(t, 0, regular("checkpoint//core-1.img", nil)), ErrBadName, []string{"shortest form"}},
		{"symlink, not an image name", makeTar(t, 0, tarMember{hdr: tar.Header{Name: "config.dump", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}}),
			ErrNotRegular, []string{"config.dump"}},
		{"hardlink in a directory", makeTar(t, 0, tarMember{hdr: tar.Header{Name: "checkpoint/core-1.img", Typeflag: tar.TypeLink, Linkname: "x"}}),
			ErrNotRegular, []string{"checkpoint/core-1.img"}},
		{"device", makeTar(t, 0, tarMember{hdr: tar.Header{Name: "./pages-1.img", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}),
			ErrNotRegular, []string{"./pages-1.img"}},
		{"fifo", makeTar(t, 0, tarMember{hdr: tar.Header{Name: "spec.dump", Typeflag: tar.TypeFifo}}), ErrNotRegular, []string{"spec.dump"}},
		{"oversized skipped file", hugeTar, ErrTooLarge, []string{"rootfs-diff.tar"}},
		{"regular file named .", makeTar(t, 0, regular(".", nil)), ErrBadName, []string{"member .:", "top of the archive"}},
	} {
		_, err := readAll(t, c.stream)
		if !errors.Is(err, c.sentinel) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.sentinel)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not say %q", c.name, err, s)
			}
		}
	}
}

// TestSkippedMembersCut: a stream cut inside or after a member the reader
// skips is still ErrTruncated, naming it.
func TestSkippedMembersCut(t *testing.T) {
	full := makeTar(t, 0, regular("inventory.img", []byte("i")), regular("config.dump", bytes.Repeat([]byte("c"), 1500)))
	for _, n := range []int{1024 + 512 + 700, 1024 + 512 + 1536} {
		_, err := readAll(t, full[:n])
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "config.dump") {
			t.Errorf("cut at %d: got %v", n, err)
		}
	}
}

// writeFiles creates files (names with directories) under root.
func writeFiles(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for n, b := range files {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStreamFromGNUTar reads what the tar binary writes for an image
// directory (tar -C DIR -cf - .) and for a Podman-like bundle, and unpacks
// them into the image directory.
func TestStreamFromGNUTar(t *testing.T) {
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar binary")
	}
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(tarBin, args...).Output()
		if err != nil {
			t.Fatalf("tar %v: %v", args, err)
		}
		return out
	}
	dir := t.TempDir()
	writeFiles(t, dir, withStats())
	writeFiles(t, dir, map[string][]byte{"dump.log": []byte("log"), "sub/notes": []byte("n")})

	bundle := t.TempDir()
	writeFiles(t, bundle, podmanTop)
	checkpoint := map[string][]byte{}
	for n, b := range setFiles {
		checkpoint["checkpoint/"+n] = b
	}
	writeFiles(t, bundle, checkpoint)

	// Sparse files (tar --sparse, as a pages file with holes punched would
	// be) are refused: their data in the archive is shorter than their size.
	sparse := t.TempDir()
	writeFiles(t, sparse, map[string][]byte{"inventory.img": []byte("i")})
	if err := os.WriteFile(filepath.Join(sparse, "pages-1.img"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(sparse, "pages-1.img"), 1<<20); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"posix", "gnu"} {
		_, err := readAll(t, run("-C", sparse, "--sparse", "--format="+format, "-cf", "-", "."))
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "./pages-1.img") {
			t.Errorf("tar --sparse --format=%s: got %v, want ErrNotRegular naming ./pages-1.img", format, err)
		}
	}

	for _, c := range []struct {
		name   string
		stream []byte
	}{
		{"tar -C DIR -cf - .", run("-C", dir, "-cf", "-", ".")},
		{"tar --format=posix", run("-C", dir, "--format=posix", "-cf", "-", ".")},
		{"tar --format=v7", run("-C", dir, "--format=v7", "-cf", "-", ".")},
		{"tar of a bundle", run("-C", bundle, "-cf", "-", ".")},
		{"tar of named files", run("-C", bundle, "-cf", "-", "config.dump", "stats-dump", "checkpoint", "rootfs-diff.tar")},
	} {
		if c.name == "tar -C DIR -cf - ." && !bytes.Contains(c.stream[:100], []byte("./")) {
			t.Fatalf("tar did not write ./ names")
		}
		got, err := readAll(t, c.stream)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantFiles(t, c.name, got, withStats())
		out := filepath.Join(t.TempDir(), "set")
		if err := UnpackStream(bytes.NewReader(c.stream), out); err != nil {
			t.Fatalf("unpack %s: %v", c.name, err)
		}
		wantFiles(t, "unpacked "+c.name, dirFiles(t, out), withStats())
	}
}
