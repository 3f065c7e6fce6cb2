package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// userTarTools builds criu-seize, criu-parasite and criu-imgtool, and
// test/programs/mmap (two tasks; private, shared anonymous and file
// memory, so pages of tasks and of shared memory).
func userTarTools(t *testing.T) (bin, prog string) {
	t.Helper()
	for _, tool := range []string{"go", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	bin = t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+"/", "github.com/criugo/criugo/cmd/criu-seize",
		"github.com/criugo/criugo/cmd/criu-parasite", "github.com/criugo/criugo/cmd/criu-imgtool").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin, testutil.TestProgram(t, bin, "mmap")
}

// dumpProgram starts prog in work (the harness protocol: --pidfile,
// --outfile, --workdir) and dumps it with criu-seize | criu-parasite -D
// into work/images, which kills it. It returns the program's pids.
func dumpProgram(t *testing.T, bin, prog, work string) []int {
	t.Helper()
	pidfile := filepath.Join(work, "pid")
	if out, err := exec.Command("/bin/sh", "-c", `setsid "$0" "$@" </dev/null >/dev/null 2>&1 &`,
		prog, "--pidfile", pidfile, "--outfile", filepath.Join(work, "out"), "--workdir", work).CombinedOutput(); err != nil {
		t.Fatalf("start: %v: %s", err, out)
	}
	var pid int
	for start := time.Now(); pid == 0; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the program wrote no pid file")
		}
	}
	pids := append([]int{pid}, childrenOf(pid)...)
	t.Cleanup(func() {
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
		testutil.WaitGone(t, pids)
	})
	images := filepath.Join(work, "images")
	if err := os.Mkdir(images, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `"$0"/criu-seize -t "$1" | "$0"/criu-parasite -D "$2"`, bin, strconv.Itoa(pid), images)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dump: %v: %s", err, out)
	}
	testutil.WaitGone(t, pids)
	return pids
}

func childrenOf(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// verdict sends SIGTERM to the restored root until the program writes
// its verdict, then reaps it (criu-restore ran in this process, so the
// root is its child).
func verdict(t *testing.T, pid int, outfile string) string {
	t.Helper()
	defer func() {
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 20; i++ {
			if b, err := os.ReadFile(outfile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
				return strings.TrimSpace(string(b))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	unix.Kill(pid, unix.SIGKILL)
	return "(no verdict)"
}

// restoreFromTar runs criu-restore -d with its stdin a pipe from tar
// (args after "tar"), and returns the restored root.
func restoreFromTar(t *testing.T, tarArgs ...string) int {
	t.Helper()
	tarCmd := exec.Command("tar", tarArgs...)
	var tarErr bytes.Buffer
	tarCmd.Stderr = &tarErr
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tarCmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(t.TempDir(), "root")
	var log bytes.Buffer
	_, rerr := run([]string{"criu-restore", "-d", "--pidfile", pidfile}, pipe, &log)
	pipe.Close()
	if err := tarCmd.Wait(); err != nil && rerr == nil {
		t.Fatalf("tar %v: %v: %s", tarArgs, err, tarErr.String())
	}
	if rerr != nil {
		t.Fatalf("tar %v | criu-restore -d: %v\n%s", tarArgs, rerr, log.String())
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	root, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return root
}

// TestRestoreFromUserTar restores a program dumped by our tools from the
// archives users make of its image directory, piped into criu-restore:
// `tar -C DIR -cf - .` (./ names, directory order), the same sorted by
// name (every pages file before pstree.img), and a Podman-like bundle
// (the images under checkpoint/, other files around them). The restored
// program passes its own check. criu-imgtool unpacks the same archive
// into the dump's files.
func TestRestoreFromUserTar(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin, prog := userTarTools(t)
	for _, c := range []struct {
		name string
		// tarArgs makes the archive of the image directory dir.
		tarArgs func(t *testing.T, dir string) []string
	}{
		{"tar -C DIR -cf - .", func(t *testing.T, dir string) []string { return []string{"-C", dir, "-cf", "-", "."} }},
		{"sorted by name", func(t *testing.T, dir string) []string {
			return []string{"-C", dir, "--sort=name", "-cf", "-", "."}
		}},
		{"podman bundle", func(t *testing.T, dir string) []string {
			bundle := t.TempDir()
			if err := os.Rename(dir, filepath.Join(bundle, "checkpoint")); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(bundle, "checkpoint", "stats-dump"), filepath.Join(bundle, "stats-dump")); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"config.dump", "spec.dump", "network.status", "rootfs-diff.tar"} {
				if err := os.WriteFile(filepath.Join(bundle, n), bytes.Repeat([]byte("{}"), 600), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			return []string{"-C", bundle, "-cf", "-", "config.dump", "spec.dump", "network.status", "stats-dump", "checkpoint", "rootfs-diff.tar"}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			dumpProgram(t, bin, prog, work)
			images := filepath.Join(work, "images")
			dumped := imageFiles(t, images)
			args := c.tarArgs(t, images)

			// criu-imgtool unpack gives back the dump's files.
			copyDir := filepath.Join(t.TempDir(), "copy")
			script := `d=$1; shift; tar "$@" | "$0"/criu-imgtool unpack -D "$d"`
			if out, err := exec.Command("/bin/sh", append([]string{"-c", script, bin, copyDir}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("tar | criu-imgtool unpack: %v: %s", err, out)
			}
			got := imageFiles(t, copyDir)
			if len(got) != len(dumped) {
				t.Errorf("unpacked %d image files, the dump has %d", len(got), len(dumped))
			}
			for n, b := range dumped {
				if !bytes.Equal(got[n], b) {
					t.Errorf("unpacked %s differs from the dump's", n)
				}
			}

			root := restoreFromTar(t, args...)
			if v := verdict(t, root, filepath.Join(work, "out")); v != "PASS" {
				t.Errorf("mmap restored from %s: %s", c.name, v)
			}
		})
	}
}

// imageFiles reads the image files of dir (image.ListDir).
func imageFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := image.ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		m[n] = b
	}
	if m["inventory.img"] == nil || m["pstree.img"] == nil {
		t.Fatalf("%s holds no image set: %d files", dir, len(m))
	}
	return m
}
