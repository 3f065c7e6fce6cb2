package cleanup

import "errors"

// Cleanup is a stack of undo functions. The zero value is an empty stack.
// It is not safe for concurrent use.
type Cleanup struct {
	undo []func() error
}

// Make returns a stack holding f.
func Make(f func() error) Cleanup {
	return Cleanup{undo: []func() error{f}}
}

// Add pushes f: it runs before everything added earlier.
func (c *Cleanup) Add(f func() error) {
	c.undo = append(c.undo, f)
}

// Clean runs every undo, newest first, and empties the stack. An undo that
// fails does not stop the others; their errors are joined.
func (c *Cleanup) Clean() error {
	var errs []error
	for i := len(c.undo) - 1; i >= 0; i-- {
		errs = append(errs, c.undo[i]())
	}
	c.undo = nil
	return errors.Join(errs...)
}

// Release empties the stack without running anything: the steps stand.
func (c *Cleanup) Release() {
	c.undo = nil
}

// Len is the number of undos on the stack.
func (c *Cleanup) Len() int { return len(c.undo) }
