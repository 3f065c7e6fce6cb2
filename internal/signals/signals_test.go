package signals

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestContext sends SIGHUP to the test process itself: without the
// handling Context sets up, it would kill it.
func TestContext(t *testing.T) {
	ctx, stop := Context()
	defer stop()
	// A broken pipe on standard output kills a Go program that does not
	// ignore SIGPIPE; only the disposition tells.
	if !signal.Ignored(syscall.SIGPIPE) {
		t.Error("SIGPIPE not ignored")
	}
	if ctx.Err() != nil {
		t.Fatalf("context done before any signal: %v", ctx.Err())
	}
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not cancel the context")
	}
}
