package criucli

import (
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
)

// displayStats prints, for --display-stats, the stats image the stage
// wrote into dir ("dump" or "restore"), in CRIU's words (stats.c
// display_stats), on standard output.
func displayStats(l *Log, dir, which string) error {
	name := image.Stats.FileName(which)
	img, err := image.ReadFile(dir, name)
	if err != nil {
		return fmt.Errorf("--display-stats: %w", err)
	}
	var se *images.StatsEntry
	if len(img.Entries) > 0 {
		se, _ = img.Entries[0].Msg.(*images.StatsEntry)
	}
	n := func(v uint64) string { return fmt.Sprintf("%d (%#x)", v, v) }
	switch {
	case which == "dump" && se.GetDump() != nil:
		d := se.GetDump()
		l.Msgf("Displaying dump stats:")
		l.Msgf("Freezing time: %d us", d.GetFreezingTime())
		l.Msgf("Frozen time: %d us", d.GetFrozenTime())
		l.Msgf("Memory dump time: %d us", d.GetMemdumpTime())
		l.Msgf("Memory write time: %d us", d.GetMemwriteTime())
		if d.IrmapResolve != nil {
			l.Msgf("IRMAP resolve time: %d us", d.GetIrmapResolve())
		}
		l.Msgf("Memory pages scanned: %s", n(d.GetPagesScanned()))
		l.Msgf("Memory pages skipped from parent: %s", n(d.GetPagesSkippedParent()))
		l.Msgf("Memory pages written: %s", n(d.GetPagesWritten()))
		l.Msgf("Lazy memory pages: %s", n(d.GetPagesLazy()))
	case which == "restore" && se.GetRestore() != nil:
		r := se.GetRestore()
		l.Msgf("Displaying restore stats:")
		l.Msgf("Pages compared: %s", n(r.GetPagesCompared()))
		l.Msgf("Pages skipped COW: %s", n(r.GetPagesSkippedCow()))
		if r.PagesRestored != nil {
			l.Msgf("Pages restored: %s", n(r.GetPagesRestored()))
		}
		l.Msgf("Restore time: %d us", r.GetRestoreTime())
		l.Msgf("Forking time: %d us", r.GetForkingTime())
	default:
		return fmt.Errorf("--display-stats: %s holds no %s stats: %w", name, which, ErrBadOptions)
	}
	return nil
}
