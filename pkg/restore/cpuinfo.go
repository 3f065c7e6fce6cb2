package restore

import (
	"errors"
	"fmt"

	"github.com/criugo/criugo/pkg/cpuinfo"
	"github.com/criugo/criugo/pkg/image"
)

// checkCPUInfo refuses an image set whose cpuinfo.img (written by a dump
// with --cpu-cap, CRIU's or ours) describes a CPU this one cannot stand in
// for, with CRIU's default restore check, fpu: the FPU bits, xsave
// features and xsave sizes. A set without cpuinfo.img passes; the threads'
// own FPU state is checked by planTask either way.
func (r *restorer) checkCPUInfo() error {
	img, err := r.set.lookup(cpuinfo.FileName)
	if err != nil || img == nil {
		return err
	}
	return checkCPUInfoImage(img)
}

func checkCPUInfoImage(img *image.Image) error {
	e, err := cpuinfo.FromImage(img)
	if err == nil {
		err = cpuinfo.CheckHost(e, cpuinfo.CapRestore)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cpuinfo.ErrBadImage):
		return fmt.Errorf("%s: %w: %w", cpuinfo.FileName, ErrBadImage, err)
	case errors.Is(err, cpuinfo.ErrNotSupported):
		return fmt.Errorf("%s: this CPU: %w: %w", cpuinfo.FileName, ErrNotSupported, err)
	}
	return fmt.Errorf("%s: %w", cpuinfo.FileName, err)
}
