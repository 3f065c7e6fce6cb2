package restore

import (
	"errors"
	"testing"
)

func TestImagePersonality(t *testing.T) {
	cases := []struct {
		in   uint32
		want uint64
		criu bool
		err  bool
	}{
		{0, 0, false, false},
		{0x8, 0x8, false, false},               // PER_LINUX32
		{0x60000, 0x60000, false, false},       // ADDR_NO_RANDOMIZE|UNAME26, as we write it
		{60000, 0x60000, true, false},          // the same, as CRIU 4.2 writes it
		{40000, 0x40000, true, false},          // setarch -R, CRIU's spelling
		{400000, 0x400000, true, false},        // READ_IMPLIES_EXEC, CRIU's spelling
		{0x0ffe0010, 0x0ffe0010, false, false}, // every flag, PER_HPUX
		{0xdead, 0, false, true},
		{0x11, 0, false, true}, // no persona 0x11; "17" is 0x17, no persona either
		{0xf0000000, 0, false, true},
	}
	for _, c := range cases {
		got, criu, err := imagePersonality(c.in)
		if c.err {
			if !errors.Is(err, ErrBadImage) {
				t.Errorf("%#x: %#x %v %v, want ErrBadImage", c.in, got, criu, err)
			}
			continue
		}
		if err != nil || got != c.want || criu != c.criu {
			t.Errorf("%#x: %#x %v %v, want %#x %v", c.in, got, criu, err, c.want, c.criu)
		}
	}
}
