package criucli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// ErrScript: an --action-script exited with failure.
var ErrScript = errors.New("action script failed")

// runScripts runs every --action-script at action point action, as
// CRIU's run_shell_scripts: each with CRTOOLS_SCRIPT_ACTION naming the
// point, CRTOOLS_IMAGE_DIR the images directory and, once the tree's root
// is known, CRTOOLS_INIT_PID its pid (kept for the points after); standard
// input /dev/null, output and errors into the log. The last script given
// runs first (CRIU adds each to the head of its list). All run; any
// failure fails the point.
func (o *Options) runScripts(action string, pid int) error {
	if len(o.ActionScripts) == 0 {
		return nil
	}
	if pid > 0 {
		o.initPid = pid
	}
	dir, err := filepath.Abs(o.imagesDir())
	if err != nil {
		return fmt.Errorf("action scripts: %w", err)
	}
	env := append(os.Environ(), "CRTOOLS_SCRIPT_ACTION="+action, "CRTOOLS_IMAGE_DIR="+dir)
	if o.initPid > 0 {
		env = append(env, "CRTOOLS_INIT_PID="+strconv.Itoa(o.initPid))
	}
	var errs []error
	for i := len(o.ActionScripts) - 1; i >= 0; i-- {
		path := o.ActionScripts[i]
		o.log.Debugf("Running %s script %s", action, path)
		cmd := exec.Command(path)
		cmd.Env = env
		cmd.Stdout = o.log.Writer(LogMsg)
		cmd.Stderr = cmd.Stdout
		if err := cmd.Run(); err != nil {
			errs = append(errs, fmt.Errorf("action script %s at %s: %w: %w", path, action, ErrScript, err))
		}
	}
	return errors.Join(errs...)
}
