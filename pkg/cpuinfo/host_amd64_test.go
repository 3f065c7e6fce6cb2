package cpuinfo

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/criugo/criugo/pkg/x86"
)

func init() { hostCPUID = x86.CPUID }

func TestHostCopies(t *testing.T) {
	a, err := Host()
	if err != nil {
		t.Fatal(err)
	}
	a.Capability[0] = 0
	b, _ := Host()
	if proto.Equal(a, b) {
		t.Error("Host hands out its cached entry")
	}
}

func TestErrCPUFeatureIsX86s(t *testing.T) {
	if ErrCPUFeature != x86.ErrCPUFeature {
		t.Error("a failed check does not match x86.ErrCPUFeature")
	}
}
