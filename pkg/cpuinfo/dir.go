package cpuinfo

import (
	"fmt"
	"path/filepath"

	"github.com/criugo/criugo/images"
)

// CheckHost checks an image's CPU against this one (see Check).
func CheckHost(img *images.CpuinfoX86Entry, c Caps) error {
	if c&CapAll == 0 {
		return nil
	}
	h, err := Host()
	if err != nil {
		return err
	}
	return Check(img, h, c)
}

// DumpDir writes this CPU's description as dir's cpuinfo.img, a new file,
// as `criu cpuinfo dump -D dir` does.
func DumpDir(dir string) error {
	h, err := Host()
	if err != nil {
		return fmt.Errorf("cpuinfo dump: %w", err)
	}
	if err := WriteDir(dir, h); err != nil {
		return fmt.Errorf("cpuinfo dump: %w", err)
	}
	return nil
}

// CheckDir checks dir's cpuinfo.img against this CPU as `criu cpuinfo
// check -D dir` does: with the checks of c, or all of them when c is
// none.
func CheckDir(dir string, c Caps) error {
	if c&CapAll == 0 {
		c = CapAll
	}
	e, err := ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cpuinfo check: %w", err)
	}
	if err := CheckHost(e, c); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	return nil
}
