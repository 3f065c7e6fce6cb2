package gocriu

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	criu "github.com/checkpoint-restore/go-criu/v7"
	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"google.golang.org/protobuf/proto"
)

// criuBin is the criu under test: $CRIU_BIN, else one built from the
// repository.
func criuBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CRIU_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "criu")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/criu")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build criu: %v: %s", err, out)
	}
	return bin
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func TestVersion(t *testing.T) {
	c := criu.MakeCriu()
	c.SetCriuPath(criuBin(t))
	v, err := c.GetCriuVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v != 40200 {
		t.Errorf("GetCriuVersion = %d, want 40200", v)
	}
	ok, err := c.IsCriuAtLeast(40200)
	if err != nil || !ok {
		t.Errorf("IsCriuAtLeast(40200) = %v, %v", ok, err)
	}
}

// recorder is a go-criu Notify that records the callbacks in order.
type recorder struct {
	criu.NoNotify
	calls []string
}

func (r *recorder) PreDump() error    { r.add("PreDump"); return nil }
func (r *recorder) PostDump() error   { r.add("PostDump"); return nil }
func (r *recorder) PreRestore() error { r.add("PreRestore"); return nil }
func (r *recorder) PostRestore(pid int32) error {
	r.add("PostRestore " + strconv.Itoa(int(pid)))
	return nil
}
func (r *recorder) NetworkLock() error   { r.add("NetworkLock"); return nil }
func (r *recorder) NetworkUnlock() error { r.add("NetworkUnlock"); return nil }
func (r *recorder) SetupNamespaces(pid int32) error {
	r.add("SetupNamespaces " + strconv.Itoa(int(pid)))
	return nil
}
func (r *recorder) PostSetupNamespaces() error { r.add("PostSetupNamespaces"); return nil }
func (r *recorder) PostResume() error          { r.add("PostResume"); return nil }
func (r *recorder) add(s string)               { r.calls = append(r.calls, s) }

// lockFixtures takes the lock the C/R tests of the project's module take
// turns on, until the test ends.
func lockFixtures(t *testing.T) {
	t.Helper()
	lock, err := os.OpenFile("/tmp/criu-fixtures.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
}

// startLoop builds and starts test/programs/loop in work (the harness's
// protocol) and returns its pid once it is ready.
func startLoop(t *testing.T, work string) int {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	prog := filepath.Join(work, "loop")
	if out, err := exec.Command("gcc", "-O2", "-static", "-pthread", "-o", prog,
		"../programs/loop.c", "../programs/crtest.c").CombinedOutput(); err != nil {
		t.Fatalf("build loop: %v: %s", err, out)
	}
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
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// openDir makes and opens an image directory, whose fd go-criu passes.
func openDir(t *testing.T, path string) *os.File {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	dir, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	return dir
}

// waitGone waits until the dumped program is gone.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for start := time.Now(); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the dumped program still runs")
		}
	}
}

// verdict asks the restored program for its verdict.
func verdict(t *testing.T, pid int, work string) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		syscall.Kill(pid, syscall.SIGTERM)
		if b, err := os.ReadFile(filepath.Join(work, "out")); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b))
		}
	}
	return "(no verdict)"
}

// TestDumpRestore dumps a C/R test program (test/programs/loop) with
// go-criu's Dump, restores it with Restore, and lets it check itself; the
// Notify callbacks come in CRIU's order.
func TestDumpRestore(t *testing.T) {
	requireRoot(t)
	bin := criuBin(t)
	lockFixtures(t)
	work := t.TempDir()
	pid := startLoop(t, work)
	imgDir := filepath.Join(work, "images")
	dir := openDir(t, imgDir)

	c := criu.MakeCriu()
	c.SetCriuPath(bin)
	nfy := &recorder{}
	err := c.Dump(&rpc.CriuOpts{
		ImagesDirFd: proto.Int32(int32(dir.Fd())),
		Pid:         proto.Int32(int32(pid)),
		LogLevel:    proto.Int32(4),
		LogFile:     proto.String("dump.log"),
	}, nfy)
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(imgDir, "dump.log"))
		t.Fatalf("Dump: %v\n%s", err, b)
	}
	if want := []string{"PreDump", "PostDump"}; !reflect.DeepEqual(nfy.calls, want) {
		t.Errorf("dump callbacks %q, want %q", nfy.calls, want)
	}
	waitGone(t, pid)

	nfy = &recorder{}
	err = c.Restore(&rpc.CriuOpts{
		ImagesDirFd: proto.Int32(int32(dir.Fd())),
		LogLevel:    proto.Int32(4),
		LogFile:     proto.String("restore.log"),
	}, nfy)
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(imgDir, "restore.log"))
		t.Fatalf("Restore: %v\n%s", err, b)
	}
	p := strconv.Itoa(pid)
	if want := []string{"PreRestore", "SetupNamespaces " + p, "PostSetupNamespaces", "PostRestore " + p, "PostResume"}; !reflect.DeepEqual(nfy.calls, want) {
		t.Errorf("restore callbacks %q, want %q", nfy.calls, want)
	}
	if v := verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
}

// TestPreDumpChain: go-criu's PreDump, then a Dump naming it as parent
// (parent_img, track_mem), then a Restore of the dump.
func TestPreDumpChain(t *testing.T) {
	requireRoot(t)
	bin := criuBin(t)
	lockFixtures(t)
	work := t.TempDir()
	pid := startLoop(t, work)
	pre := openDir(t, filepath.Join(work, "pre"))
	full := openDir(t, filepath.Join(work, "full"))

	c := criu.MakeCriu()
	c.SetCriuPath(bin)
	if err := c.PreDump(&rpc.CriuOpts{ImagesDirFd: proto.Int32(int32(pre.Fd())), Pid: proto.Int32(int32(pid)),
		LogLevel: proto.Int32(4), LogFile: proto.String("pre-dump.log")}, nil); err != nil {
		t.Fatalf("PreDump: %v", err)
	}
	if err := c.Dump(&rpc.CriuOpts{ImagesDirFd: proto.Int32(int32(full.Fd())), Pid: proto.Int32(int32(pid)),
		ParentImg: proto.String("../pre"), TrackMem: proto.Bool(true),
		LogLevel: proto.Int32(4), LogFile: proto.String("dump.log")}, nil); err != nil {
		b, _ := os.ReadFile(filepath.Join(work, "full", "dump.log"))
		t.Fatalf("Dump: %v\n%s", err, b)
	}
	waitGone(t, pid)
	if err := c.Restore(&rpc.CriuOpts{ImagesDirFd: proto.Int32(int32(full.Fd())), LogFile: proto.String("restore.log")}, nil); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if v := verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
}
