package dump

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// tarTmpfs returns the contents of the file system whose root is open as
// dirfd as a gzipped tar, as CRIU's `tar --create --gzip
// --one-file-system --check-links --numeric-owner -C ROOT .` writes it:
// names start with "./", the root itself is "./", mounts below are left
// out (their own images hold them), hard links are links to the first
// name, owners are numbers.
func tarTmpfs(dirfd int) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(dirfd, &st); err != nil {
		return nil, fmt.Errorf("stat root: %w", err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	w := &tmpfsWriter{tw: tw, dev: st.Dev, links: map[uint64]string{}}
	if err := w.header("./", &st, ""); err != nil {
		return nil, err
	}
	if err := w.dir(dirfd, "./"); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type tmpfsWriter struct {
	tw    *tar.Writer
	dev   uint64
	links map[uint64]string // inode -> first name, for hard links
}

func (w *tmpfsWriter) header(name string, st *unix.Stat_t, link string) error {
	h := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 07777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		h.Typeflag = tar.TypeDir
	case unix.S_IFREG:
		h.Typeflag, h.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		h.Typeflag, h.Linkname = tar.TypeSymlink, link
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFSOCK:
		return nil // GNU tar skips sockets too
	default:
		return fmt.Errorf("%s: file of mode %#o: %w", name, st.Mode, ErrNotSupported)
	}
	if h.Typeflag != tar.TypeDir && st.Nlink > 1 {
		if first, ok := w.links[st.Ino]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
		} else {
			w.links[st.Ino] = name
		}
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// dir writes the entries of the directory open as fd, named prefix.
func (w *tmpfsWriter) dir(fd int, prefix string) error {
	// A duplicate to read the names with: the caller keeps fd.
	dup, err := unix.Dup(fd)
	if err != nil {
		return fmt.Errorf("read %s: %w", prefix, err)
	}
	d := os.NewFile(uintptr(dup), prefix)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", prefix, err)
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("stat %s%s: %w", prefix, n, err)
		}
		if st.Dev != w.dev {
			continue // a mount point: what is on it is another mount's
		}
		name := prefix + n
		var link string
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			b := make([]byte, unix.PathMax)
			k, err := unix.Readlinkat(fd, n, b)
			if err != nil {
				return fmt.Errorf("read link %s: %w", name, err)
			}
			link = string(b[:k])
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			name += "/"
		}
		if err := w.header(name, &st, link); err != nil {
			return err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			sub, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open %s: %w", name, err)
			}
			err = w.dir(sub, name)
			unix.Close(sub)
			if err != nil {
				return err
			}
		case unix.S_IFREG:
			if first := w.links[st.Ino]; st.Nlink > 1 && first != name {
				continue // a hard link: no data
			}
			if err := w.file(fd, n, name, st.Size); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *tmpfsWriter) file(dirfd int, n, name string, size int64) error {
	fd, err := unix.Openat(dirfd, n, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// Exactly size bytes: the tree is frozen, but a file that changed
	// size all the same must not break the archive.
	k, err := io.Copy(w.tw, io.LimitReader(f, size))
	if err == nil && k < size {
		_, err = w.tw.Write(make([]byte, size-k))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
