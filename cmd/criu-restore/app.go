package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/signals"
	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/criucli"
	"github.com/criugo/criugo/pkg/restore"
	"github.com/criugo/criugo/pkg/version"
)

// run runs criu-restore with args (program name first), reading a stream
// from stdin when no directory is given and writing progress to logw with
// -v. It returns the status to exit with: the root's, when it waited.
func run(args []string, stdin io.Reader, logw io.Writer) (int, error) {
	status := 0
	// SIGINT, SIGTERM and SIGHUP stop a restore before the tree runs, and
	// what it made is killed, instead of ending criu-restore at once.
	ctx, stop := signals.Context()
	defer stop()
	app := newApp(stdin, logw, &status)
	if err := app.RunContext(ctx, args); err != nil {
		return 1, err
	}
	return status, nil
}

func newApp(stdin io.Reader, logw io.Writer, status *int) *cli.App {
	return &cli.App{
		Name:      "criu-restore",
		Usage:     "recreate a process tree from checkpoint images",
		UsageText: "criu-restore -D DIR [-d] [-j] [--pidfile FILE]\ncriu-restore [-d] [--pidfile FILE] < stream",
		Description: "Without -D the images are read from standard input as a stream (a tar of\n" +
			"image files, plain or zstd-compressed). Without -d criu-restore waits for the\n" +
			"root task and exits with its exit code (128+N if signal N killed it).\n\n" +
			"A restore from -D writes stats-restore into DIR once the tree runs, as CRIU\n" +
			"does (times in microseconds, pages restored; crit decode shows it); a restore\n" +
			"from a stream has no directory and writes none. Failing to write it is a\n" +
			"warning, not an error: the tree already runs.\n\n" +
			"With -j (--shell-job) a tree dumped with criu-parasite --shell-job gets\n" +
			"criu-restore's terminal, its standard input, in place of the terminal it had\n" +
			"outside, and its root's process group becomes the terminal's foreground group.",
		Version:         version.Version,
		HideHelpCommand: true,
		Reader:          stdin,
		Writer:          os.Stdout,
		ErrWriter:       os.Stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "images-dir", Aliases: []string{"D"}, Usage: "restore from the images in this directory instead of standard input"},
			&cli.BoolFlag{Name: "restore-detached", Aliases: []string{"d"}, Usage: "exit once the tree runs instead of waiting for its root"},
			&cli.BoolFlag{Name: "shell-job", Aliases: []string{"j"}, Usage: "give the tree this terminal (standard input) in place of the one it had outside (a dump with --shell-job)"},
			&cli.StringFlag{Name: "pidfile", Usage: "write the root task's pid to this file"},
			&cli.StringSliceFlag{Name: "external", Usage: "what lies outside the tree, as CRIU's: veth[IFNAME]:OUTER[@BRIDGE] (the outer end of veth IFNAME, made here), macvlan[IFNAME]:PARENT, mnt[KEY]:PATH (PATH bound in place of the external mount KEY); repeatable"},
			&cli.StringSliceFlag{Name: "ext-mount-map", Aliases: []string{"M"}, Usage: "KEY:PATH, the same as --external mnt[KEY]:PATH; repeatable"},
			&cli.StringFlag{Name: "root", Aliases: []string{"r"}, Usage: "build the tree's mount namespace, when it had one of its own, in this directory and pivot into it (CRIU's --root)"},
			&cli.StringSliceFlag{Name: "inherit-fd", Usage: "fd[N]:KEY: take what the images key KEY (pipe:[INO], a path without its leading /, an external network namespace's key) from criu-restore's fd N (CRIU's --inherit-fd); repeatable"},
			&cli.StringSliceFlag{Name: "join-ns", Aliases: []string{"J"}, Usage: "NS:PID or NS:PATH: restore the tree into this net, uts or ipc namespace (CRIU's --join-ns; a network namespace dumped as external is taken so); repeatable"},
			&cli.StringFlag{Name: "network-lock", Usage: "lock the tree's network namespace until its connections exist with iptables, nftables or skip (default: what the dump used)"},
			&cli.StringFlag{Name: "empty-ns", Usage: "net: give the tree a new, empty network namespace (CRIU's --empty-ns)"},
			&cli.BoolFlag{Name: "tcp-close", Usage: "restore every TCP connection closed (needed for images dumped with --tcp-close)"},
			&cli.BoolFlag{Name: "weak-sysctls", Usage: "skip a sysctl of the images this kernel has not, which otherwise fails the restore"},
			// CRIU's restore options whose meaning criu-restore always
			// has, or which mean nothing to a restore (CRIU's neither).
			&cli.BoolFlag{Name: "tcp-established", Usage: "restore established TCP connections (always done when the images hold them)"},
			&cli.BoolFlag{Name: "file-locks", Aliases: []string{"l"}, Usage: "restore file locks (always done when the images hold them)"},
			&cli.BoolFlag{Name: "skip-in-flight", Usage: "a dump option (connections not accepted yet are never in the images); accepted, as CRIU's restore accepts it"},
			&cli.BoolFlag{Name: "ext-unix-sk", Aliases: []string{"x"}, Usage: "connect unix sockets to external peers: not supported yet; images with one are refused with or without it"},
			&cli.BoolFlag{Name: "verbose", Usage: "say how long each step took"},
			&cli.StringFlag{Name: "manage-cgroups", Value: "soft", Usage: "CRIU's cgroup mode: none, props (use existing cgroups; props also sets their properties), soft, full, strict (create missing ones with their properties; for existing ones soft sets none, full all, strict refuses), ignore (leave the tree in criu-restore's cgroups)"},
			&cli.StringSliceFlag{Name: "cgroup-root", Usage: "[CONTROLLER:]/PATH: put the dumped root cgroup (of this hierarchy, or of all) here"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q", c.Args().First())
			}
			mode, err := cgroup.ParseMode(c.String("manage-cgroups"))
			if err != nil {
				return err
			}
			roots, err := cgroup.ParseRoots(c.StringSlice("cgroup-root"))
			if err != nil {
				return err
			}
			var x criucli.Externals
			if err := x.ParseExternal("--external", c.StringSlice("external"), true); err != nil {
				return err
			}
			if err := x.ParseExtMountMap("--ext-mount-map", c.StringSlice("ext-mount-map")); err != nil {
				return err
			}
			emptyNet, err := criucli.ParseEmptyNs("--empty-ns", c.String("empty-ns"))
			if err != nil {
				return err
			}
			opts := restore.Options{
				Dir:      c.String("images-dir"),
				Detach:   c.Bool("restore-detached"),
				PidFile:  c.String("pidfile"),
				ShellJob: c.Bool("shell-job"),

				ManageCgroups: mode,
				CgroupRoots:   roots,
				External:      x.Net,
				ExtMounts:     x.Mounts,
				EmptyNetNs:    emptyNet,
				NetworkLock:   c.String("network-lock"),
				TCPClose:      c.Bool("tcp-close"),
				WeakSysctls:   c.Bool("weak-sysctls"),
			}
			if r := c.String("root"); r != "/" {
				opts.Root = r
			}
			for _, a := range c.StringSlice("inherit-fd") {
				fd, key, debug, err := criucli.ParseInheritFd(a)
				if err != nil {
					return err
				}
				if debug {
					return fmt.Errorf("option --inherit-fd %s: debug[] is criu's: %w", a, criucli.ErrNotSupported)
				}
				in, err := criucli.InheritFd(fd, key)
				if err != nil {
					return err
				}
				defer in.File.Close()
				opts.InheritFds = append(opts.InheritFds, in)
			}
			for _, a := range c.StringSlice("join-ns") {
				kind, file, err := criucli.ParseJoinNsArg("--join-ns", a)
				if err != nil {
					return err
				}
				f, err := os.Open(file)
				if err != nil {
					return fmt.Errorf("option --join-ns %s: %w", a, err)
				}
				defer f.Close()
				opts.JoinNs = append(opts.JoinNs, restore.JoinNs{Kind: kind, File: f})
			}
			if f, ok := stdin.(*os.File); ok && opts.ShellJob {
				opts.Terminal = f
			}
			if opts.Dir == "" {
				opts.Stdin = stdin
				growPipe(stdin)
			}
			if c.Bool("verbose") {
				opts.Log = logw
			}
			opts.Warn = func(err error) {
				fmt.Fprintf(c.App.ErrWriter, "criu-restore: warning: %v\n", err)
			}
			res, err := restore.Restore(c.Context, opts)
			if err != nil {
				return err
			}
			*status = res.ExitStatus
			return nil
		},
	}
}

// growPipe enlarges the pipe a stream comes through, when it is one: with
// the default 64 KiB the reader and the writer take turns every 64 KiB.
// It is only a speed-up, so a failure is ignored.
func growPipe(r io.Reader) {
	f, ok := r.(*os.File)
	if !ok {
		return
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
}
