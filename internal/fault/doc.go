// Package fault makes a stage fail on demand at a named point, as CRIU's
// --fault does, so that tests can walk every failure path a user may hit
// and check its promise: a failed dump leaves the tree running, a failed
// restore leaves nothing of the tree alive.
//
// The points are named in the environment variable CRIUGO_FAULT, comma
// separated. At a named point the stage returns an error that wraps
// ErrInjected and goes down its ordinary failure path:
//
//	seize:after-freeze      criu-seize, the tree frozen, before its images
//	dump:after-attach       criu-parasite, every thread attached
//	dump:mid-pages          criu-parasite, half of the first task's pages written
//	dump:before-kill        criu-parasite, the images written and synced
//	restore:after-forks     criu-restore, every task created
//	restore:after-memory    criu-restore, the first task's memory in
//	restore:after-files     criu-restore, the first task's files in
//	restore:before-release  criu-restore, every task final, none let go
//
// Nothing else reads CRIUGO_FAULT; unset, At costs one map lookup.
package fault
