// Command criu-restore brings a checkpointed process tree back to life
// from an image directory (-D) or an image stream on standard input: the
// same PIDs and TIDs, memory, registers, files, signals and credentials.
// With -d it exits once the tree runs; otherwise it waits for the root
// task and exits with its status.
package main

import (
	"fmt"
	"os"
)

func main() {
	status, err := run(os.Args, os.Stdin, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "criu-restore: %v\n", err)
		os.Exit(1)
	}
	os.Exit(status)
}
