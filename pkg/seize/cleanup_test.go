package seize

import (
	"errors"
	"slices"
	"testing"
)

func TestCleanupsRunInReverse(t *testing.T) {
	var c cleanups
	var got []int
	e2 := errors.New("two failed")
	c.Add(func() error { got = append(got, 1); return nil })
	c.Add(func() error { got = append(got, 2); return e2 })
	c.Add(func() error { got = append(got, 3); return nil })
	err := c.Run()
	if !slices.Equal(got, []int{3, 2, 1}) {
		t.Errorf("ran %v, want 3 2 1 (a failure must not stop the rest)", got)
	}
	if !errors.Is(err, e2) {
		t.Errorf("error %v, want the failed step's", err)
	}
	if c.Len() != 0 || c.Run() != nil {
		t.Error("steps left after Run")
	}
}

func TestCleanupsRelease(t *testing.T) {
	var c cleanups
	ran := false
	c.Add(func() error { ran = true; return nil })
	c.Release()
	if err := c.Run(); err != nil || ran {
		t.Errorf("released step ran (err %v)", err)
	}
}

func TestUndoneSaysWhatHappened(t *testing.T) {
	base := ErrTimeout
	if err := undone(base, nil); !errors.Is(err, ErrTimeout) || err.Error() != "timed out (freeze undone, tree left as found)" {
		t.Errorf("undone(ok): %v", err)
	}
	u := errors.New("thaw failed")
	if err := undone(base, u); !errors.Is(err, u) || !errors.Is(err, ErrTimeout) {
		t.Errorf("undone(fail): %v", err)
	}
}
