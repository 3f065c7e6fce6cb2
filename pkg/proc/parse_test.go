package proc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The files under testdata/ were read from processes on the project's
// machine kind (kernel 6.18): a task in a nested pid namespace with a
// renamed comm, groups, pending and blocked signals, lowered limits, a
// personality and several kinds of mappings; its zombie child; and a task
// holding one file of each fdinfo kind and three POSIX timers.

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseStatusNested(t *testing.T) {
	st, err := ParseStatus(open(t, "status-nested.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Status{
		Name: "a) (b c)\n:x", State: 'S', Tgid: 12303, Pid: 12303, PPid: 12302,
		Uid: [4]uint32{}, Gid: [4]uint32{}, Groups: []uint32{4, 24, 1000},
		NSpid: []int{12303, 1}, NStgid: []int{12303, 1}, NSpgid: []int{12250, 0}, NSsid: []int{2616, 0},
		SigQueued: 4, SigQueueLimit: 96365,
		SigPnd: 0x1000000000, ShdPnd: 0x800, SigBlk: 0x1000000800, SigIgn: 0x1006, SigCgt: 0x201,
		CapPrm: 0x1fffeffffff, CapEff: 0x1fffeffffff, CapBnd: 0x1fffeffffff,
		NoNewPrivs: true, Umask: 027, HasUmask: true, Threads: 1,
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("got  %+v\nwant %+v", st, want)
	}
}

func TestParseStatusZombie(t *testing.T) {
	st, err := ParseStatus(open(t, "status-zombie.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'Z' || st.Name != "zom bie" || st.HasUmask || st.PPid != 12303 || st.NSpid[1] != 2 {
		t.Errorf("zombie status: %+v", st)
	}
}

func TestParseStatusErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/status-nested.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text string
		want       error
		msg        string
	}{
		{"bad uid", strings.Replace(string(good), "Uid:\t0\t0\t0\t0", "Uid:\t0\t0", 1), ErrSyntax, "parse status line 9: field Uid: "},
		{"bad mask", strings.Replace(string(good), "SigBlk:\t0000001000000800", "SigBlk:\tzz", 1), ErrSyntax, "field SigBlk"},
		{"no colon", "Name:\tx\nbogus line\n", ErrSyntax, "line 2"},
		{"missing", "Name:\tx\nState:\tR (running)\n", ErrMissing, "field Tgid"},
		{"long line", "Name:\t" + strings.Repeat("x", MaxLineLen+1) + "\n", ErrLineTooLong, "line 1"},
		{"bad umask", strings.Replace(string(good), "Umask:\t0027", "Umask:\t9", 1), ErrSyntax, "field Umask"},
	} {
		_, err := ParseStatus(strings.NewReader(tc.text))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.msg)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:         "plain",
		`a\nb`:          "a\nb",
		`back\\slash`:   `back\slash`,
		`\\123`:         `\123`,
		`trail\`:        `trail\`,
		`odd\q`:         `odd\q`,
		`oct\040space`:  "oct space",
		`\e[0m`:         "\x1b[0m",
		`tab\tand\"q\"`: "tab\tand\"q\"",
	} {
		if got := unescapeC(in); got != want {
			t.Errorf("unescapeC(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`/a\040b`:       "/a b",
		`/x\134y`:       `/x\y`,
		`/n\012l\011t`:  "/n\nl\tt",
		`/no\escape\9z`: `/no\escape\9z`,
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStat(t *testing.T) {
	st, err := ParseStat(open(t, "stat-weird.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Stat{
		Pid: 12303, Comm: "a) (b c)\n:x", State: 'S', PPid: 12302, Pgrp: 12250, Session: 2616,
		TtyNr: 0, TPgid: -1, Flags: 4194624, MinFlt: 49, Priority: 20, Nice: 0, NumThreads: 1,
		StartTime: 43521, VSize: 2580480, RSS: 289, RSSLim: 18446744073709551615,
		StartCode: 94916222885888, EndCode: 94916222887821, StartStack: 140726807598688,
		ExitSignal: 17, StartData: 94916222897616, EndData: 94916222898464, StartBrk: 94916938588160,
		ArgStart: 140726807599635, ArgEnd: 140726807599642, EnvStart: 140726807599642, EnvEnd: 140726807601137,
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("got  %+v\nwant %+v", st, want)
	}

	z, err := ParseStat(open(t, "stat-zombie.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// 10752 = 42<<8: exited with status 42.
	if z.State != 'Z' || z.Comm != "zom bie" || z.ExitCode != 42<<8 || z.StartCode != 0 {
		t.Errorf("zombie stat: %+v", z)
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		want error
	}{
		{"", ErrSyntax},
		{"12 (x S 1", ErrSyntax},
		{"12 (x) S 1 2 3", ErrMissing},
		{"x (y) S" + strings.Repeat(" 1", 49), ErrSyntax},
		{"1 (y) SS" + strings.Repeat(" 1", 49), ErrSyntax},
		{"1 (y) S" + strings.Repeat(" 1", 48) + " -", ErrSyntax},
		{"1 (y) S" + strings.Repeat(" 1", 5000), ErrTooLarge},
	} {
		if _, err := ParseStat(strings.NewReader(tc.text)); !errors.Is(err, tc.want) {
			t.Errorf("ParseStat(%.40q): got %v, want %v", tc.text, err, tc.want)
		}
	}
}

func TestParseMaps(t *testing.T) {
	vmas, err := ParseMaps(open(t, "maps.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vmas) != 32 {
		t.Fatalf("%d vmas, want 32", len(vmas))
	}
	first := VMA{Start: 0x565367bf9000, End: 0x565367bfa000, Perm: PermRead, Major: 0xfe, Inode: 9979058,
		Kind: VMAFile, Path: "/tmp/pw/gen2"}
	if !reflect.DeepEqual(vmas[0], first) {
		t.Errorf("first: %+v", vmas[0])
	}
	byPath := map[string]VMA{}
	for _, v := range vmas {
		byPath[v.Path] = v
	}
	for _, tc := range []struct {
		path    string
		kind    VMAKind
		perm    string
		shared  bool
		deleted bool
		len     uint64
	}{
		{"[heap]", VMAHeap, "rwx", false, false, 0x21000},
		{"[stack]", VMAStack, "rw-", false, false, 0x21000},
		{"[vdso]", VMAVdso, "r-x", false, false, 0x2000},
		{"[vvar]", VMAVvar, "r--", false, false, 0x4000},
		{"[vvar_vclock]", VMAVvarVclock, "r--", false, false, 0x2000},
		{"[vsyscall]", VMAVsyscall, "--x", false, false, 0x1000},
		{"/dev/zero", VMAFile, "rwx", true, true, 0x3000},
		{"/memfd:mymem", VMAFile, "r-x", true, true, 0x1000},
		{"/tmp/pw/del map", VMAFile, "r-x", true, true, 0x2000},
		{`/tmp/pw/new\012line`, VMAFile, "rwx", false, false, 0x1000},
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", VMAFile, "rw-", false, false, 0x2000},
	} {
		v, ok := byPath[tc.path]
		if !ok {
			t.Errorf("no mapping %q", tc.path)
			continue
		}
		if v.Kind != tc.kind || v.Perm.String() != tc.perm || v.Shared != tc.shared || v.Deleted != tc.deleted || v.Len() != tc.len {
			t.Errorf("%s: %+v (%v %v)", tc.path, v, v.Kind, v.Perm)
		}
	}
	guard := vmas[7]
	if guard.Kind != VMAAnon || guard.Perm != 0 || guard.Path != "" || guard.Inode != 0 {
		t.Errorf("guard mapping: %+v", guard)
	}
	if vmas[10].Offset != 0x26000 || vmas[31].Start != 0xffffffffff600000 {
		t.Errorf("offset %#x, vsyscall start %#x", vmas[10].Offset, vmas[31].Start)
	}
}

func TestParseMapsLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		want VMA
	}{
		{"7f00-7f01 rw-p 00000000 00:00 0                          [anon:my heap]",
			VMA{Start: 0x7f00, End: 0x7f01, Perm: PermRead | PermWrite, Kind: VMAAnonNamed, Path: "[anon:my heap]"}},
		{"1000-2000 rw-s 00000000 00:01 5 [anon_shmem:buf]",
			VMA{Start: 0x1000, End: 0x2000, Perm: PermRead | PermWrite, Shared: true, Minor: 1, Inode: 5, Kind: VMAAnonNamed, Path: "[anon_shmem:buf]"}},
		{"1000-2000 r-xp 00000000 00:00 0 [uprobes]",
			VMA{Start: 0x1000, End: 0x2000, Perm: PermRead | PermExec, Kind: VMASpecial, Path: "[uprobes]"}},
		{"1000-2000 rw-p 00000000 00:00 0 [stack:123]",
			VMA{Start: 0x1000, End: 0x2000, Perm: PermRead | PermWrite, Kind: VMAStack, Path: "[stack:123]"}},
		{"1000-3000 r--s 00001000 103:02 77  /dir with  spaces/f (deleted)",
			VMA{Start: 0x1000, End: 0x3000, Perm: PermRead, Shared: true, Offset: 0x1000, Major: 0x103, Minor: 2, Inode: 77,
				Kind: VMAFile, Path: "/dir with  spaces/f", Deleted: true}},
		{"1000-2000 rw-s 00000000 00:05 32768 /SYSV0000002a (deleted)",
			VMA{Start: 0x1000, End: 0x2000, Perm: PermRead | PermWrite, Shared: true, Minor: 5, Inode: 32768,
				Kind: VMAFile, Path: "/SYSV0000002a", Deleted: true}},
	} {
		vmas, err := ParseMaps(strings.NewReader(tc.line + "\n"))
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if len(vmas) != 1 || !reflect.DeepEqual(vmas[0], tc.want) {
			t.Errorf("%q:\n got  %+v\n want %+v", tc.line, vmas, tc.want)
		}
	}
	for _, bad := range []string{
		"1000 rw-p 00000000 00:00 0",
		"2000-1000 rw-p 00000000 00:00 0",
		"1000-2000 rw-q 00000000 00:00 0",
		"1000-2000 rwz-p 00000000 00:00 0",
		"1000-2000 rw-p 0000g000 00:00 0",
		"1000-2000 rw-p 00000000 0000 0",
		"1000-2000 rw-p 00000000 00:00 x",
		"1000-2000 rw-p",
	} {
		_, err := ParseMaps(strings.NewReader("1000-2000 rw-p 00000000 00:00 0\n" + bad + "\n"))
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "parse maps line 2: ") {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestParseSmaps(t *testing.T) {
	vmas, err := ParseSmaps(open(t, "smaps.txt"))
	if err != nil {
		t.Fatal(err)
	}
	maps, err := ParseMaps(open(t, "maps.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vmas) != len(maps) {
		t.Fatalf("smaps has %d mappings, maps %d", len(vmas), len(maps))
	}
	for i := range vmas {
		if vmas[i].Start != maps[i].Start || vmas[i].Path != maps[i].Path {
			t.Errorf("mapping %d: smaps %+v, maps %+v", i, vmas[i], maps[i])
		}
		if len(vmas[i].UnknownVmFlags) != 0 {
			t.Errorf("mapping %d: unknown flags %v", i, vmas[i].UnknownVmFlags)
		}
		// The maps permissions and the VmFlags agree.
		p := vmas[i].Perm
		f := vmas[i].VmFlags
		if (p&PermRead != 0) != (f&VmRead != 0) || (p&PermWrite != 0) != (f&VmWrite != 0) ||
			(p&PermExec != 0) != (f&VmExec != 0) || vmas[i].Shared != (f&VmMayShare != 0) {
			t.Errorf("mapping %d %s: perm %v shared %v, VmFlags %v", i, vmas[i].Path, p, vmas[i].Shared, f)
		}
	}
	want := map[string]VmFlags{
		"[stack]":   VmRead | VmWrite | VmMayRead | VmMayWrite | VmMayExec | VmGrowsDown | VmAccount,
		"[vvar]":    VmRead | VmMayRead | VmPfnMap | VmIO | VmDontExpand | VmDontDump,
		"/dev/zero": VmRead | VmWrite | VmExec | VmShared | VmMayRead | VmMayWrite | VmMayExec | VmMayShare,
	}
	for _, v := range vmas {
		if w, ok := want[v.Path]; ok && v.VmFlags != w {
			t.Errorf("%s: VmFlags %q, want %q", v.Path, v.VmFlags, w)
		}
	}
	if s := vmas[6].VmFlags.String(); s != "rd wr ex mr mw me lo ac" {
		t.Errorf("locked mapping flags %q", s)
	}
	if s := vmas[15].VmFlags.String(); s != "rd wr ex mr mw me dc ac" {
		t.Errorf("dontfork mapping flags %q", s)
	}
	if vmas[17].Path != "/dev/zero" || vmas[17].Rss != 4096 || vmas[17].Swap != 0 {
		t.Errorf("shared anon counters: %+v", vmas[17])
	}
	if vmas[5].Kind != VMAHeap || vmas[5].Anonymous == 0 || vmas[5].Anonymous > vmas[5].Rss {
		t.Errorf("heap counters: %+v", vmas[5])
	}
}

func TestParseSmapsUnknownAndBad(t *testing.T) {
	text := "1000-2000 rw-p 00000000 00:00 0 \nRss:  8 kB\nVmFlags: rd wr zz sl \n"
	vmas, err := ParseSmaps(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if vmas[0].VmFlags != VmRead|VmWrite|VmSealed || !reflect.DeepEqual(vmas[0].UnknownVmFlags, []string{"zz"}) || vmas[0].Rss != 8192 {
		t.Errorf("got %+v", vmas[0])
	}
	for _, bad := range []string{
		"Rss: 8 kB\n",
		"1000-2000 rw-p 00000000 00:00 0\nRss: 8 MB\n",
		"1000-2000 rw-p 00000000 00:00 0\nSwap: x kB\n",
		"1000-2000 rw-p 00000000 00:00 0\nno colon here\n",
	} {
		if _, err := ParseSmaps(strings.NewReader(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestParseFdInfo(t *testing.T) {
	parse := func(name string) *FdInfo {
		t.Helper()
		fi, err := ParseFdInfo(open(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return fi
	}
	common := func(fi *FdInfo, pos int64, flags uint32, mnt int, ino uint64) {
		t.Helper()
		if fi.Pos != pos || fi.Flags != flags || fi.MntID != mnt || fi.Ino != ino {
			t.Errorf("common fields: %+v", fi)
		}
	}

	fi := parse("fdinfo-append.txt")
	common(fi, 0, 0102001, 27, 9978738)
	if fi.Eventfd != nil || fi.Epoll != nil || fi.Inotify != nil || fi.Fanotify != nil || fi.Signalfd != nil || fi.Timerfd != nil {
		t.Errorf("regular file has a kind: %+v", fi)
	}

	fi = parse("fdinfo-eventfd.txt")
	common(fi, 0, 02004002, 17, 1039)
	if !reflect.DeepEqual(fi.Eventfd, &EventfdInfo{Count: 5, ID: 3}) {
		t.Errorf("eventfd: %+v", fi.Eventfd)
	}
	fi, err := ParseFdInfo(strings.NewReader("pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1039\neventfd-count:               1f\n"))
	if err != nil || !reflect.DeepEqual(fi.Eventfd, &EventfdInfo{Count: 31, ID: -1}) {
		t.Errorf("old-style eventfd: %+v, %v", fi, err)
	}

	fi = parse("fdinfo-epoll.txt")
	want := []EpollTarget{
		{Fd: 6, Events: 0x1c, Data: 7, Pos: 0, Ino: 0x1f9e, Sdev: 0xf},
		{Fd: 3, Events: 0x80000019, Data: 0x1234, Pos: 0, Ino: 0x40f, Sdev: 0x10},
	}
	if !reflect.DeepEqual(fi.Epoll, want) {
		t.Errorf("epoll: %+v", fi.Epoll)
	}

	fi = parse("fdinfo-inotify.txt")
	wantIn := []InotifyWatch{
		{Wd: 2, Ino: 0x2e1, Sdev: 0xfe00000, Mask: 2, Handle: &FileHandle{Type: 1, Handle: []byte{0xe1, 0x02, 0, 0, 0, 0, 0, 0}}},
		{Wd: 1, Ino: 0x3c4a3, Sdev: 0xfe00000, Mask: 0x300, Handle: &FileHandle{Type: 1, Handle: []byte{0xa3, 0xc4, 0x03, 0, 0, 0, 0, 0}}},
	}
	if !reflect.DeepEqual(fi.Inotify, wantIn) {
		t.Errorf("inotify: %+v", fi.Inotify)
	}

	fi = parse("fdinfo-fanotify.txt")
	wantFa := &FanotifyInfo{Flags: 0, EventFlags: 0x8000, Marks: []FanotifyMark{
		{Kind: FanotifyInode, Ino: 0x2e1, Sdev: 0xfe00000, Mask: 8, Handle: &FileHandle{Type: 1, Handle: []byte{0xe1, 0x02, 0, 0, 0, 0, 0, 0}}},
		{Kind: FanotifyMount, MntID: 0x1b, Mask: 0x20},
	}}
	if !reflect.DeepEqual(fi.Fanotify, wantFa) {
		t.Errorf("fanotify: %+v", fi.Fanotify)
	}

	fi = parse("fdinfo-signalfd.txt")
	// SIGUSR1 (10) and SIGRTMIN+2 (36).
	if fi.Signalfd == nil || fi.Signalfd.Sigmask != 1<<9|1<<35 {
		t.Errorf("signalfd: %+v", fi.Signalfd)
	}

	fi = parse("fdinfo-timerfd1.txt")
	if !reflect.DeepEqual(fi.Timerfd, &TimerfdInfo{ClockID: 1, Value: Timespec{99, 991500339}, Interval: Timespec{1, 500}}) {
		t.Errorf("timerfd1: %+v", fi.Timerfd)
	}
	fi = parse("fdinfo-timerfd2.txt")
	if !reflect.DeepEqual(fi.Timerfd, &TimerfdInfo{ClockID: 0, SettimeFlags: 3, Value: Timespec{999, 12224616}}) {
		t.Errorf("timerfd2: %+v", fi.Timerfd)
	}

	fi = parse("fdinfo-socket.txt")
	common(fi, 0, 02, 10, 8095)

	fi = parse("fdinfo-pidfd.txt")
	common(fi, 0, 02000002, 15, 1057)
	if !reflect.DeepEqual(fi.Pidfd, &PidfdInfo{Pid: 4242, NSpid: []int{4242, 1}}) {
		t.Errorf("pidfd: %+v", fi.Pidfd)
	}
	fi, err = ParseFdInfo(strings.NewReader("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1058\nPid:\t-1\nNSpid:\t-1\n"))
	if err != nil || !reflect.DeepEqual(fi.Pidfd, &PidfdInfo{Pid: -1, NSpid: []int{-1}}) {
		t.Errorf("pidfd of a reaped process: %+v, %v", fi, err)
	}
}

func TestParseFdInfoOtherLines(t *testing.T) {
	base := "pos:\t5\nflags:\t02\nmnt_id:\t9\nino:\t7\n"
	for _, tc := range []struct {
		text string
		want error
	}{
		{base + "lock:\t1: POSIX  ADVISORY  WRITE 42 fe:00:1 0 EOF\n", nil},
		{base + "tty-index:\t3\n", nil},
		{base + "fanotify sdev:fe00000 mflags:0 mask:1 ignored_mask:0\n", nil},
		{base + "inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0\n", nil},
		{"pos:\t5\nflags:\t02\nino:\t7\n", ErrMissing},
		{"pos:\tx\nflags:\t02\nmnt_id:\t9\nino:\t7\n", ErrSyntax},
		{base + "flags:\t09\n", ErrSyntax},
		{base + "tfd: 3 events: 1 data: 2 pos:0 ino:zz sdev:1\n", ErrSyntax},
		{base + "tfd: 3 events: 1 data: 2 pos:0 ino:1\n", ErrSyntax},
		{base + "inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0 fhandle-bytes:4 fhandle-type:1 f_handle:00\n", ErrSyntax},
		{base + "inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0 fhandle-bytes:1 fhandle-type:1 f_handle:zz\n", ErrSyntax},
		{base + "inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0 fhandle-bytes:100 fhandle-type:1 f_handle:00\n", ErrSyntax},
		{base + "it_value: (1 2)\n", ErrSyntax},
		{base + "it_value: 1, 2\n", ErrSyntax},
		{base + "fanotify flags:x event-flags:0\n", ErrSyntax},
		{base + "fanotify garbage\n", ErrSyntax},
	} {
		fi, err := ParseFdInfo(strings.NewReader(tc.text))
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%q: got %v, want %v", tc.text[len(base)-1:], err, tc.want)
		}
		if err == nil && (fi.Pos != 5 || fi.MntID != 9) {
			t.Errorf("%q: %+v", tc.text, fi)
		}
	}
	fi, _ := ParseFdInfo(strings.NewReader(base + "fanotify sdev:fe00000 mflags:1 mask:1 ignored_mask:2\n"))
	if fi == nil || !reflect.DeepEqual(fi.Fanotify.Marks, []FanotifyMark{{Kind: FanotifySuper, Sdev: 0xfe00000, MFlags: 1, Mask: 1, IgnoredMask: 2}}) {
		t.Errorf("super mark: %+v", fi)
	}
	fi, _ = ParseFdInfo(strings.NewReader(base + "inotify wd:a ino:2 sdev:3 mask:4 ignored_mask:0\n"))
	if fi == nil || fi.Inotify[0].Wd != 10 || fi.Inotify[0].Handle != nil {
		t.Errorf("inotify without handle: %+v", fi)
	}
}

func TestParseLink(t *testing.T) {
	for in, want := range map[string]Link{
		"/etc/passwd":             {Kind: LinkPath, Path: "/etc/passwd"},
		"/tmp/pw/del (deleted)":   {Kind: LinkPath, Path: "/tmp/pw/del", Deleted: true},
		"/a (deleted) (deleted)":  {Kind: LinkPath, Path: "/a (deleted)", Deleted: true},
		"pipe:[8094]":             {Kind: LinkPipe, Type: "pipe", Ino: 8094},
		"socket:[8095]":           {Kind: LinkSocket, Type: "socket", Ino: 8095},
		"anon_inode:[eventfd]":    {Kind: LinkAnonInode, Type: "eventfd"},
		"anon_inode:inotify":      {Kind: LinkAnonInode, Type: "inotify"},
		"anon_inode:[eventpoll]":  {Kind: LinkAnonInode, Type: "eventpoll"},
		"anon_inode:bpf-map":      {Kind: LinkAnonInode, Type: "bpf-map"},
		"net:[4026531833]":        {Kind: LinkInode, Type: "net", Ino: 4026531833},
		"pid_for_children:[1]":    {Kind: LinkInode, Type: "pid_for_children", Ino: 1},
		"pipe:[x]":                {Kind: LinkOther, Path: "pipe:[x]"},
		"weird":                   {Kind: LinkOther, Path: "weird"},
		"mnt:[]":                  {Kind: LinkOther, Path: "mnt:[]"},
		"relative/path (deleted)": {Kind: LinkOther, Path: "relative/path (deleted)"},
	} {
		if got := ParseLink(in); got != want {
			t.Errorf("ParseLink(%q) = %+v, want %+v", in, got, want)
		}
	}
	if typ, ino, err := ParseNsLink("user:[4026531837]"); typ != "user" || ino != 4026531837 || err != nil {
		t.Errorf("ParseNsLink: %q %d %v", typ, ino, err)
	}
	if _, _, err := ParseNsLink("/not/ns"); !errors.Is(err, ErrSyntax) {
		t.Errorf("ParseNsLink(path): %v", err)
	}
}

func TestParseTimers(t *testing.T) {
	timers, err := ParseTimers(open(t, "timers.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []PosixTimer{
		{ID: 2, Signal: 35, Notify: SigevSignal | SigevThreadID, NotifyPid: 5478, ClockID: 7},
		{ID: 1, Signal: 12, Notify: SigevNone, NotifyPid: 5478, ClockID: 0},
		{ID: 0, Signal: 12, Notify: SigevSignal, NotifyPid: 5478, ClockID: 1},
	}
	if !reflect.DeepEqual(timers, want) {
		t.Errorf("got %+v", timers)
	}
	ok := "ID: 3\nsignal: 14/00007ffd00001000\nnotify: thread/pid.9\nClockID: 2\n"
	timers, err = ParseTimers(strings.NewReader(ok))
	if err != nil || !reflect.DeepEqual(timers, []PosixTimer{{ID: 3, Signal: 14, Sigval: 0x7ffd00001000, Notify: SigevThread, NotifyPid: 9, ClockID: 2}}) {
		t.Errorf("got %+v, %v", timers, err)
	}
	for _, bad := range []string{
		"signal: 1/0\n",
		"ID: x\n",
		"ID: 1\nsignal: 1\n",
		"ID: 1\nnotify: bell/pid.1\n",
		"ID: 1\nnotify: none/pgid.1\n",
		"ID: 1\nnotify: none/pid.x\n",
		"ID: 1\nClockID: -\n",
		"ID: 1\nnonsense\n",
	} {
		if _, err := ParseTimers(strings.NewReader(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	mounts, err := ParseMountinfo(open(t, "mountinfo.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 22 {
		t.Fatalf("%d mounts", len(mounts))
	}
	last := mounts[len(mounts)-2:]
	want := []Mount{
		{ID: 63, ParentID: 43, Major: 0, Minor: 39, Root: "/", MountPoint: "/tmp/pw/a b", Options: "rw,relatime",
			Shared: 1, FsType: "tmpfs", Source: "my src", SuperOptions: "rw,size=1024k"},
		{ID: 64, ParentID: 43, Major: 0, Minor: 39, Root: "/", MountPoint: "/tmp/pw/c", Options: "rw,relatime",
			Unbindable: true, FsType: "tmpfs", Source: "my src", SuperOptions: "rw,size=1024k"},
	}
	if !reflect.DeepEqual(last, want) {
		t.Errorf("got  %+v\nwant %+v", last, want)
	}
	var root *Mount
	for i := range mounts {
		if mounts[i].MountPoint == "/" {
			root = &mounts[i]
		}
	}
	if root == nil || root.FsType != "ext4" || root.Major != 254 || root.Source != "/dev/vda" {
		t.Errorf("root mount: %+v", root)
	}

	line := "70 63 0:40 /sub\\134dir /mnt/x\\011y rw shared:4 master:2 propagate_from:1 future:9 - fuse.sshfs  rw\n"
	mounts, err = ParseMountinfo(strings.NewReader(line))
	w := Mount{ID: 70, ParentID: 63, Minor: 40, Root: `/sub\dir`, MountPoint: "/mnt/x\ty", Options: "rw",
		Shared: 4, Master: 2, PropagateFrom: 1, FsType: "fuse.sshfs", Source: "", SuperOptions: "rw"}
	if err != nil || len(mounts) != 1 || !reflect.DeepEqual(mounts[0], w) {
		t.Errorf("got %+v, %v", mounts, err)
	}
	for _, bad := range []string{
		"1 2 0:1 / / rw - ext4 /dev/x",
		"1 2 0:1 / / rw ext4 /dev/x rw",
		"x 2 0:1 / / rw - ext4 /dev/x rw",
		"1 2 0-1 / / rw - ext4 /dev/x rw",
		"1 2 0:1 / / rw shared:x - ext4 /dev/x rw",
		"1 2 0:1 / / rw - ext4 /dev/x rw extra",
	} {
		if _, err := ParseMountinfo(strings.NewReader(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestParseAuxv(t *testing.T) {
	auxv, err := ParseAuxv(open(t, "auxv.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(auxv) != 22 {
		t.Fatalf("%d entries", len(auxv))
	}
	got := map[uint64]uint64{}
	for _, e := range auxv {
		got[e.Type] = e.Value
	}
	// AT_PAGESZ, AT_PHNUM, AT_SYSINFO_EHDR (the vdso of maps.txt), AT_MINSIGSTKSZ.
	if got[6] != 4096 || got[5] != 13 || got[33] != 0x7fbe1cd64000 || got[51] != 0xd30 {
		t.Errorf("auxv: %v", got)
	}
	raw, _ := os.ReadFile("testdata/auxv.bin")
	for _, tc := range []struct {
		b    []byte
		want error
	}{
		{raw[:len(raw)-16], ErrTruncated}, // no AT_NULL
		{raw[:20], ErrTruncated},
		{bytes.Repeat(raw[:16], MaxAuxv+1), ErrTooLarge},
	} {
		if _, err := ParseAuxv(bytes.NewReader(tc.b)); !errors.Is(err, tc.want) {
			t.Errorf("%d bytes: got %v, want %v", len(tc.b), err, tc.want)
		}
	}
	if a, err := ParseAuxv(bytes.NewReader(nil)); a != nil || err != nil {
		t.Errorf("empty auxv: %v %v", a, err)
	}
}

func TestParseLimits(t *testing.T) {
	l, err := ParseLimits(open(t, "limits.txt"))
	if err != nil {
		t.Fatal(err)
	}
	const inf = RlimInfinity
	want := Limits{
		{inf, inf}, {inf, inf}, {inf, inf}, {8388608, inf}, {4096, 8192}, {inf, inf},
		{96365, 96365}, {777, 20000}, {8388608, 8388608}, {inf, inf}, {inf, inf},
		{96365, 96365}, {819200, 819200}, {0, 0}, {0, 0}, {inf, inf},
	}
	if *l != want {
		t.Errorf("got  %v\nwant %v", *l, want)
	}
	raw, _ := os.ReadFile("testdata/limits.txt")
	s := string(raw)
	for _, tc := range []struct {
		text string
		want error
	}{
		{strings.Replace(s, "Max open files            777 ", "Max open files            7x7 ", 1), ErrSyntax},
		{strings.Replace(s, "Max open files", "Max shut files", 1), ErrMissing},
		{strings.Replace(s, "777                  20000                files", "", 1), ErrSyntax},
	} {
		if _, err := ParseLimits(strings.NewReader(tc.text)); !errors.Is(err, tc.want) {
			t.Errorf("got %v, want %v", err, tc.want)
		}
	}
	// A resource a newer kernel adds is skipped.
	if _, err := ParseLimits(strings.NewReader(s + "Max wombats               1                    2                    wombats\n")); err != nil {
		t.Errorf("extra line: %v", err)
	}
}

func TestParseSmallFiles(t *testing.T) {
	p, err := ParsePersonality(open(t, "personality.txt"))
	// PER_LINUX | ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC
	if err != nil || p != 0x0040000|0x0400000 {
		t.Errorf("personality %#x, %v", p, err)
	}
	if _, err := ParsePersonality(strings.NewReader("zz\n")); !errors.Is(err, ErrSyntax) {
		t.Errorf("bad personality: %v", err)
	}
	if _, err := ParsePersonality(strings.NewReader(strings.Repeat("0", 100))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long personality: %v", err)
	}

	c, err := ParseChildren(open(t, "children.txt"))
	if err != nil || !reflect.DeepEqual(c, []int{12305, 12306}) {
		t.Errorf("children %v, %v", c, err)
	}
	if c, err := ParseChildren(strings.NewReader("")); err != nil || len(c) != 0 {
		t.Errorf("no children: %v, %v", c, err)
	}
	if _, err := ParseChildren(strings.NewReader("12 x ")); !errors.Is(err, ErrSyntax) {
		t.Errorf("bad children: %v", err)
	}

	cg, err := ParseCgroup(open(t, "cgroup.txt"))
	if err != nil || len(cg) != 10 {
		t.Fatalf("cgroup: %v, %v", cg, err)
	}
	if !reflect.DeepEqual(cg[0], Cgroup{ID: 9, Controllers: []string{"name=systemd"}, Path: "/"}) ||
		!reflect.DeepEqual(cg[5], Cgroup{ID: 4, Controllers: []string{"memory"}, Path: "/process_api/0332b593682ffe128230daa8d005c224"}) ||
		!reflect.DeepEqual(cg[9], Cgroup{ID: 0, Path: "/"}) {
		t.Errorf("cgroup: %+v", cg)
	}
	cg, err = ParseCgroup(strings.NewReader("3:cpu,cpuacct:/a:b\n"))
	if err != nil || !reflect.DeepEqual(cg, []Cgroup{{ID: 3, Controllers: []string{"cpu", "cpuacct"}, Path: "/a:b"}}) {
		t.Errorf("cgroup with colon: %+v %v", cg, err)
	}
	for _, bad := range []string{"0:/\n", "x::/\n"} {
		if _, err := ParseCgroup(strings.NewReader(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestPagemapEntry(t *testing.T) {
	for _, tc := range []struct {
		e                                           PagemapEntry
		present, swapped, file, excl, sd, wp, guard bool
		pfn, swapType, swapOff                      uint64
	}{
		{e: 0},
		{e: 1<<63 | 1<<56 | 0x12345, present: true, excl: true, pfn: 0x12345},
		{e: 1<<63 | 1<<61 | 1<<55 | 0x7fffffffffffff, present: true, file: true, sd: true, pfn: 0x7fffffffffffff},
		{e: 1<<62 | 0xabc<<5 | 3, swapped: true, swapType: 3, swapOff: 0xabc},
		{e: 1<<57 | 1<<58, wp: true, guard: true},
	} {
		e := tc.e
		if e.Present() != tc.present || e.Swapped() != tc.swapped || e.FileOrShared() != tc.file ||
			e.Exclusive() != tc.excl || e.SoftDirty() != tc.sd || e.UffdWP() != tc.wp || e.Guard() != tc.guard ||
			e.PFN() != tc.pfn || e.SwapType() != tc.swapType || e.SwapOffset() != tc.swapOff {
			t.Errorf("entry %v decoded wrongly", e)
		}
	}
	raw := []byte{0x45, 0x23, 0x01, 0, 0, 0, 0, 0x81, 0, 0, 0, 0, 0, 0, 0, 0}
	out := make([]PagemapEntry, 2)
	if err := DecodePagemap(raw, out); err != nil || out[0] != 1<<63|1<<56|0x12345 || out[1] != 0 {
		t.Errorf("decode: %v %v", out, err)
	}
	if err := DecodePagemap(raw[:9], out); !errors.Is(err, ErrTruncated) {
		t.Errorf("odd length: %v", err)
	}
	if err := DecodePagemap(raw, out[:1]); err == nil {
		t.Errorf("short output accepted")
	}
}

func BenchmarkParseSmaps(b *testing.B) {
	raw, err := os.ReadFile("testdata/smaps.txt")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseSmaps(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}
