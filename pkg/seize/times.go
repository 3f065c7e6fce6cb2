package seize

import (
	"math"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
)

// The freeze record says when the freeze began and how long freezing
// took, so that the stage that writes stats-dump counts the whole time the
// tree was frozen, criu-seize's part included. The times are
// CLOCK_MONOTONIC readings: they do not jump with the wall clock, but they
// compare only with readings taken on the same boot, so the record names
// its boot and a reader on another one ignores the times.
//
//	criu-seize                         next stage
//	|<- freezing_ns ->|<------------- frozen ------------->|
//	freeze_began      tree held frozen                      tree killed or released

// FreezeTimes is when criu-seize froze a tree, on the reader's clock.
type FreezeTimes struct {
	// Began is when criu-seize began to freeze the tree.
	Began time.Time
	// Freezing is how long freezing took: stats-dump's freezing_time.
	Freezing time.Duration
}

// Frozen is the moment from which the whole tree was held frozen:
// stats-dump's frozen_time counts from here.
func (ft FreezeTimes) Frozen() time.Time { return ft.Began.Add(ft.Freezing) }

// clockReading is the reader's clocks at one moment.
type clockReading struct {
	bootID string    // empty: unknown, so no record's times are comparable
	mono   uint64    // CLOCK_MONOTONIC, in nanoseconds
	now    time.Time // time.Now() at the same moment
}

// stampTimes records in rec that freezing began and ended at the
// CLOCK_MONOTONIC readings began and ended, on boot bootID. Without a boot
// id the times would be unusable, and none are recorded.
func stampTimes(rec *images.CriugoFreezeEntry, bootID string, began, ended uint64) {
	if bootID == "" || ended < began {
		return
	}
	rec.BootId = proto.String(bootID)
	rec.FreezeBegan = proto.Uint64(began)
	rec.FreezingNs = proto.Uint64(ended - began)
}

// timesAt converts rec's times to the clock c was read from. ok is false
// when they cannot be compared with it: not recorded, recorded on another
// boot (another machine, or before a reboot), or ending after c's reading.
func timesAt(rec *images.CriugoFreezeEntry, c clockReading) (ft FreezeTimes, ok bool) {
	if rec.BootId == nil || rec.FreezeBegan == nil || rec.FreezingNs == nil {
		return FreezeTimes{}, false
	}
	if c.bootID == "" || rec.GetBootId() != c.bootID {
		return FreezeTimes{}, false
	}
	began, freezing := rec.GetFreezeBegan(), rec.GetFreezingNs()
	if began > c.mono || freezing > c.mono-began || c.mono-began > math.MaxInt64 {
		return FreezeTimes{}, false
	}
	return FreezeTimes{
		Began:    c.now.Add(-time.Duration(c.mono - began)),
		Freezing: time.Duration(freezing),
	}, true
}
