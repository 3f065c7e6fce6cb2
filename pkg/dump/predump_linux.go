package dump

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/tracker"
)

// TrackSocket is where the holder of a pre-dump's write tracking serves
// it, in the pre-dump's image directory (see pkg/tracker).
const TrackSocket = tracker.Socket

// parentLink is the symlink of an image directory to its parent's, as
// CRIU names it.
const parentLink = "parent"

// preDumpSplice is inventory_entry.pre_dump_mode for a pre-dump that
// records every private mapping, readable or not (CRIU's PRE_DUMP_SPLICE).
const preDumpSplice = 1

// tracking is the write tracking of one dump: what it took from the
// holder of the parent directory, and the trackers it hands to a new
// holder when keep.
type tracking struct {
	parent  string         // the parent image directory, as reachable from here; "" for none
	taken   *tracker.Taken // nil: no holder served the parent directory
	keep    bool           // write-protect again and hand over to a new holder
	preDump bool
	held    []*tracker.Tracker // trackers adopted or made by this dump
}

// newTracking takes the tracking the holder of the parent directory
// serves. When this dump write-protects again, the holder is released at
// once: from then on its trackers no longer describe writes since the
// parent, and a failure of this dump must not leave them to another.
func newTracking(o Options) (*tracking, error) {
	tr := &tracking{keep: o.PreDump || (o.TrackMem && o.LeaveRunning), preDump: o.PreDump}
	if o.PrevImagesDir == "" {
		return tr, nil
	}
	tr.parent = o.PrevImagesDir
	if !filepath.IsAbs(tr.parent) {
		tr.parent = filepath.Join(o.Dir, tr.parent)
	}
	if st, err := os.Stat(tr.parent); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("parent image directory %s: %w: %v", o.PrevImagesDir, ErrOptions, err)
	}
	var err error
	if tr.taken, err = tracker.Take(tr.parent); err != nil {
		return nil, err
	}
	if tr.keep {
		if err := tr.taken.Release(); err != nil {
			tr.close()
			return nil, err
		}
	}
	return tr, nil
}

func (tr *tracking) close() {
	tr.taken.Close()
	for _, tk := range tr.held {
		tk.Close()
	}
	tr.held = nil
}

// inParent returns the pages of t that the parent image set holds
// unchanged since: unwritten by the tracking and in the parent's pagemap.
// Without tracking for t, none. When tr.keep, t's memory is then
// write-protected again for the next dump.
func (d *dumper) inParent(t *taskDump, pm *proc.Pagemap) ([]proc.Span, error) {
	tr := d.track
	tk := tr.taken.Adopt(t.pid)
	if tk != nil {
		tr.held = append(tr.held, tk)
	}
	var same []proc.Span
	if tk != nil && tr.parent != "" {
		clean, err := tracker.Unwritten(pm, tracked(t.maps, tr.preDump))
		if err != nil {
			return nil, fmt.Errorf("pid %d: %w", t.pid, err)
		}
		pp, err := parentPages(tr.parent, t.nsPid)
		if err != nil {
			return nil, err
		}
		same = tracker.Intersect(clean, pp)
	}
	if tr.keep {
		if tk == nil {
			var err error
			if tk, err = tracker.New(d.tr, t.pid, t.tids[0]); err != nil {
				return nil, err
			}
			tr.held = append(tr.held, tk)
		}
		if err := tk.Protect(tracked(t.maps, true)); err != nil {
			return nil, err
		}
	}
	return same, nil
}

// trackable reports whether writes to m are tracked: private anonymous
// memory (heap, stack, anonymous mappings). Other private mappings are
// dumped whole by every dump.
func trackable(m *mapping) bool {
	return m.kind == vmaAnonPriv && !m.Shared && m.private() && !m.droppable() &&
		!m.is(images.VmaAreaVdso|images.VmaAreaVvar|images.VmaAreaVsyscall) &&
		m.VmFlags&proc.VmHugeTLB == 0
}

// parentPages lists the pages a parent image set holds for the task
// dumped as nsPid: its pagemap entries present there or in its own parent
// (sorted, merged). No pagemap there: none, without an error (the task is
// new since).
func parentPages(dir string, nsPid int) ([]proc.Span, error) {
	pm, err := image.ReadPagemapFile(dir, image.Pagemap.FileName(nsPid))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, image.ErrBadPagemap) {
		return nil, fmt.Errorf("read parent pagemap: %w: %w", ErrBadInput, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read parent pagemap: %w", err)
	}
	var out []proc.Span
	for _, r := range pm.Runs {
		if !r.HasPages() {
			continue
		}
		if k := len(out); k > 0 && out[k-1].End == r.Vaddr {
			out[k-1].End = r.End()
			continue
		}
		out = append(out, proc.Span{Start: r.Vaddr, End: r.End()})
	}
	return out, nil
}

// tracked lists the mappings of maps whose writes are tracked. As CRIU
// with soft-dirty bits, a final dump (not preDump) leaves no page of a
// mapping without PROT_READ to the parent: it dumps such mappings whole.
func tracked(maps []mapping, preDump bool) []proc.Span {
	var out []proc.Span
	for i := range maps {
		m := &maps[i]
		if !trackable(m) || (!preDump && m.e.GetProt()&unix.PROT_READ == 0) {
			continue
		}
		out = append(out, proc.Span{Start: m.Start, End: m.End})
	}
	return out
}

// finish, after a successful dump: hand the trackers to a new holder
// serving dir, or, when not kept, tell the parent's holder they are
// taken. The trackers are then closed here.
func (tr *tracking) finish(dir string) error {
	var err error
	if tr.keep {
		err = tracker.Spawn(dir, tr.held)
	} else {
		err = tr.taken.Release()
	}
	tr.close()
	return err
}

// preDumpTask records the memory of one live task: its mappings, the
// stack pointers its pages' PE_LAZY marks depend on, and its pages.
func (d *dumper) preDumpTask(t *taskDump) error {
	if err := d.dumpMappings(t); err != nil {
		return err
	}
	for _, tid := range t.tids {
		regs, err := d.tr.GetRegs(tid)
		if err != nil {
			return fmt.Errorf("read registers of tid %d: %w", tid, err)
		}
		t.threads = append(t.threads, &threadState{tid: tid, regs: *regs})
	}
	if err := d.planPages(t); err != nil {
		return err
	}
	return d.registerPages(t)
}

// collectPre pre-dumps every live task, then sets up the images a
// pre-dump directory holds besides pagemaps and pages (CRIU's
// cr_pre_dump_tasks): inventory.img with pre_dump_mode, and stats-dump.
func (d *dumper) collectPre(ctx context.Context) error {
	for _, t := range d.att.tasks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pre-dump: %w", err)
		}
		if t.zombie {
			continue
		}
		td := &taskDump{task: t, pidfd: -1}
		err := d.preDumpTask(td)
		td.close()
		if err != nil {
			return err
		}
	}
	inv := proto.Clone(d.in.inv).(*images.InventoryEntry)
	inv.PreDumpMode = ptr(uint32(preDumpSplice))
	img, err := encodeImage(image.Inventory, image.Entry{Msg: inv})
	if err != nil {
		return err
	}
	d.in.inventory = img
	return nil
}

// linkParent writes dir's parent symlink to prev, as given (CRIU's
// open_image_dir): one already there is kept.
func linkParent(ds *dirSink, prev string) error {
	p := filepath.Join(ds.dir, parentLink)
	if err := os.Symlink(prev, p); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return fmt.Errorf("link parent images: %w", err)
	}
	ds.written = append(ds.written, p)
	return nil
}
