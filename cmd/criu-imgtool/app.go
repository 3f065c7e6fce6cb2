package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/version"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
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
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return nil, errors.New("refusing to write a stream to a terminal: redirect stdout or use -o")
		}
		return nopWriteCloser{stdout}, nil
	}
	load := func(c *cli.Context) (*imgtool.Set, error) {
		if d := c.String("images-dir"); d != "" {
			return imgtool.Load(d, nil)
		}
		in, err := openIn(c)
		if err != nil {
			return nil, err
		}
		defer in.Close()
		return imgtool.LoadStream(in)
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
		Usage:           "image sets as files: pack, unpack, verify, stats, compress, decompress",
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

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
