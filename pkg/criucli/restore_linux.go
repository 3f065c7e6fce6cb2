package criucli

import (
	"context"
	"fmt"
	"os"

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
	if err := o.notify("pre-restore", 0); err != nil {
		return nil, fmt.Errorf("pre-restore notify: %w", err)
	}
	ro := restore.Options{
		Dir:      o.imagesDir(),
		Detach:   o.Detach,
		Sibling:  o.Sibling,
		ShellJob: o.ShellJob,
		TCPClose: o.TCPClose,

		LeaveStopped: o.LeaveStopped,
		PidFile:      o.inWorkDir(o.PidFile),
		Log:          l.Writer(LogDebug),
		Warn:         func(err error) { l.Warnf("%v", err) },

		ManageCgroups: o.ManageCgroups,
		CgroupRoots:   o.CgroupRoots,
		Root:          o.Root,
		ExtMounts:     o.ExtMounts,
		EmptyNetNs:    o.EmptyNetNs,
		WeakSysctls:   o.WeakSysctls,
		External:      o.External,
		// The rest of CRIU's points come from inside the restore: all
		// but post-resume before the tree runs, and a failure there
		// kills what was made.
		// (post-resume's failure is only reported, through Warn).
		Hook:       o.notify,
		InheritFds: o.InheritFds,
		JoinNs:     o.JoinNs,
	}
	for _, in := range o.InheritFds {
		l.Infof("File %s will be restored from inherit %s", in.Key, in.File.Name())
	}
	for _, j := range o.JoinNs {
		l.Infof("Added %s:%s join namespace", j.Kind, j.File.Name())
	}
	if o.ShellJob {
		ro.Terminal = os.Stdin
	}
	res, err := restore.Restore(ctx, ro)
	if err != nil {
		return nil, err
	}
	statsToWorkDir(&o, l, "stats-restore")
	l.Infof("Restore finished successfully. Tasks resumed.")
	return res, nil
}
