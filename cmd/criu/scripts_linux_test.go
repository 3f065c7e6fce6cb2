package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/criucli"
)

// TestActionScripts: criu dump and criu restore -d run each
// --action-script at CRIU's points, in CRIU's order, the last script
// given first, with CRTOOLS_SCRIPT_ACTION, CRTOOLS_IMAGE_DIR and, once
// the root is known, CRTOOLS_INIT_PID; a post-dump script that fails
// fails the dump and the tree runs on; a pre-resume script that fails
// fails the restore, and what it made is killed.
func TestActionScripts(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	prog := testutil.BuildProgram(t, "loop")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	images := filepath.Join(work, "images")
	if err := os.Mkdir(images, 0o700); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(work, "actions")
	script := func(name, fail string) string {
		p := filepath.Join(work, name)
		body := fmt.Sprintf("#!/bin/sh\necho \"%s $CRTOOLS_SCRIPT_ACTION ${CRTOOLS_INIT_PID:--} $CRTOOLS_IMAGE_DIR\" >>%s\n", name, record)
		if fail != "" {
			body += fmt.Sprintf("[ \"$CRTOOLS_SCRIPT_ACTION\" != %s ]\n", fail)
		}
		if err := os.WriteFile(p, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, failing := script("a", ""), script("b", ""), script("f", "post-dump")
	actions := func() []string {
		t.Helper()
		out, err := os.ReadFile(record)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(record)
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	p := strconv.Itoa(pid)

	_, err := run([]string{"criu", "dump", "-t", p, "-D", images, "-o", "fail.log", "--action-script", failing}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, criucli.ErrScript) || !strings.Contains(err.Error(), failing) {
		t.Fatalf("dump with a failing post-dump script: %v", err)
	}
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("the tree did not run on: %v", err)
	}
	if got, want := actions(), []string{"f pre-dump " + p + " " + images, "f post-dump " + p + " " + images}; !reflect.DeepEqual(got, want) {
		t.Errorf("failed dump's actions %q, want %q", got, want)
	}

	if _, err := run([]string{"criu", "dump", "-t", p, "-D", images, "-o", "dump.log", "--action-script", a, "--action-script", b}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, []int{pid})
	var want []string
	for _, act := range []string{"pre-dump", "post-dump"} {
		want = append(want, "b "+act+" "+p+" "+images, "a "+act+" "+p+" "+images)
	}
	if got := actions(); !reflect.DeepEqual(got, want) {
		t.Errorf("dump's actions\n%q, want\n%q", got, want)
	}

	// A pre-resume script that fails: the restore fails, what it made
	// is gone, before the tree ran.
	g := script("g", "pre-resume")
	if _, err := run([]string{"criu", "restore", "-d", "-D", images, "-o", "failed.log", "--action-script", g}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, criucli.ErrScript) {
		t.Fatalf("restore with a failing pre-resume script: %v", err)
	}
	testutil.WaitGone(t, []int{pid})
	if got := actions(); len(got) != 5 || got[4] != "g pre-resume "+p+" "+images {
		t.Errorf("failed restore's actions %q, want pre-restore to pre-resume", got)
	}
	if _, err := os.Stat(filepath.Join(work, "out")); err == nil {
		t.Errorf("the tree of the failed restore ran to its check")
	}
	if _, err := run([]string{"criu", "restore", "-d", "-D", images, "-o", "restore.log", "--action-script", a}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	want = []string{"a pre-restore - " + images}
	for _, act := range []string{"setup-namespaces", "post-setup-namespaces", "post-restore", "pre-resume", "post-resume"} {
		want = append(want, "a "+act+" "+p+" "+images)
	}
	if got := actions(); !reflect.DeepEqual(got, want) {
		t.Errorf("restore's actions\n%q, want\n%q", got, want)
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
}

// TestActionScriptsNetwork: for a tree in a network namespace of its own,
// a dump that leaves it running runs network-lock after pre-dump and
// network-unlock after post-dump, as CRIU's; a dump that kills it no
// network-unlock, its restore (--external veth[ceth0]:OUTER, the name the
// program wrote to its veth file) one before
// pre-resume; the program passes.
func TestActionScriptsNetwork(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.LockFixtures(t)
	prog := testutil.BuildProgram(t, "netns")
	work := t.TempDir()
	pid := testutil.StartProgram(t, prog, work)
	images := filepath.Join(work, "images")
	if err := os.Mkdir(images, 0o700); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(work, "actions")
	script := filepath.Join(work, "s")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho $CRTOOLS_SCRIPT_ACTION >>"+record+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := run([]string{"criu", "dump", "-t", strconv.Itoa(pid), "-D", images, "-o", "dump.log", "-R", "--tcp-established", "--network-lock", "nftables", "--action-script", script}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(b)), []string{"pre-dump", "network-lock", "post-dump", "network-unlock"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dump -R actions %q, want %q", got, want)
	}
	os.Remove(record)

	// A dump that kills the tree, and its restore: the namespace's lock
	// comes off before pre-resume.
	full := filepath.Join(work, "full")
	if err := os.Mkdir(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := run([]string{"criu", "dump", "-t", strconv.Itoa(pid), "-D", full, "-o", "dump.log", "--tcp-established", "--action-script", script}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, []int{pid})
	outer, err := os.ReadFile(filepath.Join(work, "veth"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run([]string{"criu", "restore", "-d", "-D", full, "-o", "restore.log", "--external", "veth[ceth0]:" + strings.TrimSpace(string(outer)), "--action-script", script}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pre-dump", "network-lock", "post-dump", "pre-restore", "setup-namespaces", "post-setup-namespaces", "post-restore", "network-unlock", "pre-resume", "post-resume"}
	if got := strings.Fields(string(b)); !reflect.DeepEqual(got, want) {
		t.Errorf("dump and restore actions\n%q, want\n%q", got, want)
	}
	if v := testutil.Verdict(t, pid, work); v != "PASS" {
		t.Errorf("restored program: %s", v)
	}
}
