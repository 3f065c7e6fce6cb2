package image

import (
	"bufio"
	"google.golang.org/protobuf/reflect/protoreflect"
	"os"
	"regexp"
	"strconv"
	"testing"
)

func TestKindTable(t *testing.T) {
	for _, k := range Kinds() {
		if KindByName(k.Name) != k {
			t.Errorf("KindByName(%q) is not its kind", k.Name)
		}
		for _, id := range []any{0, 42, 0x19679a, "dump"} {
			if _, isStr := id.(string); isStr != (k.Pattern == "stats-%s") {
				continue
			}
			name := k.FileName(id)
			if got := KindForFile(name); got != k {
				gotName := "nil"
				if got != nil {
					gotName = got.Name
				}
				t.Errorf("%s: KindForFile(%q) = %s", k.Name, name, gotName)
			}
		}
		if k.Raw() {
			if k.Magic != RawMagic || k.Message != "" || k.SetMagic() != RawMagic {
				t.Errorf("raw kind %s has a magic or message", k.Name)
			}
			continue
		}
		for _, m := range []protoreflect.FullName{k.Message, k.Head} {
			if m == "" {
				continue
			}
			if _, err := NewMessage(m); err != nil {
				t.Errorf("%s: %v", k.Name, err)
			}
		}
		if c := KindByMagic(k.Magic); c == nil || c.Message != k.Message || c.layout != k.layout {
			t.Errorf("%s: its magic resolves to a kind with another layout", k.Name)
		}
	}
	if _, err := NewMessage(ipcMsgName); err != nil {
		t.Error(err)
	}
	for name, want := range map[string]*Kind{
		"core-42.img": Core, "pagemap-7.img": Pagemap, "pagemap-shmem-20963.img": ShmemPagemap,
		"pages-3.img": Pages, "inventory.img": Inventory, "stats-dump": Stats, "stats-restore": Stats,
		"ghost-file-1f.img": GhostFile, "tcp-stream-19679a.img": TCPStream, "signal-p-5.img": PSignal,
		"tmpfs-dev-49.tar.gz.img": TmpfsDev, "netns-ct-3.img": NetnfCt, "netns-3.img": NetNS,
		"filelocks.img": FileLocks, "irmap-cache": IrmapCache, "memfd.img": MemfdInode,
	} {
		if got := KindForFile(name); got != want {
			t.Errorf("KindForFile(%q) = %v, want %s", name, got, want.Name)
		}
	}
	for _, name := range []string{"core-.img", "core-x.img", "core-1.img.bak", "dump.log", "pagemap-shmem-.img", "ghost-file-G.img", "", "stats-"} {
		if k := KindForFile(name); k != nil {
			t.Errorf("KindForFile(%q) = %s, want nil", name, k.Name)
		}
	}
	for m, want := range map[uint32]*Kind{Pagemap.Magic: Pagemap, Signal.Magic: Signal, FileLocks.Magic: FileLocks, BinfmtMisc.Magic: BinfmtMisc} {
		if KindByMagic(m) != want {
			t.Errorf("KindByMagic(%#x) is not %s", m, want.Name)
		}
	}
	if KindByMagic(RawMagic) != nil || KindByMagic(ImgCommonMagic) != nil {
		t.Error("KindByMagic resolves a set magic or the raw magic")
	}
	if id, ok := Core.FileID("core-42.img"); !ok || id != "42" {
		t.Errorf("FileID = %q, %v", id, ok)
	}
	if GhostFile.FileName(31) != "ghost-file-1f.img" || Stats.FileName("dump") != "stats-dump" || Inventory.FileName(1) != "inventory.img" {
		t.Error("FileName formats ids wrongly")
	}
}

// TestMagicsMatchPycriu compares the table with the magic.py Debian's crit
// ships (CRIU 3.17): every magic it names must be in the table with the
// same number. Kinds added after 3.17 are checked by the fixtures instead.
func TestMagicsMatchPycriu(t *testing.T) {
	const magicPy = "/usr/lib/python3/dist-packages/pycriu/images/magic.py"
	f, err := os.Open(magicPy)
	if err != nil {
		t.Skipf("no pycriu to compare with: %v", err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^by_name\['(\w+)'\] = (\d+)$`)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseUint(m[2], 10, 32)
		switch m[1] {
		case "IMG_COMMON":
			if uint32(v) != ImgCommonMagic {
				t.Errorf("IMG_COMMON %#x, pycriu %#x", ImgCommonMagic, v)
			}
			continue
		case "IMG_SERVICE":
			if uint32(v) != ImgServiceMagic {
				t.Errorf("IMG_SERVICE %#x, pycriu %#x", ImgServiceMagic, v)
			}
			continue
		case "CRTOOLS_IMAGES_V1_1", "KDAT":
			// Not image kinds: a format version and the kernel-data cache.
			continue
		}
		n++
		k := KindByName(m[1])
		if k == nil {
			t.Errorf("pycriu magic %s missing from the table", m[1])
			continue
		}
		if k.Magic != uint32(v) {
			t.Errorf("%s magic %#x, pycriu %#x", m[1], k.Magic, v)
		}
		if KindByMagic(uint32(v)) != k {
			t.Errorf("magic %#x resolves to %s, crit names it %s", v, KindByMagic(uint32(v)).Name, m[1])
		}
	}
	if n < 60 {
		t.Errorf("only %d magics found in %s", n, magicPy)
	}
}
