// Command server is the Go HTTP server of the gohttp test: net/http with
// its default listener, which Go 1.24 and later open as MPTCP
// (IPPROTO_MPTCP) unless GODEBUG says multipathtcp=0. It writes its port
// to the file given by -portfile once it listens, and answers every
// request with the number of requests it has served so far, so that a
// restore that lost its memory shows.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
)

func main() {
	portfile := flag.String("portfile", "", "file to write the port to")
	flag.Parse()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	var served atomic.Int64
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "request %d\n", served.Add(1))
	})
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	err = os.WriteFile(*portfile+".tmp", []byte(port), 0o644)
	if err == nil {
		err = os.Rename(*portfile+".tmp", *portfile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "server:", http.Serve(l, nil))
	os.Exit(1)
}
