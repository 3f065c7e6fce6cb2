package criucli

import (
	"fmt"
	"strings"
)

// CRIU's --external values are strings "KIND[KEY]:VALUE" (external.c
// keeps them so and each kind looks its key up). criugo takes three
// kinds, the same from the command line (--external, --ext-mount-map),
// the stage tools and the RPC (external, ext_mnt):
//
//	mnt[KEY]:VALUE      dump: KEY a mount point as the tree's mount
//	                    namespace sees it, VALUE the key the images give it;
//	                    restore: KEY that key, VALUE the path bound in its place
//	veth[IF]:OUTER[@BRIDGE]   restore: the outer end of veth IF
//	macvlan[IF]:PARENT        restore: the link macvlan IF is made on
//
// --ext-mount-map KEY:VALUE is mnt[KEY]:VALUE (CRIU's ext_mount_add).
// Any other kind (dev, tty, unix, file, net, pid...), the automatic
// mnt[] and the restore-only kinds on a dump are refused by name.

// Externals are --external values sorted by what takes them.
type Externals struct {
	// Mounts are the mnt[KEY]:VALUE pairs, KEY to VALUE: dump.Options'
	// ExternalMounts on a dump, restore.Options' ExtMounts on a restore.
	Mounts map[string]string
	// Net are the veth and macvlan values, as restore.Options.External
	// takes them.
	Net []string
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
