package netns

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/images"
)

// TestWeakSysctls: a sysctl of the images this kernel has not (here the
// conf of a link that does not exist) fails the write, naming it, unless
// weak (CRIU's --weak-sysctls) skips it. Nothing is written: the sysctl
// does not exist.
func TestWeakSysctls(t *testing.T) {
	conf4 := []*images.SysctlEntry{{Type: images.SysctlType_CTL_32.Enum(), Iarg: proto.Int32(1)}}
	const link = "criugo-nolink0"
	err := WriteConf(link, conf4, nil, false)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), link+"/"+Devconfs4[0]) || !strings.Contains(err.Error(), "--weak-sysctls") {
		t.Errorf("strict: %v, want an error naming the sysctl and --weak-sysctls", err)
	}
	if err := WriteConf(link, conf4, nil, true); err != nil {
		t.Errorf("weak: %v", err)
	}
	// An entry without a value is no request, strict or weak.
	if err := WriteConf(link, []*images.SysctlEntry{{Type: images.SysctlType_CTL_32.Enum()}}, nil, false); err != nil {
		t.Errorf("no value: %v", err)
	}
}
