package proc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseInts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int64
	}{
		{"4194304\n", []int64{4194304}},
		{"32000\t1024000000\t500\t32000\n", []int64{32000, 1024000000, 500, 32000}},
		{"18446744073692774399\n", []int64{-16777217}}, // shmmax: an unsigned long
		{"4294967295\n", []int64{4294967295}},          // loginuid unset
		{"", []int64{}},
	} {
		got, err := ParseInts(strings.NewReader(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseInts(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseInts(strings.NewReader("12 x\n")); !errors.Is(err, ErrSyntax) {
		t.Errorf("bad value: %v", err)
	}
	if _, err := ParseInts(strings.NewReader(strings.Repeat("1 ", 4096))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long file: %v", err)
	}
}

func TestParseTimensOffsets(t *testing.T) {
	got, err := ParseTimensOffsets(open(t, "timens_offsets.txt"))
	want := []TimensOffset{{Clock: "monotonic"}, {Clock: "boottime", Sec: 3600, Nsec: 500}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("timens_offsets: %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"monotonic 0\n", "boottime x 0\n"} {
		if _, err := ParseTimensOffsets(strings.NewReader(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParsePidfd(t *testing.T) {
	if pid, err := ParsePidfd(open(t, "fdinfo-pidfd.txt")); err != nil || pid != 4242 {
		t.Errorf("pidfd fdinfo: %d, %v; want 4242", pid, err)
	}
	if pid, err := ParsePidfd(strings.NewReader("pos:\t0\nPid:\t-1\n")); err != nil || pid != -1 {
		t.Errorf("pidfd of a process gone: %d, %v; want -1", pid, err)
	}
	if _, err := ParsePidfd(strings.NewReader("pos:\t0\n")); !errors.Is(err, ErrMissing) {
		t.Errorf("no Pid line: %v", err)
	}
	if _, err := ParsePidfd(strings.NewReader("Pid:\tx\n")); !errors.Is(err, ErrSyntax) {
		t.Errorf("bad Pid: %v", err)
	}
}

func TestParseComm(t *testing.T) {
	if got, err := ParseComm(strings.NewReader("a b\n")); err != nil || got != "a b" {
		t.Errorf("comm: %q, %v", got, err)
	}
	if _, err := ParseComm(strings.NewReader(strings.Repeat("x", 300))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long comm: %v", err)
	}
}

func TestParseBootID(t *testing.T) {
	const id = "0d3e5a6c-1f5e-4b7a-9c1e-2a3b4c5d6e7f"
	if got, err := ParseBootID(strings.NewReader(id + "\n")); err != nil || got != id {
		t.Errorf("boot_id: %q, %v", got, err)
	}
	if _, err := ParseBootID(strings.NewReader(strings.Repeat("x", 200))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long boot_id: %v", err)
	}
}
