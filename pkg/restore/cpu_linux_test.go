package restore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/internal/testutil/fixtureset"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/x86"
)

// TestRestoreShippedSets restores the CRIU 4.2 fixture sets as they were
// shipped (fixtureset.Shipped), from a directory and as a stream. Where
// this CPU lacks an xsave feature their threads' FPU state holds (the
// AVX-512 of the machine that dumped them), the restore must refuse them
// with ErrCPUFeature before it creates any task, naming the core file and
// the features. Where it has them all, the sets must come back and run:
// loop counts on, state and tree write PASS.
func TestRestoreShippedSets(t *testing.T) {
	for _, name := range []string{"loop", "state", "tree"} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", name, stream), func(t *testing.T) {
				dir := fixtureset.Shipped(t, name)
				tr := setTree(t, dir)
				testutil.SkipIfPidsTaken(t, name, tr.allIDs())
				lacks, err := fixtureset.Lacks(dir)
				if err != nil {
					t.Fatal(err)
				}
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
				if len(lacks) == 0 {
					t.Logf("this CPU enables %v: the shipped set must run here", x86.HostFeatures())
					if err != nil {
						t.Fatal(err)
					}
					defer killTree(t, res)
					if name == "loop" {
						time.Sleep(300 * time.Millisecond)
						a := readCounter(t)
						time.Sleep(500 * time.Millisecond)
						if b := readCounter(t); b <= a {
							t.Errorf("loop counter went from %d to %d in 500 ms", a, b)
						}
						return
					}
					runToPass(t, res, name+".out")
					return
				}
				if err == nil {
					killTree(t, res)
					t.Fatalf("restored a set whose %s needs %v, which this CPU lacks", lacks[0].Core, lacks[0].Missing)
				}
				t.Log(err)
				if !errors.Is(err, ErrCPUFeature) {
					t.Errorf("error %v does not match ErrCPUFeature", err)
				}
				named := false
				for _, l := range lacks {
					if strings.Contains(err.Error(), l.Core) {
						named = true
						if !strings.Contains(err.Error(), l.Missing.String()) {
							t.Errorf("error %q names %s but not what it lacks, %v", err, l.Core, l.Missing)
						}
					}
				}
				if !named {
					t.Errorf("error %q names none of the core files that need what this CPU lacks: %v", err, lacks)
				}
				// Refused before any task existed: the step that creates
				// them never ran, and no PID of the set is in use.
				if strings.Contains(log.String(), "\ncreate tasks: ") || strings.HasPrefix(log.String(), "create tasks: ") {
					t.Errorf("tasks were created before the refusal:\n%s", log.String())
				}
				pidsGone(t, tr)
			})
		}
	}
}
