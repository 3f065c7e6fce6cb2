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
