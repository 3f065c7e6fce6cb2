package restore

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// untarTmpfs extracts a gzipped tar of a tmpfs (as CRIU's `tar --create
// --gzip -C ROOT .` or criu-parasite writes it) into the directory dir,
// the new tmpfs's root. Names are taken relative to dir and walked one
// component at a time without following symlinks, so an entry cannot
// reach outside dir; owners, modes and times are set as the archive
// says, directories' last.
func untarTmpfs(src io.Reader, dir string) error {
	zr, err := gzip.NewReader(src)
	if err != nil {
		return fmt.Errorf("read gzip: %w", err)
	}
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(root)
	type dirTimes struct {
		name string
		h    *tar.Header
	}
	var dirs []dirTimes
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, err := cleanTarName(h.Name)
		if err != nil {
			return err
		}
		if name == "" {
			// The root itself: its owner and mode.
			if h.Typeflag == tar.TypeDir {
				dirs = append(dirs, dirTimes{"", h})
			}
			continue
		}
		pfd, base, err := openParent(root, name)
		if err != nil {
			return err
		}
		err = extractOne(pfd, base, name, h, tr, root)
		if pfd != root {
			unix.Close(pfd)
		}
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTimes{name, h})
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		fd := root
		if d.name != "" {
			if fd, err = openPath(root, d.name, unix.O_RDONLY|unix.O_DIRECTORY); err != nil {
				return err
			}
		}
		err := setMeta(fd, d.h)
		if fd != root {
			unix.Close(fd)
		}
		if err != nil {
			return fmt.Errorf("set owner of %s: %w", d.name, err)
		}
	}
	return nil
}

// cleanTarName turns "./a/b" into "a/b" ("" for the root) and refuses a
// name that leaves the archive's root.
func cleanTarName(n string) (string, error) {
	c := path.Clean("/" + n)
	if c == "/" {
		return "", nil
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("tar entry %q leaves the root: %w", n, ErrBadImage)
		}
	}
	return c[1:], nil
}

// openPath opens name below root, following no symlink on the way.
func openPath(root int, name string, flags int) (int, error) {
	fd, err := unix.Openat2(root, name, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", name, err)
	}
	return fd, nil
}

// openParent opens the directory that holds name, below root.
func openParent(root int, name string) (int, string, error) {
	dir, base := path.Split(name)
	if dir == "" {
		return root, base, nil
	}
	fd, err := openPath(root, strings.TrimSuffix(dir, "/"), unix.O_RDONLY|unix.O_DIRECTORY)
	return fd, base, err
}

func extractOne(pfd int, base, name string, h *tar.Header, tr io.Reader, root int) error {
	mode := uint32(h.Mode & 07777)
	switch h.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return fmt.Errorf("mkdir %s: %w", name, err)
		}
		return nil // owner and mode once its contents are in
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		if _, err := io.Copy(f, tr); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return setMeta(fd, h)
	case tar.TypeLink:
		target, err := cleanTarName(h.Linkname)
		if err != nil || target == "" {
			return fmt.Errorf("hard link %s to %q: %w", name, h.Linkname, ErrBadImage)
		}
		tfd, tbase, err := openParent(root, target)
		if err != nil {
			return err
		}
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
		if tfd != root {
			unix.Close(tfd)
		}
		if err != nil {
			return fmt.Errorf("link %s to %s: %w", name, target, err)
		}
		return nil
	case tar.TypeSymlink:
		if err := unix.Symlinkat(h.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink %s: %w", name, err)
		}
		if err := unix.Fchownat(pfd, base, h.Uid, h.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		return nil
	case tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
		kind := map[byte]uint32{tar.TypeFifo: unix.S_IFIFO, tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK}[h.Typeflag]
		dev := unix.Mkdev(uint32(h.Devmajor), uint32(h.Devminor))
		if err := unix.Mknodat(pfd, base, kind|mode, int(dev)); err != nil {
			return fmt.Errorf("mknod %s: %w", name, err)
		}
		fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		defer unix.Close(fd)
		return setMetaPath(fd, h)
	}
	return fmt.Errorf("tar entry %s of type %q: %w", name, h.Typeflag, ErrNotSupported)
}

// setMeta sets owner, mode and times of the open file fd.
func setMeta(fd int, h *tar.Header) error {
	if err := unix.Fchown(fd, h.Uid, h.Gid); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, uint32(h.Mode&07777)); err != nil {
		return err
	}
	return setTimes(fd, h)
}

// setMetaPath is setMeta for a file open with O_PATH.
func setMetaPath(fd int, h *tar.Header) error {
	if err := unix.Fchownat(fd, "", h.Uid, h.Gid, unix.AT_EMPTY_PATH); err != nil {
		return err
	}
	return nil
}

func setTimes(fd int, h *tar.Header) error {
	at := h.AccessTime
	if at.IsZero() {
		at = h.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(h.ModTime.UnixNano())}
	if h.ModTime.IsZero() {
		ts[1] = unix.NsecToTimespec(time.Now().UnixNano())
	}
	return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
}
