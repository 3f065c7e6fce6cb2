// Command criu is CRIU's command line and swrk/service RPC over criugo's
// stages, for runc, Podman, go-criu and zdtm.py: `criu dump -t PID -D DIR`,
// `criu restore -D DIR -d`, `criu check`, `criu --version`, `criu swrk FD`
// (see pkg/criucli).
package main

import (
	"fmt"
	"os"

	"github.com/criugo/criugo/pkg/tracker"
)

func main() {
	if tracker.HolderMode() {
		// A pre-dump's write-tracking holder: the dump started this
		// binary again to keep the tracking until the next dump.
		if err := tracker.RunHolder(); err != nil {
			fmt.Fprintf(os.Stderr, "criu: %v\n", err)
			os.Exit(1)
		}
		return
	}
	status, err := run(os.Args, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "criu: %v\n", err)
		os.Exit(1)
	}
	os.Exit(status)
}
