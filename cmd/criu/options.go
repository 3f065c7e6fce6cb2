package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// option is one of CRIU's command line options: its long name, its short
// one, whether it takes a value, and, when criugo does not implement it,
// why (a non-empty refused).
type option struct {
	name    string
	short   string
	arg     bool
	usage   string
	refused string
	// optArg: the value is optional and attached (--name=VALUE), as
	// getopt's optional_argument; multi: the option may repeat.
	optArg, multi bool
}

// options are CRIU 4.2's options (criu --help and its config.c). CRIU takes
// every option with every command; so does criu here, and an option
// criugo does not implement is an error naming it.
var options = []option{
	{name: "tree", short: "t", arg: true, usage: "the pid of the tree's root to dump"},
	{name: "images-dir", short: "D", arg: true, usage: "the image directory (default: the current one)"},
	{name: "images-dir-fd", arg: true, usage: "the image directory as an open fd of this process (criugo's; CRIU has it in RPC only)"},
	{name: "work-dir", short: "W", arg: true, usage: "where the log and a relative --pidfile go (default: the image directory)"},
	{name: "log-file", short: "o", arg: true, usage: "the log file, in the work directory (default: standard error)"},
	{name: "verbosity", arg: true, usage: "log level 0..4 (-v0..-v4; -v, -vv raise it from 2)"},
	{name: "leave-running", short: "R", usage: "let the tree run on after the dump"},
	{name: "tcp-established", usage: "checkpoint and restore established TCP connections"},
	{name: "shell-job", short: "j", usage: "the tree's terminal is outside it (a shell job)"},
	{name: "file-locks", short: "l", usage: "checkpoint and restore file locks"},
	{name: "prev-images-dir", arg: true, usage: "the pre-dump's image directory, relative to -D"},
	{name: "track-mem", usage: "keep tracking memory writes for a later dump"},
	{name: "auto-dedup", usage: "free in the parent images what this dump holds again"},
	{name: "pidfile", arg: true, usage: "write the restored root's pid to this file"},
	{name: "restore-detached", short: "d", usage: "exit once the restored tree runs"},
	{name: "daemon", usage: "the same as --restore-detached"},
	{name: "extra", usage: "check: CRIU's extra kernel features; criugo checks what it needs"},
	{name: "experimental", usage: "check: CRIU's experimental kernel features; criugo checks what it needs"},
	{name: "all", usage: "check: all of CRIU's kernel features; criugo checks what it needs"},
	{name: "deprecated", usage: "allow CRIU's deprecated features (criugo has none)"},
	{name: "freeze-cgroup", arg: true, usage: "freeze the tree through this cgroup's freezer"},
	{name: "timeout", arg: true, usage: "seconds to wait for the tree to freeze"},
	{name: "feature", arg: true, usage: "check: whether this one feature is supported"},
	{name: "address", arg: true, usage: "service: the unix socket path to listen on"},
	{name: "pre-dump-mode", arg: true, usage: "splice or read: how CRIU reads a pre-dump's pages; criugo has one way, which gives the same images"},
	{name: "cpu-cap", arg: true, usage: "cpuinfo check: the capabilities to check (fpu, cpu, ins, all, none)"},

	{name: "tcp-close", usage: "dump TCP connections in any state without their data; restore them closed"},
	{name: "ext-unix-sk", short: "x", usage: "unix sockets with a peer outside the tree: not dumped yet, such a tree is refused with or without it"},
	{name: "link-remap", usage: "link a file deleted while open but still linked elsewhere to a new name beside its old one, for the restore"},
	{name: "ghost-limit", arg: true, usage: "the most disk space a deleted file may take for its contents to go into the images (K, M, G; default 1M)"},
	{name: "skip-in-flight", usage: "dump a TCP listener with connections not accepted yet, dropping them"},
	{name: "network-lock", arg: true, usage: "dump: lock the network while the tree is frozen (its own network namespace whole, else each TCP connection) with iptables (the default), nftables or skip; restore: ignored, the dump's method is used (as CRIU)"},
	{name: "manage-cgroups", optArg: true, usage: "cgroups mode: none, props, soft (the default, also without a value), full, strict or ignore (--manage-cgroups=MODE)"},
	{name: "cgroup-root", arg: true, multi: true, usage: "[CONTROLLER:]/PATH: the cgroup that stands for the tree's root cgroup (repeatable)"},
	{name: "cgroup-props", arg: true, refused: "cgroup property lists other than CRIU's built-in one are not read yet"},
	{name: "cgroup-props-file", arg: true, refused: "cgroup property lists other than CRIU's built-in one are not read yet"},
	{name: "cgroup-dump-controller", arg: true, multi: true, usage: "dump only this cgroup hierarchy (repeatable)"},
	{name: "cgroup-yard", arg: true, refused: "the cgroup hierarchies are always mounted privately (fsopen), no yard is used"},
	{name: "root", short: "r", arg: true, usage: "restore: build the tree's mount namespace here and pivot into it (a dump ignores it, as CRIU's)"},
	{name: "external", arg: true, multi: true, usage: "dump: mnt[MOUNTPOINT]:KEY, net[INODE]:KEY (a restore takes that namespace by --inherit-fd fd[N]:KEY); restore: mnt[KEY]:PATH, veth[IF]:OUTER[@BRIDGE], macvlan[IF]:PARENT (repeatable)"},
	{name: "ext-mount-map", short: "M", arg: true, multi: true, usage: "KEY:VALUE, the same as --external mnt[KEY]:VALUE (repeatable)"},
	{name: "enable-external-sharing", refused: "a mount sharing a peer group with one outside the namespace is not dumped yet"},
	{name: "enable-external-masters", refused: "a slave of a peer group outside the namespace is refused at dump (the restore cannot reach the group)"},
	{name: "skip-mnt", arg: true, multi: true, usage: "dump: leave the mounts at this mount point of the tree's mount namespace out of the images; a mount below it or a file on it is refused (repeatable)"},
	{name: "enable-fs", arg: true, multi: true, usage: "dump: FS[,FS...] or all: file systems criugo has no code for, recorded to be mounted anew from their source and options (repeatable)"},
	{name: "mntns-compat-mode", usage: "restore: CRIU's older mount engine; criugo has one, which makes the same mounts (only on restore, as CRIU)"},
	{name: "inherit-fd", arg: true, multi: true, usage: "fd[N]:KEY: restore the file whose key is KEY (pipe:[INO], or a path without its leading /) from criu's fd N; debug[N]:TEXT writes TEXT to fd N (repeatable)"},
	{name: "restore-sibling", short: "S", usage: "restore the root as a child of criu's parent, not of criu (needs -d)"},
	{name: "action-script", arg: true, multi: true, usage: "run this program at each action point, CRTOOLS_SCRIPT_ACTION naming it (repeatable)"},
	{name: "exec-cmd", usage: "restore: once the tree runs, execute the command after '--' in criu's place, the restored root its child (not with -d)"},
	{name: "join-ns", short: "J", arg: true, multi: true, usage: "restore: NS:PID or NS:PATH: restore the tree into this net, uts or ipc namespace (repeatable; user, mnt and time are refused)"},
	{name: "empty-ns", arg: true, usage: "net: the network namespace is the caller's to set up; dump nothing of it, restore it empty"},
	{name: "veth-pair", arg: true, multi: true, usage: "restore: IN=OUT, the same as --external veth[IN]:OUT (repeatable)"},
	{name: "evasive-devices", usage: "a device whose path names another node of the same device number is taken by that path (CRIU reads it on dump only; criugo's dump takes devices by path anyway)"},
	{name: "force-irmap", refused: "no inotify reverse map"},
	{name: "irmap-scan-path", arg: true, refused: "no inotify reverse map"},
	{name: "page-server", refused: "there is no page server yet"},
	{name: "port", arg: true, refused: "there is no page server yet"},
	{name: "lazy-pages", refused: "there are no lazy pages yet"},
	{name: "status-fd", arg: true, usage: "service: write one zero byte to this fd once listening, then close it (CRIU writes it there only, and for page-server and lazy-pages)"},
	{name: "weak-sysctls", usage: "restore: skip a sysctl of the images this kernel has not, which otherwise fails the restore"},
	{name: "lsm-profile", arg: true, refused: "LSM profiles are not set yet"},
	{name: "lsm-mount-context", arg: true, refused: "LSM mount contexts are not set yet"},
	{name: "tls", refused: "there is no page server yet"},
	{name: "tls-cacert", arg: true, refused: "there is no page server yet"},
	{name: "tls-cacrl", arg: true, refused: "there is no page server yet"},
	{name: "tls-cert", arg: true, refused: "there is no page server yet"},
	{name: "tls-key", arg: true, refused: "there is no page server yet"},
	{name: "tls-no-cn-verify", refused: "there is no page server yet"},
	{name: "stream", refused: "criu-image-streamer is not spoken"},
	{name: "leave-stopped", short: "s", usage: "leave the tree stopped (SIGSTOP) after the dump, which then does not kill it, or after the restore"},
	{name: "display-stats", usage: "print the stats the dump or restore wrote (stats-dump, stats-restore) on standard output"},
	{name: "unprivileged", refused: "criugo needs root"},
	{name: "skip-file-rwx-check", usage: "do not fail a restore on a file whose r/w/x bits changed: criugo's restore compares sizes, not modes, so it never does"},
	{name: "config", arg: true, usage: "read this configuration file (CRIU's format) after $CRIU_CONFIG_FILE, and neither default one"},
	{name: "no-default-config", usage: "read neither /etc/criu/default.conf nor $HOME/.criu/default.conf"},
	{name: "log-pid", refused: "criugo's restore is one process driving every task through ptrace: there is no per-task restorer process whose log could go to a file of its own"},
	{name: "close", arg: true, multi: true, usage: "close criu's fd N while the options are read, as CRIU (repeatable)"},
	{name: "ms", refused: "deprecated by CRIU"},
	{name: "ps-socket", arg: true, refused: "there is no page server yet"},
	{name: "file-validation", arg: true, usage: "restore: how a file is checked to be the dumped one: filesize (criugo's way); buildid, CRIU's default, is refused"},
	{name: "ghost-fiemap", usage: "find the holes of ghost files with FIEMAP: criugo finds them with SEEK_DATA/SEEK_HOLE, which gives the same images"},
	{name: "libdir", short: "L", arg: true, refused: "there are no plugins"},
	{name: "allow-uprobes", refused: "a tree's [uprobes] mapping is neither checked for nor recorded"},
}

// negatable are CRIU's BOOL_OPT options, which also come as --no-NAME
// (config.c): that sets them back to false, the default, undoing an
// earlier --NAME.
var negatable = map[string]bool{
	"restore-detached": true, "restore-sibling": true, "daemon": true, "log-pid": true,
	"evasive-devices": true, "page-server": true, "track-mem": true, "auto-dedup": true,
	"force-irmap": true, "extra": true, "experimental": true, "deprecated": true,
	"display-stats": true, "weak-sysctls": true, "stream": true, "tls": true,
	"skip-file-rwx-check": true, "mntns-compat-mode": true, "unprivileged": true,
	"ghost-fiemap": true, "allow-uprobes": true,
	"tcp-established": true, "skip-in-flight": true, "tcp-close": true, "link-remap": true,
	"shell-job": true, "file-locks": true,
}

// negate drops from opts what --no-NAME undoes: every --NAME and its
// short form.
func negate(opts []string, name string) []string {
	o, _ := lookup(name)
	var out []string
	for i := 0; i < len(opts); i++ {
		a := opts[i]
		if a == "--"+name || (o.short != "" && a == "-"+o.short) {
			continue
		}
		out = append(out, a)
		// A value is kept whatever it reads.
		if v, ok := lookup(strings.TrimLeft(a, "-")); ok && v.arg && i+1 < len(opts) {
			i++
			out = append(out, opts[i])
		}
	}
	return out
}

// flags makes the urfave flags of every option.
func flags() []cli.Flag {
	var fs []cli.Flag
	for _, o := range options {
		var aliases []string
		if o.short != "" {
			aliases = []string{o.short}
		}
		usage := o.usage
		if o.refused != "" {
			usage = "not supported by criugo: " + o.refused
		}
		if o.multi {
			fs = append(fs, &cli.StringSliceFlag{Name: o.name, Aliases: aliases, Usage: usage, Hidden: o.refused != ""})
		} else if o.arg || o.optArg {
			fs = append(fs, &cli.StringFlag{Name: o.name, Aliases: aliases, Usage: usage, Hidden: o.refused != ""})
		} else {
			fs = append(fs, &cli.BoolFlag{Name: o.name, Aliases: aliases, Usage: usage, Hidden: o.refused != ""})
		}
	}
	return fs
}

// refusedSet names the first option given that criugo does not implement.
func refusedSet(c *cli.Context) error {
	for _, o := range options {
		if o.refused != "" && c.IsSet(o.name) {
			return fmt.Errorf("option --%s is not supported by criugo: %s", o.name, o.refused)
		}
	}
	return nil
}

func lookup(name string) (option, bool) {
	for _, o := range options {
		if o.name == name || (o.short != "" && o.short == name) {
			return o, true
		}
	}
	return option{}, false
}

// normalize turns a CRIU command line into one urfave parses: the
// options of the configuration files first (config.go), then the command,
// then every option, then the other arguments (CRIU's getopt takes
// options anywhere), and -v, -vv..., -vN as --verbosity=N. version is set
// for -V or --version.
func normalize(args []string) (out []string, version bool, err error) {
	if len(args) == 0 {
		return args, false, nil
	}
	args, configEnd, err := withConfig(args)
	if err != nil {
		return nil, false, err
	}
	return normalizeFrom(args, configEnd)
}

// normalizeFrom is normalize of args whose words before configEnd are
// configuration files' (options only).
func normalizeFrom(args []string, configEnd int) (out []string, version bool, err error) {
	var opts, words, rest []string
	level := -1 // unset
	raise := func() {
		if level < 0 {
			level = 2
		}
		level++
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = args[i+1:]
			i = len(args)
		case a == "-V" || a == "--version":
			version = true
		case a == "-h" || a == "--help":
			opts = append(opts, a)
		case a == "-v" || a == "--verbosity":
			raise()
		case strings.HasPrefix(a, "-v") && !strings.HasPrefix(a, "--"):
			v := a[2:]
			if strings.Trim(v, "v") == "" {
				for range len(v) + 1 {
					raise()
				}
				break
			}
			// As CRIU's atoi: the leading digits, 0 without any
			// (zdtm.py's "-verbosity=0" is -v with "erbosity=0").
			level = leadingInt(v)
		case strings.HasPrefix(a, "--verbosity="):
			n, err := strconv.Atoi(strings.TrimPrefix(a, "--verbosity="))
			if err != nil || n < 0 {
				return nil, false, fmt.Errorf("option --verbosity: bad level %q", a)
			}
			level = n
		case len(a) > 2 && a[0] == '-' && a[1] != '-' && !strings.Contains(a, "="):
			// getopt's short options run together: -dj, -t5, -D dir.
			cluster, needsValue, err := shortCluster(a[1:])
			if err != nil {
				return nil, false, err
			}
			opts = append(opts, cluster...)
			if needsValue {
				if i+1 >= len(args) {
					return nil, false, fmt.Errorf("option %s needs a value", a)
				}
				i++
				opts = append(opts, args[i])
			}
		case strings.HasPrefix(a, "--no-") && negatable[a[len("--no-"):]]:
			name := a[len("--no-"):]
			opts = negate(opts, name)
			if name == "daemon" || name == "restore-detached" {
				// One flag in CRIU (opts.restore_detach).
				opts = negate(negate(opts, "daemon"), "restore-detached")
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// One spelling for each option (-o and --log-file are
			// one), as urfave takes no two forms of a flag.
			name := strings.TrimLeft(a, "-")
			if k, v, ok := strings.Cut(name, "="); ok {
				if o, found := lookup(k); found {
					a = "--" + o.name + "=" + v
				}
				opts = append(opts, a)
				break
			}
			o, ok := lookup(name)
			if !ok {
				return nil, false, fmt.Errorf("unknown option %s", a)
			}
			a = "--" + o.name
			opts = append(opts, a)
			if o.optArg {
				// getopt's optional argument: only --name=VALUE gives one.
				opts[len(opts)-1] = a + "="
			} else if o.arg {
				if i+1 >= len(args) {
					return nil, false, fmt.Errorf("option %s needs a value", a)
				}
				i++
				opts = append(opts, args[i])
			}
		case i < configEnd:
			// A configuration file's stray word: unread, as CRIU's.
		default:
			words = append(words, a)
		}
	}
	out = []string{args[0]}
	if len(words) > 0 {
		out = append(out, words[0])
		words = words[1:]
	}
	out = append(out, opts...)
	if level >= 0 {
		out = append(out, "--verbosity="+strconv.Itoa(level))
	}
	out = append(out, words...)
	if len(rest) > 0 {
		// --exec-cmd's command, whatever options it has.
		out = append(append(out, "--"), rest...)
	}
	return out, version, nil
}

// leadingInt is C's atoi for the non-negative: the number the leading
// digits of s make, 0 when there are none.
func leadingInt(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' || n > 1000 {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// shortCluster splits getopt's run-together short options ("dj", "t5",
// "jt"): each letter an option, until one that takes a value, which is the
// rest or, when nothing is left, the next argument (needsValue).
func shortCluster(s string) (out []string, needsValue bool, err error) {
	for i, c := range s {
		o, ok := lookup(string(c))
		if !ok || o.short == "" {
			return nil, false, fmt.Errorf("unknown option -%s", s)
		}
		out = append(out, "--"+o.name)
		if o.arg {
			if rest := s[i+1:]; rest != "" {
				return append(out, rest), false, nil
			}
			return out, true, nil
		}
	}
	return out, false, nil
}
