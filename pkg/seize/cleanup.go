package seize

import "errors"

// cleanups is a stack of undo steps. Each step that changes the world
// pushes the step that reverts it; on failure Run reverts everything in
// reverse order, on success Release forgets the steps.
//
//	var undo cleanups
//	defer func() {
//		if err != nil {
//			err = undone(err, undo.Run())
//		}
//	}()
type cleanups struct {
	fns []func() error
}

// Add pushes an undo step.
func (c *cleanups) Add(fn func() error) {
	c.fns = append(c.fns, fn)
}

// Run runs every step, last pushed first, even after one fails, and returns
// the failures joined. The stack is empty afterwards.
func (c *cleanups) Run() error {
	var errs []error
	for i := len(c.fns) - 1; i >= 0; i-- {
		if err := c.fns[i](); err != nil {
			errs = append(errs, err)
		}
	}
	c.fns = nil
	return errors.Join(errs...)
}

// Release forgets every step: what they would undo is to stay.
func (c *cleanups) Release() {
	c.fns = nil
}

// Len is the number of pending steps.
func (c *cleanups) Len() int { return len(c.fns) }
