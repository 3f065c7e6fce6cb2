package sysv

import (
	"testing"
	"unsafe"
)

// The kernel's sizes and offsets (the diagram in doc.go).
func TestLayouts(t *testing.T) {
	var s SemidDS
	var m MsqidDS
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof semid64_ds", unsafe.Sizeof(s), 104},
		{"sem_otime", unsafe.Offsetof(s.Otime), 48},
		{"sem_ctime", unsafe.Offsetof(s.Ctime), 64},
		{"sem_nsems", unsafe.Offsetof(s.Nsems), 80},
		{"sizeof msqid64_ds", unsafe.Sizeof(m), 120},
		{"msg_stime", unsafe.Offsetof(m.Stime), 48},
		{"msg_cbytes", unsafe.Offsetof(m.Cbytes), 72},
		{"msg_qnum", unsafe.Offsetof(m.Qnum), 80},
		{"msg_qbytes", unsafe.Offsetof(m.Qbytes), 88},
		{"msg_lspid", unsafe.Offsetof(m.Lspid), 96},
		{"msg_lrpid", unsafe.Offsetof(m.Lrpid), 100},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
}
