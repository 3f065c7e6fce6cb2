package criucli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
)

// client is the test's end of a swrk socket pair.
type client struct {
	t    *testing.T
	fd   int
	done chan error
}

// swrk starts Swrk on one end of a SOCK_SEQPACKET socket pair, as
// `criu swrk FD` would run, and returns the other end.
func swrk(t *testing.T) *client {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, fd: fds[0], done: make(chan error, 1)}
	go func() { c.done <- Swrk(context.Background(), fds[1]) }()
	t.Cleanup(func() {
		unix.Close(c.fd)
		if err := <-c.done; err != nil {
			t.Errorf("swrk: %v", err)
		}
	})
	return c
}

func (c *client) send(req *images.CriuReq) {
	c.t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := unix.Write(c.fd, b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) recv() *images.CriuResp {
	c.t.Helper()
	buf := make([]byte, 1<<16)
	n, err := unix.Read(c.fd, buf)
	if err != nil {
		c.t.Fatal(err)
	}
	resp := &images.CriuResp{}
	if err := proto.Unmarshal(buf[:n], resp); err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// call sends req and answers every notification with success, recording
// its script (and pid, when given), until the response to req comes.
func (c *client) call(req *images.CriuReq, notes *[]string) *images.CriuResp {
	c.t.Helper()
	c.send(req)
	for {
		resp := c.recv()
		if resp.GetType() != images.CriuReqType_NOTIFY {
			return resp
		}
		n := resp.GetNotify().GetScript()
		if resp.GetNotify().Pid != nil {
			n += "(pid)"
		}
		*notes = append(*notes, n)
		c.send(&images.CriuReq{Type: images.CriuReqType_NOTIFY.Enum(), NotifySuccess: proto.Bool(true)})
	}
}

func TestRPCVersionAndFeatures(t *testing.T) {
	c := swrk(t)
	var notes []string
	resp := c.call(&images.CriuReq{Type: images.CriuReqType_VERSION.Enum(), KeepOpen: proto.Bool(true)}, &notes)
	v := resp.GetVersion()
	if !resp.GetSuccess() || v.GetMajorNumber() != 4 || v.GetMinorNumber() != 2 || v.Sublevel == nil {
		t.Errorf("VERSION: %v", resp)
	}
	resp = c.call(&images.CriuReq{Type: images.CriuReqType_FEATURE_CHECK.Enum(),
		Features: &images.CriuFeatures{LazyPages: proto.Bool(true)}}, &notes)
	if !resp.GetSuccess() || resp.GetFeatures().LazyPages == nil || resp.GetFeatures().GetLazyPages() {
		t.Errorf("FEATURE_CHECK lazy_pages: %v", resp)
	}
}

// TestRPCRefused: an option criugo does not implement fails the request,
// the error naming it.
func TestRPCRefused(t *testing.T) {
	c := swrk(t)
	var notes []string
	resp := c.call(&images.CriuReq{Type: images.CriuReqType_DUMP.Enum(), Opts: &images.CriuOpts{
		ImagesDirFd: proto.Int32(-1), ImagesDir: proto.String(t.TempDir()), Pid: proto.Int32(1), LazyPages: proto.Bool(true)}}, &notes)
	if resp.GetSuccess() || !strings.Contains(resp.GetCrErrmsg(), "--lazy-pages") || resp.GetType() != images.CriuReqType_DUMP {
		t.Errorf("DUMP with lazy_pages: %v", resp)
	}
}

// TestRPCDumpRestore: a DUMP through swrk with notify_scripts, the
// notifications in CRIU's order; a RESTORE that answers the restored
// pid; the program passes its own check.
func TestRPCDumpRestore(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	prog := testutil.BuildProgram(t, "loop")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	imgDir := filepath.Join(work, "images")
	if err := os.Mkdir(imgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	dir, err := os.Open(imgDir)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	opts := func() *images.CriuOpts {
		return &images.CriuOpts{ImagesDirFd: proto.Int32(int32(dir.Fd())), LogLevel: proto.Int32(4),
			NotifyScripts: proto.Bool(true), OrphanPtsMaster: proto.Bool(true), ExtUnixSk: proto.Bool(false)}
	}

	var notes []string
	o := opts()
	o.Pid = proto.Int32(int32(pid))
	o.LogFile = proto.String("dump.log")
	resp := swrk(t).call(&images.CriuReq{Type: images.CriuReqType_DUMP.Enum(), Opts: o}, &notes)
	if !resp.GetSuccess() {
		t.Fatalf("DUMP: %v", resp)
	}
	if want := []string{"pre-dump", "post-dump"}; !reflect.DeepEqual(notes, want) {
		t.Errorf("dump notifications %q, want %q", notes, want)
	}
	testutil.WaitGone(t, []int{pid})

	notes = nil
	o = opts()
	o.LogFile = proto.String("restore.log")
	resp = swrk(t).call(&images.CriuReq{Type: images.CriuReqType_RESTORE.Enum(), Opts: o}, &notes)
	if !resp.GetSuccess() || resp.GetRestore().GetPid() != int32(pid) {
		t.Fatalf("RESTORE: %v", resp)
	}
	want := []string{"pre-restore", "setup-namespaces(pid)", "post-setup-namespaces", "post-restore(pid)", "pre-resume", "post-resume"}
	if !reflect.DeepEqual(notes, want) {
		t.Errorf("restore notifications %q, want %q", notes, want)
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
	for log, last := range map[string]string{"dump.log": "Dumping finished successfully", "restore.log": "Restore finished successfully. Tasks resumed."} {
		b, err := os.ReadFile(filepath.Join(imgDir, log))
		if err != nil || !strings.Contains(string(b), last) {
			t.Errorf("%s lacks %q: %v\n%s", log, last, err, b)
		}
	}
}

// TestRPCWaitPid: WAIT_PID answers a child's wait status.
func TestRPCWaitPid(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var notes []string
	resp := swrk(t).call(&images.CriuReq{Type: images.CriuReqType_WAIT_PID.Enum(), Pid: proto.Uint32(uint32(cmd.Process.Pid))}, &notes)
	ws := unix.WaitStatus(resp.GetStatus())
	if !resp.GetSuccess() || !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("WAIT_PID: %v (status %#x)", resp, resp.GetStatus())
	}
}

// TestRPCContainerOptions: what runc sends for a container's mount and
// network namespaces (root, ext_mnt, empty_ns of the network) reaches the
// options; an empty_ns of another kind is refused, naming it.
func TestRPCContainerOptions(t *testing.T) {
	c := &conn{}
	ro := &images.CriuOpts{
		ImagesDir:   proto.String(t.TempDir()),
		LogToStderr: proto.Bool(true),
		Root:        proto.String("/run/ct/rootfs"),
		ExtMnt:      []*images.ExtMountMap{{Key: proto.String("/sys/fs/cgroup/cpu"), Val: proto.String("/sys/fs/cgroup/cpu")}},
		EmptyNs:     proto.Uint32(unix.CLONE_NEWNET),
	}
	o, l, err := c.options(ro, images.CriuReqType_RESTORE)
	if err != nil {
		t.Fatalf("options: %v", err)
	}
	l.Close()
	if o.Root != "/run/ct/rootfs" || !o.EmptyNetNs || !reflect.DeepEqual(o.ExtMounts, map[string]string{"/sys/fs/cgroup/cpu": "/sys/fs/cgroup/cpu"}) {
		t.Errorf("options: root %q, empty net %v, ext mounts %v", o.Root, o.EmptyNetNs, o.ExtMounts)
	}
	ro.EmptyNs = proto.Uint32(unix.CLONE_NEWPID)
	if _, _, err := c.options(ro, images.CriuReqType_RESTORE); err == nil || !strings.Contains(err.Error(), "empty_ns") {
		t.Errorf("empty_ns of the PID namespace: %v", err)
	}
}

// TestRPCExternal: criu_opts' external and network_lock take what the
// command line's --external and --network-lock take, through the same
// parser; a kind criugo does not take is refused, naming it.
func TestRPCExternal(t *testing.T) {
	c := &conn{}
	ro := &images.CriuOpts{
		ImagesDir:   proto.String(t.TempDir()),
		LogToStderr: proto.Bool(true),
		External:    []string{"mnt[data]:/srv/data", "veth[eth0]:veth7"},
		NetworkLock: images.CriuNetworkLockMethod_NFTABLES.Enum(),
	}
	o, l, err := c.options(ro, images.CriuReqType_RESTORE)
	if err != nil {
		t.Fatalf("options: %v", err)
	}
	l.Close()
	if !reflect.DeepEqual(o.ExtMounts, map[string]string{"data": "/srv/data"}) || !reflect.DeepEqual(o.External, []string{"veth[eth0]:veth7"}) || o.NetworkLock != "nftables" {
		t.Errorf("options: ext mounts %v, external %q, network lock %q", o.ExtMounts, o.External, o.NetworkLock)
	}
	// On a dump a veth is the restore's to say.
	ro.Pid = proto.Int32(1)
	ro.External = []string{"veth[eth0]:veth7"}
	if _, _, err := c.options(ro, images.CriuReqType_DUMP); !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), "veth[eth0]") {
		t.Errorf("DUMP with veth: %v", err)
	}
	// runc's external network namespace: the dump's, by inode; the
	// restore's comes as an inherit_fd.
	ro.External = []string{"net[4026531992]:extRootNetNS"}
	o, l, err = c.options(ro, images.CriuReqType_DUMP)
	if err != nil || !reflect.DeepEqual(o.ExtNetNs, map[uint64]string{4026531992: "extRootNetNS"}) {
		t.Errorf("DUMP with external net: %v, %v", o.ExtNetNs, err)
	}
	if l != nil {
		l.Close()
	}
	if _, _, err := c.options(ro, images.CriuReqType_RESTORE); !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), "net[4026531992]") {
		t.Errorf("RESTORE with external net: %v", err)
	}
	// join_ns: net, uts, ipc opened for a restore; others refused by name.
	ro.External = nil
	ro.JoinNs = []*images.JoinNamespace{{Ns: proto.String("net"), NsFile: proto.String("/proc/self/ns/net")}}
	o, l, err = c.options(ro, images.CriuReqType_RESTORE)
	if err != nil || len(o.JoinNs) != 1 || o.JoinNs[0].Kind != "net" || o.JoinNs[0].File == nil {
		t.Errorf("RESTORE with join_ns net: %+v, %v", o.JoinNs, err)
	} else {
		l.Close()
		CloseInherited(&o)
	}
	ro.JoinNs = []*images.JoinNamespace{{Ns: proto.String("user"), NsFile: proto.String("/proc/self/ns/user"), ExtraOpt: proto.String("0,0")}}
	if _, _, err := c.options(ro, images.CriuReqType_RESTORE); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "join_ns user") {
		t.Errorf("RESTORE with join_ns user: %v", err)
	}
}

// TestRPCInheritSibling: what runc sends for a restore (inherit_fd of its
// stdio pipes, rst_sibling, evasive_devices) reaches the options in swrk,
// the fds duplicated and the first of a key kept first; a standalone
// service refuses inherit_fd and rst_sibling, as CRIU's, naming them.
func TestRPCInheritSibling(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ro := &images.CriuOpts{
		ImagesDir:      proto.String(t.TempDir()),
		LogToStderr:    proto.Bool(true),
		RstSibling:     proto.Bool(true),
		EvasiveDevices: proto.Bool(true),
		InheritFd: []*images.InheritFd{
			{Key: proto.String("pipe:[1]"), Fd: proto.Int32(int32(r.Fd()))},
			{Key: proto.String("pipe:[2]"), Fd: proto.Int32(int32(w.Fd()))},
		},
	}
	c := &conn{swrk: true}
	o, l, err := c.options(ro, images.CriuReqType_RESTORE)
	if err != nil {
		t.Fatalf("options: %v", err)
	}
	l.Close()
	if !o.Sibling || !o.EvasiveDevices || len(o.InheritFds) != 2 || o.InheritFds[0].Key != "pipe:[1]" || o.InheritFds[1].Key != "pipe:[2]" {
		t.Fatalf("options: sibling %v, evasive %v, inherit %v", o.Sibling, o.EvasiveDevices, o.InheritFds)
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(int(o.InheritFds[1].File.Fd()), &a); err != nil || unix.Fstat(int(w.Fd()), &b) != nil || a.Ino != b.Ino || o.InheritFds[1].File.Fd() == w.Fd() {
		t.Errorf("inherited fd %d is not a duplicate of fd %d: %v", o.InheritFds[1].File.Fd(), w.Fd(), err)
	}
	CloseInherited(&o)
	ro.InheritFd = append(ro.InheritFd, &images.InheritFd{Key: proto.String("x"), Fd: proto.Int32(1000)})
	if _, _, err := c.options(ro, images.CriuReqType_RESTORE); err == nil || !strings.Contains(err.Error(), "inherit fd 1000") {
		t.Errorf("inherit_fd of a closed fd: %v", err)
	}
	service := &conn{}
	for _, opt := range []func(*images.CriuOpts){
		func(o *images.CriuOpts) { o.RstSibling = nil },
		func(o *images.CriuOpts) { o.RstSibling = proto.Bool(true); o.InheritFd = nil },
	} {
		opt(ro)
		if _, _, err := service.options(ro, images.CriuReqType_RESTORE); !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), "service") {
			t.Errorf("service with rst_sibling %v, %d inherit_fd: %v", ro.GetRstSibling(), len(ro.InheritFd), err)
		}
	}
}

// TestRPCLayers: swrk's defaults are under the request's fields, the
// file the request names is over them, and where the images and the log
// go is the request's unless that file says otherwise.
func TestRPCLayers(t *testing.T) {
	work := t.TempDir()
	var files []string
	c := &conn{swrk: true, cfg: Config{
		Defaults: func(o *Options) {
			o.TCPEstablished, o.FileLocks, o.LinkRemap, o.LogFile, o.ImagesDir = true, true, true, "defaults.log", "/nowhere"
		},
		File: func(o *Options, path, cmd string) error {
			files = append(files, path+" "+cmd)
			o.FileLocks, o.WorkDir, o.LogFile = false, work, "rpc.log"
			return nil
		},
	}}
	dir := t.TempDir()
	ro := &images.CriuOpts{ImagesDir: proto.String(dir), LinkRemap: proto.Bool(false), LeaveRunning: proto.Bool(true)}
	o, l, err := c.options(ro, images.CriuReqType_RESTORE)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if !o.TCPEstablished || !o.FileLocks || o.LinkRemap || !o.LeaveRunning || o.ImagesDir != dir || o.LogFile != "criu.log" || len(files) != 0 {
		t.Errorf("defaults under the request: %+v, files read %q", o, files)
	}
	ro.ConfigFile = proto.String("/etc/criu/runc.conf")
	o, l, err = c.options(ro, images.CriuReqType_RESTORE)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if o.FileLocks || !o.TCPEstablished || o.WorkDir != work || o.LogFile != "rpc.log" {
		t.Errorf("the request's file over it: %+v", o)
	}
	if _, err := os.Stat(filepath.Join(work, "rpc.log")); err != nil {
		t.Errorf("the log is not where the file says: %v", err)
	}
	if want := []string{"/etc/criu/runc.conf restore", "/etc/criu/runc.conf restore"}; !reflect.DeepEqual(files, want) {
		t.Errorf("files read %q, want %q", files, want)
	}
	// Without a reader, a file that exists is refused, naming --config.
	p := filepath.Join(dir, "runc.conf")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ro.ConfigFile = proto.String(p)
	if _, _, err := (&conn{}).options(ro, images.CriuReqType_RESTORE); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("no reader: %v", err)
	}
}
