package seize

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/testutil"
	"github.com/criugo/criugo/pkg/image"
)

const (
	running = images.CriugoTaskState_CRIUGO_TASK_RUNNING
	stopped = images.CriugoTaskState_CRIUGO_TASK_STOPPED
	zombie  = images.CriugoTaskState_CRIUGO_TASK_ZOMBIE
)

// fixtureTree is the tree of CRIU 4.2's "tree" fixture set as criu-seize
// would find it: leader 16228; A 16230; B 16231 with its own group and
// child C 16232; zombie 16233. The children are listed out of pid order
// for B and the zombie to check that Order follows Children, not pids.
func fixtureTree() *Tree {
	task := func(pid, ppid, pgid int, kids ...int) *Task {
		return &Task{Pid: pid, NsPid: pid, PPid: ppid, Pgid: pgid, Sid: 16228, State: running,
			Threads: []Thread{{Tid: pid, NsTid: pid}}, Children: kids}
	}
	tr := &Tree{Root: 16228, Tasks: map[int]*Task{
		16228: task(16228, 4000, 16228, 16230, 16231, 16233),
		16230: task(16230, 16228, 16228),
		16231: task(16231, 16228, 16231, 16232),
		16232: task(16232, 16231, 16231),
		16233: task(16233, 16228, 16228),
	}}
	z := tr.Tasks[16233]
	z.State, z.Threads = zombie, nil
	return tr
}

func fixtureSet(t *testing.T, set string) string {
	return filepath.Join(testutil.FixturesDir(t), "criu-4.2", "images", set)
}

// TestPstreeMatchesCRIU checks pstree.img entries, order and bytes against
// what CRIU 4.2 wrote for the same tree.
func TestPstreeMatchesCRIU(t *testing.T) {
	dir := fixtureSet(t, "tree")
	want, err := image.ReadFile(dir, "pstree.img")
	if err != nil {
		t.Fatal(err)
	}
	got := fixtureTree().PstreeEntries()
	if len(got) != len(want.Entries) {
		t.Fatalf("%d entries, CRIU wrote %d", len(got), len(want.Entries))
	}
	for i, e := range want.Entries {
		if !proto.Equal(got[i], e.Msg) {
			t.Errorf("entry %d: got %v, CRIU wrote %v", i, got[i], e.Msg)
		}
	}
	msgs := make([]proto.Message, len(got))
	for i, e := range got {
		msgs[i] = e
	}
	enc, err := encode(image.Pstree, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "pstree.img"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, raw) {
		t.Errorf("pstree.img bytes differ from CRIU's:\n got %x\nwant %x", enc, raw)
	}
}

// TestInventoryMatchesCRIU checks inventory.img against CRIU 4.2's, byte
// for byte once the run id is the same.
func TestInventoryMatchesCRIU(t *testing.T) {
	for _, set := range []string{"loop", "state", "tree"} {
		dir := fixtureSet(t, set)
		want, err := image.ReadFile(dir, "inventory.img")
		if err != nil {
			t.Fatal(err)
		}
		runID := want.Entries[0].Msg.(*images.InventoryEntry).GetDumpCriuRunId()
		got := Inventory(runID)
		if !proto.Equal(got, want.Entries[0].Msg) {
			t.Errorf("%s: got %v, CRIU wrote %v", set, got, want.Entries[0].Msg)
		}
		enc, err := encode(image.Inventory, got)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(dir, "inventory.img"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, raw) {
			t.Errorf("%s: inventory.img bytes differ from CRIU's:\n got %x\nwant %x", set, enc, raw)
		}
	}
}

func TestOrderDepthFirst(t *testing.T) {
	tr := &Tree{Root: 1, Tasks: map[int]*Task{
		1: {Pid: 1, Children: []int{5, 2}},
		2: {Pid: 2, Children: []int{3}},
		3: {Pid: 3},
		5: {Pid: 5, Children: []int{4, 99}}, // 99 is not in the tree
		4: {Pid: 4, Children: []int{1}},     // a cycle must not loop
	}}
	var got []int
	for _, task := range tr.Order() {
		got = append(got, task.Pid)
	}
	want := []int{1, 5, 4, 2, 3}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestPstreeNamespaceIDs checks that pstree.img holds the ids of the
// root's pid namespace and the root's ppid 0.
func TestPstreeNamespaceIDs(t *testing.T) {
	tr := &Tree{Root: 5000, Tasks: map[int]*Task{
		5000: {Pid: 5000, NsPid: 1, PPid: 0, Pgid: 1, Sid: 1, Children: []int{5001},
			Threads: []Thread{{Tid: 5000, NsTid: 1}, {Tid: 5003, NsTid: 4}}},
		5001: {Pid: 5001, NsPid: 2, PPid: 5000, Pgid: 2, Sid: 0,
			Threads: []Thread{{Tid: 5001, NsTid: 2}}},
	}}
	got := tr.PstreeEntries()
	want := []*images.PstreeEntry{
		{Pid: proto.Uint32(1), Ppid: proto.Uint32(0), Pgid: proto.Uint32(1), Sid: proto.Uint32(1), Threads: []uint32{1, 4}},
		{Pid: proto.Uint32(2), Ppid: proto.Uint32(1), Pgid: proto.Uint32(2), Sid: proto.Uint32(0), Threads: []uint32{2}},
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("entry %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestRecordFromTree(t *testing.T) {
	tr := fixtureTree()
	tr.Tasks[16230].StoppedByUs = true
	tr.Tasks[16231].State = stopped
	tr.Tasks[16228].ShdPnd = 1 << 16
	tr.Tasks[16228].Threads[0].SigPnd = 1 << 9
	tr.Tasks[16228].StartTime = 777
	rec := tr.Record(images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP, "/ignored", true, "run")
	if rec.Cgroup != nil || rec.CgroupWasFrozen != nil {
		t.Errorf("ptrace record has cgroup fields: %v", rec)
	}
	if rec.GetRootPid() != 16228 || rec.GetRunId() != "run" || len(rec.GetTasks()) != 5 {
		t.Fatalf("record %v", rec)
	}
	root := rec.GetTasks()[0]
	if root.GetShdpnd() != 1<<16 || root.GetStartTime() != 777 || root.GetThreads()[0].GetSigpnd() != 1<<9 {
		t.Errorf("root entry %v", root)
	}
	byPid := map[uint32]*images.CriugoFreezeTaskEntry{}
	for _, e := range rec.GetTasks() {
		byPid[e.GetPid()] = e
	}
	if !byPid[16230].GetStoppedByUs() || byPid[16228].GetStoppedByUs() {
		t.Errorf("stopped_by_us wrong: %v", rec.GetTasks())
	}
	if byPid[16231].GetState() != stopped || byPid[16233].GetState() != zombie || len(byPid[16233].GetThreads()) != 0 {
		t.Errorf("states wrong: %v", rec.GetTasks())
	}
	cg := tr.Record(images.CriugoFreezeMethod_CRIUGO_FREEZE_CGROUP_V2, "/sys/fs/cgroup/x", true, "run")
	if cg.GetCgroup() != "/sys/fs/cgroup/x" || !cg.GetCgroupWasFrozen() {
		t.Errorf("cgroup record %v", cg)
	}
}

func TestNewRunID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, err := NewRunID()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewRunID()
	if !re.MatchString(a) || a == b {
		t.Fatalf("run ids %q %q", a, b)
	}
}
