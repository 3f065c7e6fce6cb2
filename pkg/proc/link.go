package proc

import (
	"strings"
)

// LinkKind classifies the target of a /proc/PID/fd/N (or ns/, cwd, exe)
// symbolic link.
type LinkKind uint8

const (
	LinkPath      LinkKind = iota + 1 // "/path", possibly " (deleted)"
	LinkPipe                          // "pipe:[INO]"
	LinkSocket                        // "socket:[INO]"
	LinkAnonInode                     // "anon_inode:[eventfd]", "anon_inode:inotify", ...
	LinkInode                         // any other "TYPE:[INO]": namespaces ("net:[...]"), ...
	LinkOther                         // anything else, kept raw
)

var linkKindNames = [...]string{"", "path", "pipe", "socket", "anon_inode", "inode", "other"}

func (k LinkKind) String() string {
	if int(k) < len(linkKindNames) && k != 0 {
		return linkKindNames[k]
	}
	return "unknown"
}

// Link is a parsed link target.
type Link struct {
	Kind LinkKind
	// Path: for LinkPath the path without " (deleted)"; for LinkOther the
	// whole target.
	Path    string
	Deleted bool
	// Type: "pipe", "socket", the namespace or other type of a LinkInode,
	// or the anonymous inode's name without brackets ("eventfd",
	// "eventpoll", "inotify", "[timerfd]" becomes "timerfd").
	Type string
	Ino  uint64 // LinkPipe, LinkSocket, LinkInode
}

// ParseLink classifies a link target as readlink returns it.
func ParseLink(target string) Link {
	if strings.HasPrefix(target, "/") {
		p, del := strings.CutSuffix(target, deletedSuffix)
		return Link{Kind: LinkPath, Path: p, Deleted: del}
	}
	typ, rest, ok := strings.Cut(target, ":")
	if !ok {
		return Link{Kind: LinkOther, Path: target}
	}
	if typ == "anon_inode" {
		name := rest
		if len(name) >= 2 && name[0] == '[' && name[len(name)-1] == ']' {
			name = name[1 : len(name)-1]
		}
		return Link{Kind: LinkAnonInode, Type: name}
	}
	if len(rest) < 3 || rest[0] != '[' || rest[len(rest)-1] != ']' {
		return Link{Kind: LinkOther, Path: target}
	}
	ino, ok := parseUint(rest[1:len(rest)-1], 10, 64)
	if !ok {
		return Link{Kind: LinkOther, Path: target}
	}
	l := Link{Kind: LinkInode, Type: typ, Ino: ino}
	switch typ {
	case "pipe":
		l.Kind = LinkPipe
	case "socket":
		l.Kind = LinkSocket
	}
	return l
}
