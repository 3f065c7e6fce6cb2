package pie

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"unsafe"
)

// The numbers protocol.h asserts with _Static_assert.
func TestProtocolLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, bin uintptr
		want      uintptr
	}{
		{"Ctl", unsafe.Sizeof(Ctl{}), uintptr(binary.Size(Ctl{})), CtlSize},
		{"Hello", unsafe.Sizeof(Hello{}), uintptr(binary.Size(Hello{})), HelloSize},
		{"Sigaction", unsafe.Sizeof(Sigaction{}), uintptr(binary.Size(Sigaction{})), SigactionSize},
		{"Itimer", unsafe.Sizeof(Itimer{}), uintptr(binary.Size(Itimer{})), ItimerSize},
		{"PosixTimer", unsafe.Sizeof(PosixTimer{}), uintptr(binary.Size(PosixTimer{})), PosixTimerSize},
		{"Misc", unsafe.Sizeof(Misc{}), uintptr(binary.Size(Misc{})), MiscSize},
		{"Thread", unsafe.Sizeof(Thread{}), uintptr(binary.Size(Thread{})), ThreadSize},
		{"Task", unsafe.Sizeof(Task{}), uintptr(binary.Size(Task{})), TaskSize},
		{"BatchCall", unsafe.Sizeof(BatchCall{}), uintptr(binary.Size(BatchCall{})), BatchCallSize},
		{"Batch", unsafe.Sizeof(Batch{}), uintptr(binary.Size(Batch{})), BatchSize},
	} {
		if c.size != c.want || c.bin != c.want {
			t.Errorf("%s: sizeof %d, binary size %d, protocol.h says %d", c.name, c.size, c.bin, c.want)
		}
	}
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"Ctl.Req", unsafe.Offsetof(Ctl{}.Req), CtlReqOff},
		{"Ctl.Ack", unsafe.Offsetof(Ctl{}.Ack), CtlAckOff},
		{"Ctl.Cmd", unsafe.Offsetof(Ctl{}.Cmd), CtlCmdOff},
		{"Ctl.Ret", unsafe.Offsetof(Ctl{}.Ret), CtlRetOff},
		{"Ctl.Args", unsafe.Offsetof(Ctl{}.Args), CtlArgsOff},
		{"Ctl.DataSize", unsafe.Offsetof(Ctl{}.DataSize), CtlDataSizeOff},
		{"Hello.Pid", unsafe.Offsetof(Hello{}.Pid), 12},
		{"PosixTimer.IntervalSec", unsafe.Offsetof(PosixTimer{}.IntervalSec), 16},
		{"Misc.Brk", unsafe.Offsetof(Misc{}.Brk), 32},
		{"Thread.SsSp", unsafe.Offsetof(Thread{}.SsSp), 8},
		{"Thread.SsSize", unsafe.Offsetof(Thread{}.SsSize), 24},
		{"Thread.TidAddr", unsafe.Offsetof(Thread{}.TidAddr), 32},
		{"Thread.Secbits", unsafe.Offsetof(Thread{}.Secbits), 40},
		{"Task.Itimers", unsafe.Offsetof(Task{}.Itimers), 2048},
		{"Task.Misc", unsafe.Offsetof(Task{}.Misc), 2144},
		{"Task.Thread", unsafe.Offsetof(Task{}.Thread), 2184},
		{"BatchCall.Ref", unsafe.Offsetof(BatchCall{}.Ref), BatchCallRef},
		{"BatchCall.Flags", unsafe.Offsetof(BatchCall{}.Flags), BatchCallFlags},
		{"BatchCall.Ret", unsafe.Offsetof(BatchCall{}.Ret), BatchCallRet},
		{"Batch.Done", unsafe.Offsetof(Batch{}.Done), BatchDoneOff},
	} {
		if c.got != c.want {
			t.Errorf("offset of %s = %d, protocol.h says %d", c.name, c.got, c.want)
		}
	}
}

func TestParasiteBlob(t *testing.T) {
	code := Parasite.Code()
	if uint64(len(code)) != Parasite.Size || Parasite.Entry != 0 {
		t.Fatalf("blob of %d bytes, size %d, entry %d", len(code), Parasite.Size, Parasite.Entry)
	}
	// The entry stub: and $-16,%rsp; call parasite_main.
	if !bytes.HasPrefix(code, []byte{0x48, 0x83, 0xe4, 0xf0, 0xe8}) {
		t.Fatalf("blob does not start with the entry stub: % x", code[:8])
	}
	code[0] ^= 0xff
	if Parasite.Code()[0] != 0x48 {
		t.Fatal("Code does not return a copy")
	}
}

// TestBlobReproducible rebuilds the blob twice, in two directories, and
// wants the committed bytes both times.
func TestBlobReproducible(t *testing.T) {
	for _, tool := range []string{"make", "gcc", "ld", "objcopy", "nm", "readelf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("rebuilding the blob needs %s: %v", tool, err)
		}
	}
	committedBin, err := os.ReadFile("parasite.bin")
	if err != nil {
		t.Fatal(err)
	}
	committedGo, err := os.ReadFile("parasite_blob.go")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		out := t.TempDir()
		cmd := exec.Command("make", "-s", "OUT="+out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %d: %v\n%s", i, err, msg)
		}
		bin, err := os.ReadFile(filepath.Join(out, "parasite.bin"))
		if err != nil {
			t.Fatal(err)
		}
		gen, err := os.ReadFile(filepath.Join(out, "parasite_blob.go"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bin, committedBin) {
			t.Errorf("build %d: parasite.bin differs from the committed one: run make -C pie and commit", i)
		}
		if !bytes.Equal(gen, committedGo) {
			t.Errorf("build %d: parasite_blob.go differs from the committed one:\n%s", i, gen)
		}
	}
}
