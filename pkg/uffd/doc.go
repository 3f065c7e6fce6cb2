// Package uffd speaks the userfaultfd ioctls write tracking needs: the
// API handshake, write-protect registration and write-protecting a range.
//
// The file descriptor may belong to another process's mm: a userfaultfd
// is bound to the mm of the task that created it, and its ioctls act on
// that mm whoever issues them. A dump injects userfaultfd(2) into the
// target, takes the descriptor with pidfd_getfd(2) and drives it from
// outside.
//
// The structures, as <linux/userfaultfd.h> lays them out:
//
//	uffdio_api           | api u64 | features u64 | ioctls u64 |          24 bytes
//	uffdio_register      | start u64 | len u64 | mode u64 | ioctls u64 | 32 bytes
//	uffdio_writeprotect  | start u64 | len u64 | mode u64 |              24 bytes
package uffd
