package restore

import (
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// restoreStats are the figures of stats-restore, as CRIU 4.2 defines them
// (criu/stats.c, cr-restore.c):
//
//	start     Restore is called (CRIU: timing_start(TIME_RESTORE) once
//	          the inventory is read)
//	forking   the sum of the spans in which tasks and threads are created:
//	          the root's fork, each child's clone3 with its session and
//	          group, each thread's clone3 (CRIU times the root's
//	          create_children_and_session; its threads come later, from
//	          the restorer blob, and are not counted)
//	restore   start to the moment every thread of the tree is detached
//	          and runs (CRIU stops the clock just before it lets the tasks
//	          go: the difference is a few ptrace detaches)
//	restored  pages put into the tasks from their pagemaps: the pages
//	          written (process_vm_writev, preadv in the task, UFFDIO_COPY)
//	          and those of [vdso], which are found equal to the kernel's
//	          instead; CRIU counts the same pages, the [vdso]'s included
//
//	compared  pages of a child compared with what it holds from its
//	          parent (cow_linux.go), as CRIU's pages_compared
//	sharedCOW those found equal and left shared, as CRIU's
//	          pages_skipped_cow; they are not in restored, as in CRIU
type restoreStats struct {
	start     time.Time
	forking   time.Duration
	restore   time.Duration
	restored  uint64
	compared  uint64
	sharedCOW uint64
}

// micros converts a duration to the u32 microseconds of stats-restore,
// saturating (a u32 holds 71 minutes).
func micros(d time.Duration) *uint32 {
	return proto.Uint32(uint32(min(max(d.Microseconds(), 0), math.MaxUint32)))
}

// image encodes s as the stats-restore image, with the fields CRIU 4.2
// sets.
func (s *restoreStats) image() *image.Image {
	e := &images.StatsEntry{Restore: &images.RestoreStatsEntry{
		PagesCompared:   proto.Uint64(s.compared),
		PagesSkippedCow: proto.Uint64(s.sharedCOW),
		ForkingTime:     micros(s.forking),
		RestoreTime:     micros(s.restore),
		PagesRestored:   proto.Uint64(s.restored),
	}}
	return &image.Image{Kind: image.Stats, Entries: []image.Entry{{Msg: e}}}
}

// statsName is the file stats-restore is written to in the image directory.
var statsName = image.Stats.FileName("restore")
