// Package testutil holds helpers shared by the project's tests: where the
// CRIU fixture images live, how a test that needs root says so, and, for
// the tests that restore the fixture sets (restore_linux.go), how they
// take turns and clean up after the restored tasks, and where CRIU's own
// criu binary is, for the tests that compare with it. Preparing a set for
// a restore on this machine is fixtureset's (internal/testutil/fixtureset).
//
// It is for tests only and never grows into a second public API.
package testutil
