// Command criu-seize freezes a live process tree, every thread of every
// task, and describes it for the next stage of the pipeline:
// inventory.img, pstree.img and freeze.img, as a stream on standard output
// or into an image directory. With --thaw it undoes such a freeze.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "criu-seize: %v\n", err)
		os.Exit(1)
	}
}
