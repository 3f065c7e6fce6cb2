// Command soccr-tool saves an established TCP connection of a live process
// into CRIU images with TCP repair mode, and brings it back as a socket
// handed to a program.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "soccr-tool: %v\n", err)
		os.Exit(1)
	}
}
