// Package errdefs holds the sentinel errors every stage shares, so that a
// caller tests one value whichever package refused: each package
// re-exports them under its own name (restore.ErrNotSupported is
// errdefs.ErrNotSupported), and its errors wrap them.
package errdefs

import "errors"

// ErrNotSupported: state the project cannot checkpoint or restore (yet),
// or that this machine cannot take. Errors name what it is.
var ErrNotSupported = errors.New("not supported")
