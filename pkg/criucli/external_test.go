package criucli

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseExternal(t *testing.T) {
	for _, c := range []struct {
		vals    []string
		restore bool
		mounts  map[string]string
		net     []string
	}{
		{[]string{"mnt[/data]:data"}, false, map[string]string{"/data": "data"}, nil},
		// A mount point may hold "]": the key ends at the last "]:".
		{[]string{"mnt[/a]b]:k"}, false, map[string]string{"/a]b": "k"}, nil},
		{[]string{"mnt[data]:/srv/data", "veth[eth0]:veth7@br0", "macvlan[mv0]:eth1"}, true,
			map[string]string{"data": "/srv/data"}, []string{"veth[eth0]:veth7@br0", "macvlan[mv0]:eth1"}},
	} {
		var x Externals
		if err := x.ParseExternal("--external", c.vals, c.restore); err != nil {
			t.Errorf("%q (restore %v): %v", c.vals, c.restore, err)
			continue
		}
		if !reflect.DeepEqual(x.Mounts, c.mounts) || !reflect.DeepEqual(x.Net, c.net) {
			t.Errorf("%q (restore %v): mounts %v net %q, want %v %q", c.vals, c.restore, x.Mounts, x.Net, c.mounts, c.net)
		}
	}
	for _, c := range []struct {
		val     string
		restore bool
		want    error
	}{
		{"data", true, ErrBadOptions},
		{"mnt[data]", true, ErrBadOptions},
		{"mnt[data]:", true, ErrBadOptions},
		{"mnt[]:data", true, ErrNotSupported},
		{"mnt[]", false, ErrNotSupported},
		{"[x]:y", true, ErrBadOptions},
		{"mnt[data]:x", false, ErrBadOptions}, // a dump's key is a mount point
		{"veth[eth0]:out", false, ErrBadOptions},
		{"veth[eth0]:@br0", true, ErrBadOptions},
		{"dev[8/1]:disk", true, ErrNotSupported},
		{"unix[1234]", false, ErrBadOptions},
		{"unix[1234]:x", false, ErrNotSupported},
		{"net[4026531992]:extRootNetNS", true, ErrBadOptions}, // the restore's is an inherited fd
		{"net[ns]:k", false, ErrBadOptions},
		{"net[0]:k", false, ErrBadOptions},
		{"pid[4026531836]:extRootPidNS", false, ErrNotSupported},
	} {
		var x Externals
		err := x.ParseExternal("--external", []string{c.val}, c.restore)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "--external") || !strings.Contains(err.Error(), c.val) {
			t.Errorf("%q (restore %v): %v, want %v naming the option and the value", c.val, c.restore, err, c.want)
		}
	}
}

// TestParseExternalNet: runc's net[INODE]:extRootNetNS on a dump maps the
// inode to the key, beside mounts.
func TestParseExternalNet(t *testing.T) {
	var x Externals
	if err := x.ParseExternal("--external", []string{"net[4026532008]:extRootNetNS", "mnt[/data]:data"}, false); err != nil {
		t.Fatal(err)
	}
	if want := map[uint64]string{4026532008: "extRootNetNS"}; !reflect.DeepEqual(x.NetNs, want) || x.Mounts["/data"] != "data" {
		t.Errorf("net %v mounts %v, want %v and /data", x.NetNs, x.Mounts, want)
	}
}

// TestParseJoinNs: CRIU's --join-ns NS:PID|PATH for net, uts and ipc; the
// kinds criugo does not join are refused by name, as are bad values.
func TestParseJoinNs(t *testing.T) {
	for arg, want := range map[string][2]string{
		"net:/run/netns/x":   {"net", "/run/netns/x"},
		"uts:42":             {"uts", "/proc/42/ns/uts"},
		"ipc:/proc/1/ns/ipc": {"ipc", "/proc/1/ns/ipc"},
	} {
		kind, file, err := ParseJoinNsArg("--join-ns", arg)
		if err != nil || kind != want[0] || file != want[1] {
			t.Errorf("%q: %q %q %v, want %q", arg, kind, file, err, want)
		}
	}
	for arg, want := range map[string]error{
		"net":               ErrBadOptions,
		"net:":              ErrBadOptions,
		"net:-3":            ErrBadOptions,
		"net:/x,1,2":        ErrBadOptions,
		"cgroup:/x":         ErrBadOptions,
		"user:/x,1000,1000": ErrNotSupported,
		"mnt:/x":            ErrNotSupported,
		"time:/x":           ErrNotSupported,
		"pid:1":             ErrNotSupported,
	} {
		_, _, err := ParseJoinNsArg("--join-ns", arg)
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "--join-ns") {
			t.Errorf("%q: %v, want %v naming the option", arg, err, want)
		}
	}
}

func TestParseExtMountMap(t *testing.T) {
	var x Externals
	if err := x.ParseExtMountMap("-M", []string{"/data:data", "k:/srv/a:b"}); err != nil {
		t.Fatal(err)
	}
	// As CRIU's: the key ends at the first ':'.
	if want := map[string]string{"/data": "data", "k": "/srv/a:b"}; !reflect.DeepEqual(x.Mounts, want) {
		t.Errorf("mounts %v, want %v", x.Mounts, want)
	}
	for val, want := range map[string]error{"nokey": ErrBadOptions, ":v": ErrBadOptions, "k:": ErrBadOptions, "auto": ErrNotSupported} {
		err := x.ParseExtMountMap("--ext-mount-map", []string{val})
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "--ext-mount-map") || !strings.Contains(err.Error(), val) {
			t.Errorf("%q: %v, want %v naming the option and the value", val, err, want)
		}
	}
}

func TestParseEmptyNs(t *testing.T) {
	if v, err := ParseEmptyNs("--empty-ns", "net"); !v || err != nil {
		t.Errorf("net: %v, %v", v, err)
	}
	if v, err := ParseEmptyNs("--empty-ns", ""); v || err != nil {
		t.Errorf("empty: %v, %v", v, err)
	}
	if _, err := ParseEmptyNs("--empty-ns", "pid"); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), `--empty-ns "pid"`) {
		t.Errorf("pid: %v", err)
	}
}
