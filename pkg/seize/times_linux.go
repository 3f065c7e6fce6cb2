package seize

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// readBootID returns this boot's id, or "" when it cannot be read (no
// /proc/sys), which makes the freeze record's times unusable, not the
// freeze.
func readBootID() string {
	id, err := procFS.BootID()
	if err != nil {
		return ""
	}
	return id
}

// monotonic reads CLOCK_MONOTONIC in nanoseconds.
func monotonic() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("read CLOCK_MONOTONIC: %w", err)
	}
	return uint64(ts.Nano()), nil
}

// Times returns when criu-seize froze the tree rec describes, on this
// process's clock. ok is false when the record holds no times this
// process can compare with its clock: none recorded, or recorded on
// another boot. The caller then counts from what it saw itself.
func Times(rec *images.CriugoFreezeEntry) (ft FreezeTimes, ok bool) {
	bootID := readBootID()
	mono, err := monotonic()
	if err != nil {
		return FreezeTimes{}, false
	}
	return timesAt(rec, clockReading{bootID: bootID, mono: mono, now: time.Now()})
}
