package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/criugo/criugo/pkg/criucli"
)

// setters copy each option's fields from one layer of options onto the
// layer below it. Over RPC, options come in layers (CRIU's order): swrk's
// command line and configuration files under the request's fields, and
// the configuration file the request names over them; a layer sets only
// the options it names.
var setters = map[string]func(dst, src *criucli.Options){
	"tree":             func(d, s *criucli.Options) { d.Pid = s.Pid },
	"images-dir":       func(d, s *criucli.Options) { d.ImagesDir = s.ImagesDir },
	"images-dir-fd":    func(d, s *criucli.Options) { d.ImagesDir = s.ImagesDir },
	"work-dir":         func(d, s *criucli.Options) { d.WorkDir = s.WorkDir },
	"log-file":         func(d, s *criucli.Options) { d.LogFile = s.LogFile },
	"verbosity":        func(d, s *criucli.Options) { d.LogLevel = s.LogLevel },
	"leave-running":    func(d, s *criucli.Options) { d.LeaveRunning = s.LeaveRunning },
	"leave-stopped":    func(d, s *criucli.Options) { d.LeaveStopped = s.LeaveStopped },
	"tcp-established":  func(d, s *criucli.Options) { d.TCPEstablished = s.TCPEstablished },
	"tcp-close":        func(d, s *criucli.Options) { d.TCPClose = s.TCPClose },
	"skip-in-flight":   func(d, s *criucli.Options) { d.SkipInFlight = s.SkipInFlight },
	"ext-unix-sk":      func(d, s *criucli.Options) { d.ExtUnixSk = s.ExtUnixSk },
	"shell-job":        func(d, s *criucli.Options) { d.ShellJob = s.ShellJob },
	"file-locks":       func(d, s *criucli.Options) { d.FileLocks = s.FileLocks },
	"link-remap":       func(d, s *criucli.Options) { d.LinkRemap = s.LinkRemap },
	"ghost-limit":      func(d, s *criucli.Options) { d.GhostLimit = s.GhostLimit },
	"prev-images-dir":  func(d, s *criucli.Options) { d.PrevImagesDir = s.PrevImagesDir },
	"track-mem":        func(d, s *criucli.Options) { d.TrackMem = s.TrackMem },
	"auto-dedup":       func(d, s *criucli.Options) { d.AutoDedup = s.AutoDedup },
	"pidfile":          func(d, s *criucli.Options) { d.PidFile = s.PidFile },
	"restore-detached": func(d, s *criucli.Options) { d.Detach = s.Detach },
	"daemon":           func(d, s *criucli.Options) { d.Detach = s.Detach },
	"restore-sibling":  func(d, s *criucli.Options) { d.Sibling = s.Sibling },
	"evasive-devices":  func(d, s *criucli.Options) { d.EvasiveDevices = s.EvasiveDevices },
	"freeze-cgroup":    func(d, s *criucli.Options) { d.FreezeCgroup = s.FreezeCgroup },
	"timeout":          func(d, s *criucli.Options) { d.Timeout = s.Timeout },
	"display-stats":    func(d, s *criucli.Options) { d.DisplayStats = s.DisplayStats },
	"manage-cgroups":   func(d, s *criucli.Options) { d.ManageCgroups = s.ManageCgroups },
	"root":             func(d, s *criucli.Options) { d.Root = s.Root },
	"empty-ns":         func(d, s *criucli.Options) { d.EmptyNetNs = s.EmptyNetNs },
	"network-lock":     func(d, s *criucli.Options) { d.NetworkLock = s.NetworkLock },
	"weak-sysctls":     func(d, s *criucli.Options) { d.WeakSysctls = s.WeakSysctls },
	// Lists add to what is below, as CRIU's.
	"cgroup-root": func(d, s *criucli.Options) { d.CgroupRoots = append(d.CgroupRoots, s.CgroupRoots...) },
	"cgroup-dump-controller": func(d, s *criucli.Options) {
		d.CgroupDumpControllers = append(d.CgroupDumpControllers, s.CgroupDumpControllers...)
	},
	"action-script": func(d, s *criucli.Options) { d.ActionScripts = append(d.ActionScripts, s.ActionScripts...) },
	"inherit-fd":    func(d, s *criucli.Options) { d.InheritFds = append(d.InheritFds, s.InheritFds...) },
	"join-ns":       func(d, s *criucli.Options) { d.JoinNs = append(d.JoinNs, s.JoinNs...) },
	"skip-mnt":      func(d, s *criucli.Options) { d.SkipMounts = append(d.SkipMounts, s.SkipMounts...) },
	"enable-fs":     func(d, s *criucli.Options) { d.EnableFs = append(d.EnableFs, s.EnableFs...) },
	"external":      mergeExternal,
	"ext-mount-map": mergeExternal,
	"veth-pair":     mergeExternal,
}

func mergeExternal(d, s *criucli.Options) {
	if d.ExtMounts == nil && len(s.ExtMounts) > 0 {
		d.ExtMounts = map[string]string{}
	}
	maps.Copy(d.ExtMounts, s.ExtMounts)
	if d.ExtNetNs == nil && len(s.ExtNetNs) > 0 {
		d.ExtNetNs = map[uint64]string{}
	}
	maps.Copy(d.ExtNetNs, s.ExtNetNs)
	for _, n := range s.External {
		if !slices.Contains(d.External, n) {
			d.External = append(d.External, n)
		}
	}
}

// layer parses words (options only, as a configuration file's) for
// command cmd and returns a function that sets what they name onto
// options below. A refused option is an error naming it.
func layer(cmd string, words []string) (func(*criucli.Options), error) {
	args := append(append([]string{"criu"}, words...), cmd)
	args, _, err := normalizeFrom(args, 1+len(words))
	if err != nil {
		return nil, err
	}
	var src criucli.Options
	var named []string
	action := func(c *cli.Context) error {
		if err := refusedSet(c); err != nil {
			return err
		}
		var err error
		if src, err = optionsOf(c, io.Discard); err != nil {
			return err
		}
		for _, o := range options {
			if c.IsSet(o.name) {
				named = append(named, o.name)
			}
		}
		return nil
	}
	app := &cli.App{
		Name: "criu", DisableSliceFlagSeparator: true, Writer: io.Discard, ErrWriter: io.Discard,
		Commands: []*cli.Command{{Name: cmd, Flags: flags(), Action: action}},
	}
	if err := app.Run(args); err != nil {
		return nil, err
	}
	// --no-NAME leaves no NAME behind (normalize drops it) but sets it.
	for _, w := range words {
		if n, ok := strings.CutPrefix(w, "--no-"); ok && negatable[n] {
			named = append(named, n)
		}
	}
	return func(dst *criucli.Options) {
		for _, n := range named {
			if set, ok := setters[n]; ok {
				set(dst, &src)
			}
		}
	}, nil
}

// rpcConfig is criucli.Config for criu swrk (defaults from its command
// line) and criu service.
func rpcConfig(c *cli.Context) (criucli.Config, error) {
	var cfg criucli.Config
	cfg.File = func(o *criucli.Options, path, cmd string) error {
		words, err := readConfig(path)
		if err != nil {
			return err
		}
		set, err := layer(cmd, words)
		if err != nil {
			return fmt.Errorf("configuration file %s: %w", path, err)
		}
		set(o)
		return nil
	}
	if c == nil {
		return cfg, nil
	}
	if err := refusedSet(c); err != nil {
		return cfg, err
	}
	base, err := optionsOf(c, io.Discard)
	if err != nil {
		return cfg, err
	}
	// Open files (--inherit-fd, --join-ns) are each request's own.
	cfg.Defaults = func(o *criucli.Options) { *o = base; o.InheritFds, o.JoinNs = nil, nil }
	return cfg, nil
}
