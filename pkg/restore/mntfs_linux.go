package restore

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// nsBoundFs are the file systems that take a namespace of whoever creates them: proc the
// active PID namespace, sysfs the network namespace, mqueue the IPC
// namespace, cgroup and cgroup2 the cgroup namespace. criu-restore's
// thread that builds the tree's mount namespace is in the tree's mount
// namespace only, so such a file system mounted from there would show
// criu-restore's namespaces (a container's /proc listing the host's
// processes). Its file system context is made by the root instead, which
// already is in the tree's namespaces (an injected fsopen; the context
// keeps the namespaces of the task that opened it), taken with
// pidfd_getfd, and configured, mounted and moved into place from here.
var nsBoundFs = map[string]bool{"proc": true, "sysfs": true, "mqueue": true, "cgroup": true, "cgroup2": true}

// sbFlagParams are the superblock flags of mount(2) as fsconfig flags.
var sbFlagParams = []struct {
	flag uint32
	name string
}{
	{unix.MS_RDONLY, "ro"},
	{unix.MS_SYNCHRONOUS, "sync"},
	{unix.MS_DIRSYNC, "dirsync"},
	{unix.MS_LAZYTIME, "lazytime"},
}

// mountInRootNs mounts a new fsName at target as the root task would:
// fsopen in the root, then source, the superblock flags and the
// comma-separated options set here, as mount(2) parses its data string.
// The per-mount flags are left to mountFlags.
func (r *restorer) mountInRootNs(fsName, source string, sbFlags uint32, options, target string) error {
	t := r.tree.root()
	th := t.threads[0]
	b := newScratchBuf(t.scratch)
	name := b.cstring(fsName)
	if err := b.flush(t.real); err != nil {
		return err
	}
	theirs, err := r.call(t, th, "fsopen", unix.SYS_FSOPEN, name, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("open %s context in pid %d: %w", fsName, t.pid, err)
	}
	pidfd, err := unix.PidfdOpen(t.real, 0)
	var fc int
	if err == nil {
		fc, err = unix.PidfdGetfd(pidfd, int(theirs), 0)
		unix.Close(pidfd)
	}
	if _, cerr := r.call(t, th, "close", unix.SYS_CLOSE, theirs); cerr != nil && err == nil {
		unix.Close(fc)
		return fmt.Errorf("close %s context in pid %d: %w", fsName, t.pid, cerr)
	}
	if err != nil {
		return fmt.Errorf("take %s context of pid %d: %w", fsName, t.pid, err)
	}
	defer unix.Close(fc)
	if source != "" {
		if err := unix.FsconfigSetString(fc, "source", source); err != nil {
			return fmt.Errorf("%s source %q: %w", fsName, source, err)
		}
	}
	for _, p := range sbFlagParams {
		if sbFlags&p.flag != 0 {
			if err := unix.FsconfigSetFlag(fc, p.name); err != nil {
				return fmt.Errorf("%s flag %s: %w", fsName, p.name, err)
			}
		}
	}
	for _, o := range strings.Split(options, ",") {
		if o == "" {
			continue
		}
		k, v, hasValue := strings.Cut(o, "=")
		if hasValue {
			err = unix.FsconfigSetString(fc, k, v)
		} else {
			err = unix.FsconfigSetFlag(fc, k)
		}
		if err != nil {
			return fmt.Errorf("%s option %s: %w", fsName, o, err)
		}
	}
	if err := unix.FsconfigCreate(fc); err != nil {
		return fmt.Errorf("create %s: %w", fsName, err)
	}
	mfd, err := unix.Fsmount(fc, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mount %s: %w", fsName, err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move %s mount to %s: %w", fsName, target, err)
	}
	return nil
}

// taskView turns a path criu-restore opens (mntPath's, through the root's
// /proc/PID/root) back into the path a task of the tree's mount namespace
// reaches the same file by: its /proc may be the tree's own, where that
// pid means nothing.
func (r *restorer) taskView(path string) string {
	if r.mnt.pid == 0 {
		return path
	}
	rest, ok := strings.CutPrefix(path, "/proc/"+strconv.Itoa(r.mnt.pid)+"/root")
	switch {
	case !ok:
		return path
	case rest == "":
		return "/"
	case rest[0] == '/':
		return rest
	}
	return path
}
