package image

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CheckName reports whether name can be an image file name: a plain name
// inside one directory. Anything else is ErrBadName.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("file name %q: %w", name, ErrBadName)
	}
	return nil
}

// ListDir returns the image files of dir, sorted by name: the entries whose
// names are CRIU image names (KindForFile). Other files (dump.log, ...) are
// left out. An image name that is not a regular file, such as a symlink, is
// ErrNotRegular.
func ListDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list image dir: %w", err)
	}
	var names []string
	for _, e := range ents {
		if KindForFile(e.Name()) == nil {
			continue
		}
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("list image dir %s: %s is %v: %w", dir, e.Name(), e.Type(), ErrNotRegular)
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// OpenFile opens the image file name in dir for reading. It never follows
// a symlink, and refuses anything but a regular file (ErrNotRegular).
func OpenFile(dir, name string) (*os.File, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	p := filepath.Join(dir, name)
	if st, err := os.Lstat(p); err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("open image %s: %v: %w", p, st.Mode().Type(), ErrNotRegular)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	// Lstat and open are two steps: check what was actually opened.
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open image: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open image %s: %v: %w", p, st.Mode().Type(), ErrNotRegular)
	}
	return f, nil
}

// CreateFile creates the image file name in dir for writing, with mode 0600.
// It fails if anything already has that name (O_EXCL), a symlink included.
func CreateFile(dir, name string) (*os.File, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("create image: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|openFlags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create image: %w", err)
	}
	return f, nil
}

// ReadFile reads and decodes the image file name in dir.
func ReadFile(dir, name string) (*Image, error) {
	f, err := OpenFile(dir, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadImage(bufio.NewReaderSize(f, 64<<10), name)
}

// WriteFile encodes img into a new file name in dir (see CreateFile). On
// failure the partial file is removed. It does not sync: a caller that
// needs the set on disk before going on syncs the files it wrote.
func WriteFile(dir, name string, img *Image) (err error) {
	f, err := CreateFile(dir, name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write image %s: %w", name, cerr)
		}
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := WriteImage(bw, img); err != nil {
		return fmt.Errorf("write image %s: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write image %s: %w", name, err)
	}
	return nil
}

// ReplaceFile writes img as the image file name in dir, replacing whatever
// had that name, atomically: the image goes into a new temporary file in
// dir (mode 0600, O_EXCL), is synced, and is renamed over name; then dir is
// synced. A reader sees the old file or the whole new one, never part of
// it, and a symlink planted under name is replaced, never written through.
// On failure the temporary file is removed and name is left as it was.
//
// It is for the files a later run writes again into an existing set, such
// as stats-restore after each restore; WriteFile stays the rule for a new
// set, where a name already taken is an error.
func ReplaceFile(dir, name string, img *Image) (err error) {
	if err := CheckName(name); err != nil {
		return fmt.Errorf("replace image: %w", err)
	}
	// os.CreateTemp opens with O_CREATE|O_EXCL and mode 0600: it never
	// follows or reuses what is already there.
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("replace image %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriter(f)
	err = WriteImage(bw, img)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		return fmt.Errorf("replace image %s in %s: %w", name, dir, err)
	}
	return syncDir(dir)
}

// syncDir makes the entries of dir durable (a rename into it, say).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync image directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync image directory %s: %w", dir, err)
	}
	return nil
}
