package restore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// uffdChildEnv makes the test binary a child that maps anonymous memory,
// creates a userfaultfd and, once told, reports a hash of that memory.
const uffdChildEnv = "CRIUGO_UFFD_CHILD_MIB"

func TestMain(m *testing.M) {
	if mib := os.Getenv(uffdChildEnv); mib != "" {
		os.Exit(uffdChild(mib))
	}
	os.Exit(m.Run())
}

// uffdChild maps MIB MiB, prints "ADDR FD", waits for a line on stdin and
// prints the FNV-64a hash of the mapping, read through /proc/self/mem.
func uffdChild(mib string) int {
	n, err := strconv.Atoi(mib)
	if err != nil {
		return 2
	}
	size := uint64(n) << 20
	addr, _, e := unix.Syscall6(unix.SYS_MMAP, 0, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	if e != 0 {
		fmt.Fprintln(os.Stderr, "mmap:", e)
		return 1
	}
	fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK, 0, 0)
	if e != 0 {
		fmt.Fprintln(os.Stderr, "userfaultfd:", e)
		return 1
	}
	fmt.Printf("%d %d\n", addr, fd)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 1
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h := fnv.New64a()
	if _, err := io.Copy(h, io.NewSectionReader(mem, int64(addr), int64(size))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%x\n", h.Sum64())
	return 0
}

// uffdTarget is a running uffdChild.
type uffdTarget struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr uint64
	fd   int // the child's userfaultfd
}

func startUffdChild(t testing.TB, mib int) *uffdTarget {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), uffdChildEnv+"="+strconv.Itoa(mib))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &uffdTarget{cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if _, err := fmt.Sscan(line, &c.addr, &c.fd); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	return c
}

// hash lets the child read its memory and returns the hash it reports.
// A page left registered would hang the read: the test times out.
func (c *uffdTarget) hash(t testing.TB) string {
	t.Helper()
	if _, err := io.WriteString(c.in, "go\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		line, _ := c.out.ReadString('\n')
		done <- strings.TrimSpace(line)
	}()
	select {
	case h := <-done:
		return h
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		t.Fatal("child hangs reading its memory: a range is still registered")
		return ""
	}
}

// pattern fills b with bytes that differ from page to page.
func pattern(b []byte, seed byte) {
	for i := range b {
		b[i] = byte(i/pageSize)*7 + byte(i) + seed
	}
}

// TestUffdSink fills a child's memory from a pages file and from a stream
// with UFFDIO_COPY, leaves a hole, writes a range the userfaultfd does not
// cover with process_vm_writev, and checks what the child sees.
func TestUffdSink(t *testing.T) {
	testutil.RequireRoot(t)
	const mib = 16
	size := uint64(mib << 20)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			c := startUffdChild(t, mib)
			fd, err := takeFd(c.cmd.Process.Pid, c.fd)
			if err != nil {
				t.Fatal(err)
			}
			u := &taskUffd{fd: fd}
			// The first 12 MiB are registered; the last 4 MiB are not.
			reg := span{c.addr, c.addr + 12<<20}
			if err := u.setup([]span{reg}); err != nil {
				u.close()
				t.Fatal(err)
			}
			if !u.covers(reg.start, 12<<20) || u.covers(reg.start, 12<<20+pageSize) || u.covers(reg.end, pageSize) {
				t.Error("covers is wrong at the edges of the registered range")
			}
			// Pages file: [0, 6 MiB) then [6 MiB + 64 KiB, 16 MiB) of the
			// mapping; the 64 KiB between stay zero.
			hole := uint64(64 << 10)
			first := uint64(6 << 20)
			rest := size - first - hole
			data := make([]byte, first+rest)
			pattern(data, 3)
			var src io.Reader = bytes.NewReader(data)
			if !stream {
				p := filepath.Join(t.TempDir(), "pages-1.img")
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				src = f
			}
			s := newUffdSink(u, c.cmd.Process.Pid, "pages-1.img", src)
			err = s.page(c.addr, first)
			if err == nil {
				err = s.page(c.addr+first+hole, rest-4<<20)
			}
			if err == nil {
				// The unregistered tail, in the same pieces as a VMA split.
				err = s.page(c.addr+size-4<<20, 4<<20)
			}
			if err == nil {
				err = s.flush()
			}
			if cerr := u.close(); cerr != nil {
				t.Errorf("close: %v", cerr)
			}
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, size)
			copy(want, data[:first])
			copy(want[first+hole:], data[first:])
			h := fnv.New64a()
			h.Write(want)
			if got := c.hash(t); got != fmt.Sprintf("%x", h.Sum64()) {
				t.Errorf("child's memory hashes to %s, want %x", got, h.Sum64())
			}
		})
	}
}

// TestUffdSinkShortFile: a pages file that ends early is a bad image.
func TestUffdSinkShortFile(t *testing.T) {
	testutil.RequireRoot(t)
	c := startUffdChild(t, 1)
	fd, err := takeFd(c.cmd.Process.Pid, c.fd)
	if err != nil {
		t.Fatal(err)
	}
	u := &taskUffd{fd: fd}
	defer u.close()
	if err := u.setup([]span{{c.addr, c.addr + 1<<20}}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pages-1.img")
	if err := os.WriteFile(p, make([]byte, 3*pageSize), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newUffdSink(u, c.cmd.Process.Pid, "pages-1.img", f)
	if err := s.page(c.addr, 4*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := s.flush(); !errors.Is(err, ErrBadImage) {
		t.Errorf("flush of a short pages file: %v, want ErrBadImage", err)
	}
}

// TestRestoreWithoutUffd restores the state fixture, from a directory
// and from a stream, with the paths a kernel without userfaultfd takes:
// the task's own preadv, and process_vm_writev.
func TestRestoreWithoutUffd(t *testing.T) {
	useUffd = false
	defer func() { useUffd = true }()
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			dir := fixtureSet(t, "state")
			var log bytes.Buffer
			o := Options{Dir: dir, Detach: true, Log: &log}
			if stream {
				var b bytes.Buffer
				if err := image.PackDir(dir, &b, false); err != nil {
					t.Fatal(err)
				}
				o = Options{Stdin: &b, Detach: true, Log: &log}
			}
			res, err := Restore(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer killTree(t, res)
			runToPass(t, res, "state.out")
		})
	}
}

// TestRestoreUsesUffd checks that a restore on this kernel does fill
// memory with the userfaultfd rather than quietly falling back.
func TestRestoreUsesUffd(t *testing.T) {
	dir := fixtureSet(t, "state")
	var log bytes.Buffer
	res, err := Restore(context.Background(), Options{Dir: dir, Detach: true, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer killTree(t, res)
	// Each fallback says where the pages go instead.
	if strings.Contains(log.String(), "pages go in") {
		t.Errorf("the restore fell back from the userfaultfd:\n%s", log.String())
	}
	runToPass(t, res, "state.out")
}

// BenchmarkUffdSink256MiB fills 256 MiB of a child's memory from a pages
// file in tmpfs (or the test's temporary directory without /dev/shm).
func BenchmarkUffdSink256MiB(b *testing.B) {
	testutil.RequireRoot(b)
	const mib = 256
	size := uint64(mib << 20)
	dir := "/dev/shm"
	if _, err := os.Stat(dir); err != nil {
		dir = b.TempDir()
	}
	f, err := os.CreateTemp(dir, "criugo-bench-pages-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	data := make([]byte, size)
	pattern(data, 1)
	if _, err := f.Write(data); err != nil {
		b.Fatal(err)
	}
	data = nil
	for b.Loop() {
		b.StopTimer()
		c := startUffdChild(b, mib)
		fd, err := takeFd(c.cmd.Process.Pid, c.fd)
		if err != nil {
			b.Fatal(err)
		}
		u := &taskUffd{fd: fd}
		b.StartTimer()
		err = u.setup([]span{{c.addr, c.addr + size}})
		s := newUffdSink(u, c.cmd.Process.Pid, "pages", f)
		if err == nil {
			err = s.page(c.addr, size)
		}
		if err == nil {
			err = s.flush()
		}
		if cerr := u.close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.cmd.Process.Kill()
		c.cmd.Wait()
		b.StartTimer()
		b.SetBytes(int64(size))
	}
}
