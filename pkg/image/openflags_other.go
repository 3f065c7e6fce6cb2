//go:build !unix

package image

// openFlags: systems without O_NOFOLLOW rely on the Lstat check before
// opening and the Stat check after.
const openFlags = 0
