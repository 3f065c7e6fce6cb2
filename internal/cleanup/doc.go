// Package cleanup keeps the undo of each step of a multi-step operation
// on a stack, so that a failure at any point undoes what was done, newest
// first, and a success drops the undos in one place (after gVisor's
// cleanup.Make/Release):
//
//	var cu cleanup.Cleanup
//	defer func() {
//		if err != nil {
//			err = errors.Join(err, cu.Clean())
//		}
//	}()
//	freeze();  cu.Add(thaw)
//	attach();  cu.Add(detach)
//	...
//	cu.Release() // done: nothing is undone
//
//	stack     Add pushes        Clean pops and runs
//	+--------+                  detach   (1st)
//	| detach |                  thaw     (2nd)
//	| thaw   |
//	+--------+
//
// Clean runs every undo even when one fails, and joins their errors. It is
// for the stages of this module (the dump), not a library API.
package cleanup
