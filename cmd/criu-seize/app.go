package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/criugo/criugo/internal/signals"
	"github.com/criugo/criugo/pkg/seize"
	"github.com/criugo/criugo/pkg/version"
)

// run runs criu-seize with args (program name first) and the given
// standard input and output.
func run(args []string, stdin io.Reader, stdout io.Writer) error {
	// A broken pipe or a signal to stop undoes the freeze like any other
	// failure instead of killing criu-seize with the tree stopped.
	ctx, stop := signals.Context()
	defer stop()
	return newApp(stdin, stdout).RunContext(ctx, args)
}

func newApp(stdin io.Reader, stdout io.Writer) *cli.App {
	return &cli.App{
		Name:      "criu-seize",
		Usage:     "freeze a process tree and describe it (inventory.img, pstree.img, freeze.img)",
		UsageText: "criu-seize -t PID [-D DIR]\ncriu-seize --freeze-cgroup PATH [-t PID] [-D DIR]\ncriu-seize --thaw [-D DIR]",
		Description: "Without -D the images go to standard output as a tar stream, and --thaw reads\n" +
			"that stream from standard input. The tree stays frozen after criu-seize exits;\n" +
			"on any failure it is left as it was found.",
		Version:         version.Version,
		HideHelpCommand: true,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       os.Stderr,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "tree", Aliases: []string{"t"}, Usage: "pid of the root of the tree to freeze"},
			&cli.StringFlag{Name: "freeze-cgroup", Usage: "freeze through the freezer of this cgroup directory (v1 freezer.state or v2 cgroup.freeze)"},
			&cli.StringFlag{Name: "images-dir", Aliases: []string{"D"}, Usage: "write the images into this directory instead of standard output"},
			&cli.BoolFlag{Name: "thaw", Usage: "undo the freeze described by freeze.img in -D or in the stream on standard input"},
			&cli.DurationFlag{Name: "timeout", Value: seize.DefaultTimeout, Usage: "how long to wait for a thread to stop or a cgroup to freeze"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			return seize.Run(c.Context, seize.Options{
				Pid:          c.Int("tree"),
				FreezeCgroup: c.String("freeze-cgroup"),
				Dir:          c.String("images-dir"),
				Thaw:         c.Bool("thaw"),
				Timeout:      c.Duration("timeout"),
				Stdin:        stdin,
				Stdout:       stdout,
			})
		},
	}
}
