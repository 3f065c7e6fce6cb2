package cgroup

import (
	"os"
	"strings"
	"testing"

	"github.com/criugo/criugo/pkg/proc"
)

// TestOpenHierarchy mounts every hierarchy this process is in and finds
// its own cgroup in each.
func TestOpenHierarchy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount cgroup hierarchies")
	}
	cgs, err := proc.FS{}.Cgroups(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cgs {
		cnames := c.Controllers
		if len(cnames) == 0 {
			cnames = []string{""}
		}
		h, err := OpenHierarchy(cnames)
		if err != nil {
			t.Fatalf("%v: %v", cnames, err)
		}
		b, err := os.ReadFile(h.Path(c.Path, "cgroup.procs"))
		if err != nil {
			t.Fatalf("%s: %v", h.Name(c.Path), err)
		}
		if !strings.Contains("\n"+string(b), "\n"+strings.TrimSpace(itoa(os.Getpid()))+"\n") {
			t.Errorf("%s: cgroup.procs does not list pid %d", h.Name(c.Path), os.Getpid())
		}
		h.Close()
	}
}
