package proc

import (
	"io"
	"strings"
)

// sigev_notify values (asm-generic/siginfo.h).
const (
	SigevSignal   = 0
	SigevNone     = 1
	SigevThread   = 2
	SigevThreadID = 4
)

// PosixTimer is one timer of /proc/PID/timers:
//
//	ID: 2
//	signal: 35/0000000000000000     signal number / sigev_value pointer (hex)
//	notify: signal/tid.5478         how / whom: "pid." or "tid." and the id
//	ClockID: 7
//
// It says how the timer was created, not when it fires next: that takes
// timer_gettime in the task.
type PosixTimer struct {
	ID     int
	Signal int
	Sigval uint64 // sigev_value as a pointer
	// Notify is SigevSignal, SigevNone or SigevThread, or'ed with
	// SigevThreadID when the target is a thread ("tid.").
	Notify    int
	NotifyPid int // the thread (tid.) or process (pid.) that gets the signal
	ClockID   int
}

// ParseTimers parses the text of /proc/PID/timers.
func ParseTimers(r io.Reader) ([]PosixTimer, error) {
	lr := newLineReader(r, "timers")
	var out []PosixTimer
	var cur *PosixTimer
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if line == nil {
			break
		}
		key, val, ok := cutField(line)
		if !ok {
			return nil, lr.errf(ErrSyntax, "no colon in %q", line)
		}
		if key == "ID" {
			id, ok := parseInt(val, 10, 32)
			if !ok {
				return nil, lr.errf(ErrSyntax, "field ID: %s", badValue(val))
			}
			out = append(out, PosixTimer{ID: int(id)})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			return nil, lr.errf(ErrSyntax, "field %s before the first ID", key)
		}
		if err := cur.setField(key, val); err != nil {
			return nil, lr.errf(ErrSyntax, "field %s: %s", key, err)
		}
	}
	return out, nil
}

func (t *PosixTimer) setField(key, val string) error {
	switch key {
	case "signal":
		sig, ptr, ok := strings.Cut(val, "/")
		s, ok1 := parseInt(sig, 10, 32)
		p, ok2 := parseUint(ptr, 16, 64)
		if !ok || !ok1 || !ok2 {
			return badValue(val)
		}
		t.Signal, t.Sigval = int(s), p
	case "notify":
		how, who, ok := strings.Cut(val, "/")
		kind, id, ok2 := strings.Cut(who, ".")
		n, ok3 := parseInt(id, 10, 32)
		if !ok || !ok2 || !ok3 {
			return badValue(val)
		}
		switch how {
		case "signal":
			t.Notify = SigevSignal
		case "none":
			t.Notify = SigevNone
		case "thread":
			t.Notify = SigevThread
		default:
			return badValue(val)
		}
		switch kind {
		case "tid":
			t.Notify |= SigevThreadID
		case "pid":
		default:
			return badValue(val)
		}
		t.NotifyPid = int(n)
	case "ClockID":
		c, ok := parseInt(val, 10, 32)
		if !ok {
			return badValue(val)
		}
		t.ClockID = int(c)
	}
	return nil
}
