package images

// Values that CRIU's images store in plain integer fields: the bits of
// vma_entry.status, pagemap_entry.flags and the task states of
// task_core_entry.task_state. They are part of the format, shared by dump,
// restore, crit and criu-imgtool.

// vma_entry.status bits.
const (
	VmaAreaRegular  = 1 << 0
	VmaAreaStack    = 1 << 1
	VmaAreaVsyscall = 1 << 2
	VmaAreaVdso     = 1 << 3
	VmaAreaHeap     = 1 << 5
	VmaFilePrivate  = 1 << 6
	VmaFileShared   = 1 << 7
	VmaAnonShared   = 1 << 8
	VmaAnonPrivate  = 1 << 9
	VmaAreaSysvipc  = 1 << 10
	VmaAreaSocket   = 1 << 11
	VmaAreaVvar     = 1 << 12
	VmaAreaAioring  = 1 << 13
	VmaAreaMemfd    = 1 << 14
	VmaAreaShstk    = 1 << 15
	VmaAreaGuard    = 1 << 16 // a range of MADV_GUARD_INSTALL guards, listed after every real vma
	VmaAreaUprobes  = 1 << 17
	VmaUnsupp       = 1 << 31
)

// pagemap_entry.flags bits.
const (
	PeParent  = 1 << 0 // the pages are in the parent image (incremental dumps)
	PeLazy    = 1 << 1 // the pages may be restored lazily
	PePresent = 1 << 2 // the pages are in this image's pages file
)

// task_core_entry.task_state values.
const (
	TaskAlive   = 0x1
	TaskDead    = 0x2 // a zombie
	TaskStopped = 0x3
	TaskHelper  = 0x4
	TaskThread  = 0x5
)

// PageSize is the size of a page in pages-*.img (x86_64).
const PageSize = 4096
