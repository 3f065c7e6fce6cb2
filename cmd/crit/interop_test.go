package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const debianCrit = "/usr/bin/crit"

// debianDecode runs CRIU's own crit (Debian's 3.17 package) on an image.
func debianDecode(t *testing.T, img string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(debianCrit, "decode", "--pretty", "-i", img)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s decode -i %s: %v\n%s", debianCrit, filepath.Base(img), err, errb.String())
	}
	return out.String()
}

// TestInteropDebianCrit: CRIU's crit reads the images our encode writes,
// from JSON written by hand and from an edited decode of a CRIU image. For
// kinds whose messages did not change between CRIU 3.17 and 4.2 it prints
// exactly what our decode prints.
func TestInteropDebianCrit(t *testing.T) {
	if _, err := os.Stat(debianCrit); err != nil {
		t.Skipf("CRIU's crit is not installed (%s): %v", debianCrit, err)
	}
	dir := t.TempDir()
	encode := func(name, json string) string {
		t.Helper()
		img := filepath.Join(dir, name)
		if _, err := runCrit(t, []byte(json), "encode", "-o", img); err != nil {
			t.Fatalf("encode %s: %v", name, err)
		}
		return img
	}
	for _, c := range []struct{ name, json string }{
		{"pipes-data.img", `{"magic": "PIPES_DATA", "entries": [
			{"pipe_id": 7, "bytes": 3, "size": 4096, "extra": "YWJj\n"},
			{"pipe_id": 8, "bytes": 0, "extra": ""}]}`},
		{"tcp-stream-1.img", `{"magic": "TCP_STREAM", "entries": [{"inq_len": 2, "inq_seq": 1, "outq_len": 1,
			"outq_seq": 4294967295, "opt_mask": "0x7", "snd_wscale": 7, "mss_clamp": 1460,
			"extra": {"inq": "aGk=\n", "outq": "IQ==\n"}}]}`},
		{"ipcns-sem-1.img", `{"magic": "IPCNS_SEM", "entries": [{"desc": {"key": 1, "uid": 0, "gid": 0, "cuid": 0,
			"cgid": 0, "mode": 438, "id": 3}, "nsems": 3, "extra": [1, 65535, 0]}]}`},
		{"ipcns-msg-1.img", `{"magic": "IPCNS_MSG", "entries": [{"desc": {"key": 1, "uid": 0, "gid": 0, "cuid": 0,
			"cgid": 0, "mode": 438, "id": 0}, "qbytes": 16384, "qnum": 1,
			"extra": [{"mtype": 5, "msize": 3}, "YWJj\n"]}]}`},
		{"pstree.img", `{"magic": "PSTREE", "entries": [{"pid": 10, "ppid": 0, "pgid": 10, "sid": 10, "threads": [10, 11]},
			{"pid": 12, "ppid": 10, "pgid": 10, "sid": 10, "threads": [12]}]}`},
		{"fdinfo-2.img", `{"magic": "FDINFO", "entries": [{"id": 1, "flags": 1, "type": "PIPE", "fd": 0}]}`},
	} {
		img := encode(c.name, c.json)
		theirs := debianDecode(t, img)
		ours, err := runCrit(t, nil, "decode", "--pretty", "-i", img)
		if err != nil {
			t.Fatal(err)
		}
		if theirs != ours {
			t.Errorf("%s: CRIU's crit prints\n%s\nours\n%s", c.name, theirs, ours)
		}
	}

	// An edited CRIU image: rename the task, make its stack executable.
	src := fixture(t, "criu-4.2", "images", "loop")
	core, err := runCrit(t, nil, "decode", "--pretty", "-i", filepath.Join(src, "core-16226.img"))
	if err != nil {
		t.Fatal(err)
	}
	core = strings.Replace(core, `"comm": "loop"`, `"comm": "renamed"`, 1)
	theirs := debianDecode(t, encode("core-16226.img", core))
	if !strings.Contains(theirs, `"comm": "renamed"`) {
		t.Error("CRIU's crit does not see the new comm")
	}
	mm, err := runCrit(t, nil, "decode", "--pretty", "-i", filepath.Join(src, "mm-16226.img"))
	if err != nil {
		t.Fatal(err)
	}
	const stack = `"start": "0x7ffe85bc0000",`
	i := strings.Index(mm, stack)
	if i < 0 {
		t.Fatal("no stack vma in mm-16226.img")
	}
	edited := mm[:i] + strings.Replace(mm[i:], `"prot": "PROT_READ | PROT_WRITE"`, `"prot": "PROT_READ | PROT_WRITE | PROT_EXEC"`, 1)
	theirs = debianDecode(t, encode("mm-16226.img", edited))
	j := strings.Index(theirs, stack)
	if j < 0 || !strings.Contains(theirs[j:j+400], `"prot": "PROT_READ | PROT_WRITE | PROT_EXEC"`) {
		t.Error("CRIU's crit does not see the stack's new protection")
	}
}
