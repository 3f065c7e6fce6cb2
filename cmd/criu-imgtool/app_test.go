package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/imgtool"
)

// run runs criu-imgtool with args, stdin in, and returns stdout, stderr and the error.
func run(t *testing.T, in []byte, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp(bytes.NewReader(in), &out)
	app.ErrWriter = &errb
	err := app.Run(append([]string{"criu-imgtool"}, args...))
	return out.String(), errb.String(), err
}

func restorableSets(t *testing.T) []string {
	base := filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images")
	var sets []string
	for _, s := range []string{"loop", "state", "tree"} {
		sets = append(sets, filepath.Join(base, s))
	}
	return sets
}

func sameDirs(t *testing.T, a, b string) {
	t.Helper()
	ea, _ := os.ReadDir(a)
	eb, _ := os.ReadDir(b)
	if len(ea) != len(eb) {
		t.Fatalf("%s has %d files, %s has %d", a, len(ea), b, len(eb))
	}
	for _, e := range ea {
		x, _ := os.ReadFile(filepath.Join(a, e.Name()))
		y, err := os.ReadFile(filepath.Join(b, e.Name()))
		if err != nil || !bytes.Equal(x, y) {
			t.Fatalf("%s differs after the round trip (%v)", e.Name(), err)
		}
	}
}

func TestVerifyAcceptsFixtures(t *testing.T) {
	for _, set := range testutil.ImageSets(t) {
		out, errs, err := run(t, nil, "verify", "-D", set)
		if strings.Contains(set, "zoo") {
			// Zoo sets have their pages left out: only decoding must hold.
			if strings.Contains(errs, "does not decode") {
				t.Errorf("%s: %s", set, errs)
			}
			continue
		}
		if err != nil {
			t.Errorf("verify %s: %v\n%s", set, err, errs)
		} else if !strings.Contains(out, "holds together") {
			t.Errorf("verify %s printed %q", set, out)
		}
	}
}

func TestVerifyNamesWhatIsMissing(t *testing.T) {
	for _, set := range restorableSets(t) {
		t.Run(filepath.Base(set), func(t *testing.T) {
			for _, victim := range []string{"mm", "core", "pagemap", "files.img", "pstree.img", "inventory.img", "fdinfo"} {
				dir := testutil.CopyDir(t, set)
				ents, _ := os.ReadDir(dir)
				var name string
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), victim) {
						name = e.Name()
						break
					}
				}
				if name == "" {
					continue
				}
				os.Remove(filepath.Join(dir, name))
				_, errs, err := run(t, nil, "verify", "-D", dir)
				if !errors.Is(err, imgtool.ErrInvalid) {
					t.Errorf("verify without %s: err %v, want ErrInvalid", name, err)
				}
				if !strings.Contains(errs, name) && !strings.Contains(errs, "lacks") {
					t.Errorf("verify without %s does not name it:\n%s", name, errs)
				}
			}
		})
	}
}

func TestVerifyShortPages(t *testing.T) {
	for _, set := range restorableSets(t) {
		dir := testutil.CopyDir(t, set)
		p := filepath.Join(dir, "pages-1.img")
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, st.Size()-4096); err != nil {
			t.Fatal(err)
		}
		_, errs, err := run(t, nil, "verify", "-D", dir)
		if err == nil || !strings.Contains(errs, "pages-1.img") {
			t.Errorf("%s: verify of a shortened pages-1.img: err %v, stderr %q", set, err, errs)
		}
	}
}

func TestPackUnpackRoundTrip(t *testing.T) {
	for _, set := range restorableSets(t) {
		for _, compress := range []bool{false, true} {
			args := []string{"pack", "-D", set}
			if compress {
				args = append(args, "--compress")
			}
			stream, _, err := run(t, nil, args...)
			if err != nil {
				t.Fatal(err)
			}
			if compress != bytes.HasPrefix([]byte(stream), []byte{0x28, 0xb5, 0x2f, 0xfd}) {
				t.Fatalf("pack --compress=%v wrote the wrong kind of stream", compress)
			}
			dst := filepath.Join(t.TempDir(), "out")
			if _, errs, err := run(t, []byte(stream), "unpack", "-D", dst); err != nil {
				t.Fatalf("unpack: %v %s", err, errs)
			}
			sameDirs(t, set, dst)
			// verify and stats read streams too.
			if _, errs, err := run(t, []byte(stream), "verify"); err != nil {
				t.Fatalf("verify of the stream: %v %s", err, errs)
			}
			if out, _, err := run(t, []byte(stream), "stats"); err != nil || !strings.Contains(out, "tasks") {
				t.Fatalf("stats of the stream: %v %q", err, out)
			}
		}
	}
}

// podmanBundle lays set out as Podman's checkpoint --export does: the
// images under checkpoint/ (stats-dump beside it, where CRIU's work
// directory is), with the files of the container around them.
func podmanBundle(t *testing.T, set string) string {
	t.Helper()
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "checkpoint"), 0o700); err != nil {
		t.Fatal(err)
	}
	testutil.CopyDirTo(t, set, filepath.Join(bundle, "checkpoint"))
	if err := os.Rename(filepath.Join(bundle, "checkpoint", "stats-dump"), filepath.Join(bundle, "stats-dump")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, n := range []string{"config.dump", "spec.dump", "network.status", "rootfs-diff.tar", "deleted.files"} {
		if err := os.WriteFile(filepath.Join(bundle, n), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return bundle
}

// TestUnpackUserTars: what tar makes of an image directory (tar -C DIR
// -cf - .) and of a Podman-like bundle unpacks, verifies and recompresses
// like one of our streams.
func TestUnpackUserTars(t *testing.T) {
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar binary")
	}
	for _, set := range restorableSets(t) {
		for _, c := range []struct{ name, dir string }{
			{"tar -C DIR -cf - .", set},
			{"podman bundle", podmanBundle(t, set)},
		} {
			stream, err := exec.Command(tarBin, "-C", c.dir, "-cf", "-", ".").Output()
			if err != nil {
				t.Fatalf("tar: %v", err)
			}
			dst := filepath.Join(t.TempDir(), "out")
			if _, errs, err := run(t, stream, "unpack", "-D", dst); err != nil {
				t.Fatalf("%s: unpack %s: %v %s", c.name, set, err, errs)
			}
			sameDirs(t, set, dst)
			if _, errs, err := run(t, stream, "verify"); err != nil {
				t.Fatalf("%s: verify %s: %v %s", c.name, set, err, errs)
			}
			// Recompressing gives our stream: flat names, images only.
			z, _, err := run(t, stream, "compress")
			if err != nil {
				t.Fatal(err)
			}
			again := filepath.Join(t.TempDir(), "again")
			if _, errs, err := run(t, []byte(z), "unpack", "-D", again); err != nil {
				t.Fatalf("%s: unpack the recompressed stream: %v %s", c.name, err, errs)
			}
			sameDirs(t, set, again)
		}
	}
}

func TestCompressDecompress(t *testing.T) {
	set := restorableSets(t)[1]
	plain, _, err := run(t, nil, "pack", "-D", set)
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := run(t, []byte(plain), "compress")
	if err != nil {
		t.Fatal(err)
	}
	if len(z) >= len(plain) {
		t.Errorf("compressed stream of %d bytes is not smaller than %d", len(z), len(plain))
	}
	back, _, err := run(t, []byte(z), "decompress")
	if err != nil {
		t.Fatal(err)
	}
	if back != plain {
		t.Fatal("compress | decompress changed the stream")
	}
}

func TestCutStreamFails(t *testing.T) {
	set := restorableSets(t)[0]
	stream, _, err := run(t, nil, "pack", "-D", set)
	if err != nil {
		t.Fatal(err)
	}
	cut := stream[:len(stream)/2]
	_, _, err = run(t, []byte(cut), "unpack", "-D", filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("unpack of a cut stream: %v", err)
	}
	if _, _, err := run(t, []byte(cut), "verify"); err == nil {
		t.Fatal("verify of a cut stream succeeded")
	}
}

func TestStatsCountsTasks(t *testing.T) {
	out, _, err := run(t, nil, "stats", "-D", restorableSets(t)[2])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "tasks       5 (5 threads, 1 zombies)") {
		t.Errorf("stats of the tree set:\n%s", out)
	}
}

func TestDiffExitStatus(t *testing.T) {
	sets := restorableSets(t)
	state, loop := sets[1], sets[0]
	stream := filepath.Join(t.TempDir(), "state.tar")
	if _, errs, err := run(t, nil, "pack", "-D", state, "-o", stream); err != nil {
		t.Fatalf("pack: %v %s", err, errs)
	}
	streamBytes, err := os.ReadFile(stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		args   []string
		status int    // 0: no error
		out    string // a line stdout must hold ("" for none at all)
	}{
		{"same", nil, []string{"diff", state, testutil.CopyDir(t, state)}, 0, ""},
		{"dir and stream", nil, []string{"diff", state, stream}, 0, ""},
		{"stdin", streamBytes, []string{"diff", "-", state}, 0, ""},
		{"shape equal", nil, []string{"diff", "--shape", state, stream}, 0, ""},
		{"different", nil, []string{"diff", state, loop}, 1, "memfd.img: A present, B absent"},
		{"shape different", nil, []string{"diff", "--shape", state, loop}, 1, "PAGES files: A 2, B 1"},
		{"missing", nil, []string{"diff", state, filepath.Join(t.TempDir(), "none")}, 2, ""},
		{"one set", nil, []string{"diff", state}, 2, ""},
		{"both stdin", nil, []string{"diff", "-", "-"}, 2, ""},
		{"bad flag", nil, []string{"diff", "--nope", state, loop}, 2, ""},
	} {
		out, _, err := run(t, tc.in, tc.args...)
		status := 0
		if err != nil {
			status = exitStatus(err)
		}
		if status != tc.status {
			t.Errorf("%s: exit status %d (%v), want %d", tc.name, status, err, tc.status)
		}
		if tc.status == 1 && !errors.Is(err, errDiffer) {
			t.Errorf("%s: err %v, want errDiffer", tc.name, err)
		}
		switch {
		case tc.out == "" && out != "":
			t.Errorf("%s printed %q", tc.name, out)
		case tc.out != "" && !strings.Contains("\n"+out, "\n"+tc.out+"\n"):
			t.Errorf("%s: no line %q in\n%s", tc.name, tc.out, out)
		}
	}
}
