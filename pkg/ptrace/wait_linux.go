package ptrace

import "golang.org/x/sys/unix"

// ptraceEventStop is PTRACE_EVENT_STOP.
const ptraceEventStop = unix.PTRACE_EVENT_STOP

// decodeStatus turns a raw wait status into a Stop.
func decodeStatus(tid int, ws unix.WaitStatus) Stop {
	st := Stop{Tid: tid}
	switch {
	case ws.Exited():
		st.Kind, st.Status = Exited, ws.ExitStatus()
	case ws.Signaled():
		st.Kind, st.Signal = Killed, ws.Signal()
	case ws.Stopped():
		raw := uint32(ws) >> 8 // low byte: signal, next byte: event
		sig := unix.Signal(raw & 0xff)
		st.Event = int(raw>>8) & 0xff
		switch {
		case st.Event == ptraceEventStop:
			st.Signal = sig
			if sig == unix.SIGTRAP {
				st.Kind = InterruptStop
			} else {
				st.Kind = GroupStop
			}
		case st.Event != 0:
			st.Kind, st.Signal = EventStop, sig
		case sig == unix.SIGTRAP|0x80:
			st.Kind, st.Signal = SyscallStop, unix.SIGTRAP
		default:
			st.Kind, st.Signal = SignalStop, sig
		}
	default:
		// WCONTINUED is never asked for; should a continued status come,
		// report a signal stop of signal 0 so that callers see it is odd.
		st.Kind = SignalStop
	}
	return st
}
