package criucli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/criugo/criugo/pkg/dump"
	"github.com/criugo/criugo/pkg/restore"
	"github.com/criugo/criugo/pkg/seize"
)

// Dump is `criu dump`: it freezes the tree o.Pid roots, dumps it into the
// images directory and kills it, or with LeaveRunning lets it go on. The
// seize images pass to the dump in memory, so the tree is frozen once and
// the images directory holds no freeze record. On failure the tree runs
// on.
func Dump(ctx context.Context, o Options, l *Log) error {
	if err := dumpTree(ctx, o, l, false); err != nil {
		l.Errorf("%v", err)
		l.Errorf("Dumping FAILED.")
		return err
	}
	if o.DisplayStats {
		if err := displayStats(l, o.imagesDir(), "dump"); err != nil {
			l.Errorf("%v", err)
			return err
		}
	}
	l.Infof("Dumping finished successfully")
	return nil
}

// PreDump is `criu pre-dump`: the tree's memory only, for a later dump
// with --prev-images-dir; the tree runs on, its writes tracked.
func PreDump(ctx context.Context, o Options, l *Log) error {
	if err := dumpTree(ctx, o, l, true); err != nil {
		l.Errorf("%v", err)
		l.Errorf("Pre-dumping FAILED.")
		return err
	}
	if o.DisplayStats {
		if err := displayStats(l, o.imagesDir(), "dump"); err != nil {
			l.Errorf("%v", err)
			return err
		}
	}
	l.Infof("Pre-dumping finished successfully")
	return nil
}

func dumpTree(ctx context.Context, o Options, l *Log, pre bool) error {
	if o.Pid <= 0 && o.FreezeCgroup == "" {
		return fmt.Errorf("dump: no tree: -t PID is required: %w", ErrBadOptions)
	}
	o.initPid, o.log = o.Pid, l
	if o.Root != "" {
		// runc sends its rootfs with every request.
		l.Infof("--root %s is the restore's: a dump does not use it, as CRIU's", o.Root)
	}
	dir := o.imagesDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make images directory: %w", err)
	}
	if !pre {
		if err := o.notify("pre-dump", 0); err != nil {
			return fmt.Errorf("pre-dump notify: %w", err)
		}
	}
	l.Infof("Freezing tree %d", o.Pid)
	res, err := seize.Freeze(ctx, seize.Options{Pid: o.Pid, FreezeCgroup: o.FreezeCgroup, Timeout: o.Timeout})
	if err != nil {
		return err
	}
	var seized bytes.Buffer
	if err := res.WriteStream(&seized); err != nil {
		if terr := seize.Thaw(res.Record); terr != nil {
			err = errors.Join(err, fmt.Errorf("thaw: %w", terr))
		}
		return err
	}
	l.Infof("Frozen %d tasks; dumping into %s", len(res.Pstree), dir)
	// dump.Dump owns the freeze from here: on failure it undoes it.
	dumped, err := dump.Dump(ctx, dump.Options{
		Dir:            dir,
		Stdin:          &seized,
		LeaveRunning:   o.LeaveRunning || o.LeaveStopped,
		LeaveStopped:   o.LeaveStopped,
		FileLocks:      o.FileLocks,
		TCPEstablished: o.TCPEstablished,
		TCPClose:       o.TCPClose,
		SkipInFlight:   o.SkipInFlight,
		ExtUnixSk:      o.ExtUnixSk,
		ShellJob:       o.ShellJob,
		PreDump:        pre,
		PrevImagesDir:  o.PrevImagesDir,
		AutoDedup:      o.AutoDedup,
		TrackMem:       o.TrackMem,
		LinkRemap:      o.LinkRemap,
		GhostLimit:     o.GhostLimit,

		ManageCgroups:         o.ManageCgroups,
		CgroupRoots:           o.CgroupRoots,
		CgroupDumpControllers: o.CgroupDumpControllers,
		ExternalMounts:        o.ExtMounts,
		ExternalNetNs:         o.ExtNetNs,
		SkipMounts:            o.SkipMounts,
		EnableFs:              o.EnableFs,
		EmptyNetNs:            o.EmptyNetNs,
		NetworkLock:           o.NetworkLock,

		// For a tree in a network namespace of its own, as CRIU's.
		NetworkHook: func(action string) error {
			err := o.notify(action, 0)
			if err != nil && action == "network-unlock" {
				l.Errorf("%s: %v", action, err)
			}
			return err
		},
		// CRIU's post-dump comes with the tree still frozen.
		PostDump: func() error { return o.notify("post-dump", 0) },
		// The last guard before a kill, as criu-parasite's.
		Verify: func(dir string) error {
			return restore.Check(restore.Options{Dir: dir, ShellJob: o.ShellJob, TCPClose: o.TCPClose, EmptyNetNs: o.EmptyNetNs})
		},
	})
	if err != nil {
		return err
	}
	st := dumped.Stats
	l.Infof("Dumped in %v (frozen %v), %d pages written", st.Total, st.Frozen, st.PagesWritten)
	statsToWorkDir(&o, l, "stats-dump")
	return nil
}
