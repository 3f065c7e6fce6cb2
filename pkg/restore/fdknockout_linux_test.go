package restore

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

// TestFileKindsKnockout makes the files of the zoo's eventfd, epoll,
// signalfd, timerfd, inotify, socket and pidfd sets with one field of one entry
// of files.img or sk-queues.img (or of a message right inside it) cleared
// at a time: a broken entry is an error, never a panic.
func TestFileKindsKnockout(t *testing.T) {
	kinds := map[images.FdTypes]bool{
		images.FdTypes_EVENTFD: true, images.FdTypes_EVENTPOLL: true, images.FdTypes_SIGNALFD: true,
		images.FdTypes_TIMERFD: true, images.FdTypes_INOTIFY: true, images.FdTypes_UNIXSK: true,
		images.FdTypes_INETSK: true, images.FdTypes_PIDFD: true,
	}
	sets := []string{"eventfs00", "epoll01", "signalfd00", "timerfd", "inotify00", "sockets00", "sockets01",
		"sockets_dgram", "socket_queues", "scm00", "sk-unix-unconn", "socket_listen", "socket_udp", "socket-tcp6", "sock_filter00", "pidfd_self"}
	for _, name := range sets {
		dir := filepath.Join(testutil.FixturesDir(t), "criu-4.2-zoo", "images", name)
		base := map[string]*image.Image{}
		for _, f := range []string{"inventory.img", "files.img", "sk-queues.img", "pipes-data.img", "remap-fpath.img", "ghost-file-1.img"} {
			if img, err := image.ReadFile(dir, f); err == nil {
				base[f] = img
			}
		}
		if names, err := image.ListDir(dir); err == nil {
			for _, f := range names {
				if image.KindForFile(f) == image.TCPStream {
					img, err := image.ReadFile(dir, f)
					if err != nil {
						t.Fatal(err)
					}
					base[f] = img
				}
			}
		}
		runs := 0
		for _, f := range []string{"files.img", "sk-queues.img"} {
			img := base[f]
			if img == nil {
				continue
			}
			for i, e := range img.Entries {
				if fe, ok := e.Msg.(*images.FileEntry); ok && !kinds[fe.GetType()] {
					continue
				}
				for _, path := range fieldPaths(e.Msg) {
					runs++
					set := cloneSet(base, dir)
					img, _ := set.Recorded(f)
					clearPath(img.Entries[i].Msg.ProtoReflect(), path)
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Errorf("%s/%s entry %d without %v: panic: %v", name, f, i, path, p)
							}
						}()
						makeAllFiles(set)
					}()
				}
			}
		}
		t.Logf("%s: %d knocked-out fields", name, runs)
	}
}

// makeAllFiles makes every file of a set in the test process, in the
// order of their ids, and finishes them, ignoring errors.
func makeAllFiles(set *imageSet) {
	r := &restorer{set: set, pages: dirPages{set}, self: os.Getpid()}
	r.inv, _ = single[*images.InventoryEntry](set, "inventory.img")
	f, err := newFileObjs(r)
	if err != nil {
		return
	}
	r.files = f
	defer f.close()
	ids := make([]uint32, 0, len(f.table))
	for id := range f.table {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		e := f.table[id]
		if e.GetType() == images.FdTypes_REG || e.GetType() == images.FdTypes_MEMFD {
			continue
		}
		if f.checkEntry(e) == nil {
			f.descFor(id)
		}
	}
	f.finish()
}
