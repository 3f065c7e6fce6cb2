// Package signals sets up the signal handling of the commands that hold a
// process tree frozen (criu-seize, criu-parasite), where dying of a signal
// would leave the tree stopped:
//
//	SIGPIPE                    ignored: a reader of the stream going away is
//	                           a write error (EPIPE), rolled back like any other
//	SIGINT, SIGTERM, SIGHUP    cancel the context the command runs with, so
//	                           it undoes what it did and returns
//
// It is for the commands' mains only, not a library API.
package signals
