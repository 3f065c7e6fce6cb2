package image

import (
	"archive/tar"
	"fmt"
	"strings"
)

// Which members of an archive a StreamReader hands out. Our own streams
// are flat: every member is a regular file named by its image name. The
// archives people make are not:
//
//	tar -C DIR -cf - .            Podman's checkpoint --export
//	./                            config.dump  spec.dump  network.status
//	./inventory.img               stats-dump  rootfs-diff.tar  ...
//	./core-42.img                 checkpoint/
//	...                           checkpoint/inventory.img
//	                              checkpoint/core-42.img  ...
//
// so a reader drops the "./" before a name, skips directory entries and
// members that are no image files, and takes the image files from one
// directory: the top of the archive or a single directory below it. The
// members it skips are still checked, so no name in the archive points
// outside the directory tar -x would unpack it to, none is a link or a
// device, and none announces more than MaxStreamFileSize bytes.

// imageDir is what a StreamReader has learnt of where the image files of
// its archive are.
type imageDir struct {
	// known is set once an image file has come, from dir: "" for the top
	// of the archive, or a directory's name (without a slash).
	known bool
	dir   string
	// names are the image files handed out so far.
	names map[string]bool
}

// member returns the name under which the archive member hdr is handed
// out, or "" when it is skipped:
//
//   - a PAX global header or a directory is skipped;
//   - a member that is not a regular file (a link, a device, a sparse
//     file) is ErrNotRegular, and a size over MaxStreamFileSize is
//     ErrTooLarge, whatever its name;
//   - a regular file whose base name is no image name (KindForFile) is
//     skipped;
//   - an image file is handed out under its base name. The first one
//     fixes the image directory; one in another directory is ErrBadName,
//     except a service image (stats-dump) at the top, where Podman puts
//     the file CRIU writes into its work directory. An image file two or
//     more directories deep, or one whose name came before, is ErrBadName.
func (d *imageDir) member(hdr *tar.Header) (string, error) {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		// Metadata for the whole archive (git archive writes one); its
		// name names no file.
		return "", nil
	}
	dirEntry := hdr.Typeflag == tar.TypeDir
	parts, err := memberPath(hdr.Name, dirEntry)
	if err != nil {
		return "", err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return "", nil
	case tar.TypeReg, tar.TypeCont:
		// archive/tar turns the old '\x00' into '0'; '7' (contiguous) is
		// a regular file to every tar that reads it.
	default:
		return "", fmt.Errorf("type %q: %w", hdr.Typeflag, ErrNotRegular)
	}
	for k := range hdr.PAXRecords {
		// archive/tar reads GNU sparse files as their full size, but their
		// data in the archive is shorter, which would hide a cut stream.
		if strings.HasPrefix(k, "GNU.sparse.") {
			return "", fmt.Errorf("sparse file (archive it without --sparse): %w", ErrNotRegular)
		}
	}
	if hdr.Size < 0 || hdr.Size > MaxStreamFileSize {
		return "", fmt.Errorf("%d bytes: %w", hdr.Size, ErrTooLarge)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("a regular file named as the top of the archive: %w", ErrBadName)
	}
	base := parts[len(parts)-1]
	k := KindForFile(base)
	if k == nil {
		return "", nil
	}
	dir := strings.Join(parts[:len(parts)-1], "/")
	switch {
	case len(parts) > 2:
		return "", fmt.Errorf("image file %d directories deep; a stream holds its images at its top or in one directory: %w",
			len(parts)-1, ErrBadName)
	case dir == "" && k.Service:
		// Taken wherever the image directory is; it does not fix it.
	case !d.known:
		d.known, d.dir = true, dir
	case dir != d.dir:
		return "", fmt.Errorf("image files both in %s and in %s: %w", dirDesc(d.dir), dirDesc(dir), ErrBadName)
	}
	if d.names[base] {
		return "", fmt.Errorf("%s comes twice: %w", base, ErrBadName)
	}
	if d.names == nil {
		d.names = map[string]bool{}
	}
	d.names[base] = true
	return base, nil
}

// memberPath splits an archive member's name into its components, having
// dropped the "./" that `tar -C DIR -cf - .` puts before every name (and a
// directory's trailing slash). The top of the archive ("./", ".") has no
// components. A name that could lead outside the directory the archive
// is unpacked to (absolute, or with "..") is ErrBadName, and so is one
// that is not in its shortest form ("a//b", "a/./b").
func memberPath(name string, dirEntry bool) ([]string, error) {
	rest := strings.TrimPrefix(name, "./")
	if dirEntry {
		rest = strings.TrimSuffix(rest, "/")
	}
	if rest == "" || rest == "." {
		if name == "" {
			return nil, fmt.Errorf("empty name: %w", ErrBadName)
		}
		return nil, nil
	}
	if strings.HasPrefix(rest, "/") {
		return nil, fmt.Errorf("absolute path: %w", ErrBadName)
	}
	parts := strings.Split(rest, "/")
	for _, p := range parts {
		switch {
		case p == "..":
			return nil, fmt.Errorf(`".." in the path: %w`, ErrBadName)
		case p == "" || p == ".":
			return nil, fmt.Errorf("path not in its shortest form: %w", ErrBadName)
		case strings.ContainsRune(p, 0):
			return nil, fmt.Errorf("NUL in the path: %w", ErrBadName)
		}
	}
	return parts, nil
}

// dirDesc names an image directory in errors.
func dirDesc(dir string) string {
	if dir == "" {
		return "the top of the archive"
	}
	return dir + "/"
}
