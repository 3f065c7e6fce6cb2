// Package pie holds criugo's freestanding code blobs and the protocol the
// tracer speaks with them.
//
// The parasite (parasite.c, protocol.h, syscall.h) is x86_64 C with no
// libc, built by the Makefile with fixed flags into a flat,
// position-independent image, parasite.bin, that has no writable data and
// its entry point at offset 0. parasite_blob.go, generated with it, embeds
// the image and carries its symbol offsets. Both are committed; `make -C
// pie` rebuilds them byte for byte (a test checks it).
//
// pkg/compel maps the blob into a stopped task next to one slot per thread
// it runs on, and points the thread at it:
//
//	rip = blob + Parasite.Entry    rdi = control block    rsp = top of stack
//
//	area (one memfd mapping, shared by tracer and target)
//	+-------------+---------------------------+---------------------------+--
//	| parasite    | slot 0                    | slot 1                    |
//	| code        | control block | stack     | control block | stack     | ...
//	+-------------+---------------------------+---------------------------+--
//
// The control block is a fixed header and a data area (see [Ctl]):
//
//	0      4      8      12     16                    56        64
//	+------+------+------+------+---------------------+---------+--------------+
//	| req  | ack  | cmd  | ret  | args[5]             | dsize|0 | data[dsize]  |
//	+------+------+------+------+---------------------+---------+--------------+
//
// req and ack are shared futex words. The tracer writes cmd, args and any
// input into data, increments req and wakes it; the parasite, waiting on
// req, runs the command, writes ret (0 or -errno) and the output into data,
// stores req into ack and wakes ack, where the tracer waits:
//
//	tracer                                  parasite (in the target thread)
//	cmd, args, data <- input                futex_wait(req == seen)
//	req++ ; futex_wake(req)   ------------> runs cmd
//	futex_wait(ack != req)    <------------ ret, data <- output; ack = req; futex_wake(ack)
//
// The same blob holds the restore's batch runner (batch.c, entry
// [BatchEntry]), which pkg/restore copies into a task's scratch area: rdi
// points at a [Batch] header and its [BatchCall]s, which the runner makes
// in order, an argument taken from an earlier call's result where Ref
// says so, stopping at the first failure; it then sends its thread
// SIGSTOP, which the tracer sees as a signal-delivery stop and discards:
//
//	0     4      8      16                                      88
//	+-----+------+------+----------------------------------------+--
//	|  n  | done | pad  | nr | args[6] | ref[6] flags pad | ret  | ...
//	+-----+------+------+----------------------------------------+--
//
// After CmdFini the parasite acknowledges and parks in a futex wait on ack
// forever; the tracer stops the thread with PTRACE_INTERRUPT and restores
// it. Ending with int3 instead would, with SIGTRAP blocked as all signals
// are, make the kernel reset the task's SIGTRAP handler to SIG_DFL.
package pie
