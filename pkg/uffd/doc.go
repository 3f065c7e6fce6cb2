// Package uffd speaks the userfaultfd ioctls criugo needs: the API
// handshake; for a dump's write tracking, write-protect registration and
// write-protecting a range; for a restore's pages, missing-page
// registration, UFFDIO_COPY and unregistration. A signal that interrupts
// an ioctl is retried here, so callers never see EINTR.
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
//	uffdio_range         | start u64 | len u64 |                         16 bytes
//	uffdio_copy          | dst u64 | src u64 | len u64 | mode u64 | copy s64 | 40 bytes
package uffd
