package criucli

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/restore"
)

// Restore is `criu restore`: it recreates the tree from the images
// directory. With Detach it returns once the tree runs, the root a child
// of this process; otherwise it waits for the root and returns its exit
// status as the result's ExitStatus. A notification answered with failure
// kills the restored tree.
func Restore(ctx context.Context, o Options, l *Log) (*restore.Result, error) {
	res, err := restoreTree(ctx, o, l)
	if err != nil {
		l.Errorf("%v", err)
		l.Errorf("Restoring FAILED.")
		return nil, err
	}
	if o.DisplayStats {
		// The tree runs: a missing stats image is only reported.
		if err := displayStats(l, o.imagesDir(), "restore"); err != nil {
			l.Warnf("%v", err)
		}
	}
	return res, nil
}

func restoreTree(ctx context.Context, o Options, l *Log) (*restore.Result, error) {
	o.log = l
	// Without Detach the tree runs and ends inside restore.Restore: the
	// notifications after the creation would come too late to mean
	// anything.
	if !o.Detach && (o.Notify != nil || len(o.ActionScripts) > 0) {
		return nil, fmt.Errorf("restore: notifications and --action-script need a detached restore (-d): %w", ErrBadOptions)
	}
	if err := o.notify("pre-restore", 0); err != nil {
		return nil, fmt.Errorf("pre-restore notify: %w", err)
	}
	ro := restore.Options{
		Dir:      o.imagesDir(),
		Detach:   o.Detach,
		ShellJob: o.ShellJob,
		TCPClose: o.TCPClose,
		PidFile:  o.inWorkDir(o.PidFile),
		Log:      l.Writer(LogDebug),
		Warn:     func(err error) { l.Warnf("%v", err) },

		ManageCgroups: o.ManageCgroups,
		CgroupRoots:   o.CgroupRoots,
		Root:          o.Root,
		ExtMounts:     o.ExtMounts,
		EmptyNetNs:    o.EmptyNetNs,
		External:      o.External,
	}
	if o.ShellJob {
		ro.Terminal = os.Stdin
	}
	if !o.Detach {
		res, err := restore.Restore(ctx, ro)
		if err != nil {
			return nil, err
		}
		l.Infof("Restore finished successfully. Tasks resumed.")
		return res, nil
	}
	res, err := restore.Restore(ctx, ro)
	if err != nil {
		return nil, err
	}
	for _, n := range []struct {
		script string
		pid    int
	}{
		{"setup-namespaces", res.Root},
		{"post-setup-namespaces", 0},
		{"post-restore", res.Root},
		{"pre-resume", 0},
	} {
		if err := o.notify(n.script, n.pid); err != nil {
			for _, p := range res.Pids {
				unix.Kill(p, unix.SIGKILL)
			}
			return nil, fmt.Errorf("%s notify: %w (restored tree killed)", n.script, err)
		}
	}
	l.Infof("Restore finished successfully. Tasks resumed.")
	if err := o.notify("post-resume", 0); err != nil {
		// CRIU only reports a failed post-resume: the tree runs.
		l.Errorf("post-resume notify: %v", err)
	}
	return res, nil
}
