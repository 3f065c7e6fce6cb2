package main

import (
	"github.com/criugo/criugo/pkg/tcpckpt"
	"github.com/criugo/criugo/pkg/version"
	"github.com/urfave/cli/v2"
)

func newApp() *cli.App {
	return &cli.App{
		Name:            "soccr-tool",
		Usage:           "save and restore established TCP connections (TCP repair)",
		Version:         version.Version,
		HideHelpCommand: true,
		Commands: []*cli.Command{
			{
				Name:      "save",
				Usage:     "save the connection of fd --fd of process -t into image dir -D",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "tree", Aliases: []string{"t"}, Usage: "pid of the process holding the socket", Required: true},
					&cli.IntFlag{Name: "fd", Usage: "fd number of the socket in that process", Required: true},
					&cli.StringFlag{Name: "images-dir", Aliases: []string{"D"}, Usage: "image directory to write", Required: true},
					&cli.BoolFlag{Name: "keep-paused", Usage: "leave the socket in repair mode (frozen; closes without FIN or RST) for a restored copy to take over"},
				},
				Action: func(c *cli.Context) error {
					return tcpckpt.Save(tcpckpt.SaveOptions{
						Pid: c.Int("tree"), Fd: c.Int("fd"), Dir: c.String("images-dir"), KeepPaused: c.Bool("keep-paused"),
					})
				},
			},
			{
				Name:      "restore",
				Usage:     "rebuild the connection saved in -D and run PROGRAM with it at fd --fd",
				ArgsUsage: "-- PROGRAM [ARGS...]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "images-dir", Aliases: []string{"D"}, Usage: "image directory written by save", Required: true},
					&cli.IntFlag{Name: "fd", Value: 3, Usage: "fd number PROGRAM finds the socket at"},
				},
				Action: func(c *cli.Context) error {
					return tcpckpt.Restore(tcpckpt.RestoreOptions{
						Dir: c.String("images-dir"), Fd: c.Int("fd"), Argv: c.Args().Slice(),
					})
				},
			},
		},
	}
}
