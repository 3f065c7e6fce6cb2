package errdefs_test

import (
	"testing"

	"github.com/criugo/criugo/internal/errdefs"
	"github.com/criugo/criugo/pkg/compel"
	"github.com/criugo/criugo/pkg/cpuinfo"
	"github.com/criugo/criugo/pkg/dump"
	"github.com/criugo/criugo/pkg/restore"
	"github.com/criugo/criugo/pkg/seize"
	"github.com/criugo/criugo/pkg/x86"
)

// Every stage's ErrNotSupported is the one sentinel: a caller tests one
// value whichever stage refused.
func TestOneErrNotSupported(t *testing.T) {
	for name, err := range map[string]error{
		"compel": compel.ErrNotSupported, "cpuinfo": cpuinfo.ErrNotSupported, "dump": dump.ErrNotSupported,
		"restore": restore.ErrNotSupported, "seize": seize.ErrNotSupported, "x86": x86.ErrNotSupported,
	} {
		if err != errdefs.ErrNotSupported {
			t.Errorf("%s.ErrNotSupported is its own error %q", name, err)
		}
	}
}
