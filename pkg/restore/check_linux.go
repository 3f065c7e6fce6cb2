package restore

import (
	"fmt"
	"os"
	"time"
)

// Check reads and plans the restore of the image directory
// opts.Dir, with opts as Restore would take them, as Restore does
// before it creates anything: every image, the tree, each task's
// memory, files and namespaces, this CPU's features. It creates nothing,
// and a PID of the set that is in use is not an error: a dump checks its
// own images this way while the tree still runs (pkg/dump's
// Options.Verify), so that it never kills a tree criu-restore would
// refuse. Whether a shell job's terminal is one is not checked: it is the
// restoring criu-restore's. An error is the one Restore would fail with.
func Check(opts Options) error {
	dir := opts.Dir
	set, err := openDirSet(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	defer set.close()
	now := time.Now()
	r := &restorer{opts: opts, self: os.Getpid(), last: now, stats: restoreStats{start: now}, checkOnly: true}
	r.set, r.pages = set, dirPages{set}
	if err := r.prepare(); err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	if r.files != nil {
		r.files.close()
	}
	return nil
}
