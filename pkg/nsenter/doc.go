// Package nsenter runs Go code inside a namespace of another task, such
// as the UTS or IPC namespace of a tree being dumped or restored.
//
// A namespace is joined by one thread (setns(2)), and the Go scheduler
// moves goroutines between threads, so Run gives the code a goroutine
// locked to a thread of its own. That thread joins the namespace and is
// never given back: it ends with its goroutine, so no other goroutine ever
// runs in the namespace.
//
//	caller goroutine          Run's goroutine (LockOSThread, never unlocked)
//	    | Run(path, type, fn) ---> open path, setns, fn()
//	    | <------ fn's error ----  return: the runtime ends the thread
package nsenter
