// Command criu-imgtool handles image sets as files: it packs a directory
// into a stream and back, compresses streams, verifies that a set holds
// together and prints what a set holds.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newApp(os.Stdin, os.Stdout).Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "criu-imgtool: %v\n", err)
		os.Exit(1)
	}
}
