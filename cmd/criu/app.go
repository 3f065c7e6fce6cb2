package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/internal/signals"
	"github.com/criugo/criugo/pkg/cgroup"
	"github.com/criugo/criugo/pkg/cpuinfo"
	"github.com/criugo/criugo/pkg/criucli"
	"github.com/criugo/criugo/pkg/dump"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/netns"
)

// run runs criu with args (program name first); stdout gets what CRIU
// prints there (--version, check), stderr the log when there is no -o.
// It returns the status to exit with: a restored root's, when criu
// restore waited for it.
func run(args []string, stdout, stderr io.Writer) (int, error) {
	args, showVersion, err := normalize(args)
	if err != nil {
		return 1, err
	}
	if showVersion {
		// CRIU's format for a release build: a GitID line would mark a
		// build between releases, which runc counts as the next one.
		fmt.Fprintf(stdout, "Version: %d.%d\n", criucli.VersionMajor, criucli.VersionMinor)
		return 0, nil
	}
	ctx, stop := signals.Context()
	defer stop()
	status := 0
	if err := newApp(stdout, stderr, &status).RunContext(ctx, args); err != nil {
		return 1, err
	}
	return status, nil
}

func newApp(stdout, stderr io.Writer, status *int) *cli.App {
	cmd := func(name, usage string, action func(c *cli.Context, o criucli.Options, l *criucli.Log) error) *cli.Command {
		return &cli.Command{
			Name:  name,
			Usage: usage,
			Flags: flags(),
			Action: func(c *cli.Context) error {
				o, err := optionsOf(c, stderr)
				if err != nil {
					return err
				}
				l, err := criucli.OpenLog(&o)
				if err != nil {
					return err
				}
				defer l.Close()
				// A refused option is in the log file too: zdtm.py
				// shows the log.
				if err := refusedSet(c); err != nil {
					if o.LogFile != "" {
						l.Errorf("%v", err)
					}
					return err
				}
				return action(c, o, l)
			},
		}
	}
	noArgs := func(c *cli.Context) error {
		if c.NArg() > 0 {
			return fmt.Errorf("%s: unexpected argument %q", c.Command.Name, c.Args().First())
		}
		return nil
	}
	refuse := func(name, what string) *cli.Command {
		return &cli.Command{
			Name:            name,
			Usage:           "not supported by criugo: " + what,
			SkipFlagParsing: true,
			Action: func(*cli.Context) error {
				return fmt.Errorf("%s: not supported by criugo: %s", name, what)
			},
		}
	}
	return &cli.App{
		Name:  "criu",
		Usage: "checkpoint/restore in userspace: CRIU's command line and RPC over criugo's stages",
		UsageText: "criu dump -t PID [-D DIR] [-W DIR] [-o LOG] [-v4] [-R] [-j] [--tcp-established] [--file-locks]\n" +
			"criu pre-dump -t PID -D DIR    then    criu dump -t PID -D DIR2 --prev-images-dir ../DIR --track-mem\n" +
			"criu restore [-D DIR] [-d] [-j] [--pidfile FILE]\n" +
			"criu check [--feature NAME] | cpuinfo dump|check | dedup | swrk FD | service --address PATH | -V",
		Description: fmt.Sprintf("CRIU %d.%d's options, short forms and meaning; an option of CRIU's that criugo\n"+
			"does not implement is an error naming it. page-server and lazy-pages are refused.", criucli.VersionMajor, criucli.VersionMinor),
		HideVersion:     true,
		HideHelpCommand: true,
		Writer:          stdout,
		ErrWriter:       stderr,

		// "cpu,cpuacct:/x" is one --cgroup-root value, not two.
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{
			cmd("dump", "checkpoint a process tree", func(c *cli.Context, o criucli.Options, l *criucli.Log) error {
				if err := noArgs(c); err != nil {
					return err
				}
				return criucli.Dump(c.Context, o, l)
			}),
			cmd("pre-dump", "dump the memory of a process tree, which runs on, for a later dump", func(c *cli.Context, o criucli.Options, l *criucli.Log) error {
				if err := noArgs(c); err != nil {
					return err
				}
				return criucli.PreDump(c.Context, o, l)
			}),
			cmd("restore", "restore a process tree", func(c *cli.Context, o criucli.Options, l *criucli.Log) error {
				execCmd := c.Bool("exec-cmd")
				switch {
				case !execCmd:
					if err := noArgs(c); err != nil {
						return err
					}
				case o.Detach:
					return fmt.Errorf("options --restore-detached and --exec-cmd cannot be used together: %w", criucli.ErrBadOptions)
				case c.NArg() == 0:
					return fmt.Errorf("option --exec-cmd requires a command after --: %w", criucli.ErrBadOptions)
				default:
					// The tree runs on as the command's child.
					o.Detach = true
				}
				if c.IsSet("network-lock") {
					// As CRIU's: the lock is the dump's, from inventory.img.
					l.Warnf("--network-lock will be ignored in restore command; the dump's method is used")
				}
				res, err := criucli.Restore(c.Context, o, l)
				if err != nil {
					return err
				}
				if execCmd {
					return execCommand(c.Args().Slice(), l)
				}
				*status = res.ExitStatus
				return nil
			}),
			cmd("check", "check that this kernel and criugo can checkpoint and restore", func(c *cli.Context, o criucli.Options, l *criucli.Log) error {
				if err := noArgs(c); err != nil {
					return err
				}
				if f := c.String("feature"); f != "" {
					if err := criucli.CheckFeature(f); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "%s is supported\n", f)
					return nil
				}
				return criucli.Check(l)
			}),
			cmd("cpuinfo", "cpuinfo dump: describe this CPU in DIR/cpuinfo.img; cpuinfo check: check it against this CPU", func(c *cli.Context, o criucli.Options, l *criucli.Log) error {
				dir := o.ImagesDir
				if dir == "" {
					dir = "."
				}
				switch c.Args().First() {
				case "dump":
					return cpuinfo.DumpDir(dir)
				case "check":
					caps := cpuinfo.CapDefault
					if s := c.String("cpu-cap"); s != "" {
						var err error
						if caps, err = cpuinfo.ParseCaps(s); err != nil {
							return err
						}
					}
					if err := cpuinfo.CheckDir(dir, caps); err != nil {
						return err
					}
					l.Msgf("cpuinfo of %s matches this CPU", dir)
					return nil
				}
				return fmt.Errorf("cpuinfo: want dump or check, not %q", c.Args().First())
			}),
			cmd("dedup", "free in the images' parents the pages the images hold again", func(c *cli.Context, o criucli.Options, l *criucli.Log) error {
				if err := noArgs(c); err != nil {
					return err
				}
				dir := o.ImagesDir
				if dir == "" {
					dir = "."
				}
				st, err := imgtool.Dedup(dir)
				if err != nil {
					return err
				}
				l.Infof("dedup: %+v", st)
				return nil
			}),
			{
				Name:      "swrk",
				Usage:     "serve CRIU's RPC on the SOCK_SEQPACKET socket FD (runc, go-criu)",
				ArgsUsage: "FD",
				// The options of the command line and the configuration
				// files are each request's defaults, as CRIU's.
				Flags: flags(),
				Action: func(c *cli.Context) error {
					fd, err := strconv.Atoi(c.Args().First())
					if err != nil || c.NArg() != 1 || fd < 0 {
						return errors.New("swrk: want one fd number")
					}
					cfg, err := rpcConfig(c)
					if err != nil {
						return err
					}
					return criucli.SwrkConfig(c.Context, fd, cfg)
				},
			},
			{
				Name:  "service",
				Usage: "serve CRIU's RPC on a unix socket",
				Flags: flags(),
				Action: func(c *cli.Context) error {
					if err := refusedSet(c); err != nil {
						return err
					}
					addr := c.String("address")
					if addr == "" {
						addr = "criu_service.socket"
					}
					status, err := statusFd(c)
					if err != nil {
						return err
					}
					// -d, --daemon: in the background once it listens,
					// as CRIU's daemon(3); --pidfile gets the server's pid.
					if (c.Bool("restore-detached") || c.Bool("daemon")) && os.Getenv(serviceChildEnv) == "" {
						if err := daemonizeService(c.String("pidfile")); err != nil {
							return err
						}
						// It listens: the status fd is told here, the
						// background server does not hold it.
						return status()
					}
					ready := func() {
						if os.Getenv(serviceChildEnv) != "" {
							f := os.NewFile(3, "ready")
							f.Write([]byte{0})
							f.Close()
							return
						}
						if err := status(); err != nil {
							fmt.Fprintf(stderr, "criu: %v\n", err)
						}
					}
					if p := c.String("pidfile"); p != "" && os.Getenv(serviceChildEnv) == "" {
						if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
							return fmt.Errorf("option --pidfile: %w", err)
						}
					}
					// Each request starts from nothing (CRIU's service
					// resets its options), but for the file it names.
					cfg, err := rpcConfig(nil)
					if err != nil {
						return err
					}
					return criucli.ServiceConfig(c.Context, addr, ready, cfg)
				},
			},
			refuse("page-server", "there is no page server yet (dump to a directory or pipe criu-parasite's stream)"),
			refuse("lazy-pages", "there are no lazy pages yet"),
			refuse("exec", "CRIU removed it"),
			refuse("show", "use crit show"),
		},
	}
}

// statusFd is --status-fd N: once the service listens (CRIU's
// status_ready, which only the service, the page server and lazy-pages
// call), one zero byte goes to fd N, which is then closed. Without the
// option it does nothing.
func statusFd(c *cli.Context) (func() error, error) {
	s := c.String("status-fd")
	if s == "" {
		return func() error { return nil }, nil
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("option --status-fd: bad fd %q", s)
	}
	return func() error {
		_, err := unix.Write(fd, []byte{0})
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("option --status-fd: write to fd %d: %w", fd, err)
		}
		return nil
	}, nil
}

// serviceChildEnv marks the background server criu service --daemon
// starts: fd 3 is told when it listens.
const serviceChildEnv = "CRIUGO_SERVICE_DAEMON"

// daemonizeService starts this criu service again in the background, in a
// session of its own with standard streams on /dev/null, waits until it
// listens and writes its pid to pidfile (when given).
func daemonizeService(pidfile string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("service --daemon: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("service --daemon: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), serviceChildEnv+"=1")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("service --daemon: %w", err)
	}
	// One byte once it listens; end of file if it failed first.
	if n, _ := r.Read(make([]byte, 1)); n != 1 {
		cmd.Wait()
		return errors.New("service --daemon: the server exited before it listened")
	}
	if pidfile != "" {
		if err := os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
			return fmt.Errorf("option --pidfile: %w", err)
		}
	}
	return cmd.Process.Release()
}

// execCommand replaces criu with argv (--exec-cmd), as CRIU's execvp.
func execCommand(argv []string, l *criucli.Log) error {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("option --exec-cmd: %w", err)
	}
	l.Infof("Executing %q", argv)
	l.Close()
	if err := unix.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("option --exec-cmd: exec %s: %w", path, err)
	}
	return nil
}

// optionsOf maps the command line onto criucli.Options.
func optionsOf(c *cli.Context, stderr io.Writer) (criucli.Options, error) {
	o := criucli.Options{
		ImagesDir:      c.String("images-dir"),
		WorkDir:        c.String("work-dir"),
		LogFile:        c.String("log-file"),
		LogTo:          stderr,
		MsgTo:          c.App.Writer,
		LogLevel:       criucli.DefaultLogLevel,
		LeaveRunning:   c.Bool("leave-running"),
		LeaveStopped:   c.Bool("leave-stopped"),
		TCPEstablished: c.Bool("tcp-established"),
		TCPClose:       c.Bool("tcp-close"),
		SkipInFlight:   c.Bool("skip-in-flight"),
		ExtUnixSk:      c.Bool("ext-unix-sk"),
		ShellJob:       c.Bool("shell-job"),
		FileLocks:      c.Bool("file-locks"),
		PrevImagesDir:  c.String("prev-images-dir"),
		TrackMem:       c.Bool("track-mem"),
		AutoDedup:      c.Bool("auto-dedup"),
		LinkRemap:      c.Bool("link-remap"),
		PidFile:        c.String("pidfile"),
		Detach:         c.Bool("restore-detached") || c.Bool("daemon"),
		Sibling:        c.Bool("restore-sibling"),
		EvasiveDevices: c.Bool("evasive-devices"),
		WeakSysctls:    c.Bool("weak-sysctls"),
		SkipMounts:     c.StringSlice("skip-mnt"),
		EnableFs:       c.StringSlice("enable-fs"),
		FreezeCgroup:   c.String("freeze-cgroup"),
		DisplayStats:   c.Bool("display-stats"),

		CgroupDumpControllers: c.StringSlice("cgroup-dump-controller"),
	}
	if s := c.String("ghost-limit"); s != "" {
		v, err := dump.ParseSize(s)
		if err != nil {
			return o, fmt.Errorf("option --ghost-limit: %w", err)
		}
		o.GhostLimit = v
	}
	restoring := c.Command.Name == "restore"
	var x criucli.Externals
	external := c.StringSlice("external")
	for _, v := range c.StringSlice("veth-pair") {
		in, out, ok := strings.Cut(v, "=")
		if !ok {
			return o, fmt.Errorf("option --veth-pair: bad value %q, want IN=OUT", v)
		}
		// As CRIU's veth_pair_add.
		external = append(external, "veth["+in+"]:"+out)
	}
	if err := x.ParseExternal("--external", external, restoring); err != nil {
		return o, err
	}
	if err := x.ParseExtMountMap("--ext-mount-map", c.StringSlice("ext-mount-map")); err != nil {
		return o, err
	}
	o.ExtMounts, o.External, o.ExtNetNs = x.Mounts, x.Net, x.NetNs
	for _, a := range c.StringSlice("join-ns") {
		kind, file, err := criucli.ParseJoinNsArg("--join-ns", a)
		if err != nil {
			return o, err
		}
		// As CRIU: taken by a dump too, where it changes nothing.
		if restoring {
			if err := o.AddJoinNs(kind, file); err != nil {
				criucli.CloseInherited(&o)
				return o, err
			}
		}
	}
	if r := c.String("root"); r != "" && r != "/" {
		o.Root = r
	}
	empty, err := criucli.ParseEmptyNs("--empty-ns", c.String("empty-ns"))
	if err != nil {
		return o, err
	}
	o.EmptyNetNs = empty
	if s := c.String("network-lock"); s != "" {
		if _, err := netns.ParseLock(s); err != nil {
			return o, fmt.Errorf("option --network-lock: %w", err)
		}
		if !restoring {
			o.NetworkLock = s
		}
	}
	o.ActionScripts = c.StringSlice("action-script")
	if c.IsSet("manage-cgroups") {
		m, err := cgroup.ParseMode(c.String("manage-cgroups"))
		if err != nil {
			return o, err
		}
		o.ManageCgroups = m
	}
	roots, err := cgroup.ParseRoots(c.StringSlice("cgroup-root"))
	if err != nil {
		return o, err
	}
	o.CgroupRoots = roots
	if s := c.String("images-dir-fd"); s != "" {
		fd, err := strconv.Atoi(s)
		if err != nil || fd < 0 {
			return o, fmt.Errorf("option --images-dir-fd: bad fd %q", s)
		}
		if o.ImagesDir != "" {
			return o, errors.New("options -D and --images-dir-fd: give one")
		}
		o.ImagesDir = criucli.FdDir(fmt.Sprintf("/proc/self/fd/%d", fd))
	}
	if s := c.String("verbosity"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return o, fmt.Errorf("option -v: bad level %q", s)
		}
		o.LogLevel = n
	}
	if s := c.String("tree"); s != "" {
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 {
			return o, fmt.Errorf("option -t: bad pid %q", s)
		}
		o.Pid = pid
	}
	if s := c.String("timeout"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return o, fmt.Errorf("option --timeout: bad seconds %q", s)
		}
		o.Timeout = time.Duration(n) * time.Second
	}
	switch v := c.String("file-validation"); v {
	case "", "filesize":
	case "buildid":
		return o, fmt.Errorf("option --file-validation %s: files are checked by their size only: %w", v, criucli.ErrNotSupported)
	default:
		return o, fmt.Errorf("option --file-validation: unknown method %q (filesize or buildid)", v)
	}
	if c.Bool("mntns-compat-mode") && !restoring {
		return o, errors.New("option --mntns-compat-mode is only valid on restore")
	}
	for _, s := range c.StringSlice("close") {
		// As CRIU's: closed while the options are read, whatever the
		// command.
		if fd, err := strconv.Atoi(s); err == nil && fd >= 0 {
			unix.Close(fd)
		} else {
			return o, fmt.Errorf("option --close: bad fd %q", s)
		}
	}
	if m := c.String("pre-dump-mode"); m != "" && m != "splice" && m != "read" {
		return o, fmt.Errorf("option --pre-dump-mode: %q is neither splice nor read", m)
	}
	if o.Sibling && !o.Detach {
		return o, errors.New("option --restore-sibling only makes sense with --restore-detached")
	}
	for _, a := range c.StringSlice("inherit-fd") {
		fd, key, debug, err := criucli.ParseInheritFd(a)
		if err != nil {
			return o, err
		}
		if debug {
			// As CRIU: the text goes out while the options are read.
			if _, err := unix.Write(fd, []byte(key)); err != nil {
				return o, fmt.Errorf("option --inherit-fd %s: write to fd %d: %w", a, fd, err)
			}
			continue
		}
		in, err := criucli.InheritFd(fd, key)
		if err != nil {
			return o, err
		}
		o.InheritFds = append(o.InheritFds, in)
	}
	if o.LogFile == "-" {
		o.LogFile = ""
	}
	return o, nil
}
