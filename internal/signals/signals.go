package signals

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Context ignores SIGPIPE for the rest of the process and returns a
// context that SIGINT, SIGTERM or SIGHUP cancels. Calling stop restores
// the default action of those three.
func Context() (ctx context.Context, stop context.CancelFunc) {
	signal.Ignore(syscall.SIGPIPE)
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}
