// Command criu-parasite dumps the process tree criu-seize froze: it reads
// the seize stream (stdin, or -D DIR holding freeze.img), writes the
// complete image set (a tar stream on stdout, or -D DIR), then kills the
// tree, or lets it go on with --leave-running.
package main

import (
	"fmt"
	"os"

	"github.com/criugo/criugo/pkg/tracker"
)

func main() {
	if tracker.HolderMode() {
		// A pre-dump's write-tracking holder: criu-parasite started
		// itself again to keep the tracking until the next dump.
		if err := tracker.RunHolder(); err != nil {
			fmt.Fprintf(os.Stderr, "criu-parasite: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "criu-parasite: %v\n", err)
		os.Exit(1)
	}
}
