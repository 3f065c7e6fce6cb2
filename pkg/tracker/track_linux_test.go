package tracker

import (
	"net"
	"path/filepath"
	"slices"
	"testing"

	"github.com/criugo/criugo/pkg/proc"
)

func TestIntersect(t *testing.T) {
	sp := func(s, e uint64) proc.Span { return proc.Span{Start: s, End: e} }
	for _, tc := range []struct {
		a, b, want []proc.Span
	}{
		{nil, []proc.Span{sp(0, 10)}, nil},
		{[]proc.Span{sp(0, 10)}, []proc.Span{sp(0, 10)}, []proc.Span{sp(0, 10)}},
		{[]proc.Span{sp(0, 10), sp(20, 30)}, []proc.Span{sp(5, 25)}, []proc.Span{sp(5, 10), sp(20, 25)}},
		{[]proc.Span{sp(0, 10)}, []proc.Span{sp(10, 20)}, nil},
		{[]proc.Span{sp(0, 100)}, []proc.Span{sp(1, 2), sp(3, 4)}, []proc.Span{sp(1, 2), sp(3, 4)}},
	} {
		if got := Intersect(tc.a, tc.b); !slices.Equal(got, tc.want) {
			t.Errorf("Intersect(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestTakeNoHolder: no holder serves the directory: no tracking, no error.
func TestTakeNoHolder(t *testing.T) {
	tt, err := Take(t.TempDir())
	if err != nil || tt != nil {
		t.Fatalf("Take of a directory without a holder: %v, %v; want nil, nil", tt, err)
	}
	// A nil Taken does nothing.
	if tk := tt.Adopt(1); tk != nil {
		t.Errorf("Adopt from nil: %v", tk)
	}
	if err := tt.Release(); err != nil {
		t.Errorf("Release of nil: %v", err)
	}
	tt.Close()
}

// TestTakeHolderGone: a holder on its way out (it has handed its trackers
// over, or its tasks are gone) may still complete a connect and then
// close it unanswered: that is no tracking, not an error. A holder that
// answers with garbage is an error.
func TestTakeHolderGone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		send    []byte
		wantErr bool
	}{
		{"closed", nil, false},
		{"garbage", []byte("not json"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: filepath.Join(dir, Socket), Net: "unixpacket"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := l.AcceptUnix()
				if err != nil {
					return
				}
				if tc.send != nil {
					c.Write(tc.send)
				}
				c.Close()
			}()
			tt, err := Take(dir)
			if (err != nil) != tc.wantErr || tt != nil {
				t.Fatalf("Take from a holder that %s: %v, %v; want error %v", tc.name, tt, err, tc.wantErr)
			}
		})
	}
}
