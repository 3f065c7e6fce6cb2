package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/criugo/criugo/pkg/crit"
	"github.com/criugo/criugo/pkg/version"
)

// run runs crit with the command line args (args[0] is the program name).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return newApp(stdin, stdout, stderr).Run(interspersed(args))
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	inFlag := &cli.StringFlag{Name: "in", Aliases: []string{"i"}, Usage: "read `FILE` (stdin by default)"}
	outFlag := &cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write `FILE` (stdout by default)"}
	return &cli.App{
		Name:            "crit",
		Usage:           "CRiu Image Tool: convert CRIU images to JSON and back, explore image sets",
		Version:         version.Version,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// Errors go back to main, which prints one line; nothing here exits.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown command %q (want decode, encode, info, show or x)", c.Args().First())
			}
			cli.ShowAppHelp(c)
			return errors.New("no command given")
		},
		Commands: []*cli.Command{
			{
				Name:         "decode",
				OnUsageError: usageError,
				Usage:        "convert a CRIU image from binary to JSON",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "pretty", Usage: "multi-line with indents, numbers in field-specific forms"},
					inFlag, outFlag,
					&cli.StringFlag{Name: "dir", Aliases: []string{"D"}, Usage: "decode every image of `DIR` (to stdout, or one FILE.json each in the -o directory)"},
				},
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					if c.String("dir") != "" && c.String("in") != "" {
						return errors.New("decode: -i and -D exclude each other")
					}
					return crit.Decode(crit.DecodeOptions{
						In: c.String("in"), Dir: c.String("dir"), Out: c.String("out"),
						Pretty: c.Bool("pretty"), Stdin: stdin, Stdout: stdout,
					})
				},
			},
			{
				Name:         "encode",
				OnUsageError: usageError,
				Usage:        "convert a CRIU image from JSON to binary",
				Flags:        []cli.Flag{inFlag, outFlag},
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					return crit.Encode(crit.EncodeOptions{
						In: c.String("in"), Out: c.String("out"), Stdin: stdin, Stdout: stdout,
					})
				},
			},
			{
				Name:         "info",
				OnUsageError: usageError,
				Usage:        "show the magic and entry count of an image",
				ArgsUsage:    "IMAGE",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return errors.New("info: need exactly one IMAGE argument")
					}
					return crit.Info(crit.InfoOptions{In: c.Args().First(), Stdin: stdin, Stdout: stdout})
				},
			},
			{
				Name:         "show",
				OnUsageError: usageError,
				Usage:        "convert a CRIU image from binary to human-readable JSON",
				ArgsUsage:    "IMAGE",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "nopl", Usage: "do not show entry payloads"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return errors.New("show: need exactly one IMAGE argument")
					}
					return crit.Decode(crit.DecodeOptions{
						In: c.Args().First(), Pretty: true, NoPayload: c.Bool("nopl"),
						Stdin: stdin, Stdout: stdout,
					})
				},
			},
			{
				Name:         "x",
				OnUsageError: usageError,
				Usage:        "explore an image directory: " + strings.Join(crit.Explorers, ", "),
				ArgsUsage:    "DIR {" + strings.Join(crit.Explorers, ",") + "}",
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return fmt.Errorf("x: need DIR and one of %s", strings.Join(crit.Explorers, ", "))
					}
					return crit.ExploreDir(crit.ExploreOptions{Dir: c.Args().Get(0), What: c.Args().Get(1), Stdout: stdout})
				},
			},
		},
	}
}

// usageError returns a flag error as it is, for main to print on one line,
// instead of printing the usage.
func usageError(_ *cli.Context, err error, _ bool) error { return err }

func noArgs(c *cli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("%s: unexpected argument %q", c.Command.Name, c.Args().First())
	}
	return nil
}

// valueFlags are the flags that take a value, in every spelling.
var valueFlags = map[string]bool{"-i": true, "--in": true, "-o": true, "--out": true, "-D": true, "--dir": true}

// interspersed moves the flags of the command (args[1]) in front of its
// positional arguments, so that "crit show IMG --nopl" works as with
// CRIU's crit (argparse); the flag package stops at the first argument.
// "--" ends the flags, as usual.
func interspersed(args []string) []string {
	if len(args) < 3 {
		return args
	}
	var flags, pos []string
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			pos = append(pos, rest[i:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if valueFlags[a] && i+1 < len(rest) {
				i++
				flags = append(flags, rest[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	return append(out, pos...)
}
