// Command criu-parasite dumps the process tree criu-seize froze: it reads
// the seize stream (stdin, or -D DIR holding freeze.img), writes the
// complete image set (a tar stream on stdout, or -D DIR), then kills the
// tree, or lets it go on with --leave-running.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "criu-parasite: %v\n", err)
		os.Exit(1)
	}
}
