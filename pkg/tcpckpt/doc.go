// Package tcpckpt checkpoints and restores single established TCP
// connections as small CRIU image sets, the library behind soccr-tool.
//
// A saved connection is two images in a directory, readable by crit:
//
//	files.img                 one file_entry of type INETSK: addresses, ports
//	tcp-stream-<ino>.img      one tcp_stream_entry, then the receive queue
//	                          (inq_len bytes) and the send queue (outq_len)
//
// Save takes the socket out of a running process with pidfd_getfd, so the
// process needs no cooperation; the state is read through pkg/soccr. Restore
// rebuilds the socket from the images and hands it to a program as an open
// file descriptor.
package tcpckpt
