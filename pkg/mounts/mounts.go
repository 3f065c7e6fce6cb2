package mounts

import "strings"

// Mount flags, as <linux/mount.h> numbers them (and CRIU stores them).
const (
	MsRdonly      = 0x1
	MsNosuid      = 0x2
	MsNodev       = 0x4
	MsNoexec      = 0x8
	MsSynchronous = 0x10
	MsMandlock    = 0x40
	MsDirsync     = 0x80
	MsNoatime     = 0x400
	MsNodiratime  = 0x800
	MsUnbindable  = 0x20000
	MsPrivate     = 0x40000
	MsSlave       = 0x80000
	MsShared      = 0x100000
	MsRelatime    = 0x200000
	MsStrictatime = 0x1000000
)

// fstypes are the fstype codes of mnt_entry by kernel file system name.
var fstypes = map[string]uint32{
	"proc": 1, "sysfs": 2, "devtmpfs": 3, "binfmt_misc": 4, "tmpfs": 5,
	"devpts": 6, "simfs": 7, "pstore": 8, "securityfs": 9, "fusectl": 10,
	"debugfs": 11, "cgroup": 12, "aufs": 13, "mqueue": 14, "fuse": 15,
	"overlay": 17, "autofs": 18, "tracefs": 19, "cgroup2": 23,
}

// Unsupported is the code of a file system CRIU has no code for (ext4,
// xfs, btrfs...): CRIU can only bind-mount it from elsewhere.
const Unsupported = 0

// Auto is the code of a file system CRIU has no code for that
// --enable-fs names: the image gives its name (mnt_entry fsname), and a
// restore mounts it anew from its source and options.
const Auto = 16

// KnownToCRIU says whether CRIU has code of its own for file system name
// (then --enable-fs does not make it Auto): the ones with a code, and
// btrfs, which CRIU knows but records as Unsupported.
func KnownToCRIU(name string) bool { return fstypes[name] != 0 || name == "btrfs" }

// AutoEnabled says whether --enable-fs's lists (comma-separated names,
// "all" for every one) make file system name Auto.
func AutoEnabled(lists []string, name string) bool {
	if KnownToCRIU(name) {
		return false
	}
	for _, l := range lists {
		for _, n := range strings.Split(l, ",") {
			if n == "all" || n == name {
				return true
			}
		}
	}
	return false
}

// FsType returns the mnt_entry code of file system name.
func FsType(name string) uint32 { return fstypes[name] }

// FsName returns the kernel name of code, "" for Unsupported or an
// unknown code.
func FsName(code uint32) string {
	for n, c := range fstypes {
		if c == code {
			return n
		}
	}
	return ""
}

// Creatable says whether a new instance of file system code can be
// mounted from its name and options alone (a restore does so for a mount
// of it that is not a bind of another).
func Creatable(code uint32) bool {
	switch FsName(code) {
	case "tmpfs", "proc", "sysfs", "devpts", "mqueue", "devtmpfs", "cgroup2":
		return true
	}
	return false
}

// MountFlags turns mountinfo's per-mount options (field 6) into MS_*
// flags; no atime option means strict atime, as the kernel says.
func MountFlags(opts string) uint32 {
	var f uint32
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "ro":
			f |= MsRdonly
		case "nosuid":
			f |= MsNosuid
		case "nodev":
			f |= MsNodev
		case "noexec":
			f |= MsNoexec
		case "noatime":
			f |= MsNoatime
		case "nodiratime":
			f |= MsNodiratime
		case "relatime":
			f |= MsRelatime
		}
	}
	if f&(MsRelatime|MsNoatime) == 0 {
		f |= MsStrictatime
	}
	return f
}

// SuperFlags splits mountinfo's super block options (field 11) into the
// MS_* flags they name and the rest, comma separated, which go to
// mount(2) as data.
func SuperFlags(opts string) (uint32, string) {
	var f uint32
	var rest []string
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "rw", "":
		case "ro":
			f |= MsRdonly
		case "sync":
			f |= MsSynchronous
		case "dirsync":
			f |= MsDirsync
		case "mand":
			f |= MsMandlock
		default:
			rest = append(rest, o)
		}
	}
	return f, strings.Join(rest, ",")
}

// KDev encodes a device number as the kernel does inside (and CRIU's
// images store it): major above bit 20, minor below.
func KDev(major, minor uint32) uint32 { return major<<20 | minor }

// Under says whether path p is dir or below it, and gives the rest of p
// relative to dir ("" for dir itself).
func Under(p, dir string) (string, bool) {
	if dir == "/" {
		return strings.TrimPrefix(p, "/"), strings.HasPrefix(p, "/")
	}
	if p == dir {
		return "", true
	}
	if strings.HasPrefix(p, dir+"/") {
		return p[len(dir)+1:], true
	}
	return "", false
}
