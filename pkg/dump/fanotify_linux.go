package dump

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/proc"
)

func init() {
	registerFdKind(images.FdTypes_FANOTIFY, &fdKind{link: proc.LinkAnonInode, anon: "fanotify", dump: (*dumper).fanotify})
}

// fanotify records a fanotify group as CRIU's fanotify_file_entry: its
// fanotify_init flags and event flags, and each mark as fdinfo lists it,
// with its flags, mask and ignored mask. A mark on an inode is known by
// its device, number and file handle, and by the path it is linked at
// when that still leads to it (as inotify watches); a mark on a mount by
// the mount's id and its mount point in the task's mount namespace.
//
// Events queued in the group are not kept (CRIU's image has no place for
// them; CRIU drops them too). Marks on a whole file system
// (FAN_MARK_FILESYSTEM) have no kind in the image, and an ignore mask set
// with FAN_MARK_IGNORE means something else than the image's ignored
// mask: both are refused.
func (d *dumper) fanotify(x *fdDump) error {
	fa := x.f.info.Fanotify
	if fa == nil {
		return fmt.Errorf("fanotify without its flags in fdinfo: %w", ErrKernel)
	}
	e := &images.FanotifyFileEntry{
		Id:      ptr(x.id),
		Flags:   ptr(x.flags),
		Fown:    x.fown,
		Faflags: ptr(fa.Flags),
		Evflags: ptr(fa.EventFlags),
	}
	var mounts []proc.Mount
	for _, mk := range fa.Marks {
		if mk.MFlags&unix.FAN_MARK_IGNORE != 0 {
			return fmt.Errorf("fanotify mark with FAN_MARK_IGNORE (mask %#x, ignore mask %#x): %w", mk.Mask, mk.IgnoredMask, ErrNotSupported)
		}
		if mk.Mask>>32 != 0 || mk.IgnoredMask>>32 != 0 {
			return fmt.Errorf("fanotify mark with mask %#x, ignore mask %#x (the image keeps 32 bits): %w", mk.Mask, mk.IgnoredMask, ErrNotSupported)
		}
		if mounts == nil {
			var err error
			if mounts, err = d.fs.Mountinfo(x.t.pid); err != nil {
				return fmt.Errorf("read mountinfo of pid %d: %w", x.t.pid, err)
			}
		}
		me := &images.FanotifyMarkEntry{
			Id:          ptr(uint32(0)),
			Mflags:      ptr(mk.MFlags),
			Mask:        ptr(uint32(mk.Mask)),
			IgnoredMask: ptr(uint32(mk.IgnoredMask)),
		}
		switch mk.Kind {
		case proc.FanotifyInode:
			if mk.Handle == nil {
				return fmt.Errorf("fanotify mark on inode %d: no file handle (the file system cannot export one): %w", mk.Ino, ErrNotSupported)
			}
			fh := &images.FhEntry{
				Bytes:  ptr(uint32(len(mk.Handle.Handle))),
				Type:   ptr(uint32(mk.Handle.Type)),
				Handle: handleWords(mk.Handle.Handle),
			}
			path, err := handlePath(x.t.pid, mounts, mk.Sdev, mk.Ino, mk.Handle)
			if err != nil {
				return fmt.Errorf("fanotify mark on inode %d: %w", mk.Ino, err)
			}
			if path != "" {
				fh.Path = ptr(path)
			}
			me.Type = images.MarkType_INODE.Enum()
			me.SDev = ptr(mk.Sdev)
			me.Ie = &images.FanotifyInodeMarkEntry{IIno: ptr(mk.Ino), FHandle: fh}
		case proc.FanotifyMount:
			var mnt *proc.Mount
			for i := range mounts {
				if mounts[i].ID == mk.MntID {
					mnt = &mounts[i]
					break
				}
			}
			if mnt == nil {
				return fmt.Errorf("fanotify mark on mount %d, which pid %d does not see: %w", mk.MntID, x.t.pid, ErrNotSupported)
			}
			me.Type = images.MarkType_MOUNT.Enum()
			me.SDev = ptr(mnt.Major<<20 | mnt.Minor)
			me.Me = &images.FanotifyMountMarkEntry{MntId: ptr(uint32(mk.MntID)), Path: ptr(mnt.MountPoint)}
		default:
			return fmt.Errorf("fanotify mark on the file system of device %d:%d (FAN_MARK_FILESYSTEM): %w",
				mk.Sdev>>20, mk.Sdev&0xfffff, ErrNotSupported)
		}
		e.Mark = append(e.Mark, me)
	}
	d.addFile(&images.FileEntry{Type: images.FdTypes_FANOTIFY.Enum(), Id: ptr(x.id), Ffy: e})
	return nil
}
