package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/criugo/criugo/pkg/cpuinfo"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/version"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

var dirFlag = &cli.StringFlag{Name: "images-dir", Aliases: []string{"D"}, Usage: "image directory"}

func inputFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: usage}
}

func outputFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: usage}
}

func newApp(stdin io.Reader, stdout io.Writer) *cli.App {
	// openIn returns -i FILE, or stdin.
	openIn := func(c *cli.Context) (io.ReadCloser, error) {
		if p := c.String("input"); p != "" {
			return os.Open(p)
		}
		return io.NopCloser(stdin), nil
	}
	// streamOut returns -o FILE (created, never overwritten), or stdout
	// unless stdout is a terminal.
	streamOut := func(c *cli.Context) (io.WriteCloser, error) {
		if p := c.String("output"); p != "" {
			return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
		if f, ok := stdout.(*os.File); ok && isTerminal(f) {
			return nil, errors.New("refusing to write a stream to a terminal: redirect stdout or use -o")
		}
		return nopWriteCloser{stdout}, nil
	}
	load := func(c *cli.Context) (*imgtool.Set, error) {
		if d := c.String("images-dir"); d != "" {
			return imgtool.Load(d, nil, imgtool.LoadOptions{})
		}
		in, err := openIn(c)
		if err != nil {
			return nil, err
		}
		defer in.Close()
		return imgtool.LoadStream(in, imgtool.LoadOptions{})
	}
	recompress := func(compress bool) cli.ActionFunc {
		return func(c *cli.Context) error {
			out, err := streamOut(c)
			if err != nil {
				return err
			}
			if d := c.String("images-dir"); d != "" {
				err = image.PackDir(d, out, compress)
			} else {
				var in io.ReadCloser
				if in, err = openIn(c); err != nil {
					return err
				}
				defer in.Close()
				err = imgtool.Recompress(in, out, compress)
			}
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			return err
		}
	}
	return &cli.App{
		Name:            "criu-imgtool",
		Usage:           "image sets as files: pack, unpack, verify, stats, diff, compress, decompress, cpuinfo",
		Version:         version.Version,
		HideHelpCommand: true,
		Commands: []*cli.Command{
			{
				Name:  "pack",
				Usage: "write the images of -D as a stream (a tar, zstd with --compress) to stdout or -o",
				Flags: []cli.Flag{dirFlag, outputFlag("stream file to create"), &cli.BoolFlag{Name: "compress", Usage: "compress the stream with zstd"}},
				Action: func(c *cli.Context) error {
					if c.String("images-dir") == "" {
						return errors.New("pack: -D DIR is required")
					}
					return recompress(c.Bool("compress"))(c)
				},
			},
			{
				Name:  "unpack",
				Usage: "write the images of a stream (stdin or -i) into directory -D",
				Flags: []cli.Flag{dirFlag, inputFlag("stream file to read")},
				Action: func(c *cli.Context) error {
					dir := c.String("images-dir")
					if dir == "" {
						return errors.New("unpack: -D DIR is required")
					}
					in, err := openIn(c)
					if err != nil {
						return err
					}
					defer in.Close()
					return image.UnpackStream(in, dir)
				},
			},
			{
				Name:  "verify",
				Usage: "check that every image of -D (or the stream on stdin or -i) decodes and the set holds together",
				Flags: []cli.Flag{dirFlag, inputFlag("stream file to read")},
				Action: func(c *cli.Context) error {
					set, err := load(c)
					if err != nil {
						return err
					}
					problems := imgtool.Verify(set)
					for _, p := range problems {
						fmt.Fprintf(c.App.ErrWriter, "criu-imgtool: verify %s: %s\n", set.Source, p)
					}
					if len(problems) > 0 {
						return fmt.Errorf("verify %s: %w: %d problems", set.Source, imgtool.ErrInvalid, len(problems))
					}
					fmt.Fprintf(stdout, "%s: %d images, the set holds together\n", set.Source, len(set.Order))
					return nil
				},
			},
			{
				Name:  "dedup",
				Usage: "free in the parent image sets of -D the pages -D holds again (punched out of their pages files); the parents no longer restore on their own",
				Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					dir := c.String("images-dir")
					if dir == "" {
						return errors.New("dedup: -D is required")
					}
					st, err := imgtool.Dedup(dir)
					if err != nil {
						return err
					}
					fmt.Fprintf(stdout, "%s: %d pages freed in %d parent pages files\n", dir, st.Pages, st.Files)
					return nil
				},
			},
			{
				Name:  "stats",
				Usage: "print tasks, pages and sizes of -D (or the stream on stdin or -i)",
				Flags: []cli.Flag{dirFlag, inputFlag("stream file to read")},
				Action: func(c *cli.Context) error {
					set, err := load(c)
					if err != nil {
						return err
					}
					return imgtool.Collect(set).Print(stdout)
				},
			},
			{
				Name:      "diff",
				Usage:     "compare two image sets (directories or stream files; - for stdin); exit 0 when equal, 1 when different, 2 on trouble",
				ArgsUsage: "A B",
				Description: "Without --shape every difference is printed: files only one set has, entries whose fields differ\n" +
					"(with the field path and both values), raw images by their first differing byte. With --shape only\n" +
					"the kinds of image files, how many of each and the field paths their entries set are compared,\n" +
					"so two dumps of one program by two dumpers can be compared whatever the pids and addresses.",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "shape", Usage: "compare kinds, file counts and the fields set, not values"}},
				OnUsageError: func(_ *cli.Context, err error, _ bool) error {
					return troubleError{err}
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return troubleError{errors.New("diff: two image sets, A and B, are required")}
					}
					n, err := diff(c.Args().Get(0), c.Args().Get(1), c.Bool("shape"), stdin, stdout)
					if err != nil {
						return troubleError{err}
					}
					if n > 0 {
						return errDiffer
					}
					return nil
				},
			},
			cpuinfoCommand(stdout),
			{
				Name:   "compress",
				Usage:  "write a zstd-compressed stream of -D, or of the stream on stdin or -i, to stdout or -o",
				Flags:  []cli.Flag{dirFlag, inputFlag("stream file to read"), outputFlag("stream file to create")},
				Action: recompress(true),
			},
			{
				Name:   "decompress",
				Usage:  "write a plain stream of -D, or of the (compressed) stream on stdin or -i, to stdout or -o",
				Flags:  []cli.Flag{dirFlag, inputFlag("stream file to read"), outputFlag("stream file to create")},
				Action: recompress(false),
			},
		},
	}
}

// cpuinfoCommand is `cpuinfo dump` and `cpuinfo check`, CRIU's commands
// of the same names.
func cpuinfoCommand(stdout io.Writer) *cli.Command {
	dir := func(c *cli.Context) (string, error) {
		d := c.String("images-dir")
		if d == "" {
			return "", fmt.Errorf("cpuinfo %s: -D DIR is required", c.Command.Name)
		}
		return d, nil
	}
	return &cli.Command{
		Name:  "cpuinfo",
		Usage: "describe this CPU in cpuinfo.img, or check that it can run what a cpuinfo.img describes (CRIU's cpuinfo dump/check)",
		Subcommands: []*cli.Command{
			{
				Name:  "dump",
				Usage: "write this CPU's description as -D DIR/cpuinfo.img (a new file)",
				Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					d, err := dir(c)
					if err != nil {
						return err
					}
					return cpuinfo.DumpDir(d)
				},
			},
			{
				Name:  "check",
				Usage: "check -D DIR/cpuinfo.img against this CPU; exit 1, naming what this CPU lacks, when it does not match",
				Description: "--cpu-cap takes CRIU's argument: fpu (the FPU bits, xsave features and xsave sizes),\n" +
					"ins (the instruction-set bits), cpu (all capability words equal), all, none, in a comma list,\n" +
					"^ removing one. As in CRIU they add to the default, fpu,ins (so ^ins checks fpu only),\n" +
					"and a set left empty (none) checks all.",
				Flags: []cli.Flag{dirFlag, &cli.StringFlag{Name: "cpu-cap", Usage: "checks to make, as CRIU's --cpu-cap (default fpu,ins)"}},
				Action: func(c *cli.Context) error {
					d, err := dir(c)
					if err != nil {
						return err
					}
					caps := cpuinfo.CapDefault
					if c.IsSet("cpu-cap") {
						if caps, err = cpuinfo.ParseCaps(c.String("cpu-cap")); err != nil {
							return err
						}
					}
					if err := cpuinfo.CheckDir(d, caps); err != nil {
						return err
					}
					if caps == cpuinfo.CapNone {
						caps = cpuinfo.CapAll
					}
					fmt.Fprintf(stdout, "%s: this CPU matches (cpu-cap %v)\n", filepath.Join(d, cpuinfo.FileName), caps)
					return nil
				},
			},
		},
	}
}

// errDiffer is what diff returns when the sets differ: exit status 1,
// with nothing printed but the differences.
var errDiffer = errors.New("the image sets differ")

// troubleError is an error of diff: exit status 2, as diff(1) has.
type troubleError struct{ error }

func (e troubleError) Unwrap() error { return e.error }

// exitStatus is the exit status for err, which newApp's Run returned.
func exitStatus(err error) int {
	var t troubleError
	if errors.As(err, &t) {
		return 2
	}
	return 1
}

// diff compares the sets at paths a and b ("-" reads a stream from stdin)
// and prints each difference on a line of stdout; it returns how many.
func diff(a, b string, shape bool, stdin io.Reader, stdout io.Writer) (int, error) {
	if a == "-" && b == "-" {
		return 0, errors.New("diff: only one of A and B can be stdin")
	}
	opts := imgtool.LoadOptions{KeepRaw: !shape}
	load := func(p string) (*imgtool.Set, error) {
		if p == "-" {
			return imgtool.LoadStream(stdin, opts)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("diff: %w", err)
		}
		return imgtool.Load(p, nil, opts)
	}
	sa, err := load(a)
	if err != nil {
		return 0, err
	}
	sb, err := load(b)
	if err != nil {
		return 0, err
	}
	var lines []fmt.Stringer
	if shape {
		ha, err := imgtool.ShapeOf(sa)
		if err != nil {
			return 0, err
		}
		hb, err := imgtool.ShapeOf(sb)
		if err != nil {
			return 0, err
		}
		for _, d := range imgtool.CompareShapes(ha, hb) {
			lines = append(lines, d)
		}
	} else {
		ds, err := imgtool.Diff(sa, sb)
		if err != nil {
			return 0, err
		}
		for _, d := range ds {
			lines = append(lines, d)
		}
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(stdout, l); err != nil {
			return 0, fmt.Errorf("diff: write: %w", err)
		}
	}
	return len(lines), nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// isTerminal reports whether f is a terminal (TCGETS works on it).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
