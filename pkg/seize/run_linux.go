package seize

import (
	"context"
	"fmt"

	"github.com/criugo/criugo/images"
	"github.com/criugo/criugo/internal/fault"
)

// Run freezes the tree opts names and writes inventory.img, pstree.img and
// freeze.img to opts.Dir or, as a stream, to opts.Stdout; or, with
// opts.Thaw, reads a freeze record from opts.Dir or opts.Stdin and undoes
// that freeze. When Run fails after freezing, it undoes the freeze before
// it returns, and the error says so.
//
// A program that calls Run with its standard output as opts.Stdout should
// ignore SIGPIPE, so that a reader going away is an error Run can undo the
// freeze on, not the death of the program with the tree left stopped.
func Run(ctx context.Context, opts Options) (err error) {
	if opts.Thaw {
		return runThaw(opts)
	}
	if opts.Dir == "" && opts.Stdout == nil {
		return fmt.Errorf("seize: no -D and no standard output: %w", ErrBadOptions)
	}
	if err := fault.Check(); err != nil {
		return fmt.Errorf("seize: %w", err)
	}
	res, err := Freeze(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = undone(err, Thaw(res.Record))
		}
	}()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("seize pid %d: %w", res.Tree.Root, err)
	}
	if err := fault.At("seize:after-freeze"); err != nil {
		return fmt.Errorf("seize pid %d: %w", res.Tree.Root, err)
	}
	if opts.Dir != "" {
		return res.WriteDir(opts.Dir)
	}
	return res.WriteStream(opts.Stdout)
}

// Freeze freezes the tree opts names (Pid, FreezeCgroup, Timeout) and
// describes it. On success the tree stays frozen after Freeze returns and
// after the program exits: write the result, or call Thaw(res.Record). On
// failure nothing stays frozen.
func Freeze(ctx context.Context, opts Options) (res *Result, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		tree      *Tree
		method    = images.CriugoFreezeMethod_CRIUGO_FREEZE_PTRACE_STOP
		cgroupDir string
		wasFrozen bool
	)
	// Freezing is timed for stats-dump; a clock that cannot be read
	// leaves the times out of the record and fails nothing.
	bootID := readBootID()
	began, clockErr := monotonic()
	switch {
	case opts.FreezeCgroup != "":
		var c *cgroupFreezer
		tree, c, wasFrozen, err = freezeCgroup(ctx, opts.FreezeCgroup, opts.Pid, opts.timeout())
		if err != nil {
			return nil, err
		}
		method, cgroupDir = c.method(), c.dir
	case opts.Pid != 0:
		if tree, err = freezePtrace(ctx, opts.Pid, opts.timeout()); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("seize: no pid and no cgroup to freeze: %w", ErrBadOptions)
	}
	ended, err := monotonic()
	if err != nil {
		clockErr = err
	}
	res, err = newResult(tree, method, cgroupDir, wasFrozen)
	if err != nil {
		rec := tree.Record(method, cgroupDir, wasFrozen, "")
		return nil, undone(err, Thaw(rec))
	}
	if clockErr == nil {
		stampTimes(res.Record, bootID, began, ended)
	}
	return res, nil
}

// runThaw reads the freeze record and undoes the freeze.
func runThaw(opts Options) error {
	if opts.Pid != 0 || opts.FreezeCgroup != "" {
		return fmt.Errorf("thaw: a pid or cgroup with --thaw: the record names them: %w", ErrBadOptions)
	}
	var (
		rec *images.CriugoFreezeEntry
		err error
	)
	switch {
	case opts.Dir != "":
		rec, err = ReadRecordDir(opts.Dir)
	case opts.Stdin != nil:
		rec, err = ReadRecordStream(opts.Stdin)
	default:
		return fmt.Errorf("thaw: no -D and no standard input: %w", ErrBadOptions)
	}
	if err != nil {
		return err
	}
	return Thaw(rec)
}
