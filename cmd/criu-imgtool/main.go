// Command criu-imgtool handles image sets as files: it packs a directory
// into a stream and back, compresses streams, verifies that a set holds
// together, prints what a set holds and compares two sets.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := newApp(os.Stdin, os.Stdout).Run(os.Args); err != nil {
		if !errors.Is(err, errDiffer) {
			fmt.Fprintf(os.Stderr, "criu-imgtool: %v\n", err)
		}
		os.Exit(exitStatus(err))
	}
}
