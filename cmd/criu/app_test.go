package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/criucli"
)

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
	}{
		{[]string{"criu", "dump", "-t", "5", "-D", "d"}, []string{"criu", "dump", "--tree", "5", "--images-dir", "d"}},
		// Options before the command, as CRIU's getopt allows.
		{[]string{"criu", "-o", "x.log", "-v4", "dump", "-t", "5"}, []string{"criu", "dump", "--log-file", "x.log", "--tree", "5", "--verbosity=4"}},
		{[]string{"criu", "restore", "-v"}, []string{"criu", "restore", "--verbosity=3"}},
		{[]string{"criu", "restore", "-vvv"}, []string{"criu", "restore", "--verbosity=5"}},
		{[]string{"criu", "restore", "--verbosity=1"}, []string{"criu", "restore", "--verbosity=1"}},
		{[]string{"criu", "cpuinfo", "check", "-D", "d"}, []string{"criu", "cpuinfo", "--images-dir", "d", "check"}},
		{[]string{"criu", "-D", "dump", "dump"}, []string{"criu", "dump", "--images-dir", "dump"}},
		{[]string{"criu", "swrk", "3"}, []string{"criu", "swrk", "3"}},
		{[]string{"criu", "restore", "-dj", "-D", "d"}, []string{"criu", "restore", "--restore-detached", "--shell-job", "--images-dir", "d"}},
		{[]string{"criu", "dump", "-t5", "-jt", "6"}, []string{"criu", "dump", "--tree", "5", "--shell-job", "--tree", "6"}},
		// getopt's optional argument: the next word is not its value.
		{[]string{"criu", "restore", "--manage-cgroups", "-D", "d"}, []string{"criu", "restore", "--manage-cgroups=", "--images-dir", "d"}},
		{[]string{"criu", "restore", "--manage-cgroups=full", "--cgroup-root", "cpu,cpuacct:/x"}, []string{"criu", "restore", "--manage-cgroups=full", "--cgroup-root", "cpu,cpuacct:/x"}},
		// One spelling for both forms, the last value winning.
		{[]string{"criu", "dump", "-o", "a.log", "--log-file=b.log"}, []string{"criu", "dump", "--log-file", "a.log", "--log-file=b.log"}},
		// zdtm.py's check: CRIU's getopt reads -v with "erbosity=0".
		{[]string{"criu", "check", "--no-default-config", "-verbosity=0", "--feature", "x"}, []string{"criu", "check", "--no-default-config", "--feature", "x", "--verbosity=0"}},
	} {
		got, v, err := normalize(c.in)
		if err != nil || v || !reflect.DeepEqual(got, c.want) {
			t.Errorf("normalize(%q) = %q, %v, %v; want %q", c.in, got, v, err, c.want)
		}
	}
	for _, in := range [][]string{{"criu", "-V"}, {"criu", "dump", "--version"}} {
		if _, v, err := normalize(in); !v || err != nil {
			t.Errorf("normalize(%q): version %v, %v", in, v, err)
		}
	}
	for _, in := range [][]string{{"criu", "dump", "-t"}, {"criu", "dump", "--no-such"}} {
		if _, _, err := normalize(in); err == nil {
			t.Errorf("normalize(%q) accepted", in)
		}
	}
}

// TestVersion: CRIU's format, naming 4.2, which runc's and Podman's
// version gates read.
func TestVersion(t *testing.T) {
	for _, flag := range []string{"-V", "--version"} {
		var out bytes.Buffer
		if _, err := run([]string{"criu", flag}, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "Version: 4.2\n") {
			t.Errorf("criu %s printed %q", flag, out.String())
		}
	}
}

// TestRefused: every option criugo does not implement, with every
// command, is an error naming it; so is an option CRIU does not know.
func TestRefused(t *testing.T) {
	for _, o := range options {
		if o.refused == "" {
			continue
		}
		for _, cmd := range []string{"dump", "restore"} {
			args := []string{"criu", cmd, "--" + o.name}
			if o.arg {
				args = append(args, "x")
			}
			_, err := run(args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), "--"+o.name) {
				t.Errorf("%q: %v, want an error naming --%s", args, err, o.name)
			}
		}
		if o.short != "" {
			args := []string{"criu", "dump", "-" + o.short}
			if o.arg {
				args = append(args, "x")
			}
			if _, err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--"+o.name) {
				t.Errorf("%q: %v, want an error naming --%s", args, err, o.name)
			}
		}
	}
	for _, args := range [][]string{
		{"criu", "dump", "--no-such-option"},
		{"criu", "restore", "--no-such-option=1"},
	} {
		if _, err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no-such-option") {
			t.Errorf("%q: %v, want an error naming the option", args, err)
		}
	}
	for _, cmd := range []string{"page-server", "lazy-pages"} {
		if _, err := run([]string{"criu", cmd, "--port", "1"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("criu %s: %v", cmd, err)
		}
	}
}

func TestCheckFeature(t *testing.T) {
	if _, err := run([]string{"criu", "check", "--feature", "no_such_thing"}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, criucli.ErrUnknownFeature) {
		t.Errorf("unknown feature: %v", err)
	}
	if _, err := run([]string{"criu", "check", "--feature", "uffd-noncoop"}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, criucli.ErrNotSupported) {
		t.Errorf("lazy pages' feature: %v, want not supported", err)
	}
}

// TestOptionsOf: the command line's options reach criucli.Options, the
// log goes into -W.
func TestOptionsOf(t *testing.T) {
	work := t.TempDir()
	_, err := run([]string{"criu", "-W", work, "-o", "d.log", "-v4", "dump", "-D", t.TempDir()}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, criucli.ErrBadOptions) {
		t.Errorf("dump without -t: %v", err)
	}
	// Options that ask nothing criugo does not do anyway pass.
	for _, opt := range [][]string{{"--link-remap"}, {"--no-default-config"}, {"--pre-dump-mode", "read"}, {"--deprecated"}} {
		args := append([]string{"criu", "dump", "-D", t.TempDir()}, opt...)
		if _, err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, criucli.ErrBadOptions) {
			t.Errorf("%q: %v, want the missing -t only", args, err)
		}
	}
	b, rerr := os.ReadFile(filepath.Join(work, "d.log"))
	if rerr != nil || !strings.Contains(string(b), "Error (criugo): ") || !strings.Contains(string(b), "Dumping FAILED.") {
		t.Errorf("log in -W: %v %q", rerr, b)
	}
}

// TestDumpRestore: criu dump, then criu restore -d, of a C/R test program
// that passes its own check after the restore; the logs end with CRIU's
// closing lines.
func TestDumpRestore(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	prog := testutil.BuildProgram(t, "loop")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	images := filepath.Join(work, "images")
	if err := os.Mkdir(images, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := run([]string{"criu", "dump", "-t", strconv.Itoa(pid), "-D", images, "-o", "dump.log", "-v4"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, []int{pid})
	var stderr bytes.Buffer
	if _, err := run([]string{"criu", "restore", "-d", "-D", images, "-o", "restore.log", "-v4", "--pidfile", "root.pid"}, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(images, "root.pid"))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("pid file: %q, %v; want %d", b, err, pid)
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
	for log, last := range map[string]string{"dump.log": "Dumping finished successfully", "restore.log": "Restore finished successfully. Tasks resumed."} {
		b, err := os.ReadFile(filepath.Join(images, log))
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(b)), last) {
			t.Errorf("%s does not end with %q: %v\n%s", log, last, err, b)
		}
	}
}
