// Package criucli is what `criu` does: CRIU's commands (dump, pre-dump,
// restore, check, cpuinfo, dedup) and its swrk/service RPC, composed from
// the stages in one process, so that runc, Podman, go-criu and zdtm.py can
// drive criugo where they drive CRIU.
//
// # One process, no hand-off
//
// A dump freezes the tree once (seize.Freeze), encodes the seize images
// into memory and hands them to dump.Dump as its input stream, so nothing
// else can see or act on the freeze and the images directory gets no
// freeze.img. A restore is restore.Restore. Whatever fails leaves the tree
// as the stages leave it: running, and nothing half restored.
//
//	criu dump -t PID -D DIR      seize.Freeze ─ seize images (memory) ─> dump.Dump -D DIR
//	criu restore -D DIR [-d]     restore.Restore
//	criu swrk FD / service       one criu_req per SOCK_SEQPACKET packet, one criu_resp back
//
// # What runc's restore asks
//
// inherit_fd names criu's own fds (swrk's client started criu with them:
// runc gives the container's stdio pipes as fds 0-2) for the files of the
// images with those keys (restore.Options.InheritFds); rst_sibling makes
// the root a child of criu's parent, the client, so that it can wait for
// it. A standalone service has no such fds nor parent and refuses both,
// as CRIU's. evasive_devices is taken: CRIU reads it only on dump.
//
// For a container whose network namespace runc was given by path
// (Podman's network), runc's dump sends external "net[INODE]:extRootNetNS"
// (Externals.NetNs, dump.Options.ExternalNetNs: the namespace is recorded
// by its key, not dumped) and its restore an inherit_fd of that key with
// the namespace Podman made anew, which the restored tree is put into
// (restore.Options.InheritFds). Namespaces of other kinds given by path
// come as join_ns (restore.Options.JoinNs: net, uts, ipc).
//
// # Notifications
//
// With notify_scripts an RPC client gets a criu_resp{type: NOTIFY} at the
// points CRIU sends them and must answer each with criu_req{type: NOTIFY,
// notify_success: true}. The points come from inside the stages, in
// CRIU's order:
//
//	dump      pre-dump           before the freeze
//	          network-lock       the tree frozen, before its own network
//	                             namespace is locked (dump.Options.NetworkHook)
//	          post-dump          after the image set is written and synced,
//	                             the tree still frozen, as CRIU; a failed
//	                             reply fails the dump and the tree runs on
//	          network-unlock     before the lock comes off, when the tree runs on
//	restore   pre-restore        before anything is created
//	          setup-namespaces (pid), post-setup-namespaces
//	                             once every task exists (restore.Options.Hook)
//	          post-restore (pid) once every task is restored
//	          network-unlock     before a tree's own network namespace is unlocked
//	          pre-resume         right before the tree runs
//	          post-resume        once it runs
//
// A failed answer before the tree runs fails the restore and kills what
// was made; a failed post-resume is only reported, as CRIU's.
// network-lock and network-unlock come for a tree in a network namespace
// of its own only, as CRIU's; orphan-pts-master would pass a pty master
// for a tree whose terminal was outside it, which the restore refuses
// without shell_job.
//
// The --action-script programs run at the same points, after the RPC
// client's answer as CRIU's run_scripts (scripts.go).
//
// # Logs
//
// As CRIU's: a file named by -o (log_file) in the work directory (-W,
// work_dir_fd; by default the images directory), or standard error
// without one on the command line; lines "(SS.UUUUUU) text", kept up to
// the level (-v0 nothing but messages, 1 errors, 2 warnings, 3 info, 4
// debug); a dump ends with "Dumping finished successfully", a restore
// with "Restore finished successfully. Tasks resumed.", a failure with an
// "Error (criugo): ..." line.
package criucli
