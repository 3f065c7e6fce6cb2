// Package version holds the project's version, set once at build time with
// -ldflags "-X github.com/criugo/criugo/pkg/version.Version=...".
package version

// Version is the build's version string; "dev" when built without the Makefile.
var Version = "dev"
