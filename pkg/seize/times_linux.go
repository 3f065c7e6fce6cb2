package seize

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
)

// bootIDPath holds a random id the kernel draws at boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// readBootID returns this boot's id, or "" when it cannot be read (no
// /proc/sys), which makes the freeze record's times unusable, not the
// freeze.
func readBootID() string {
	f, err := os.Open(bootIDPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	// A UUID and a newline; anything much longer is not a boot id.
	b, err := io.ReadAll(io.LimitReader(f, 128))
	if err != nil || len(b) >= 128 {
		return ""
	}
	return string(bytes.TrimSpace(b))
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
