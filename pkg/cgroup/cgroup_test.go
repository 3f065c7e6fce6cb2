package cgroup

import (
	"strconv"
	"testing"

	"github.com/criugo/criugo/images"
)

func itoa(n int) string { return strconv.Itoa(n) }

func TestDumpValue(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"pids.max", "max\n", "max"},
		{"memory.limit_in_bytes", "9223372036854771712\n", "9223372036854771712"},
		{"cpu.cfs_quota_us", "9223372036854775807\n", "-1"},
		{"x", "99999999999999999999\n", "-1"},
		{"memory.oom_control", "oom_kill_disable 1\nunder_oom 0\n", "1"},
		{"cpuset.cpus", "0-1\n", "0-1"},
		{"cgroup.subtree_control", "\n", ""},
	} {
		if got, ok := DumpValue(c.name, c.in); !ok || got != c.want {
			t.Errorf("DumpValue(%s, %q) = %q, %v; want %q", c.name, c.in, got, ok, c.want)
		}
	}
}

func TestModes(t *testing.T) {
	for _, s := range []string{"none", "props", "soft", "full", "strict", "ignore"} {
		m, err := ParseMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseMode(%s) = %v, %v", s, m, err)
		}
	}
	if m, err := ParseMode(""); err != nil || m != Soft {
		t.Errorf(`ParseMode("") = %v, %v; want soft`, m, err)
	}
	if _, err := ParseMode("hard"); err == nil {
		t.Error("ParseMode(hard) did not fail")
	}
}

func TestParseRoot(t *testing.T) {
	r, err := ParseRoot("memory:/new")
	if err != nil || r.Controller != "memory" || r.Path != "/new" {
		t.Errorf("ParseRoot(memory:/new) = %+v, %v", r, err)
	}
	roots := []Root{{Path: "/g"}, r}
	if got := RootFor(roots, []string{"memory"}); got != "/new" {
		t.Errorf("RootFor memory = %q", got)
	}
	if got := RootFor(roots, []string{""}); got != "/g" {
		t.Errorf("RootFor unified = %q", got)
	}
	if _, err := ParseRoot("rel"); err == nil {
		t.Error("ParseRoot(rel) did not fail")
	}
}

func TestRewriteRoots(t *testing.T) {
	e := &images.CgroupEntry{
		Sets: []*images.CgSetEntry{{Id: ptr(uint32(2)), Ctls: []*images.CgMemberEntry{
			{Name: ptr("memory"), Path: ptr("/old/ct/sub")},
			{Name: ptr(""), Path: ptr("/old/ct/inner"), CgnsPrefix: ptr(uint32(7))},
		}}},
		Controllers: []*images.CgControllerEntry{
			{Cnames: []string{"memory"}, Dirs: []*images.CgroupDirEntry{{DirName: ptr("old/ct")}}},
			{Cnames: []string{""}, Dirs: []*images.CgroupDirEntry{{DirName: ptr("old/ct")}}},
		},
	}
	RewriteRoots(e, []Root{{Path: "/new"}})
	m := e.Sets[0].Ctls
	if m[0].GetPath() != "/new/sub" || e.Controllers[0].Dirs[0].GetDirName() != "/new" {
		t.Errorf("memory: member %s, dir %s", m[0].GetPath(), e.Controllers[0].Dirs[0].GetDirName())
	}
	if m[1].GetPath() != "/new/inner" || m[1].GetCgnsPrefix() != 4 || e.Controllers[1].Dirs[0].GetDirName() != "/new" {
		t.Errorf("v2: member %s prefix %d, dir %s", m[1].GetPath(), m[1].GetCgnsPrefix(), e.Controllers[1].Dirs[0].GetDirName())
	}
	if !Contains([]string{"cpu", "cpuacct"}, "cpu,cpuacct") || Contains([]string{"cpu"}, "cpu,cpuacct") || Contains([]string{""}, "cpu") || !Contains([]string{""}, "") {
		t.Error("Contains")
	}
}
