package criucli

import (
	"fmt"
	"strconv"
	"strings"
)

// CRIU's --external values are strings "KIND[KEY]:VALUE" (external.c
// keeps them so and each kind looks its key up). criugo takes four
// kinds, the same from the command line (--external, --ext-mount-map),
// the stage tools and the RPC (external, ext_mnt):
//
//	mnt[KEY]:VALUE      dump: KEY a mount point as the tree's mount
//	                    namespace sees it, VALUE the key the images give it;
//	                    restore: KEY that key, VALUE the path bound in its place
//	net[INODE]:KEY      dump: the network namespace of that inode (runc's
//	                    net[4026532008]:extRootNetNS) is recorded as external
//	                    under KEY; the restore takes it by --inherit-fd
//	                    fd[N]:KEY, so net[] on a restore is refused
//	veth[IF]:OUTER[@BRIDGE]   restore: the outer end of veth IF
//	macvlan[IF]:PARENT        restore: the link macvlan IF is made on
//
// --ext-mount-map KEY:VALUE is mnt[KEY]:VALUE (CRIU's ext_mount_add).
// Any other kind (dev, tty, unix, file, pid...), the automatic mnt[],
// the dump-only kinds on a restore and the restore-only kinds on a dump
// are refused by name.

// Externals are --external values sorted by what takes them.
type Externals struct {
	// Mounts are the mnt[KEY]:VALUE pairs, KEY to VALUE: dump.Options'
	// ExternalMounts on a dump, restore.Options' ExtMounts on a restore.
	Mounts map[string]string
	// Net are the veth and macvlan values, as restore.Options.External
	// takes them.
	Net []string
	// NetNs are the net[INODE]:KEY values of a dump, inode to key:
	// dump.Options.ExternalNetNs.
	NetNs map[uint64]string
}

// ParseExternal sorts CRIU's --external values (opt names the option in
// errors) for a dump or, with restore, a restore, into x.
func (x *Externals) ParseExternal(opt string, vals []string, restore bool) error {
	for _, v := range vals {
		if err := x.add(opt, v, restore); err != nil {
			return err
		}
	}
	return nil
}

// ParseExtMountMap adds --ext-mount-map KEY:VALUE values (RPC ext_mnt's
// key and val joined by ':').
func (x *Externals) ParseExtMountMap(opt string, vals []string) error {
	for _, v := range vals {
		if v == "auto" {
			return fmt.Errorf("option %s auto: detecting external mounts: %w", opt, ErrNotSupported)
		}
		key, val, ok := strings.Cut(v, ":")
		if !ok || key == "" || val == "" {
			return fmt.Errorf("option %s %q: want KEY:VALUE: %w", opt, v, ErrBadOptions)
		}
		x.addMount(key, val)
	}
	return nil
}

// MapMount adds one external mount given as its key and value apart (RPC
// ext_mnt, whose key may hold ':').
func (x *Externals) MapMount(opt, key, val string) error {
	if key == "" || val == "" {
		return fmt.Errorf("option %s %q:%q: want a key and a value: %w", opt, key, val, ErrBadOptions)
	}
	x.addMount(key, val)
	return nil
}

func (x *Externals) addMount(key, val string) {
	if x.Mounts == nil {
		x.Mounts = map[string]string{}
	}
	x.Mounts[key] = val
}

func (x *Externals) add(opt, v string, restore bool) error {
	kind, rest, ok := strings.Cut(v, "[")
	if !ok || kind == "" {
		return fmt.Errorf("option %s %q: want KIND[KEY]:VALUE: %w", opt, v, ErrBadOptions)
	}
	// The key ends at the last "]:" (a mount point may hold "]").
	end := strings.LastIndex(rest, "]:")
	if kind == "mnt" && strings.HasPrefix(rest, "]") {
		return fmt.Errorf("option %s %q: detecting external mounts (mnt[]): %w", opt, v, ErrNotSupported)
	}
	if end <= 0 || end+2 == len(rest) {
		return fmt.Errorf("option %s %q: want %s[KEY]:VALUE: %w", opt, v, kind, ErrBadOptions)
	}
	key, val := rest[:end], rest[end+2:]
	switch kind {
	case "mnt":
		if !restore && !strings.HasPrefix(key, "/") {
			return fmt.Errorf("option %s %q: a dump's key is a mount point, an absolute path: %w", opt, v, ErrBadOptions)
		}
		x.addMount(key, val)
		return nil
	case "net":
		if restore {
			return fmt.Errorf("option %s %q: net[INODE] is the dump's; a restore takes the namespace by --inherit-fd fd[N]:%s: %w", opt, v, val, ErrBadOptions)
		}
		ino, err := strconv.ParseUint(key, 10, 64)
		if err != nil || ino == 0 {
			return fmt.Errorf("option %s %q: want net[INODE]:KEY, INODE the namespace's inode: %w", opt, v, ErrBadOptions)
		}
		if x.NetNs == nil {
			x.NetNs = map[uint64]string{}
		}
		x.NetNs[ino] = val
		return nil
	case "veth", "macvlan":
		if !restore {
			return fmt.Errorf("option %s %q: %s is the restore's to say: %w", opt, v, kind, ErrBadOptions)
		}
		if kind == "veth" && strings.HasPrefix(val, "@") {
			return fmt.Errorf("option %s %q: no outer name before the bridge: %w", opt, v, ErrBadOptions)
		}
		x.Net = append(x.Net, v)
		return nil
	}
	return fmt.Errorf("option %s %q: external %s resources: %w", opt, v, kind, ErrNotSupported)
}

// ParseEmptyNs takes --empty-ns: net, the only kind CRIU has.
func ParseEmptyNs(opt, v string) (bool, error) {
	switch v {
	case "":
		return false, nil
	case "net":
		return true, nil
	}
	return false, fmt.Errorf("option %s %q: only net: %w", opt, v, ErrNotSupported)
}

// ParseJoinNs parses CRIU's --join-ns NS:PID|PATH[,EXTRA] (RPC join_ns's
// ns, ns_file and extra_opt apart): the namespace of kind NS of process
// PID, or the nsfs file at PATH. criugo joins net, uts and ipc
// namespaces; user (whose EXTRA is the uid,gid to take), mnt and time,
// which CRIU also joins, are refused by name, as is pid, which CRIU
// refuses too. It returns the kind and the file to open.
func ParseJoinNs(opt, kind, file, extra string) (string, string, error) {
	switch kind {
	case "net", "uts", "ipc":
	case "user", "mnt", "time":
		return "", "", fmt.Errorf("option %s %s:%s: joining a %s namespace: %w", opt, kind, file, kind, ErrNotSupported)
	case "pid":
		return "", "", fmt.Errorf("option %s %s:%s: a pid namespace cannot be joined (nor in CRIU): %w", opt, kind, file, ErrNotSupported)
	default:
		return "", "", fmt.Errorf("option %s %q: no namespace kind %q (net, uts, ipc): %w", opt, kind+":"+file, kind, ErrBadOptions)
	}
	if file == "" {
		return "", "", fmt.Errorf("option %s %s: want %s:PID or %s:PATH: %w", opt, kind, kind, kind, ErrBadOptions)
	}
	if extra != "" {
		return "", "", fmt.Errorf("option %s %s:%s,%s: options after the file are the user namespace's: %w", opt, kind, file, extra, ErrBadOptions)
	}
	if pid, err := strconv.Atoi(file); err == nil {
		if pid <= 0 {
			return "", "", fmt.Errorf("option %s %s:%s: bad pid: %w", opt, kind, file, ErrBadOptions)
		}
		file = fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
	}
	return kind, file, nil
}

// ParseJoinNsArg splits a command line's --join-ns NS:PID|PATH[,EXTRA]
// for ParseJoinNs, as CRIU's parse_join_ns: the kind up to the first
// ':', the extra options after the first ',' that follows.
func ParseJoinNsArg(opt, arg string) (string, string, error) {
	kind, rest, ok := strings.Cut(arg, ":")
	if !ok {
		return "", "", fmt.Errorf("option %s %q: want NS:PID or NS:PATH: %w", opt, arg, ErrBadOptions)
	}
	file, extra, _ := strings.Cut(rest, ",")
	return ParseJoinNs(opt, kind, file, extra)
}
