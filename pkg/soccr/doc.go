// Package soccr saves and restores a TCP connection, established or
// closing, with the kernel's TCP repair mode, so that a checkpointed socket comes back with the
// same addresses, sequence numbers, options, windows and queued data, and
// neither peer sees a reset.
//
// A socket in repair mode is frozen: nothing is sent, nothing is acked, and
// closing it sends neither FIN nor RST. Save reads its state:
//
//	                 inq_seq - inq_len          inq_seq (rcv_nxt)
//	receive queue:   |<------ inq_len bytes ----->|      unread by the application
//	                 outq_seq - outq_len        outq_seq (write_seq)
//	send queue:      |<-- sent, unacked -->|<-- unsent (unsq_len) -->|
//
// TCP_QUEUE_SEQ reports the sequence number at the end of each queue, as
// CRIU's tcp_stream image stores it. Restore builds a new socket in repair
// mode, sets each queue's sequence to end minus the queued length, binds and
// "connects" without a handshake, sets the options the peers negotiated,
// refills both queues (which moves the sequences back to the saved ends),
// sets the window state (the kernel accepts TCP_REPAIR_WINDOW only after the
// queues are filled), and leaves repair mode. The unsent part of the send
// queue is written after repair mode is left, so that it goes out as new data.
//
// A connection that is closing is saved and restored the same way, with
// its state in inet_sk_entry and CRIU's conventions in the image: a FIN
// counts in the sequence at the end of its queue (TCP_QUEUE_SEQ) but not
// in its length, and a closed connection's send queue is left out.
// Restore builds it established, with each queue ending short of its FIN,
// and Finish replays how it closed, in the order its state says:
//
//	its own FIN    shutdown(SHUT_WR) in repair mode: with the send queue
//	               selected when the peer had acked it (it counts as sent,
//	               nothing goes out), else as an ordinary FIN behind the
//	               data never sent, which is written just before
//	peer's FIN     a FIN segment from the peer's address, sent through a
//	               raw socket (IPPROTO_RAW, SO_MARK 0xC114 as CRIU's, which
//	               a network lock lets through) into the socket
//	peer's ACK     the same, acking the socket's FIN
//
//	FIN_WAIT1   own FIN                     FIN_WAIT2  own FIN (acked), ACK
//	CLOSE_WAIT  peer's FIN                  LAST_ACK   peer's FIN, own FIN
//	CLOSING     own FIN, peer's FIN         CLOSE      peer's FIN, own FIN (acked), ACK
//
// The socket answers the peer's FIN with an ack to the peer (delayed,
// and never sent in CLOSE, whose timers the last ACK stops), so a
// restore lets closing connections go only once their peers exist.
// TIME_WAIT is no state of a socket with a file: such a socket is in
// TCP_CLOSE, and its connection's remnant, which keeps the port on the
// host it ran on, is neither saved nor made again (as CRIU); repair mode
// lets the restored socket bind over it.
//
// Repair mode needs CAP_NET_ADMIN.
package soccr
