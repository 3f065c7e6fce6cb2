package sysv

import (
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// The tests make private objects (IPC_PRIVATE) in the test's IPC
// namespace and remove them when done.

// byIndex finds the object with id among the indexes 0..maxIdx of a
// kernel table by its *_STAT command.
func byIndex[T any](t *testing.T, maxIdx, id int, stat func(int, *T) (int, error)) *T {
	t.Helper()
	for idx := 0; idx <= maxIdx; idx++ {
		var ds T
		got, err := stat(idx, &ds)
		if errors.Is(err, unix.EINVAL) {
			continue
		}
		if err != nil {
			t.Fatalf("stat index %d: %v", idx, err)
		}
		if got == id {
			return &ds
		}
	}
	t.Fatalf("id %d not found among indexes 0..%d", id, maxIdx)
	return nil
}

func TestSem(t *testing.T) {
	r, _, e := unix.Syscall(unix.SYS_SEMGET, unix.IPC_PRIVATE, 3, unix.IPC_CREAT|0o600)
	if e != 0 {
		t.Fatalf("semget: %v", e)
	}
	id := int(r)
	t.Cleanup(func() { unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), 0, unix.IPC_RMID, 0, 0, 0) })

	want := []uint16{1, 2, 300}
	if err := SemSetAll(id, want); err != nil {
		t.Fatalf("SemSetAll: %v", err)
	}
	got := make([]uint16, 3)
	if err := SemGetAll(id, got); err != nil {
		t.Fatalf("SemGetAll: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("values %v, want %v", got, want)
	}
	maxIdx, err := SemInfo()
	if err != nil {
		t.Fatalf("SemInfo: %v", err)
	}
	ds := byIndex(t, maxIdx, id, SemStat)
	if ds.Nsems != 3 || ds.Perm.Mode&0o777 != 0o600 || ds.Perm.Uid != uint32(os.Geteuid()) {
		t.Errorf("SemStat: %d semaphores, mode %o, uid %d", ds.Nsems, ds.Perm.Mode, ds.Perm.Uid)
	}
	ds.Perm.Mode = 0o640
	if err := SemSet(id, ds); err != nil {
		t.Fatalf("SemSet: %v", err)
	}
	if ds = byIndex(t, maxIdx, id, SemStat); ds.Perm.Mode&0o777 != 0o640 {
		t.Errorf("mode after SemSet: %o", ds.Perm.Mode)
	}
}

func TestMsg(t *testing.T) {
	r, _, e := unix.Syscall(unix.SYS_MSGGET, unix.IPC_PRIVATE, unix.IPC_CREAT|0o600, 0)
	if e != 0 {
		t.Fatalf("msgget: %v", e)
	}
	id := int(r)
	t.Cleanup(func() { unix.Syscall(unix.SYS_MSGCTL, uintptr(id), unix.IPC_RMID, 0) })

	msgs := []struct {
		mtype uint64
		text  string
	}{{7, "hello"}, {1 << 40, "w"}}
	for _, m := range msgs {
		if err := MsgSend(id, m.mtype, []byte(m.text)); err != nil {
			t.Fatalf("MsgSend: %v", err)
		}
	}
	buf := make([]byte, 8+64)
	for _, pass := range []string{"first", "second"} { // MSG_COPY leaves them queued
		for n, m := range msgs {
			l, err := MsgCopy(id, n, buf)
			if err != nil {
				t.Fatalf("%s MsgCopy %d: %v", pass, n, err)
			}
			if mtype := binary.LittleEndian.Uint64(buf); mtype != m.mtype || string(buf[8:8+l]) != m.text {
				t.Errorf("%s MsgCopy %d: type %d text %q, want %d %q", pass, n, mtype, buf[8:8+l], m.mtype, m.text)
			}
		}
	}
	maxIdx, err := MsgInfo()
	if err != nil {
		t.Fatalf("MsgInfo: %v", err)
	}
	ds := byIndex(t, maxIdx, id, MsgStat)
	if ds.Qnum != 2 || ds.Cbytes != 6 || ds.Lspid != int32(os.Getpid()) || ds.Perm.Mode&0o777 != 0o600 {
		t.Errorf("MsgStat: %d messages, %d bytes, last sender %d, mode %o", ds.Qnum, ds.Cbytes, ds.Lspid, ds.Perm.Mode)
	}
	ds.Qbytes = 1000
	ds.Perm.Mode = 0o640
	if err := MsgSet(id, ds); err != nil {
		t.Fatalf("MsgSet: %v", err)
	}
	if ds = byIndex(t, maxIdx, id, MsgStat); ds.Qbytes != 1000 || ds.Perm.Mode&0o777 != 0o640 {
		t.Errorf("after MsgSet: limit %d bytes, mode %o", ds.Qbytes, ds.Perm.Mode)
	}
}

func TestShm(t *testing.T) {
	const size = 5000
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatalf("shmget: %v", err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	maxIdx, err := ShmInfo()
	if err != nil {
		t.Fatalf("ShmInfo: %v", err)
	}
	if ds := byIndex(t, maxIdx, id, ShmStat); ds.Segsz != size {
		t.Errorf("ShmStat: %d bytes, want %d", ds.Segsz, size)
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		t.Fatalf("shmat: %v", err)
	}
	defer unix.SysvShmDetach(mem)
	whole := WholePages(mem)
	if pg := os.Getpagesize(); len(whole) != (size+pg-1)/pg*pg || &whole[0] != &mem[0] {
		t.Fatalf("WholePages: %d bytes at %p, segment at %p", len(whole), &whole[0], &mem[0])
	}
	whole[len(whole)-1] = 1 // the rounded-up tail is mapped
	if len(WholePages(nil)) != 0 {
		t.Error("WholePages(nil) not empty")
	}
}
