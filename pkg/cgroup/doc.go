// Package cgroup holds what the dump and the restore share about cgroups,
// in CRIU's terms: the --manage-cgroups modes, the properties kept of each
// controller, the set of cgroups a task lives in (one member per
// hierarchy, from /proc/PID/cgroup), --cgroup-root rewriting, and a
// private mount of a hierarchy to read and write it through.
//
// # cgroup.img
//
//	cgroup_entry
//	├── sets[]         cg_set_entry: id (2, 3, ...; 1 is the dumping tool's
//	│   │              own set, inventory.img's root_cg_set, never written)
//	│   └── ctls[]     cg_member_entry: hierarchy name ("cpu,cpuacct",
//	│                  "name=systemd", "" for v2), path from the hierarchy's
//	│                  root, cgns_prefix: how much of path lies outside the
//	│                  task's cgroup namespace
//	└── controllers[]  cg_controller_entry: cnames (one hierarchy), dirs:
//	    │              the trees below each cgroup a set names
//	    └── dirs[]     cgroup_dir_entry: dir_name (the head's path without
//	                   its leading "/", a child's own name), perms,
//	                   properties (name, value, perms), children
//
// Each thread's core names its set (thread_core cg_set). A tree whose
// every task is in the dumping tool's own set gets no cgroup.img, as with
// CRIU: the restore then leaves every task in criu-restore's cgroups.
//
// # Properties
//
// v1 hierarchies keep CRIU 4.2's built-in list per controller (Props)
// and the global ones (cgroup.clone_children, notify_on_release, the
// permissions of cgroup.procs and tasks); the v2 hierarchy keeps CRIU's
// global v2 ones (cgroup.subtree_control, cgroup.max.descendants,
// cgroup.max.depth, cgroup.freeze, cgroup.type) and, beyond CRIU 4.2,
// the limits of the controllers the directory has (cgroup.controllers):
// cpu.weight, cpu.max, memory.min/low/high/max/swap.max, pids.max,
// cpuset.cpus/mems, io.weight, io.max. CRIU's restore writes whatever
// properties an image holds, so it restores these too.
//
// # Modes
//
// What the restore does with each cgroup directory of the image:
//
//	mode    missing dir              existing dir
//	none    refuse                   use it; no properties, no perms
//	props   refuse                   use it; set properties and perms
//	soft    create, set properties   use it; perms only (the default)
//	full    create, set properties   use it; set properties and perms
//	strict  create, set properties   refuse
//	ignore  nothing: tasks stay in criu-restore's cgroups; the dump
//	        then records the sets but no directories
package cgroup
