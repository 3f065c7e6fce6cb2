package restore

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
)

func TestIDMapText(t *testing.T) {
	m := []*images.UidGidExtent{
		{First: proto.Uint32(0), LowerFirst: proto.Uint32(100000), Count: proto.Uint32(65536)},
		{First: proto.Uint32(65536), LowerFirst: proto.Uint32(7), Count: proto.Uint32(1)},
	}
	got, err := idMapText("uid_map", m)
	if want := "0 100000 65536\n65536 7 1\n"; err != nil || got != want {
		t.Errorf("idMapText: %q, %v; want %q", got, err, want)
	}
	long := make([]*images.UidGidExtent, 341)
	for i := range long {
		long[i] = m[1]
	}
	if _, err := idMapText("uid_map", long); !errors.Is(err, ErrBadImage) {
		t.Errorf("341 lines: %v, want ErrBadImage", err)
	}
}
