package cleanup

import (
	"errors"
	"slices"
	"testing"
)

func TestCleanReverseOrder(t *testing.T) {
	var got []int
	push := func(i int) func() error {
		return func() error { got = append(got, i); return nil }
	}
	cu := Make(push(1))
	cu.Add(push(2))
	cu.Add(push(3))
	if cu.Len() != 3 {
		t.Fatalf("Len = %d, want 3", cu.Len())
	}
	if err := cu.Clean(); err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	// Emptied: a second Clean runs nothing.
	if err := cu.Clean(); err != nil || len(got) != 3 {
		t.Fatalf("second Clean: %v, ran %v", err, got)
	}
}

func TestCleanRunsAllAndJoinsErrors(t *testing.T) {
	e1, e3 := errors.New("one"), errors.New("three")
	ran := 0
	var cu Cleanup
	cu.Add(func() error { ran++; return e1 })
	cu.Add(func() error { ran++; return nil })
	cu.Add(func() error { ran++; return e3 })
	err := cu.Clean()
	if ran != 3 {
		t.Fatalf("ran %d undos, want 3", ran)
	}
	if !errors.Is(err, e1) || !errors.Is(err, e3) {
		t.Fatalf("Clean = %v, want both errors", err)
	}
}

func TestRelease(t *testing.T) {
	ran := false
	cu := Make(func() error { ran = true; return nil })
	cu.Release()
	if err := cu.Clean(); err != nil || ran {
		t.Fatalf("after Release: Clean = %v, ran = %v", err, ran)
	}
	// The stack is usable again after Release.
	cu.Add(func() error { ran = true; return nil })
	if err := cu.Clean(); err != nil || !ran {
		t.Fatalf("after Release and Add: Clean = %v, ran = %v", err, ran)
	}
}

func TestZeroValue(t *testing.T) {
	var cu Cleanup
	if err := cu.Clean(); err != nil {
		t.Fatal(err)
	}
	cu.Release()
}
