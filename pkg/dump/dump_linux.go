package dump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/cleanup"
	"github.com/criugo/criugo/internal/fault"
	"github.com/criugo/criugo/pkg/image"
	"github.com/criugo/criugo/pkg/imgtool"
	"github.com/criugo/criugo/pkg/proc"
	"github.com/criugo/criugo/pkg/ptrace"
	"github.com/criugo/criugo/pkg/seize"
)

// dumpStats are the counters of stats-dump, as CRIU defines them:
//
//	freezing  criu-seize's freezing: from its start until the whole tree
//	          was held (CRIU: seizing and freezing), from the freeze record
//	frozen    from the end of freezing to the moment the last image but
//	          stats-dump is written (and, in a directory, synced); the
//	          kill or release follows at once. It holds the time between
//	          the stages and this stage's attach.
//	memdump   per task, reading the pagemap and writing the pages (CRIU:
//	          scanning, draining the page pipes and writing them)
//	memwrite  writing the pages images, memory read as it goes
//
// When the freeze record's times cannot be used (seize.Times: none, or
// from another boot), freezing is this stage's attach (seizing and
// interrupting every thread, taking the tree out of criu-seize's stop) and
// frozen counts from the start of this stage.
type dumpStats struct {
	scanned, written     uint64
	shScanned, shWritten uint64
	parent               uint64 // pages left to the parent image set
	pipeBufs             uint64
	frozenSince          time.Time
	freezing, frozen     time.Duration
	memdump, memwrite    time.Duration
}

// pagesImage is a pages image waiting to be written.
type pagesImage struct {
	name    string
	pagemap string
	src     *runPages
	closer  io.Closer
}

// dumper holds the state of one dump.
type dumper struct {
	tr  *ptrace.Tracer
	fs  proc.FS
	in  *seizeInput
	att *attachment

	// pidLevels: each task's and thread's ids from the root's PID
	// namespace down to its own (pidns_linux.go).
	pidLevels pidLevels

	zeroPFN  uint64
	shmemDev uint64
	maxPipe  uint64

	vmIDs, filesTree, fsTree, sighandIDs *kidTree
	fileIDs                              *fileIDs
	ns                                   *nsIDs

	nextPages, nextGhost, nextMemfd uint32

	// out holds every small image by file name.
	out      map[string][]byte
	pages    []*pagesImage
	files    []*images.FileEntry
	remaps   []*images.RemapFilePathEntry
	memfdIDs map[fileKey]uint32
	ghostIDs map[fileKey]uint32 // by device and inode
	// linkRemaps are the links made for deleted files (Options.LinkRemap).
	linkRemaps  []string
	linkRemap   bool
	ghostLimit  uint64
	memfdInodes []*images.MemfdInodeEntry
	pipeDone    map[uint32]bool
	pipeData    []pipeDataEntry
	fifoDone    map[uint32]bool
	fifoData    []pipeDataEntry
	seccomp     []*images.SeccompFilter
	locks       fileLocks
	epollWaits  []*epollWait
	socks       sockState
	ttys        ttyState
	shellJob    bool
	mnt         mountNs // the tree's mount namespace (mntns_linux.go)
	// net is the tree's network namespace (netns_linux.go).
	net netState
	// stopOnRelease: the tree is left stopped (Options.LeaveStopped).
	stopOnRelease bool
	// userns is the tree's user namespace, when it has one of its own
	// (userns_linux.go).
	userns *userNs
	// leaveRunning: the tree goes on after the dump (Options.LeaveRunning).
	leaveRunning bool
	// inDir: the input came from dir, which holds criu-seize's freeze
	// record until the tree is let go.
	inDir bool
	dir   string
	// gone: finish let the tree go (killed or released); nothing of it
	// is undone any more.
	gone  bool
	track *tracking // nil: no pre-dump, parent or tracking
	// readLive: the pages are read after the tree is released (a
	// pre-dump), through live.
	readLive bool
	live     []*liveMem

	stats dumpStats
	cg    *cgDump
}

func newDumper(tr *ptrace.Tracer, in *seizeInput, att *attachment) (*dumper, error) {
	d := &dumper{
		tr: tr, fs: att.fs, in: in, att: att,
		vmIDs:      newKidTree(kcmpOf(kcmpVM)),
		filesTree:  newKidTree(kcmpOf(kcmpFiles)),
		fsTree:     newKidTree(kcmpOf(kcmpFS)),
		sighandIDs: newKidTree(kcmpOf(kcmpSighand)),
		fileIDs:    newFileIDs(kcmpOf(kcmpFile)),
		ns:         newNsIDs(),
		out:        make(map[string][]byte),
		memfdIDs:   make(map[fileKey]uint32),
		ghostIDs:   make(map[fileKey]uint32),
		ghostLimit: DefaultGhostLimit,
		maxPipe:    pipeMaxPages(),
	}
	// criu itself is the first of each kind (id 1), as in CRIU's images:
	// inventory.img's root_ids say so.
	self := os.Getpid()
	for _, k := range []*kidTree{d.vmIDs, d.filesTree, d.fsTree, d.sighandIDs} {
		if _, _, err := k.id(self, 0, 0); err != nil {
			return nil, err
		}
	}
	var err error
	if d.zeroPFN, err = zeroPagePFN(); err != nil {
		return nil, err
	}
	if d.shmemDev, err = shmemDevice(); err != nil {
		return nil, err
	}
	return d, nil
}

// shmemDevice is the device of the kernel's internal shmem mount, where
// memfds and shared anonymous memory live.
func shmemDevice() (uint64, error) {
	fd, err := unix.MemfdCreate("criugo-probe", unix.MFD_CLOEXEC)
	if err != nil {
		return 0, fmt.Errorf("probe shmem device: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("probe shmem device: %w", err)
	}
	return st.Dev, nil
}

// addPagesImage registers a pages image described by pagemap.
func (d *dumper) addPagesImage(pagemap string, id uint32, src *runPages, closer io.Closer) {
	d.pages = append(d.pages, &pagesImage{name: image.Pages.FileName(id), pagemap: pagemap, src: src, closer: closer})
}

// dumpTask records one live task, in CRIU's order (which fixes the order
// of file ids): mappings and their files, ids, fds, pages, threads and
// parasite state, cores, mm (with the exe), fs.
func (d *dumper) dumpTask(t *taskDump) error {
	var err error
	if t.stat, err = d.fs.Stat(t.pid, 0); err != nil {
		return fmt.Errorf("read stat of pid %d: %w", t.pid, err)
	}
	if t.status, err = d.fs.Status(t.pid, 0); err != nil {
		return fmt.Errorf("read status of pid %d: %w", t.pid, err)
	}
	if err := d.dumpMappings(t); err != nil {
		return err
	}
	if err := d.taskIDs(t); err != nil {
		return err
	}
	if !t.filesShared {
		if err := d.dumpFds(t); err != nil {
			return err
		}
		img, err := encodeImage(image.Fdinfo, msgs(t.fdinfo...)...)
		if err != nil {
			return err
		}
		d.out[image.Fdinfo.FileName(t.ids.GetFilesId())] = img
	}
	if err := d.readThreads(t); err != nil {
		return err
	}
	start := time.Now()
	if err := d.planPages(t); err != nil {
		return err
	}
	d.stats.memdump += time.Since(start)
	if err := d.seccompOf(t); err != nil {
		return err
	}
	if err := d.fileLocksOf(t); err != nil {
		return err
	}
	if err := d.cores(t); err != nil {
		return err
	}
	mm, err := d.mmEntry(t)
	if err != nil {
		return err
	}
	fs, err := d.fsEntry(t)
	if err != nil {
		return err
	}
	if err := d.put(image.IDs, t.nsPid, t.ids); err != nil {
		return err
	}
	if err := d.put(image.MM, t.nsPid, mm); err != nil {
		return err
	}
	if err := d.put(image.FS, t.nsPid, fs); err != nil {
		return err
	}
	return d.registerPages(t)
}

// put encodes a one-entry image named after id.
func (d *dumper) put(k *image.Kind, id any, m proto.Message) error {
	img, err := encodeImage(k, image.Entry{Msg: m})
	if err != nil {
		return err
	}
	d.out[k.FileName(id)] = img
	return nil
}

// globalImages encodes the images of the whole tree: files, pipe and
// FIFO data, memfd inodes, remaps, seccomp filters, the time namespace
// clocks and the statistics.
func (d *dumper) globalImages(root int) error {
	img, err := encodeImage(image.Files, msgs(d.files...)...)
	if err != nil {
		return err
	}
	d.out[image.Files.FileName(nil)] = img
	for _, pd := range []struct {
		k    *image.Kind
		data []pipeDataEntry
	}{{image.PipesData, d.pipeData}, {image.FifoData, d.fifoData}} {
		if len(pd.data) == 0 {
			continue
		}
		var es []image.Entry
		for _, e := range pd.data {
			es = append(es, image.Entry{Msg: e.e, Extra: &image.Extra{Data: e.data}})
		}
		if img, err = encodeImage(pd.k, es...); err != nil {
			return err
		}
		d.out[pd.k.FileName(nil)] = img
	}
	if len(d.memfdInodes) > 0 {
		if img, err = encodeImage(image.MemfdInode, msgs(d.memfdInodes...)...); err != nil {
			return err
		}
		d.out[image.MemfdInode.FileName(nil)] = img
	}
	if err := d.ttyImages(); err != nil {
		return err
	}
	if len(d.remaps) > 0 {
		if img, err = encodeImage(image.RemapFpath, msgs(d.remaps...)...); err != nil {
			return err
		}
		d.out[image.RemapFpath.FileName(nil)] = img
	}
	if err := d.put(image.Seccomp, nil, &images.SeccompEntry{SeccompFilters: d.seccomp}); err != nil {
		return err
	}
	if err := d.fileLocksImage(); err != nil {
		return err
	}
	tn, err := timens(d.fs, root)
	if err != nil {
		return err
	}
	// As CRIU: timens-0.img for a tree in criu-parasite's own time
	// namespace, else the image of the root's, named by its id.
	self, err := d.fs.OwnNamespaces()
	if err != nil {
		return fmt.Errorf("read own namespaces: %w", err)
	}
	ns, err := d.fs.Namespaces(root)
	if err != nil {
		return fmt.Errorf("read namespaces of pid %d: %w", root, err)
	}
	var id uint32
	if ino, ok := ns["time"]; ok && ino != self["time"] {
		id = d.ns.id("time", ino)
	}
	return d.put(image.TimeNS, id, tn)
}

// timens records the tree's monotonic and boot clocks, as its time
// namespace shows them, so a restore can make them go on from there.
func timens(fs proc.FS, root int) (*images.TimensEntry, error) {
	var mono, boot unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		return nil, fmt.Errorf("read monotonic clock: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		return nil, fmt.Errorf("read boot clock: %w", err)
	}
	// No timens_offsets (a kernel without time namespaces): no offsets.
	// The host's clocks are ours less our own namespace's offsets; the
	// root's, the host's and its namespace's.
	own, err := fs.TimensOffsets(os.Getpid())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read own time namespace offsets: %w", err)
	}
	for _, o := range own {
		switch o.Clock {
		case "monotonic":
			mono = addTimespec(mono, -o.Sec, -o.Nsec)
		case "boottime":
			boot = addTimespec(boot, -o.Sec, -o.Nsec)
		}
	}
	offs, err := fs.TimensOffsets(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read time namespace offsets of pid %d: %w", root, err)
	}
	for _, o := range offs {
		switch o.Clock {
		case "monotonic":
			mono = addTimespec(mono, o.Sec, o.Nsec)
		case "boottime":
			boot = addTimespec(boot, o.Sec, o.Nsec)
		}
	}
	ts := func(t unix.Timespec) *images.Timespec {
		return &images.Timespec{TvSec: ptr(uint64(t.Sec)), TvNsec: ptr(uint64(t.Nsec))}
	}
	return &images.TimensEntry{Monotonic: ts(mono), Boottime: ts(boot)}, nil
}

func addTimespec(t unix.Timespec, sec, nsec int64) unix.Timespec {
	t.Sec += sec
	t.Nsec += nsec
	for t.Nsec >= 1e9 {
		t.Sec++
		t.Nsec -= 1e9
	}
	for t.Nsec < 0 {
		t.Sec--
		t.Nsec += 1e9
	}
	return t
}

// statsImage encodes stats-dump. Times are in microseconds.
func (d *dumper) statsImage() error {
	// A tree frozen for over 71 minutes overflows the u32: saturate.
	us := func(t time.Duration) *uint32 { return ptr(uint32(min(t.Microseconds(), math.MaxUint32))) }
	st := &images.StatsEntry{Dump: &images.DumpStatsEntry{
		FreezingTime:         us(d.stats.freezing),
		FrozenTime:           us(d.stats.frozen),
		MemdumpTime:          us(d.stats.memdump),
		MemwriteTime:         us(d.stats.memwrite),
		PagesScanned:         ptr(d.stats.scanned),
		PagesSkippedParent:   ptr(d.stats.parent),
		PagesWritten:         ptr(d.stats.written),
		IrmapResolve:         ptr(uint32(0)),
		PagesLazy:            ptr(uint64(0)),
		PagePipes:            ptr(d.stats.pipeBufs),
		PagePipeBufs:         ptr(d.stats.pipeBufs),
		ShpagesScanned:       ptr(d.stats.shScanned),
		ShpagesSkippedParent: ptr(uint64(0)),
		ShpagesWritten:       ptr(d.stats.shWritten),
	}}
	return d.put(image.Stats, "dump", st)
}

// write sends every image to the sink in stream order; pages are read
// from the frozen tree as they are written.
func (d *dumper) write(ctx context.Context, s sink, skip map[string]bool) error {
	names := make([]string, 0, len(d.out)+len(d.pages))
	for n := range d.out {
		names = append(names, n)
	}
	pagesOf := make(map[string]string, len(d.pages))
	byName := make(map[string]*pagesImage, len(d.pages))
	for _, p := range d.pages {
		names = append(names, p.name)
		pagesOf[p.pagemap] = p.name
		byName[p.name] = p
	}
	midPages := fault.At("dump:mid-pages")
	// Into a directory, the pages images of several tasks are written at
	// once (pagesWriter); a stream takes them in order.
	var pw *pagesWriter
	if ds, ok := s.(*dirSink); ok && len(d.pages) > 1 {
		pw = newPagesWriter(ctx, ds)
		defer pw.wait()
	}
	for _, n := range image.StreamOrder(names, pagesOf) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write images: %w", err)
		}
		if skip[n] {
			continue
		}
		if p, ok := byName[n]; ok {
			start := time.Now()
			p.src.ctx = ctx
			if midPages != nil {
				p.src.failFromHalf(midPages)
				midPages = nil
			}
			if pw != nil {
				if err := pw.add(n, p.src); err != nil {
					return err
				}
				continue
			}
			if err := s.addPages(n, p.src); err != nil {
				return fmt.Errorf("write %s: %w", n, err)
			}
			took := time.Since(start)
			d.stats.memwrite += took
			d.stats.memdump += took
			continue
		}
		if n == image.Stats.FileName("dump") {
			// Last in stream order: the times are complete now.
			if pw != nil {
				if err := pw.wait(); err != nil {
					return err
				}
				d.stats.memwrite += pw.took
				d.stats.memdump += pw.took
			}
			if !d.readLive {
				d.stats.frozen = time.Since(d.stats.frozenSince)
			}
			if err := d.statsImage(); err != nil {
				return err
			}
		}
		if err := s.add(n, d.out[n]); err != nil {
			return fmt.Errorf("write %s: %w", n, err)
		}
	}
	if pw != nil {
		return pw.wait()
	}
	return nil
}

// pagesInFlight is how many pages images a directory dump writes at once.
// Each is a file of its own, so their writes do not queue on one inode
// lock, and the small images of a wide tree, a chunk or two each, keep
// both cores busy instead of one read and one write at a time.
const pagesInFlight = 4

// pagesWriter writes pages images into a directory, pagesInFlight at a
// time. The first error stops the others (through the context their
// reads check) and is what wait returns.
type pagesWriter struct {
	ds     *dirSink
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	start  time.Time
	took   time.Duration // from the first add to the end of wait
	waited bool
}

func newPagesWriter(ctx context.Context, ds *dirSink) *pagesWriter {
	pctx, cancel := context.WithCancel(ctx)
	return &pagesWriter{ds: ds, ctx: pctx, cancel: cancel, slots: make(chan struct{}, pagesInFlight)}
}

// add starts writing the pages image name once a slot is free; it returns
// the first error of an image written before.
func (pw *pagesWriter) add(name string, src *runPages) error {
	if pw.start.IsZero() {
		pw.start = time.Now()
	}
	select {
	case pw.slots <- struct{}{}:
	case <-pw.ctx.Done():
		return pw.failed()
	}
	if err := pw.failed(); err != nil {
		<-pw.slots
		return err
	}
	src.ctx = pw.ctx
	pw.wg.Add(1)
	go func() {
		defer pw.wg.Done()
		defer func() { <-pw.slots }()
		if err := pw.ds.addPages(name, src); err != nil {
			pw.mu.Lock()
			if pw.err == nil {
				pw.err = fmt.Errorf("write %s: %w", name, err)
			}
			pw.mu.Unlock()
			pw.cancel()
		}
	}()
	return nil
}

func (pw *pagesWriter) failed() error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.err == nil && pw.ctx.Err() != nil {
		return fmt.Errorf("write images: %w", pw.ctx.Err())
	}
	return pw.err
}

// wait waits for every image started, and returns the first error.
func (pw *pagesWriter) wait() error {
	pw.wg.Wait()
	if !pw.waited {
		pw.waited = true
		if !pw.start.IsZero() {
			pw.took = time.Since(pw.start)
		}
	}
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.err
}

// close releases what the dump holds open.
func (d *dumper) close() {
	d.closeSockets()
	d.closeTTYs()
	for _, p := range d.pages {
		if p.closer != nil {
			p.closer.Close()
		}
	}
}

// Dump dumps the frozen tree criu-seize handed over and then kills it, or
// with LeaveRunning lets it go on. On any failure the tree goes on as if
// nothing happened: the parasite is cured, every thread detached, and the
// freeze undone with seize.Thaw.
//
// Each step that changes the tree or the output pushes its undo on one
// stack (cu); a failure runs them newest first. Only finish, at the end,
// drops them and kills or releases the tree (as CRIU's cr_dump_finish);
// a pre-dump calls it early, before its pages are read.
func Dump(ctx context.Context, o Options) (*Result, error) {
	res := &Result{}
	if err := dumpTree(ctx, o, &res.Stats); err != nil {
		return nil, err
	}
	return res, nil
}

// dumpTree is Dump, filling st on success.
func dumpTree(ctx context.Context, o Options, st *Stats) (err error) {
	start := time.Now()
	tr := ptrace.NewTracer()
	defer tr.Close()
	var d *dumper
	var track *tracking
	defer func() {
		// After the undos: they still use the ttys and sockets held.
		if d != nil {
			d.close()
		}
		if track != nil {
			track.close()
		}
	}()
	var cu cleanup.Cleanup
	defer func() {
		if err != nil {
			if cerr := cu.Clean(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("roll back: %w", cerr))
			}
		}
	}()

	var in *seizeInput
	inDir := o.Dir != "" && hasRecord(o.Dir)
	switch {
	case inDir:
		in, err = readSeizeDir(o.Dir)
	case o.Stdin != nil:
		in, err = readSeizeStream(o.Stdin)
	default:
		return fmt.Errorf("dump: %w: %w", ErrBadInput, errNoInput)
	}
	att := &attachment{tr: tr}
	if in != nil && in.rec != nil {
		// From here on the tree is ours: undo criu-seize's freeze.
		att.rec = in.rec
		cu.Add(func() error { return att.thaw(o.Dir, inDir) })
	}
	if err != nil {
		return err
	}

	if (o.PreDump || o.PrevImagesDir != "" || o.TrackMem) && o.Dir == "" {
		return fmt.Errorf("dump: a pre-dump, --prev-images-dir and --track-mem need an image directory: %w", ErrOptions)
	}
	if o.PreDump || o.PrevImagesDir != "" || o.TrackMem {
		if track, err = newTracking(o); err != nil {
			return err
		}
	}

	if d, err = newDumper(tr, in, att); err != nil {
		return err
	}
	d.locks.enabled = o.FileLocks
	d.socks.tcpEstablished = o.TCPEstablished
	d.socks.tcpClose = o.TCPClose
	d.socks.skipInFlight = o.SkipInFlight
	d.socks.extUnixSk = o.ExtUnixSk
	d.shellJob = o.ShellJob
	d.linkRemap = o.LinkRemap
	if o.GhostLimit != 0 {
		d.ghostLimit = o.GhostLimit
	}
	d.cg = &cgDump{mode: o.ManageCgroups, roots: o.CgroupRoots, only: o.CgroupDumpControllers}
	d.mnt.external = o.ExternalMounts
	d.mnt.skip, d.mnt.enableFs = o.SkipMounts, o.EnableFs
	if err = d.netOptions(o); err != nil {
		return err
	}
	d.leaveRunning = o.LeaveRunning || o.PreDump
	d.track = track
	d.readLive = o.PreDump
	d.inDir, d.dir = inDir, o.Dir
	d.stats.frozenSince = start
	attaching := time.Now()
	// Threads seized by a failed attach are detached too.
	cu.Add(att.detach)
	if err = att.attach(in); err != nil {
		return err
	}
	// resume's SIGCONTs are taken into account by att.thaw (task.continued).
	if err = att.resume(); err != nil {
		return err
	}
	if err = fault.At("dump:after-attach"); err != nil {
		return err
	}
	d.stats.freezing = time.Since(attaching)
	if ft, ok := seize.Times(in.rec); ok {
		// The tree was frozen by criu-seize: freezing is its part, and
		// this stage's attach falls within the frozen time.
		d.stats.freezing, d.stats.frozenSince = ft.Freezing, ft.Frozen()
	}
	// Connections put in repair mode leave it, and data read out of the
	// ttys goes back, before the tree runs again.
	cu.Add(d.unlockTCP)
	cu.Add(d.ttyWriteBack)
	// As CRIU: the links made for deleted files go when the dump fails
	// or leaves the tree running; after a kill they are the restore's.
	cu.Add(d.removeLinkRemaps)
	if !o.PreDump {
		// Before any socket is read; off again last, after the
		// connections left repair mode.
		cu.Add(d.unlockNetwork)
		if err = d.lockNetwork(d.att.tasks[0].pid); err != nil {
			return err
		}
	}
	if o.PreDump {
		err = d.collectPre(ctx)
	} else {
		err = d.collect(ctx)
	}
	if err != nil {
		return err
	}
	// A first stats-dump, so that the image is in the set; write fills it
	// in again when its turn comes.
	if err = d.statsImage(); err != nil {
		return err
	}
	if o.TCPClose && !o.PreDump {
		// As CRIU, the images say so: a restore needs --tcp-close too.
		inv := proto.Clone(in.inv).(*images.InventoryEntry)
		inv.TcpClose = ptr(true)
		if in.inventory, err = encodeImage(image.Inventory, image.Entry{Msg: inv}); err != nil {
			return err
		}
	}
	d.out["inventory.img"] = in.inventory
	if err = d.netInventory(); err != nil {
		return err
	}
	d.out["pstree.img"] = in.pstreeImg
	if d.readLive {
		// The mappings are listed and write-protected: the tree goes on
		// while its pages are read (see liveMem).
		d.stats.frozen = time.Since(d.stats.frozenSince)
		if err = d.finish(&cu, false); err != nil {
			return err
		}
	}

	skip := map[string]bool{}
	var s sink
	if o.Dir != "" {
		ds := newDirSink(o.Dir)
		if err = ds.mkdir(); err != nil {
			return err
		}
		s = ds
		if inDir {
			// criu-seize's images are already there.
			skip["inventory.img"], skip["pstree.img"] = true, true
			if d.net.inventory {
				// But its inventory says nothing of the network lock.
				skip["inventory.img"] = false
				os.Remove(filepath.Join(o.Dir, "inventory.img"))
			}
		}
		if inDir && o.TCPClose && !o.PreDump {
			// This inventory says --tcp-close; criu-seize's did not.
			skip["inventory.img"] = false
			os.Remove(filepath.Join(o.Dir, "inventory.img"))
		}
		if o.PreDump {
			// A pre-dump's inventory says so; it has no pstree.img
			// (criu-seize's, if it wrote one into the directory, stays).
			skip["inventory.img"], skip["pstree.img"] = false, true
			if inDir {
				os.Remove(filepath.Join(o.Dir, "inventory.img"))
			}
		}
	} else {
		if s, err = newStreamSink(o.Stdout); err != nil {
			return err
		}
	}
	cu.Add(func() error { s.abort(); return nil })
	if o.PrevImagesDir != "" {
		if err = linkParent(s.(*dirSink), o.PrevImagesDir); err != nil {
			return err
		}
	}
	if err = d.write(ctx, s, skip); err != nil {
		return err
	}
	if err = s.finish(); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	if track != nil {
		// Before the tree runs again: a holder that cannot start fails
		// the dump, which rolls back.
		if err = track.finish(o.Dir); err != nil {
			return err
		}
	}
	// The image set is complete and synced. Before a kill, the last
	// guard: the set must be one criu-restore would take.
	kill := !o.LeaveRunning && !o.PreDump
	if err = fault.At("dump:before-kill"); err != nil {
		return err
	}
	if o.PostDump != nil && !o.PreDump {
		if err = o.PostDump(); err != nil {
			return fmt.Errorf("post-dump: %w", err)
		}
	}
	if kill && o.Verify != nil {
		if err = d.verify(o.Verify, o.Dir); err != nil {
			return fmt.Errorf("the images would not restore, so the tree runs on: %w", err)
		}
	}
	if !kill && !o.PreDump && o.LeaveStopped {
		d.stopOnRelease = true
	}
	err = d.finish(&cu, kill)
	var dedup imgtool.DedupStats
	if o.AutoDedup && o.PrevImagesDir != "" {
		// The image set is complete and synced: the parents' copies of
		// what it holds again are no longer needed by anyone.
		var derr error
		if dedup, derr = imgtool.Dedup(o.Dir); derr != nil {
			err = errors.Join(err, fmt.Errorf("the image set is complete, but: %w", derr))
		}
	}
	*st = Stats{
		Total: time.Since(start), Frozen: d.stats.frozen, MemWrite: d.stats.memwrite,
		PagesWritten: d.stats.written + d.stats.shWritten,
	}
	for _, lm := range d.live {
		st.PagesUnread += lm.unread.Load()
	}
	st.Dedup = dedup
	return err
}

// finish is the one place where the dump lets the tree go, as CRIU's
// cr_dump_finish: the undos on cu are dropped and the tree is killed
// (kill: only once its image set is written and synced) or released to
// go on. Its connections in repair mode then go away with it (kill) or
// leave repair mode. The freeze record in the image directory describes
// a freeze that is no more and goes too. A second call, after a pre-dump
// released the tree early, does nothing.
func (d *dumper) finish(cu *cleanup.Cleanup, kill bool) error {
	if d.gone {
		return nil
	}
	d.gone = true
	cu.Release()
	var err error
	if kill {
		err = d.att.kill()
		d.dropTCP()
		err = errors.Join(err, d.linksDown())
		d.ttys.writtenBack = true // the data is in the images, its readers are gone
	} else {
		if d.stopOnRelease {
			// Each task takes the stop as it is detached.
			err = d.att.stopAll()
		}
		err = errors.Join(err, d.unlockTCP(), d.removeLinkRemaps(), d.unlockNetwork(), d.att.release())
	}
	if d.inDir {
		if rerr := os.Remove(filepath.Join(d.dir, seize.FreezeFile)); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// collect dumps every task: live ones in pstree order, then zombies, then
// the images of the whole tree.
func (d *dumper) collect(ctx context.Context) error {
	root := d.att.tasks[0]
	if err := d.checkNamespaces(); err != nil {
		return err
	}
	if err := d.initCgroups(); err != nil {
		return err
	}
	// root_ids are criu-seize's own namespaces (CRIU's are criu's), the
	// same as ours: a namespace the tree has of its own takes a new id.
	if err := d.seedNamespaces(d.in.inv.GetRootIds()); err != nil {
		return err
	}
	for _, t := range d.att.tasks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dump: %w", err)
		}
		if t.zombie {
			continue
		}
		td := &taskDump{task: t, pidfd: -1}
		err := d.dumpTask(td)
		td.close()
		if err != nil {
			return err
		}
	}
	for _, t := range d.att.tasks {
		if t.zombie {
			if err := d.zombie(t); err != nil {
				return err
			}
		}
	}
	if err := d.socketsDone(); err != nil {
		return err
	}
	if err := d.ttysDone(d.shellJob); err != nil {
		return err
	}
	if err := d.ttyQueued(d.leaveRunning); err != nil {
		return err
	}
	if err := d.dumpNamespaces(root.pid); err != nil {
		return err
	}
	if err := d.dumpNsPids(); err != nil {
		return err
	}
	if err := d.dumpCgroups(); err != nil {
		return err
	}
	if err := d.dumpMountNs(root.pid); err != nil {
		return err
	}
	return d.globalImages(root.pid)
}

// verify asks check about the image set: in dir when the dump wrote one,
// else (a stream) in a temporary directory holding every image the
// stream carried, with its pages files as holes of their sizes, which is
// all the planning of a restore reads of them.
func (d *dumper) verify(check func(dir string) error, dir string) error {
	if dir != "" {
		return check(dir)
	}
	tmp, err := os.MkdirTemp("", "criugo-verify-")
	if err != nil {
		return fmt.Errorf("make a directory to check the stream's images in: %w", err)
	}
	defer os.RemoveAll(tmp)
	for name, b := range d.out {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o600); err != nil {
			return fmt.Errorf("write %s to check: %w", name, err)
		}
	}
	for _, p := range d.pages {
		f, err := os.OpenFile(filepath.Join(tmp, p.name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			err = f.Truncate(p.src.size())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("write %s to check: %w", p.name, err)
		}
	}
	return check(tmp)
}
