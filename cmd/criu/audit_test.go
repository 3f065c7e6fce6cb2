package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/criucli"
	"github.com/criugo/criugo/pkg/restore"
)

// parsed runs a command line through criu's parsing (normalize, the
// flags, optionsOf, the refusals), not the command, and returns the
// options the command would get.
func parsed(args ...string) (criucli.Options, error) {
	args, _, err := normalize(append([]string{"criu"}, args...))
	if err != nil {
		return criucli.Options{}, err
	}
	var o criucli.Options
	action := func(c *cli.Context) error {
		if err := refusedSet(c); err != nil {
			return err
		}
		var err error
		o, err = optionsOf(c, io.Discard)
		return err
	}
	var cmds []*cli.Command
	for _, name := range []string{"dump", "pre-dump", "restore", "check"} {
		cmds = append(cmds, &cli.Command{Name: name, Flags: flags(), Action: action})
	}
	app := &cli.App{Name: "criu", Commands: cmds, DisableSliceFlagSeparator: true, Writer: io.Discard, ErrWriter: io.Discard}
	err = app.Run(args)
	o.LogTo, o.MsgTo = nil, nil
	return o, err
}

// accepted are the options criu implements: a command line with the
// option, what it must change in criucli.Options, and the test that shows
// the option's effect on a real tree (the stages take the same fields).
var accepted = []struct {
	args  []string
	want  func(*criucli.Options)
	where string
}{
	{[]string{"dump", "-t", "5"}, func(o *criucli.Options) { o.Pid = 5 }, "TestDumpRestore"},
	{[]string{"dump", "--tree", "5"}, func(o *criucli.Options) { o.Pid = 5 }, "TestDumpRestore"},
	{[]string{"dump", "-D", "/i"}, func(o *criucli.Options) { o.ImagesDir = "/i" }, "TestDumpRestore"},
	{[]string{"dump", "--images-dir-fd", "0"}, func(o *criucli.Options) { o.ImagesDir = criucli.FdDir("/proc/self/fd/0") }, "TestImagesDirFd"},
	{[]string{"dump", "-W", "/w"}, func(o *criucli.Options) { o.WorkDir = "/w" }, "TestOptionsOf"},
	{[]string{"dump", "-o", "d.log"}, func(o *criucli.Options) { o.LogFile = "d.log" }, "TestDumpRestore"},
	{[]string{"dump", "--log-file", "d.log"}, func(o *criucli.Options) { o.LogFile = "d.log" }, "TestDumpRestore"},
	{[]string{"dump", "-v4"}, func(o *criucli.Options) { o.LogLevel = 4 }, "TestDumpRestore"},
	{[]string{"dump", "-vv"}, func(o *criucli.Options) { o.LogLevel = 4 }, "TestNormalize"},
	{[]string{"dump", "--verbosity=1"}, func(o *criucli.Options) { o.LogLevel = 1 }, "TestNormalize"},
	{[]string{"dump", "-R"}, func(o *criucli.Options) { o.LeaveRunning = true }, "run-cr.sh leave, TestActionScripts"},
	{[]string{"dump", "--leave-running"}, func(o *criucli.Options) { o.LeaveRunning = true }, "run-cr.sh leave"},
	{[]string{"dump", "-s"}, func(o *criucli.Options) { o.LeaveStopped = true }, "TestLeaveStopped"},
	{[]string{"restore", "--leave-stopped"}, func(o *criucli.Options) { o.LeaveStopped = true }, "TestLeaveStopped"},
	{[]string{"dump", "--tcp-established"}, func(o *criucli.Options) { o.TCPEstablished = true }, "run-cr.sh tcp, netns"},
	{[]string{"dump", "--tcp-close"}, func(o *criucli.Options) { o.TCPClose = true }, "run-cr.sh tcpclosed"},
	{[]string{"dump", "--skip-in-flight"}, func(o *criucli.Options) { o.SkipInFlight = true }, "run-cr.sh tcpclosed"},
	// The dump still refuses an external peer, naming the option.
	{[]string{"dump", "-x"}, func(o *criucli.Options) { o.ExtUnixSk = true }, "pkg/dump TestDumpExternalUnixSocket (still refused, naming the option)"},
	{[]string{"dump", "--ext-unix-sk"}, func(o *criucli.Options) { o.ExtUnixSk = true }, "pkg/dump TestDumpExternalUnixSocket (still refused, naming the option)"},
	{[]string{"dump", "-j"}, func(o *criucli.Options) { o.ShellJob = true }, "cmd/criu-restore TestShellJob"},
	{[]string{"restore", "--shell-job"}, func(o *criucli.Options) { o.ShellJob = true }, "cmd/criu-restore TestShellJob"},
	{[]string{"dump", "-l"}, func(o *criucli.Options) { o.FileLocks = true }, "run-cr.sh locks"},
	{[]string{"dump", "--file-locks"}, func(o *criucli.Options) { o.FileLocks = true }, "run-cr.sh locks"},
	{[]string{"dump", "--link-remap"}, func(o *criucli.Options) { o.LinkRemap = true }, "run-cr.sh linkremap"},
	{[]string{"dump", "--ghost-limit", "2M"}, func(o *criucli.Options) { o.GhostLimit = 2 << 20 }, "pkg/dump TestDumpGhostLimit"},
	{[]string{"dump", "--prev-images-dir", "../pre"}, func(o *criucli.Options) { o.PrevImagesDir = "../pre" }, "TestPreDumpChain"},
	{[]string{"dump", "--track-mem"}, func(o *criucli.Options) { o.TrackMem = true }, "TestPreDumpChain"},
	{[]string{"dump", "--auto-dedup"}, func(o *criucli.Options) { o.AutoDedup = true }, "run-cr.sh predump"},
	{[]string{"restore", "--pidfile", "p"}, func(o *criucli.Options) { o.PidFile = "p" }, "TestDumpRestore"},
	{[]string{"restore", "-d"}, func(o *criucli.Options) { o.Detach = true }, "TestDumpRestore"},
	{[]string{"restore", "--restore-detached"}, func(o *criucli.Options) { o.Detach = true }, "TestDumpRestore"},
	{[]string{"restore", "--daemon"}, func(o *criucli.Options) { o.Detach = true }, "TestDumpRestore"},
	{[]string{"restore", "-d", "--no-restore-detached"}, func(o *criucli.Options) {}, "TestNormalize"},
	{[]string{"restore", "-d", "--no-daemon"}, func(o *criucli.Options) {}, "TestNormalize"},
	{[]string{"dump", "--freeze-cgroup", "/sys/fs/cgroup/freezer/x"}, func(o *criucli.Options) { o.FreezeCgroup = "/sys/fs/cgroup/freezer/x" }, "pkg/seize TestCgroupV1Freezer"},
	{[]string{"dump", "--timeout", "7"}, func(o *criucli.Options) { o.Timeout = 7e9 }, "none on a tree: seize.Options.Timeout"},
	{[]string{"restore", "--manage-cgroups=full"}, func(o *criucli.Options) { o.ManageCgroups = cgroup.Full }, "run-cr.sh cgroup"},
	{[]string{"restore", "--cgroup-root", "cpu:/x"}, func(o *criucli.Options) { o.CgroupRoots = []cgroup.Root{{Controller: "cpu", Path: "/x"}} }, "pkg/cgroup TestRewriteRoots"},
	{[]string{"dump", "--cgroup-dump-controller", "memory"}, func(o *criucli.Options) { o.CgroupDumpControllers = []string{"memory"} }, "none on a tree: dump.Options.CgroupDumpControllers"},
	{[]string{"restore", "--root", "/r"}, func(o *criucli.Options) { o.Root = "/r" }, "test/run-runc.sh (runc sends root over RPC)"},
	{[]string{"restore", "-r", "/r"}, func(o *criucli.Options) { o.Root = "/r" }, "test/run-runc.sh (runc sends root over RPC)"},
	{[]string{"dump", "--external", "mnt[/m]:k"}, func(o *criucli.Options) { o.ExtMounts = map[string]string{"/m": "k"} }, "run-cr.sh criu mntns"},
	{[]string{"restore", "--external", "mnt[k]:/m"}, func(o *criucli.Options) { o.ExtMounts = map[string]string{"k": "/m"} }, "run-cr.sh criu mntns"},
	{[]string{"restore", "--external", "veth[ceth0]:ceth1"}, func(o *criucli.Options) { o.External = []string{"veth[ceth0]:ceth1"} }, "run-cr.sh criu netns, TestActionScriptsNetwork"},
	{[]string{"restore", "-M", "k:/m"}, func(o *criucli.Options) { o.ExtMounts = map[string]string{"k": "/m"} }, "run-cr.sh criu mntns"},
	{[]string{"dump", "--ext-mount-map", "/m:k"}, func(o *criucli.Options) { o.ExtMounts = map[string]string{"/m": "k"} }, "run-cr.sh criu mntns"},
	{[]string{"dump", "--empty-ns", "net"}, func(o *criucli.Options) { o.EmptyNetNs = true }, "TestEmptyNetNs"},
	{[]string{"dump", "--network-lock", "nftables"}, func(o *criucli.Options) { o.NetworkLock = "nftables" }, "run-cr.sh criu netns, TestActionScriptsNetwork"},
	{[]string{"dump", "--display-stats"}, func(o *criucli.Options) { o.DisplayStats = true }, "TestDisplayStats"},
	{[]string{"dump", "--action-script", "/s"}, func(o *criucli.Options) { o.ActionScripts = []string{"/s"} }, "TestActionScripts"},
	{[]string{"restore", "--inherit-fd", "fd[0]:pipe:[7]"}, func(o *criucli.Options) { o.InheritFds = []restore.InheritFd{{Key: "pipe:[7]"}} }, "TestInheritFd, test/run-runc.sh (RPC inherit_fd)"},
	{[]string{"dump", "--external", "net[4026531992]:extRootNetNS"}, func(o *criucli.Options) { o.ExtNetNs = map[uint64]string{4026531992: "extRootNetNS"} }, "run-cr.sh netext, test/run-runc.sh netns (RPC external)"},
	{[]string{"restore", "--join-ns", "net:/proc/self/ns/net"}, func(o *criucli.Options) { o.JoinNs = []restore.JoinNs{{Kind: "net"}} }, "TestExternalNetNs (net), TestJoinNsUTS (uts, ipc)"},
	{[]string{"restore", "-d", "-S"}, func(o *criucli.Options) { o.Detach, o.Sibling = true, true }, "TestInheritFd"},
	{[]string{"restore", "-d", "--restore-sibling"}, func(o *criucli.Options) { o.Detach, o.Sibling = true, true }, "TestInheritFd"},
	{[]string{"dump", "--skip-mnt", "/m"}, func(o *criucli.Options) { o.SkipMounts = []string{"/m"} }, "pkg/dump TestSkipMounts"},
	{[]string{"dump", "--enable-fs", "ext4,xfs"}, func(o *criucli.Options) { o.EnableFs = []string{"ext4,xfs"} }, "pkg/dump TestEnableFs"},
	{[]string{"restore", "--veth-pair", "ceth0=ceth1"}, func(o *criucli.Options) { o.External = []string{"veth[ceth0]:ceth1"} }, "as --external veth[...]: run-cr.sh criu netns"},
	{[]string{"restore", "--weak-sysctls"}, func(o *criucli.Options) { o.WeakSysctls = true }, "pkg/netns TestWeakSysctls"},
	{[]string{"restore", "--evasive-devices"}, func(o *criucli.Options) { o.EvasiveDevices = true }, "none: CRIU 4.2 reads it on dump only, and the dump records devices by path"},
}

// noEffect are the options criu takes that change nothing in the options
// it passes on, and why that is their meaning.
var noEffect = map[string]string{
	"extra":               "check: CRIU's extra kernel features; check answers for what criugo needs",
	"experimental":        "check: as --extra",
	"all":                 "check: as --extra",
	"deprecated":          "criugo has no deprecated features",
	"feature":             "check --feature: TestCheckFeature",
	"address":             "service --address: TestService (service -d, --pidfile: TestServiceDaemon)",
	"pre-dump-mode":       "splice or read give the same images; another value is refused (TestBadValues)",
	"cpu-cap":             "cpuinfo check --cpu-cap: cmd/criu cpuinfo",
	"no-default-config":   "read before the options are: TestConfigFiles",
	"config":              "read before the options are: TestConfigFiles",
	"skip-file-rwx-check": "the restore compares a file's size, not its mode (pkg/restore regfile_linux.go)",
	"exec-cmd":            "restore: criu execs the command once the tree runs (TestExecCmd)",
	"ghost-fiemap":        "holes are found with SEEK_DATA/SEEK_HOLE, the same images",
	"close":               "TestClose",
	"file-validation":     "filesize is what the restore does (pkg/restore regfile_linux.go); buildid is refused (TestBadValues)",
	"mntns-compat-mode":   "restore only (TestBadValues): one mount engine, the same mounts",
	"status-fd":           "service: TestServiceStatusFd; a dump or restore does not write it, as CRIU's does not",
}

// TestOptionsAudit: every CRIU option criu lists is either refused with
// an error naming it (TestRefused) or accepted with an effect on the
// options the stages get (accepted) or a stated meaning (noEffect); and
// every option of CRIU 4.2.1's (its config.c, where the source is at
// hand) is in the list.
func TestOptionsAudit(t *testing.T) {
	seen := map[string]bool{}
	base, err := parsed("dump")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accepted {
		o, err := parsed(a.args...)
		if err != nil {
			t.Errorf("%q: %v", a.args, err)
			continue
		}
		for i := range o.InheritFds {
			// A duplicate of the test's fd: only the key is compared.
			o.InheritFds[i].File.Close()
			o.InheritFds[i].File = nil
		}
		for i := range o.JoinNs {
			o.JoinNs[i].File.Close()
			o.JoinNs[i].File = nil
		}
		want := base
		if a.args[0] == "restore" {
			want, _ = parsed("restore")
		}
		a.want(&want)
		if !reflect.DeepEqual(o, want) {
			t.Errorf("%q: options\n%+v\nwant\n%+v", a.args, o, want)
		}
		for _, w := range a.args {
			if strings.HasPrefix(w, "-") {
				if opt, ok := lookup(strings.SplitN(strings.TrimLeft(w, "-"), "=", 2)[0]); ok {
					seen[opt.name] = true
				} else if strings.HasPrefix(w, "-v") {
					seen["verbosity"] = true
				}
			}
		}
	}
	for _, o := range options {
		_, quiet := noEffect[o.name]
		switch {
		case o.refused != "" && (seen[o.name] || quiet):
			t.Errorf("--%s is refused but listed as accepted", o.name)
		case o.refused == "" && !seen[o.name] && !quiet:
			t.Errorf("--%s is neither refused nor listed with its effect (accepted, noEffect)", o.name)
		}
	}
	// The list, each one refused or with its effect.
	for _, name := range strings.Fields("tree images-dir work-dir log-file verbosity restore-detached shell-job leave-running " +
		"pidfile tcp-established tcp-close ext-unix-sk file-locks link-remap ghost-limit skip-in-flight network-lock " +
		"manage-cgroups cgroup-root freeze-cgroup root external ext-mount-map inherit-fd restore-sibling " +
		"action-script prev-images-dir track-mem auto-dedup images-dir-fd") {
		o, ok := lookup(name)
		if !ok || (o.refused == "" && !seen[name]) {
			t.Errorf("--%s: not in the audit", name)
		}
	}
	src := filepath.Join("..", "..", "build", "criu-4.2.1", "src", "criu", "config.c")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Logf("CRIU's config.c not at hand (%v): its options not compared", err)
		return
	}
	var missing []string
	for _, m := range regexp.MustCompile(`(?:\{ |BOOL_OPT\()"([a-z0-9-]+)"`).FindAllStringSubmatch(string(b), -1) {
		if _, ok := lookup(m[1]); !ok && m[1] != "help" && m[1] != "version" {
			missing = append(missing, m[1])
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("CRIU's options criu does not know: %q", missing)
	}
}

// TestBadValues: a value an option cannot take is an error naming the
// option and the value.
func TestBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"dump", "-t", "x5"},
		{"dump", "--external", "mnt[rel]:k"},
		{"restore", "--external", "mnt[k]"},
		{"restore", "--external", "dev[8/1]:disk"},
		{"dump", "--external", "veth[eth0]:out"},
		{"restore", "--ext-mount-map", "nocolon"},
		{"restore", "--ext-mount-map", "auto"},
		{"dump", "--empty-ns", "pid"},
		{"dump", "--network-lock", "ebtables"},
		{"restore", "--network-lock", "ebtables"},
		{"dump", "--ghost-limit", "1T"},
		{"restore", "--manage-cgroups=bogus"},
		{"restore", "--cgroup-root", "cpu:rel"},
		{"dump", "--images-dir-fd", "x"},
		{"dump", "--timeout", "-1"},
		{"dump", "--pre-dump-mode", "mmap"},
		{"restore", "--veth-pair", "ceth0"},
		{"restore", "--file-validation", "buildid"},
		{"restore", "--file-validation", "md5"},
		{"dump", "--close", "x"},
		{"dump", "--mntns-compat-mode"},
	} {
		_, err := parsed(args...)
		opt := strings.TrimPrefix(strings.SplitN(args[1], "=", 2)[0], "--")
		val := args[len(args)-1]
		if i := strings.Index(val, "="); i >= 0 {
			val = val[i+1:]
		}
		if err == nil || !strings.Contains(err.Error(), opt) || !strings.Contains(err.Error(), val) {
			t.Errorf("%q: %v, want an error naming %s and %q", args, err, opt, val)
		}
	}
}

// TestNegated: --no-NAME undoes --NAME, as CRIU's BOOL_OPT.
func TestNegated(t *testing.T) {
	o, err := parsed("dump", "--track-mem", "--no-track-mem", "--auto-dedup")
	if err != nil || o.TrackMem || !o.AutoDedup {
		t.Errorf("--track-mem --no-track-mem --auto-dedup: %+v, %v", o, err)
	}
	if _, err := parsed("dump", "--no-tree", "5"); err == nil || !strings.Contains(err.Error(), "no-tree") {
		t.Errorf("--no-tree: %v", err)
	}
	// A refused option's negation asks for what criugo does.
	if _, err := parsed("restore", "--no-log-pid", "--no-mntns-compat-mode"); err != nil {
		t.Errorf("--no-log-pid: %v", err)
	}
}

// TestImagesDirFd: --images-dir-fd names a directory this process holds.
func TestImagesDirFd(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := parsed("dump", "--images-dir-fd", strconv.Itoa(int(f.Fd())))
	if err != nil || o.ImagesDir != dir {
		t.Errorf("images dir %q, %v; want %q", o.ImagesDir, err, dir)
	}
}

// TestNormalizeExecCmd: what follows "--" is --exec-cmd's command, passed
// on after a "--" whatever options it has.
func TestNormalizeExecCmd(t *testing.T) {
	got, _, err := normalize([]string{"criu", "restore", "--exec-cmd", "-D", "d", "--", "sh", "-c", "x", "-D"})
	want := []string{"criu", "restore", "--exec-cmd", "--images-dir", "d", "--", "sh", "-c", "x", "-D"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("normalize: %q, %v; want %q", got, err, want)
	}
}

// TestClose: --close N closes criu's fd N while the options are read, as
// CRIU's does, with any command; the others stay open.
func TestClose(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	if _, err := parsed("restore", "--close", strconv.Itoa(p[0]), "--veth-pair", "a=b"); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("fd %d after --close: %v, want EBADF", p[0], err)
		unix.Close(p[0])
	}
	if _, err := unix.FcntlInt(uintptr(p[1]), unix.F_GETFD, 0); err != nil {
		t.Errorf("fd %d, not named, closed too: %v", p[1], err)
	}
}
