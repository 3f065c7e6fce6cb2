// Command crit inspects and edits CRIU images like CRIU's crit: decode,
// encode, info, show and x (ps, fds, mems, rss).
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "crit: %v\n", err)
		os.Exit(1)
	}
}
