package cgroup

import (
	"strconv"
	"strings"
)

// v1Props are CRIU 4.2's built-in properties of each v1 controller, in
// the order they are written back (memory.limit_in_bytes before
// memory.memsw.limit_in_bytes, which may not exceed it).
var v1Props = map[string][]string{
	"cpu":        {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.rt_period_us", "cpu.rt_runtime_us"},
	"memory":     {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.soft_limit_in_bytes", "memory.move_charge_at_immigrate", "memory.oom_control", "memory.use_hierarchy", "memory.kmem.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes"},
	"cpuset":     {"cpuset.cpus", "cpuset.mems", "cpuset.memory_migrate", "cpuset.cpu_exclusive", "cpuset.mem_exclusive", "cpuset.mem_hardwall", "cpuset.memory_spread_page", "cpuset.memory_spread_slab", "cpuset.sched_load_balance", "cpuset.sched_relax_domain_level"},
	"blkio":      {"blkio.weight"},
	"freezer":    {},
	"perf_event": {},
	"net_cls":    {"net_cls.classid"},
	"net_prio":   {"net_prio.ifpriomap"},
	"pids":       {"pids.max"},
	"devices":    {"devices.list"},
}

// v2Props are the limits kept of each controller a v2 directory has
// (its cgroup.controllers), beyond CRIU 4.2's list (which has none).
var v2Props = map[string][]string{
	"cpuset": {"cpuset.cpus", "cpuset.mems"},
	"cpu":    {"cpu.weight", "cpu.max"},
	"io":     {"io.weight", "io.max"},
	"memory": {"memory.min", "memory.low", "memory.high", "memory.max", "memory.swap.max"},
	"pids":   {"pids.max"},
}

// v2Order is the order of v2Props' controllers.
var v2Order = []string{"cpuset", "cpu", "io", "memory", "pids"}

var (
	globalV1 = []string{"cgroup.clone_children", "notify_on_release", "cgroup.procs", "tasks"}
	globalV2 = []string{"cgroup.subtree_control", "cgroup.max.descendants", "cgroup.max.depth", "cgroup.freeze", "cgroup.type"}
)

// IsV2 says whether cnames names the v2 unified hierarchy (CRIU's
// controller "").
func IsV2(cnames []string) bool { return len(cnames) == 1 && cnames[0] == "" }

// PropNames lists the properties to dump of a directory of the hierarchy
// cnames, in order: each controller's, then the global ones. enabled is
// the directory's cgroup.controllers, for v2.
func PropNames(cnames []string, enabled []string) []string {
	var out []string
	if IsV2(cnames) {
		for _, c := range v2Order {
			for _, e := range enabled {
				if e == c {
					out = append(out, v2Props[c]...)
				}
			}
		}
		return append(out, globalV2...)
	}
	for _, c := range cnames {
		out = append(out, v1Props[c]...)
	}
	return append(out, globalV1...)
}

// specialProps are written as soon as a directory is made, before any
// task or child cgroup enters it (the kernel refuses some of them later).
var specialProps = map[string]bool{
	"cpuset.cpus": true, "cpuset.mems": true, "devices.list": true,
	"memory.kmem.limit_in_bytes": true, "memory.swappiness": true,
	"memory.oom_control": true, "memory.use_hierarchy": true, "cgroup.type": true,
}

// IsSpecial says whether property name is written when its directory is
// made rather than once the tasks are in.
func IsSpecial(name string) bool { return specialProps[name] }

// NoValue says whether only the permissions of property name are kept.
func NoValue(name string) bool { return name == "cgroup.procs" || name == "tasks" }

// DumpValue turns the text of a property file into the value CRIU
// records: one trailing newline dropped, LLONG_MAX written -1, and
// memory.oom_control's oom_kill_disable flag alone.
func DumpValue(name, text string) (string, bool) {
	if len(text) > 1023 {
		text = text[:1023] // CRIU reads up to 1023 bytes
	}
	if name == "memory.oom_control" {
		for _, l := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(l, "oom_kill_disable "); ok {
				return strings.TrimSpace(v), true
			}
		}
		return "", false
	}
	if saturates(text) {
		return "-1", true
	}
	return strings.TrimSuffix(text, "\n"), true
}

// SkipWrite says whether the restore leaves property p alone although
// the image has it: the two task lists, a cgroup.type other than
// "threaded", and v1 memory settings at their defaults (as CRIU).
func SkipWrite(name, value string) bool {
	switch name {
	case "cgroup.procs", "tasks":
		return true
	case "cgroup.type":
		return value != "threaded"
	case "memory.swappiness":
		return value == "60"
	case "memory.oom_control":
		return value == "0"
	}
	return false
}

// saturates says whether text starts with a number strtoll(3) reads as
// LLONG_MAX (that number or a larger one).
func saturates(text string) bool {
	t := strings.TrimLeft(text, " \t\n")
	t = strings.TrimPrefix(t, "+")
	end := 0
	for end < len(t) && t[end] >= '0' && t[end] <= '9' {
		end++
	}
	if end == 0 {
		return false
	}
	n, err := strconv.ParseInt(t[:end], 10, 64)
	return err != nil || n == 1<<63-1
}
