package proc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseIDMap(t *testing.T) {
	// The kernel pads the columns to 10 characters.
	in := "         0     100000      65536\n     65536          7          1\n"
	got, err := ParseIDMap(strings.NewReader(in))
	want := []IDExtent{{First: 0, Lower: 100000, Count: 65536}, {First: 65536, Lower: 7, Count: 1}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("id map: %+v, %v; want %+v", got, err, want)
	}
	if got, err := ParseIDMap(strings.NewReader("")); err != nil || len(got) != 0 {
		t.Errorf("empty map: %+v, %v", got, err)
	}
	for _, bad := range []string{"0 100000\n", "0 x 1\n", "0 1 4294967296\n"} {
		if _, err := ParseIDMap(strings.NewReader(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseSetgroups(t *testing.T) {
	for in, want := range map[string]bool{"allow\n": true, "deny\n": false} {
		if got, err := ParseSetgroups(strings.NewReader(in)); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseSetgroups(strings.NewReader("maybe\n")); !errors.Is(err, ErrSyntax) {
		t.Errorf("maybe: %v", err)
	}
}
