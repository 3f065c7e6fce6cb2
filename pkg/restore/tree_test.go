package restore

import (
	"errors"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

func fixtureImages(t *testing.T, name string) *imageSet {
	t.Helper()
	set, err := openDirSet(filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", name))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestBuildTreeFixture(t *testing.T) {
	tr, err := buildTree(fixtureImages(t, "tree"))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		pid, parent      int
		setsid, setpgid  bool
		createPgid, join int
		zombie           bool
	}{
		{16228, 0, true, false, 16228, 0, false},
		{16230, 16228, false, false, 16228, 0, false},
		{16231, 16228, false, true, 16231, 0, false},
		{16232, 16231, false, false, 16231, 0, false},
		{16233, 16228, false, false, 16228, 0, true},
	}
	if len(tr.tasks) != len(want) {
		t.Fatalf("%d tasks, want %d", len(tr.tasks), len(want))
	}
	for i, w := range want {
		got := tr.tasks[i]
		parent := 0
		if got.parent != nil {
			parent = got.parent.pid
		}
		if got.pid != w.pid || parent != w.parent || got.doSetsid != w.setsid || got.doSetpgid != w.setpgid ||
			got.createPgid != w.createPgid || got.joinPgid != w.join || got.zombie() != w.zombie {
			t.Errorf("task %d: got pid %d parent %d setsid %v setpgid %v pgid %d join %d zombie %v, want %+v",
				i, got.pid, parent, got.doSetsid, got.doSetpgid, got.createPgid, got.joinPgid, got.zombie(), w)
		}
	}
	if ids := tr.allIDs(); len(ids) != 5 {
		t.Errorf("ids %v, want the 5 pids", ids)
	}

	st, err := buildTree(fixtureImages(t, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.root().tids; len(got) != 4 || got[0] != 16227 {
		t.Errorf("state threads %v", got)
	}
}

// pstreeSet makes an image set holding just a pstree.img.
func pstreeSet(t *testing.T, ents ...*images.PstreeEntry) *imageSet {
	t.Helper()
	set := newStreamSet()
	img := &image.Image{Kind: image.Pstree}
	for _, e := range ents {
		img.Entries = append(img.Entries, image.Entry{Msg: e})
	}
	set.Add("pstree.img", img)
	return set
}

func ps(pid, ppid, pgid, sid uint32, threads ...uint32) *images.PstreeEntry {
	if threads == nil {
		threads = []uint32{pid}
	}
	return &images.PstreeEntry{Pid: proto.Uint32(pid), Ppid: proto.Uint32(ppid), Pgid: proto.Uint32(pgid), Sid: proto.Uint32(sid), Threads: threads}
}

func TestPlanSessions(t *testing.T) {
	// A child joins the group its younger sibling leads: the join waits
	// until every task exists.
	tr, err := treeFromPstree(pstreeSet(t,
		ps(10, 1, 10, 10),
		ps(11, 10, 12, 10),
		ps(12, 10, 12, 10),
		ps(13, 12, 12, 10),
	))
	if err != nil {
		t.Fatal(err)
	}
	if a := tr.byPid[11]; a.joinPgid != 12 || a.createPgid != 10 {
		t.Errorf("11: join %d create %d, want join 12 after creation in 10", a.joinPgid, a.createPgid)
	}
	if c := tr.byPid[13]; c.joinPgid != 0 || c.createPgid != 12 {
		t.Errorf("13 inherits group 12: join %d create %d", c.joinPgid, c.createPgid)
	}

	// The root in an outer session and group stays in criu-restore's; so do
	// the children that shared them.
	tr, err = treeFromPstree(pstreeSet(t,
		ps(20, 1, 5, 4),
		ps(21, 20, 5, 4),
		ps(22, 20, 22, 4),
	))
	if err != nil {
		t.Fatal(err)
	}
	if r := tr.root(); r.doSetsid || r.doSetpgid || r.createPgid != 0 || r.session != 0 {
		t.Errorf("root: %+v", r)
	}
	if c := tr.byPid[21]; c.joinPgid != 0 || c.doSetpgid {
		t.Errorf("21: %+v", c)
	}
	if c := tr.byPid[22]; !c.doSetpgid {
		t.Errorf("22 should lead its group")
	}

	bad := []struct {
		name string
		ents []*images.PstreeEntry
		want error
	}{
		{"session of a stranger", []*images.PstreeEntry{ps(30, 1, 30, 30), ps(31, 30, 31, 99)}, ErrNotSupported},
		{"group outside the tree", []*images.PstreeEntry{ps(30, 1, 30, 30), ps(31, 30, 77, 30)}, ErrNotSupported},
		{"parent after child", []*images.PstreeEntry{ps(30, 1, 30, 30), ps(32, 31, 30, 30), ps(31, 30, 30, 30)}, ErrBadImage},
		{"pid twice", []*images.PstreeEntry{ps(30, 1, 30, 30), ps(31, 30, 30, 30, 31, 30)}, ErrBadImage},
		{"leader not a thread", []*images.PstreeEntry{ps(30, 1, 30, 30, 33, 34)}, ErrBadImage},
		{"root with one stray tid", []*images.PstreeEntry{ps(30, 1, 30, 30, 33)}, ErrBadImage},
		{"zombie root", []*images.PstreeEntry{ps(30, 1, 30, 30, 0)}, ErrBadImage},
		{"pid out of range", []*images.PstreeEntry{ps(1<<23, 1, 1, 1)}, ErrBadImage},
		{"child of a zombie", []*images.PstreeEntry{ps(30, 1, 30, 30), ps(31, 30, 30, 30, 0), ps(32, 31, 30, 30)}, ErrBadImage},
	}
	// CRIU 4.2 lists a zombie with one tid it never set.
	zt, err := treeFromPstree(pstreeSet(t, ps(30, 1, 30, 30), ps(31, 30, 30, 30, 4202441360), ps(32, 30, 30, 30, 0)))
	if err != nil {
		t.Fatalf("zombies with stray tids: %v", err)
	}
	if !zt.byPid[31].zombie() || !zt.byPid[32].zombie() || len(zt.allIDs()) != 3 {
		t.Errorf("zombies with stray tids: ids %v", zt.allIDs())
	}
	for _, b := range bad {
		if _, err := treeFromPstree(pstreeSet(t, b.ents...)); !errors.Is(err, b.want) {
			t.Errorf("%s: %v, want %v", b.name, err, b.want)
		}
	}
}
