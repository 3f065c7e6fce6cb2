package proc

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// FdInfo is /proc/PID/fdinfo/FD: the common lines of every file, then the
// lines of its kind. At most one of the kind fields is set, from the kind
// lines present: an epoll file without targets, or an inotify file without
// watches, prints none, so tell the kind from the fd link (ParseLink).
//
//	pos:    777
//	flags:  02100002        (octal, O_* | O_CLOEXEC as 02000000)
//	mnt_id: 27
//	ino:    9978739
//	eventfd-count:  1f      (kind lines follow)
type FdInfo struct {
	Pos   int64
	Flags uint32 // O_* flags; the close-on-exec flag shows as O_CLOEXEC
	MntID int
	Ino   uint64

	Eventfd  *EventfdInfo
	Epoll    []EpollTarget
	Inotify  []InotifyWatch
	Fanotify *FanotifyInfo
	Signalfd *SignalfdInfo
	Timerfd  *TimerfdInfo
	Pidfd    *PidfdInfo
}

// PidfdInfo: the process a pidfd names, as the reader's pid namespace
// sees it ("Pid:", -1 once the process is reaped, 0 when it is outside
// that namespace) and in each namespace from there down to its own
// ("NSpid:", the last one its own).
type PidfdInfo struct {
	Pid   int
	NSpid []int
}

// EventfdInfo: "eventfd-count: %16llx", and since 6.7 the id and the
// semaphore flag.
type EventfdInfo struct {
	Count     uint64
	ID        int  // -1 when not printed
	Semaphore bool // EFD_SEMAPHORE
}

// EpollTarget is one "tfd:" line: a file registered in the epoll instance.
type EpollTarget struct {
	Fd     int    // the fd number it was added under (in the owning task)
	Events uint32 // EPOLL* event mask
	Data   uint64 // the user's epoll_data
	Pos    int64  // file position of the target
	Ino    uint64
	Sdev   uint32 // device of the target's super block, kernel dev_t (major<<20 | minor)
}

// FileHandle is a handle as name_to_handle_at gives it.
type FileHandle struct {
	Type   int32
	Handle []byte
}

// InotifyWatch is one "inotify wd:" line.
type InotifyWatch struct {
	Wd          int
	Ino         uint64
	Sdev        uint32 // kernel dev_t (major<<20 | minor)
	Mask        uint32 // IN_* events
	IgnoredMask uint32
	Handle      *FileHandle // nil when the file system cannot export handles
}

// FanotifyInfo: the group's flags and its marks.
type FanotifyInfo struct {
	Flags      uint32 // FAN_* flags of fanotify_init
	EventFlags uint32 // O_* flags of fanotify_init
	Marks      []FanotifyMark
}

// FanotifyMarkKind says what a fanotify mark is on.
type FanotifyMarkKind uint8

const (
	FanotifyInode FanotifyMarkKind = iota + 1 // "fanotify ino:..."
	FanotifyMount                             // "fanotify mnt_id:..."
	FanotifySuper                             // "fanotify sdev:..." (FAN_MARK_FILESYSTEM)
)

// FanotifyMark is one "fanotify ino:/mnt_id:/sdev:" line.
type FanotifyMark struct {
	Kind        FanotifyMarkKind
	Ino         uint64 // FanotifyInode
	Sdev        uint32 // FanotifyInode and FanotifySuper
	MntID       int    // FanotifyMount
	MFlags      uint32 // FAN_MARK_* flags of the mark
	Mask        uint64
	IgnoredMask uint64
	Handle      *FileHandle // FanotifyInode only, when exportable
}

// SignalfdInfo: the signals the signalfd accepts, bit n-1 for signal n.
type SignalfdInfo struct {
	Sigmask uint64
}

// Timespec is a time as timerfd's fdinfo prints it: "(sec, nsec)".
type Timespec struct {
	Sec, Nsec int64
}

// TimerfdInfo is the state of a timerfd. Value is the time left until the
// next expiry (a relative time, even for a TFD_TIMER_ABSTIME timer).
type TimerfdInfo struct {
	ClockID      int
	Ticks        uint64 // expirations not yet read
	SettimeFlags uint32 // TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET
	Value        Timespec
	Interval     Timespec
}

// ParseFdInfo parses the text of /proc/PID/fdinfo/FD. Lines of kinds this
// package does not know ("scm_fds:", "tty-index:", "lock:", ...) are
// skipped.
func ParseFdInfo(r io.Reader) (*FdInfo, error) {
	lr := newLineReader(r, "fdinfo")
	fi := &FdInfo{}
	var seen [4]bool
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if line == nil {
			break
		}
		s := string(line)
		if err := fi.parseLine(s, &seen); err != nil {
			return nil, lr.errf(ErrSyntax, "%s", err)
		}
	}
	for i, k := range [...]string{"pos", "flags", "mnt_id", "ino"} {
		if !seen[i] {
			return nil, &ParseError{Path: "fdinfo", Msg: "field " + k, Err: ErrMissing}
		}
	}
	return fi, nil
}

func (fi *FdInfo) parseLine(s string, seen *[4]bool) error {
	switch {
	case strings.HasPrefix(s, "tfd:"):
		t, err := parseEpollLine(s)
		if err != nil {
			return err
		}
		fi.Epoll = append(fi.Epoll, t)
		return nil
	case strings.HasPrefix(s, "inotify "):
		w, err := parseInotifyLine(s)
		if err != nil {
			return err
		}
		fi.Inotify = append(fi.Inotify, w)
		return nil
	case strings.HasPrefix(s, "fanotify "):
		return fi.parseFanotifyLine(s)
	}
	key, val, ok := cutField([]byte(s))
	if !ok {
		// Drivers may print anything; only the lines above and below are ours.
		return nil
	}
	var err error
	switch key {
	case "pos":
		var v int64
		v, err = intVal(val, 10, 64)
		fi.Pos, seen[0] = v, true
	case "flags":
		var v uint64
		v, err = uintVal(val, 8, 32)
		fi.Flags, seen[1] = uint32(v), true
	case "mnt_id":
		var v int64
		v, err = intVal(val, 10, 32)
		fi.MntID, seen[2] = int(v), true
	case "ino":
		fi.Ino, err = uintVal(val, 10, 64)
		seen[3] = true
	case "eventfd-count":
		fi.eventfd().Count, err = uintVal(val, 16, 64)
	case "eventfd-id":
		var v int64
		v, err = intVal(val, 10, 32)
		fi.eventfd().ID = int(v)
	case "eventfd-semaphore":
		var v uint64
		v, err = uintVal(val, 10, 32)
		fi.eventfd().Semaphore = v != 0
	case "sigmask":
		var v uint64
		v, err = uintVal(val, 16, 64)
		fi.Signalfd = &SignalfdInfo{Sigmask: v}
	case "clockid":
		var v int64
		v, err = intVal(val, 10, 32)
		fi.timerfd().ClockID = int(v)
	case "ticks":
		fi.timerfd().Ticks, err = uintVal(val, 10, 64)
	case "settime flags":
		var v uint64
		v, err = uintVal(val, 8, 32)
		fi.timerfd().SettimeFlags = uint32(v)
	case "it_value":
		fi.timerfd().Value, err = parseTimespec(val)
	case "it_interval":
		fi.timerfd().Interval, err = parseTimespec(val)
	case "Pid":
		var v int64
		v, err = intVal(val, 10, 32)
		fi.pidfd().Pid = int(v)
	case "NSpid":
		for _, f := range strings.Fields(val) {
			var v int64
			if v, err = intVal(f, 10, 32); err != nil {
				break
			}
			fi.pidfd().NSpid = append(fi.pidfd().NSpid, int(v))
		}
	default:
		return nil
	}
	if err != nil {
		return fieldErr(fmt.Sprintf("field %s: %s", key, err))
	}
	return nil
}

func (fi *FdInfo) eventfd() *EventfdInfo {
	if fi.Eventfd == nil {
		fi.Eventfd = &EventfdInfo{ID: -1}
	}
	return fi.Eventfd
}

func (fi *FdInfo) pidfd() *PidfdInfo {
	if fi.Pidfd == nil {
		fi.Pidfd = &PidfdInfo{}
	}
	return fi.Pidfd
}

func (fi *FdInfo) timerfd() *TimerfdInfo {
	if fi.Timerfd == nil {
		fi.Timerfd = &TimerfdInfo{}
	}
	return fi.Timerfd
}

func uintVal(s string, base, bits int) (uint64, error) {
	v, ok := parseUint(s, base, bits)
	if !ok {
		return 0, badValue(s)
	}
	return v, nil
}

func intVal(s string, base, bits int) (int64, error) {
	v, ok := parseInt(s, base, bits)
	if !ok {
		return 0, badValue(s)
	}
	return v, nil
}

// parseTimespec parses "(sec, nsec)".
func parseTimespec(s string) (Timespec, error) {
	in, ok := strings.CutPrefix(s, "(")
	if ok {
		in, ok = strings.CutSuffix(in, ")")
	}
	sec, nsec, ok2 := strings.Cut(in, ",")
	a, ok3 := parseInt(strings.TrimSpace(sec), 10, 64)
	b, ok4 := parseInt(strings.TrimSpace(nsec), 10, 64)
	if !ok || !ok2 || !ok3 || !ok4 {
		return Timespec{}, badValue(s)
	}
	return Timespec{Sec: a, Nsec: b}, nil
}

// keyVals splits "k1:v1 k2:v2 ..." into a map; the value of a key may be
// padded after its colon ("tfd:        6 events: 1c").
func keyVals(s string) (map[string]string, error) {
	m := make(map[string]string, 8)
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		k, v, ok := strings.Cut(f[i], ":")
		if !ok {
			return nil, fieldErr(fmt.Sprintf("no colon in %q", f[i]))
		}
		if v == "" && i+1 < len(f) && !strings.Contains(f[i+1], ":") {
			i++
			v = f[i]
		}
		m[k] = v
	}
	return m, nil
}

// kv reads the numbers of a keyVals map, remembering the first failure.
type kv struct {
	m   map[string]string
	err error
}

func (k *kv) uint(key string, base, bits int) uint64 {
	s, ok := k.m[key]
	if !ok {
		if k.err == nil {
			k.err = fieldErr("no " + key)
		}
		return 0
	}
	v, ok := parseUint(s, base, bits)
	if !ok && k.err == nil {
		k.err = fieldErr(fmt.Sprintf("bad %s %q", key, s))
	}
	return v
}

func (k *kv) int(key string, base, bits int) int64 {
	s, ok := k.m[key]
	if !ok {
		if k.err == nil {
			k.err = fieldErr("no " + key)
		}
		return 0
	}
	v, ok := parseInt(s, base, bits)
	if !ok && k.err == nil {
		k.err = fieldErr(fmt.Sprintf("bad %s %q", key, s))
	}
	return v
}

// handle reads "fhandle-bytes:%x fhandle-type:%x f_handle:HEX", if present.
// MAX_HANDLE_SZ bounds the size.
func (k *kv) handle() *FileHandle {
	if _, ok := k.m["fhandle-bytes"]; !ok {
		return nil
	}
	n := k.uint("fhandle-bytes", 16, 32)
	typ := k.int("fhandle-type", 16, 32)
	raw := k.m["f_handle"]
	if k.err != nil {
		return nil
	}
	const maxHandle = 128 // MAX_HANDLE_SZ
	if n > maxHandle || uint64(len(raw)) != 2*n {
		k.err = fieldErr(fmt.Sprintf("bad f_handle %q for %d bytes", raw, n))
		return nil
	}
	b, err := hex.DecodeString(raw)
	if err != nil {
		k.err = fieldErr(fmt.Sprintf("bad f_handle %q", raw))
		return nil
	}
	return &FileHandle{Type: int32(typ), Handle: b}
}

// parseEpollLine parses one target of an epoll's fdinfo:
// "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x".
func parseEpollLine(s string) (EpollTarget, error) {
	m, err := keyVals(s)
	if err != nil {
		return EpollTarget{}, err
	}
	k := kv{m: m}
	t := EpollTarget{
		Fd:     int(k.int("tfd", 10, 32)),
		Events: uint32(k.uint("events", 16, 32)),
		Data:   k.uint("data", 16, 64),
		Pos:    k.int("pos", 10, 64),
		Ino:    k.uint("ino", 16, 64),
		Sdev:   uint32(k.uint("sdev", 16, 32)),
	}
	return t, k.err
}

// parseInotifyLine parses one watch of an inotify's fdinfo:
// "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x [fhandle...]".
func parseInotifyLine(s string) (InotifyWatch, error) {
	m, err := keyVals(strings.TrimPrefix(s, "inotify "))
	if err != nil {
		return InotifyWatch{}, err
	}
	k := kv{m: m}
	w := InotifyWatch{
		Wd:          int(k.int("wd", 16, 32)),
		Ino:         k.uint("ino", 16, 64),
		Sdev:        uint32(k.uint("sdev", 16, 32)),
		Mask:        uint32(k.uint("mask", 16, 32)),
		IgnoredMask: uint32(k.uint("ignored_mask", 16, 32)),
	}
	w.Handle = k.handle()
	return w, k.err
}

// parseFanotifyLine parses a line of a fanotify's fdinfo:
// "fanotify flags:%x event-flags:%x" for the group, then one line a mark:
// "fanotify ino:%lx sdev:%x mflags:%x mask:%x ignored_mask:%x [fhandle...]",
// "fanotify mnt_id:%x mflags:%x mask:%x ignored_mask:%x" or
// "fanotify sdev:%x mflags:%x mask:%x ignored_mask:%x".
func (fi *FdInfo) parseFanotifyLine(s string) error {
	m, err := keyVals(strings.TrimPrefix(s, "fanotify "))
	if err != nil {
		return err
	}
	k := kv{m: m}
	if fi.Fanotify == nil {
		fi.Fanotify = &FanotifyInfo{}
	}
	if _, ok := m["flags"]; ok {
		fi.Fanotify.Flags = uint32(k.uint("flags", 16, 32))
		fi.Fanotify.EventFlags = uint32(k.uint("event-flags", 16, 32))
		return k.err
	}
	var mk FanotifyMark
	_, hasIno := m["ino"]
	_, hasMnt := m["mnt_id"]
	switch {
	case hasIno:
		mk.Kind = FanotifyInode
		mk.Ino = k.uint("ino", 16, 64)
		mk.Sdev = uint32(k.uint("sdev", 16, 32))
		mk.Handle = k.handle()
	case hasMnt:
		mk.Kind = FanotifyMount
		mk.MntID = int(k.int("mnt_id", 16, 32))
	default:
		mk.Kind = FanotifySuper
		mk.Sdev = uint32(k.uint("sdev", 16, 32))
	}
	mk.MFlags = uint32(k.uint("mflags", 16, 32))
	mk.Mask = k.uint("mask", 16, 64)
	mk.IgnoredMask = k.uint("ignored_mask", 16, 64)
	if k.err != nil {
		return k.err
	}
	fi.Fanotify.Marks = append(fi.Fanotify.Marks, mk)
	return nil
}
