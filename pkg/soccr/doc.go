// Package soccr saves and restores an established TCP connection with the
// kernel's TCP repair mode, so that a checkpointed socket comes back with the
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
// Repair mode needs CAP_NET_ADMIN.
package soccr
