package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// startInNetNs starts the netext program in the network namespace at ns
// (nsenter --net), in a session of its own, and returns its pid once it
// is ready.
func startInNetNs(t *testing.T, prog, ns, work string) int {
	t.Helper()
	pidfile := filepath.Join(work, "pid")
	os.Remove(pidfile)
	os.Remove(filepath.Join(work, "out"))
	c := exec.Command("/bin/sh", "-c", `NETEXT_NS="$1" setsid nsenter --net="$1" "$0" --pidfile "$2" --outfile "$3" --workdir "$4" </dev/null >"$4/log" 2>&1 &`,
		prog, ns, pidfile, filepath.Join(work, "out"), work)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("start %s: %v: %s", prog, err, out)
	}
	var pid int
	for start := time.Now(); pid == 0; time.Sleep(5 * time.Millisecond) {
		if b, err := os.ReadFile(pidfile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Since(start) > 10*time.Second {
			log, _ := os.ReadFile(filepath.Join(work, "log"))
			t.Fatalf("%s wrote no pid file: %s", prog, log)
		}
	}
	t.Cleanup(func() {
		unix.Kill(pid, unix.SIGKILL)
		testutil.WaitGone(t, []int{pid})
	})
	return pid
}

// TestExternalNetNs: a tree in a network namespace the test made (ip
// netns add), as Podman makes a container's, is dumped with --external
// net[INODE]:KEY as runc asks: the images hold the namespace as external
// (netns-<id>.img with only ext_key) and nothing of its contents (no
// netdev, ifaddr, route, rule or firewall images). It is restored into
// that namespace given by --inherit-fd fd[N]:KEY, then again by --join-ns
// net:PATH, and the program (its inode, lo, its TCP connection and
// listener) passes each time. Without either the restore fails, naming
// the key, and makes nothing.
func TestExternalNetNs(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("ip (iproute2) not found: %v", err)
	}
	bin := criuBinary(t)
	prog := testutil.BuildProgram(t, "netext")
	name := fmt.Sprintf("criugo-netext-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ns := "/run/netns/" + name
	var st unix.Stat_t
	if err := unix.Stat(ns, &st); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	img := filepath.Join(work, "img")
	pid := startInNetNs(t, prog, ns, work)
	const key = "extRootNetNS"
	args := []string{"criu", "dump", "-t", strconv.Itoa(pid), "-D", img, "--tcp-established",
		"--external", fmt.Sprintf("net[%d]:%s", st.Ino, key), "-o", "dump.log", "-v4"}
	if err := os.Mkdir(img, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		b, _ := os.ReadFile(filepath.Join(img, "dump.log"))
		t.Fatalf("%q: %v\n%s", args, err, b)
	}
	testutil.WaitGone(t, []int{pid})

	m, _ := filepath.Glob(filepath.Join(img, "netns-*.img"))
	if len(m) != 1 {
		t.Fatalf("netns images %q, want one", m)
	}
	ni, err := image.ReadFile(img, filepath.Base(m[0]))
	if err != nil {
		t.Fatal(err)
	}
	if len(ni.Entries) != 1 {
		t.Fatalf("%s: %d entries, want 1", m[0], len(ni.Entries))
	}
	want := &images.NetnsEntry{ExtKey: ptrTo(key)}
	if e, ok := ni.Entries[0].Msg.(*images.NetnsEntry); !ok || e.String() != want.String() {
		t.Errorf("%s: %.200v, want only ext_key %q", m[0], ni.Entries[0].Msg, key)
	}
	for _, pat := range []string{"netdev-*", "ifaddr-*", "route-*", "route6-*", "rule-*", "iptables-*", "ip6tables-*", "nftables-*"} {
		if m, _ := filepath.Glob(filepath.Join(img, pat)); len(m) > 0 {
			t.Errorf("images of the external namespace's contents: %q", m)
		}
	}

	// No namespace for the key: refused before anything is made.
	out, err := exec.Command(bin, "restore", "-d", "-D", img, "-o", "bad.log").CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("--inherit-fd fd[N]:"+key)) {
		t.Errorf("restore without the namespace: %v\n%s", err, out)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("restore without the namespace made pid %d", pid)
	}

	for _, c := range []struct {
		name string
		args []string
	}{
		{"inherit-fd", []string{"--inherit-fd", "fd[3]:" + key}},
		{"join-ns", []string{"--join-ns", "net:" + ns}},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(filepath.Join(work, "out"))
			f, err := os.Open(ns)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rc := exec.Command(bin, append([]string{"restore", "-d", "-D", img, "-o", "restore-" + c.name + ".log", "-v4"}, c.args...)...)
			rc.ExtraFiles = []*os.File{f}
			if out, err := rc.CombinedOutput(); err != nil {
				b, _ := os.ReadFile(filepath.Join(img, "restore-"+c.name+".log"))
				t.Fatalf("restore %q: %v\n%s\n%s", c.args, err, out, b)
			}
			var got unix.Stat_t
			if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &got); err != nil || got.Ino != st.Ino {
				t.Errorf("restored pid %d in net:[%d] (%v), want [%d]", pid, got.Ino, err, st.Ino)
			}
			if v := testutil.Verdict(t, pid, work); v != "PASS" {
				t.Errorf("program after the restore: %s", v)
			}
			testutil.WaitGone(t, []int{pid})
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestJoinNsUTS: a tree that had criu's UTS and IPC namespaces, restored
// with --join-ns uts:PID and ipc:PATH, is in the namespaces of that
// holder (which made them with unshare), and passes.
func TestJoinNsUTS(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	bin := criuBinary(t)
	prog := testutil.BuildProgram(t, "loop")
	holder := exec.Command("unshare", "--uts", "--ipc", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	hp := holder.Process.Pid
	nsIno := func(pid int, kind string) uint64 {
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, kind), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	for start := time.Now(); nsIno(hp, "uts") == nsIno(os.Getpid(), "uts"); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatal("unshare made no UTS namespace")
		}
	}
	work := t.TempDir()
	img := filepath.Join(work, "img")
	if err := os.Mkdir(img, 0o700); err != nil {
		t.Fatal(err)
	}
	pid := testutil.StartProgram(t, prog, work)
	args := []string{"criu", "dump", "-t", strconv.Itoa(pid), "-D", img}
	if _, err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	testutil.WaitGone(t, []int{pid})
	rc := exec.Command(bin, "restore", "-d", "-D", img, "-o", "restore.log", "-v4",
		"--join-ns", fmt.Sprintf("uts:%d", hp), "--join-ns", fmt.Sprintf("ipc:/proc/%d/ns/ipc", hp))
	if out, err := rc.CombinedOutput(); err != nil {
		b, _ := os.ReadFile(filepath.Join(img, "restore.log"))
		t.Fatalf("restore: %v\n%s\n%s", err, out, b)
	}
	for _, kind := range []string{"uts", "ipc"} {
		if got, want := nsIno(pid, kind), nsIno(hp, kind); got != want {
			t.Errorf("restored pid %d in %s:[%d], want the holder's [%d]", pid, kind, got, want)
		}
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("program after the restore: %s", v)
	}
}
