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
// # Notifications
//
// With notify_scripts an RPC client gets a criu_resp{type: NOTIFY} at the
// points CRIU sends them and must answer each with criu_req{type: NOTIFY,
// notify_success: true}. The stages have no hooks inside them, so the
// points are the stage boundaries:
//
//	dump      pre-dump           before the freeze
//	          post-dump          after the image set is written and synced,
//	                             the tree still frozen, as CRIU; a failed
//	                             reply fails the dump and the tree runs on
//	restore   pre-restore        before anything is created
//	          setup-namespaces, post-setup-namespaces, post-restore (pid),
//	          pre-resume, post-resume
//	                             once restore.Restore returns, in CRIU's
//	                             order; the tree already runs, and a failed
//	                             answer kills it
//
// network-lock (before the lock, the tree frozen) and network-unlock
// (before the lock comes off, when the tree runs on) come from inside
// dump.Dump (dump.Options.NetworkHook), for a tree in a network namespace
// of its own only, as CRIU's; orphan-pts-master would pass a pty master for a tree whose terminal was
// outside it, which the restore refuses without shell_job.
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
