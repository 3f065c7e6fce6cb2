package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/criugo/criugo/internal/signals"
	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/criucli"
	"github.com/criugo/criugo/pkg/dump"
	"github.com/criugo/criugo/pkg/restore"
	"github.com/criugo/criugo/pkg/version"
)

// run runs criu-parasite with args (program name first) and the given
// standard input and output.
func run(args []string, stdin io.Reader, stdout io.Writer) error {
	// A broken pipe or a signal to stop fails the dump, which then lets
	// the tree run on, instead of killing criu-parasite with it stopped.
	ctx, stop := signals.Context()
	defer stop()
	return newApp(stdin, stdout).RunContext(ctx, args)
}

func newApp(stdin io.Reader, stdout io.Writer) *cli.App {
	return &cli.App{
		Name:  "criu-parasite",
		Usage: "dump the tree criu-seize froze into a complete image set",
		UsageText: "criu-seize -t PID | criu-parasite [-D DIR] [--leave-running] [--tcp-established]\n" +
			"criu-seize -t PID | criu-parasite --pre-dump -D DIR1\n" +
			"criu-seize -t PID | criu-parasite -D DIR2 --prev-images-dir ../DIR1 [--track-mem]\n" +
			"criu-parasite -D DIR [--leave-running] [--tcp-established]   (DIR holding criu-seize's images)",
		Description: "The seize images come from -D DIR when it holds freeze.img, else from the\n" +
			"stream on standard input. The image set goes to -D DIR, or to standard output\n" +
			"as a tar stream. After a complete dump the tree is killed, or left running with\n" +
			"--leave-running; on any failure it runs on as if nothing happened.",
		Version:         version.Version,
		HideHelpCommand: true,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       os.Stderr,

		// "cpu,cpuacct:/x" is one --cgroup-root value, not two.
		DisableSliceFlagSeparator: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "images-dir", Aliases: []string{"D"}, Usage: "image directory: input if it holds freeze.img, output either way"},
			&cli.BoolFlag{Name: "leave-running", Aliases: []string{"R"}, Usage: "let the tree go on after the dump instead of killing it"},
			&cli.BoolFlag{Name: "file-locks", Usage: "dump the file locks the tree holds (POSIX, OFD, flock, leases); without it such a tree is refused"},
			&cli.BoolFlag{Name: "tcp-established", Usage: "dump established TCP connections through TCP repair (refused without it)"},
			&cli.BoolFlag{Name: "tcp-close", Usage: "dump TCP connections in any state without their data, for a restore with --tcp-close to make them closed"},
			&cli.BoolFlag{Name: "skip-in-flight", Usage: "dump a TCP listener with connections not accepted yet, dropping them (refused without it)"},
			&cli.BoolFlag{Name: "ext-unix-sk", Aliases: []string{"x"}, Usage: "take unix sockets whose peer is outside the tree as external: not supported yet, such a tree is refused with or without it"},
			&cli.BoolFlag{Name: "shell-job", Aliases: []string{"j"}, Usage: "the tree's terminal is outside it (a shell's): record it as such instead of refusing the tree"},
			&cli.BoolFlag{Name: "pre-dump", Usage: "dump only the memory: the tree is frozen while its mappings are listed and write-protected, then runs on while its pages are read; its writes are tracked for a later dump with --prev-images-dir (needs -D)"},
			&cli.StringFlag{Name: "prev-images-dir", Usage: "image directory of a pre-dump, relative to -D: pages not written since are left to it (PE_PARENT) and -D gets a parent link to it"},
			&cli.BoolFlag{Name: "auto-dedup", Usage: "with --prev-images-dir, once the dump is complete, free in the parent image sets the pages it holds again (the parents no longer restore on their own)"},
			&cli.BoolFlag{Name: "link-remap", Usage: "a file deleted while open but still linked under another name is linked to a new name beside its old one, which the restore opens and removes (refused without it)"},
			&cli.StringFlag{Name: "ghost-limit", Value: "1M", Usage: "the most disk space a deleted file may take for its contents to go into the images (a number of bytes, or with K, M or G); larger ones are refused"},
			&cli.StringFlag{Name: "network-lock", Usage: "lock the network while the tree is frozen with `iptables` (CRIU's default), nftables or skip: a tree's own network namespace whole, or in ours each of its TCP connections"},
			&cli.StringFlag{Name: "empty-ns", Usage: "net: the tree's network namespace is set up by someone else; dump nothing of it (CRIU's --empty-ns)"},
			&cli.StringSliceFlag{Name: "external", Usage: "mnt[MOUNTPOINT]:KEY: a mount of the tree's mount namespace that comes from outside it, recorded by KEY for the restore to map; net[INODE]:KEY: the tree's network namespace, of that inode, is someone else's, recorded by KEY and not dumped (CRIU's --external); repeatable"},
			&cli.StringSliceFlag{Name: "ext-mount-map", Aliases: []string{"M"}, Usage: "MOUNTPOINT:KEY, the same as --external mnt[MOUNTPOINT]:KEY; repeatable"},
			&cli.StringSliceFlag{Name: "skip-mnt", Usage: "leave the mounts at this mount point of the tree's mount namespace out of the images (CRIU's --skip-mnt); repeatable"},
			&cli.StringSliceFlag{Name: "enable-fs", Usage: "FS[,FS...] or all: file systems criugo has no code for that a restore may mount anew from their source and options (CRIU's --enable-fs); repeatable"},
			&cli.BoolFlag{Name: "track-mem", Usage: "with --leave-running, keep tracking writes so that a later dump can name this one as --prev-images-dir"},
			&cli.StringFlag{Name: "manage-cgroups", Value: "soft", Usage: "CRIU's cgroup mode (none, props, soft, full, strict: record the cgroups below each task's with their properties; ignore: record only which cgroups the tasks are in)"},
			&cli.StringSliceFlag{Name: "cgroup-root", Usage: "[CONTROLLER:]/PATH: record the cgroups below this one instead of below the tasks' own"},
			&cli.StringSliceFlag{Name: "cgroup-dump-controller", Usage: "record only this hierarchy (\"memory\", \"cpu,cpuacct\", \"name=systemd\", \"\" for v2); repeatable"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			ghostLimit, err := dump.ParseSize(c.String("ghost-limit"))
			if err != nil {
				return fmt.Errorf("option --ghost-limit: %w", err)
			}
			mode, err := cgroup.ParseMode(c.String("manage-cgroups"))
			if err != nil {
				return err
			}
			roots, err := cgroup.ParseRoots(c.StringSlice("cgroup-root"))
			if err != nil {
				return err
			}
			emptyNet, err := criucli.ParseEmptyNs("--empty-ns", c.String("empty-ns"))
			if err != nil {
				return err
			}
			var x criucli.Externals
			if err := x.ParseExternal("--external", c.StringSlice("external"), false); err != nil {
				return err
			}
			if err := x.ParseExtMountMap("--ext-mount-map", c.StringSlice("ext-mount-map")); err != nil {
				return err
			}
			_, err = dump.Dump(c.Context, dump.Options{
				Dir:            c.String("images-dir"),
				Stdin:          stdin,
				Stdout:         stdout,
				LeaveRunning:   c.Bool("leave-running"),
				FileLocks:      c.Bool("file-locks"),
				TCPEstablished: c.Bool("tcp-established"),
				TCPClose:       c.Bool("tcp-close"),
				SkipInFlight:   c.Bool("skip-in-flight"),
				ExtUnixSk:      c.Bool("ext-unix-sk"),
				ShellJob:       c.Bool("shell-job"),
				PreDump:        c.Bool("pre-dump"),
				PrevImagesDir:  c.String("prev-images-dir"),
				TrackMem:       c.Bool("track-mem"),
				AutoDedup:      c.Bool("auto-dedup"),
				LinkRemap:      c.Bool("link-remap"),
				GhostLimit:     ghostLimit,

				ManageCgroups:         mode,
				CgroupRoots:           roots,
				CgroupDumpControllers: c.StringSlice("cgroup-dump-controller"),

				NetworkLock: c.String("network-lock"),
				EmptyNetNs:  emptyNet,

				ExternalMounts: x.Mounts,
				ExternalNetNs:  x.NetNs,
				SkipMounts:     c.StringSlice("skip-mnt"),
				EnableFs:       c.StringSlice("enable-fs"),
				// The last guard before a kill: the images must be ones
				// criu-restore takes, with the options it will need.
				Verify: func(dir string) error {
					return restore.Check(restore.Options{Dir: dir, ShellJob: c.Bool("shell-job"), EmptyNetNs: emptyNet, TCPClose: c.Bool("tcp-close")})
				},
			})
			return err
		},
	}
}
