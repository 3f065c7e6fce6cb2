package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/criugo/criugo/pkg/dump"
)

func TestUsageErrors(t *testing.T) {
	err := run([]string{"criu-parasite", "extra"}, strings.NewReader(""), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("extra argument: %v", err)
	}
	err = run([]string{"criu-parasite", "--no-such-flag"}, strings.NewReader(""), &bytes.Buffer{})
	if err == nil {
		t.Error("unknown flag accepted")
	}
}

// TestNoSeizeInput: an empty or garbled seize stream is refused before
// anything is touched, with an error saying what was wrong.
func TestNoSeizeInput(t *testing.T) {
	for _, in := range []string{"", "not a tar stream at all, just some bytes of text........"} {
		var out bytes.Buffer
		err := run([]string{"criu-parasite"}, strings.NewReader(in), &out)
		if !errors.Is(err, dump.ErrBadInput) {
			t.Errorf("input %q: %v, want ErrBadInput", in, err)
		}
		if out.Len() != 0 {
			t.Errorf("input %q: wrote %d bytes of output", in, out.Len())
		}
	}
	// A directory without criu-seize's images and no stream either.
	err := run([]string{"criu-parasite", "-D", t.TempDir()}, strings.NewReader(""), &bytes.Buffer{})
	if !errors.Is(err, dump.ErrBadInput) {
		t.Errorf("empty directory: %v, want ErrBadInput", err)
	}
}

// TestExternalValues: CRIU's dump options --external, --ext-mount-map and
// --empty-ns with a value a dump cannot take are refused, naming the
// option and the value, before any input is read.
func TestExternalValues(t *testing.T) {
	for _, args := range [][]string{
		{"--external", "veth[eth0]:out"},
		{"--external", "mnt[rel]:key"},
		{"--external", "dev[8/1]:disk"},
		{"-M", "nocolon"},
		{"--empty-ns", "pid"},
	} {
		err := run(append([]string{"criu-parasite"}, args...), strings.NewReader(""), &bytes.Buffer{})
		if err == nil || errors.Is(err, dump.ErrBadInput) || !strings.Contains(err.Error(), args[1]) {
			t.Errorf("%q: %v, want an error naming %q", args, err, args[1])
		}
	}
	// A good one passes on to the dump, which finds no input.
	err := run([]string{"criu-parasite", "--external", "mnt[/m]:key", "-M", "/n:key2"}, strings.NewReader(""), &bytes.Buffer{})
	if !errors.Is(err, dump.ErrBadInput) {
		t.Errorf("good externals: %v, want ErrBadInput", err)
	}
}
