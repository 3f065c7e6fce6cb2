//go:build unix

package image

import "syscall"

// openFlags keep an open from following a symlink planted in an image
// directory and from blocking on a FIFO planted there.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
