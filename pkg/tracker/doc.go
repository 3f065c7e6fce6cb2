// Package tracker keeps the write tracking of a process tree between a
// pre-dump and the next dump: a userfaultfd per mm in asynchronous
// write-protect mode (UFFD_FEATURE_WP_ASYNC, WP_UNPOPULATED; pkg/uffd),
// and the holder process that keeps those fds alive in between.
//
// A Tracker is one task's userfaultfd, injected into the task (New),
// taken with pidfd_getfd and closed there again, with a pidfd naming the
// task it was made for. Protect registers and write-protects mappings;
// Unwritten then lists, through PAGEMAP_SCAN, the pages not written since.
//
// A uffd lives only as long as someone holds it. Spawn starts the holder:
// the running binary again (/proc/self/exe), in a session of its own, with
// the fds from the 4th on and its description in the environment; its
// main sees HolderMode and calls RunHolder. The holder serves the fds at
// DIR/criugo-track.sock (Socket) to one taker at a time:
//
//	holder                                   taker (Take)
//	  fd 3  listening SOCK_SEQPACKET,  <----  connect DIR/criugo-track.sock
//	        mode 0600
//	  ---- {"socket": PATH, "pids": [P...]} ---->   JSON description
//	  ---- 't' + SCM_RIGHTS(uffd, pidfd) -------->  one message per pid,
//	        (fds 4+2i, 5+2i)                        in the order of pids
//	  <--- 'd' ------------------------------------  Release: taken for good
//	  exits, removing the socket                    (closing without 'd':
//	                                                the holder serves on)
//
// The holder also exits once every tracked task is gone (its pidfds
// become readable). A taker keeps a received tracker only if its pidfd
// still names the pid it was made for: a pid reused since is never
// trusted. Every doubt means no tracking: no holder, no tracker for a
// pid, and the dump dumps the pages whole.
package tracker
