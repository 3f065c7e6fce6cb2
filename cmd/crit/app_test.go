package main

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/crit"
	"github.com/criugo/criugo/pkg/image"
)

// When this variable is set, the test binary is crit itself (TestMain), so
// tests can check what the real main prints and its exit status.
const beCritEnv = "CRIUGO_TEST_BE_CRIT"

func TestMain(m *testing.M) {
	if os.Getenv(beCritEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCrit runs the app in-process.
func runCrit(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(append([]string{"crit"}, args...), bytes.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), err
}

// execCrit runs crit as a process (the test binary re-executed).
func execCrit(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), beCritEnv+"=1")
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		status = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errb.String(), status
}

func fixture(t *testing.T, parts ...string) string {
	t.Helper()
	return filepath.Join(append([]string{testutil.FixturesDir(t)}, parts...)...)
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeEncodeCommands(t *testing.T) {
	img := fixture(t, "criu-4.2", "images", "state", "core-16227.img")
	want := string(readFile(t, fixture(t, "criu-4.2", "json", "state", "core-16227.img.json")))

	out, err := runCrit(t, nil, "decode", "-i", img, "--pretty")
	if err != nil || out != want {
		t.Fatalf("decode -i --pretty: %v, output equal: %v", err, out == want)
	}
	out, err = runCrit(t, readFile(t, img), "decode", "--pretty")
	if err != nil || out != want {
		t.Fatalf("decode from stdin: %v, output equal: %v", err, out == want)
	}
	out, err = runCrit(t, nil, "show", img)
	if err != nil || out != want {
		t.Fatalf("show: %v, output equal: %v", err, out == want)
	}

	// decode -o writes no final newline, as crit; encode gives the image back.
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "core.json")
	if _, err := runCrit(t, nil, "decode", "-i", img, "-o", jsonFile); err != nil {
		t.Fatal(err)
	}
	plain := readFile(t, jsonFile)
	if !bytes.HasPrefix(plain, []byte(`{"magic": "CORE", "entries": [{`)) || bytes.HasSuffix(plain, []byte("\n")) {
		t.Errorf("decode -o wrote %.60q...", plain)
	}
	imgOut := filepath.Join(dir, "core-1.img")
	if _, err := runCrit(t, nil, "encode", "-i", jsonFile, "-o", imgOut); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, imgOut), readFile(t, img)) {
		t.Error("encode -o did not give back the image")
	}
	if info, err := os.Stat(imgOut); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("encoded image mode: %v, %v", info.Mode(), err)
	}
	// Image files are never replaced.
	if _, err := runCrit(t, nil, "encode", "-i", jsonFile, "-o", imgOut); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("encode over an existing image: %v", err)
	}
	out, err = runCrit(t, plain, "encode")
	if err != nil || out != string(readFile(t, img)) {
		t.Errorf("encode from stdin to stdout: %v", err)
	}
}

func TestInfoAndShowNoPayload(t *testing.T) {
	out, err := runCrit(t, nil, "info", fixture(t, "criu-4.2", "images", "loop", "pagemap-16226.img"))
	if err != nil || out != "{\n    \"magic\": \"PAGEMAP\",\n    \"count\": 6\n}\n" {
		t.Errorf("info pagemap = %q, %v", out, err)
	}
	out, err = runCrit(t, nil, "info", fixture(t, "criu-4.2-zoo", "images", "msgque", "ipcns-msg-9.img"))
	if err != nil || out != "{\n    \"magic\": \"IPCNS_MSG\",\n    \"count\": 1\n}\n" {
		t.Errorf("info ipcns-msg = %q, %v", out, err)
	}
	// The flag may come after the file, as with crit.
	out, err = runCrit(t, nil, "show", fixture(t, "criu-4.2", "images", "state", "pipes-data.img"), "--nopl")
	if err != nil || !strings.Contains(out, `"extra": "... <4.9KB>"`) {
		t.Errorf("show --nopl = %q, %v", out, err)
	}
	out, err = runCrit(t, nil, "show", "--nopl", fixture(t, "criu-4.2-zoo", "images", "msgque", "ipcns-msg-9.img"))
	if err != nil || !strings.Contains(out, `"extra": "... <52B>"`) {
		t.Errorf("show --nopl msgque = %q, %v", out, err)
	}
}

func TestExploreCommand(t *testing.T) {
	out, err := runCrit(t, nil, "x", fixture(t, "criu-4.2", "images", "tree"), "ps")
	want := "    PID   PGID    SID   COMM\n" +
		"  16228  16228  16228   tree\n" +
		"  16230  16228  16228       tree\n" +
		"  16231  16231  16228       tree\n" +
		"  16232  16231  16228           tree\n" +
		"  16233  16228  16228       tree\n"
	if err != nil || out != want {
		t.Errorf("x tree ps = %q, %v", out, err)
	}
	if _, err := runCrit(t, nil, "x", fixture(t, "criu-4.2", "images", "tree")); err == nil {
		t.Error("x without a report succeeded")
	}
}

// tarSet writes the image files of dir as a tar stream.
func tarSet(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data := readFile(t, filepath.Join(dir, e.Name()))
		if err := tw.WriteHeader(&tar.Header{Name: e.Name(), Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	return buf.Bytes()
}

func TestDecodeSet(t *testing.T) {
	set := fixture(t, "criu-4.2", "images", "loop")
	fromDir, err := runCrit(t, nil, "decode", "-D", set)
	if err != nil {
		t.Fatal(err)
	}
	fromTar, err := runCrit(t, tarSet(t, set), "decode")
	if err != nil {
		t.Fatal(err)
	}
	var packed bytes.Buffer
	if err := image.PackDir(set, &packed, true); err != nil {
		t.Fatal(err)
	}
	fromZstd, err := runCrit(t, packed.Bytes(), "decode")
	if err != nil {
		t.Fatal(err)
	}
	// PackDir puts the files in stream order, not name order.
	if len(fromZstd) != len(fromDir) || !strings.Contains(fromZstd, `"pstree.img": {"magic": "PSTREE"`) {
		t.Errorf("zstd stream decode: %.80q", fromZstd)
	}
	if fromDir != fromTar || !strings.HasPrefix(fromDir, `{"core-16226.img": {"magic": "CORE"`) || strings.Contains(fromDir, "pages-1.img") {
		t.Errorf("set decode: dir and tar differ or look wrong: %.80q", fromDir)
	}
	// Into a directory: one file per image, each what decode prints.
	out := t.TempDir()
	if _, err := runCrit(t, nil, "decode", "-D", set, "--pretty", "-o", out); err != nil {
		t.Fatal(err)
	}
	jsons, _ := filepath.Glob(filepath.Join(fixture(t, "criu-4.2", "json", "loop"), "*.json"))
	if len(jsons) == 0 {
		t.Fatal("no fixture JSON")
	}
	for _, j := range jsons {
		if !bytes.Equal(readFile(t, filepath.Join(out, filepath.Base(j))), readFile(t, j)) {
			t.Errorf("decode -D -o: %s differs from crit's", filepath.Base(j))
		}
	}
}

// TestDecodeUserTar: crit decodes what tar makes of an image directory
// (./ names) and of a Podman-like bundle (images under checkpoint/, other
// files around) as it decodes the directory.
func TestDecodeUserTar(t *testing.T) {
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar binary")
	}
	set := fixture(t, "criu-4.2", "images", "loop")
	fromDir, err := runCrit(t, nil, "decode", "-D", set)
	if err != nil {
		t.Fatal(err)
	}
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "checkpoint"), 0o700); err != nil {
		t.Fatal(err)
	}
	testutil.CopyDirTo(t, set, filepath.Join(bundle, "checkpoint"))
	for _, n := range []string{"config.dump", "spec.dump", "network.status"} {
		if err := os.WriteFile(filepath.Join(bundle, n), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{set, bundle} {
		// Sorted by name, so the images come in the directory's order.
		stream, err := exec.Command(tarBin, "-C", dir, "--sort=name", "-cf", "-", ".").Output()
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		got, err := runCrit(t, stream, "decode")
		if err != nil {
			t.Fatalf("decode tar of %s: %v", dir, err)
		}
		if got != fromDir {
			t.Errorf("decode tar of %s differs from decode -D: %.80q", dir, got)
		}
	}
}

// TestErrors: every bad input gives one line "crit: ..." naming the file and
// where in it things went wrong, exit status 1, and no panic.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The inputs are made here, so that this test runs without fixtures.
	pstree, err := crit.EncodeJSON([]byte(`{"magic": "PSTREE", "entries": [
		{"pid": 1, "ppid": 0, "pgid": 1, "sid": 1, "threads": [1]},
		{"pid": 2, "ppid": 1, "pgid": 1, "sid": 1, "threads": [2, 3]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	okJSON := `{"magic": "PIPES_DATA", "entries": [{"pipe_id": 1, "bytes": 3, "extra": "YWJj\n"}]}`
	pipes, err := crit.EncodeJSON([]byte(okJSON))
	if err != nil {
		t.Fatal(err)
	}
	truncated := write("pstree.img", pstree[:len(pstree)-3])
	badMagic := write("bad.img", []byte("\x19\x43\x56\x54\xef\xbe\xad\xde\x00\x00\x00\x00"))
	hugeEntry := write("huge.img", binary.LittleEndian.AppendUint32(append([]byte(nil), pstree[:8]...), 0xffffffff))
	raw := write("pages-1.img", bytes.Repeat([]byte{1}, 4096))
	setDir := filepath.Join(dir, "set")
	os.Mkdir(setDir, 0o700)
	os.WriteFile(filepath.Join(setDir, "pstree.img"), pstree, 0o600)
	os.WriteFile(filepath.Join(setDir, "pipes-data.img"), pipes, 0o600)
	tarred := tarSet(t, setDir)
	jsonFile := func(name, text string) string { return write(name, []byte(text)) }

	for _, c := range []struct {
		name  string
		args  []string
		stdin []byte
		want  []string // all in the error line
	}{
		{"truncated image", []string{"decode", "-i", truncated}, nil, []string{truncated, "at offset", "truncated"}},
		{"wrong magic", []string{"decode", "-i", badMagic}, nil, []string{badMagic, "at offset 4", "0xdeadbeef", "unknown magic"}},
		{"4 GiB entry", []string{"decode", "-i", hugeEntry}, nil, []string{hugeEntry, "at offset 8", "4294967295", "exceeds limit"}},
		{"image cut on stdin", []string{"decode"}, pstree[:14], []string{"stdin", "at offset 8", "truncated"}},
		{"raw image", []string{"decode", "-i", raw}, nil, []string{"pages-1.img", "raw image"}},
		{"stream cut", []string{"decode"}, tarred[:len(tarred)/2], []string{"stdin", "truncated"}},
		{"info truncated", []string{"info", truncated}, nil, []string{truncated, "at offset", "truncated"}},
		{"missing file", []string{"decode", "-i", filepath.Join(dir, "nope.img")}, nil, []string{"nope.img", "no such file"}},
		{"JSON syntax", []string{"encode", "-i", jsonFile("syntax.json", "{\n \"magic\": \"CORE\",\n \"entries\": [}\n")},
			nil, []string{"syntax.json", "line 3 column 14", "JSON syntax error"}},
		{"unknown field", []string{"encode", "-i", jsonFile("field.json", `{"magic": "PIPES_DATA", "entries": [{"pipe_id": 1, "bites": 3}]}`)},
			nil, []string{"field.json", "entries[0].bites", "line 1 column 61", "unknown field"}},
		{"wrong type", []string{"encode", "-i", jsonFile("type.json", `{"magic": "PIPES_DATA", "entries": [{"pipe_id": "one"}]}`)},
			nil, []string{"type.json", "entries[0].pipe_id", "bad integer \"one\""}},
		{"bad hex", []string{"encode", "-i", jsonFile("hex.json", `{"magic": "MM", "entries": [{"mm_start_code": "0x12g"}]}`)},
			nil, []string{"hex.json", "entries[0].mm_start_code", "line 1 column 47", "bad hex number \"0x12g\""}},
		{"unknown flag", []string{"encode", "-i", jsonFile("flag.json", `{"magic": "MM", "entries": [{"vmas": [{"prot": "PROT_READ | PROT_SING"}]}]}`)},
			nil, []string{"flag.json", "entries[0].vmas[0].prot", "unknown flag name \"PROT_SING\""}},
		{"unknown magic", []string{"encode"}, []byte(`{"magic": "CROW", "entries": []}`), []string{"stdin", "magic", "unknown magic", "CROW"}},
		{"payload length", []string{"encode"}, []byte(strings.Replace(okJSON, `"bytes": 3`, `"bytes": 4`, 1)),
			[]string{"stdin", "entries[0] (line 1 column 37)", "payload of 3 bytes"}},
		{"missing required", []string{"encode"}, []byte(`{"magic": "PIPES_DATA", "entries": [{"pipe_id": 1}]}`),
			[]string{"stdin", "entries[0]", "required field"}},
		{"bad base64", []string{"encode"}, []byte(strings.Replace(okJSON, "YWJj", "YW*j", 1)), []string{"stdin", "entries[0].extra", "bad base64"}},
		{"JSON on decode", []string{"decode"}, []byte(okJSON), []string{"stdin", "at offset 0", "bad magic"}},
		{"image on encode", []string{"encode"}, pstree, []string{"stdin", "line 1 column 1", "JSON syntax error"}},
		{"unknown command", []string{"dance"}, nil, []string{"unknown command \"dance\""}},
		{"bad flag", []string{"decode", "--bogus"}, nil, []string{"bogus"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, status := execCrit(t, c.stdin, c.args...)
			if status != 1 {
				t.Errorf("exit status %d, want 1 (stderr %q)", status, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "crit: ") || strings.Contains(stderr, "panic") {
				t.Errorf("stderr is not one crit: line: %q", stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if stdout != "" {
				t.Errorf("wrote %q to stdout", stdout)
			}
		})
	}
}
