// Package gocriu checks criugo's criu against go-criu v7, the Go binding
// runc and Podman's tools use: its own module, so that the project's
// go.mod keeps only the project's dependencies. Run it with `make gocriu`
// from the repository root (CRIU_BIN names the criu binary to drive).
package gocriu
