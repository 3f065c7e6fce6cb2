package proc

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Stat is /proc/PID/stat (or task/TID/stat). Field numbers in comments are
// those of proc(5). The kernel zeroes the addresses (fields 26-28, 45-51)
// for a reader that may not ptrace the task, and for a zombie.
type Stat struct {
	Pid        int    // (1)
	Comm       string // (2) raw, as set by prctl(PR_SET_NAME): may hold spaces, parens, newlines
	State      byte   // (3)
	PPid       int    // (4)
	Pgrp       int    // (5)
	Session    int    // (6)
	TtyNr      uint32 // (7) device number, in the kernel's new encoding
	TPgid      int    // (8)
	Flags      uint32 // (9) PF_* flags
	MinFlt     uint64 // (10)
	MajFlt     uint64 // (12)
	Utime      uint64 // (14) clock ticks
	Stime      uint64 // (15)
	Priority   int64  // (18)
	Nice       int64  // (19)
	NumThreads int    // (20)
	StartTime  uint64 // (22) clock ticks after boot
	VSize      uint64 // (23) bytes
	RSS        int64  // (24) pages
	RSSLim     uint64 // (25)

	StartCode  uint64 // (26)
	EndCode    uint64 // (27)
	StartStack uint64 // (28)

	ExitSignal int    // (38) signal sent to the parent at exit
	Processor  int    // (39)
	RtPriority uint32 // (40)
	Policy     uint32 // (41)

	StartData uint64 // (45)
	EndData   uint64 // (46)
	StartBrk  uint64 // (47)
	ArgStart  uint64 // (48)
	ArgEnd    uint64 // (49)
	EnvStart  uint64 // (50)
	EnvEnd    uint64 // (51)
	ExitCode  int    // (52) as waitpid reports it; meaningful for a zombie
}

// maxStatLen bounds /proc/PID/stat: 52 numbers of at most 20 digits and a
// comm of at most 64 bytes are well under it.
const maxStatLen = 4096

// statFields is how many fields the kernel prints (since 3.5).
const statFields = 52

// ParseStat parses /proc/PID/stat. The comm sits between the first '(' and
// the last ')', since it may itself contain both and even newlines.
func ParseStat(r io.Reader) (*Stat, error) {
	b, err := readAll(r, "stat", maxStatLen)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return &ParseError{Path: "stat", Msg: fmt.Sprintf(format, args...), Err: ErrSyntax}
	}
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return nil, bad("no (comm)")
	}
	st := &Stat{Comm: string(b[open+1 : end])}
	pid, ok := parseInt(string(bytes.TrimSpace(b[:open])), 10, 32)
	if !ok {
		return nil, bad("pid %q", b[:open])
	}
	st.Pid = int(pid)

	// f[i] is field i+3.
	f := strings.Fields(string(b[end+1:]))
	if len(f) < statFields-2 {
		return nil, &ParseError{Path: "stat", Msg: fmt.Sprintf("%d fields, want %d", len(f)+2, statFields), Err: ErrMissing}
	}
	if len(f[0]) != 1 {
		return nil, bad("state %q", f[0])
	}
	st.State = f[0][0]

	// Each entry: field number and where it goes.
	var firstErr error
	u := func(n int, dst *uint64) {
		if v, ok := parseUint(f[n-3], 10, 64); ok {
			*dst = v
		} else if firstErr == nil {
			firstErr = bad("field %d %q", n, f[n-3])
		}
	}
	i := func(n int, dst *int64) {
		if v, ok := parseInt(f[n-3], 10, 64); ok {
			*dst = v
		} else if firstErr == nil {
			firstErr = bad("field %d %q", n, f[n-3])
		}
	}
	var ppid, pgrp, sess, tty, tpgid, flags, prio, nice, nthr, exitSig, cpu, rtprio, policy, exitCode int64
	i(4, &ppid)
	i(5, &pgrp)
	i(6, &sess)
	i(7, &tty)
	i(8, &tpgid)
	i(9, &flags)
	u(10, &st.MinFlt)
	u(12, &st.MajFlt)
	u(14, &st.Utime)
	u(15, &st.Stime)
	i(18, &prio)
	i(19, &nice)
	i(20, &nthr)
	u(22, &st.StartTime)
	u(23, &st.VSize)
	i(24, &st.RSS)
	u(25, &st.RSSLim)
	u(26, &st.StartCode)
	u(27, &st.EndCode)
	u(28, &st.StartStack)
	i(38, &exitSig)
	i(39, &cpu)
	i(40, &rtprio)
	i(41, &policy)
	u(45, &st.StartData)
	u(46, &st.EndData)
	u(47, &st.StartBrk)
	u(48, &st.ArgStart)
	u(49, &st.ArgEnd)
	u(50, &st.EnvStart)
	u(51, &st.EnvEnd)
	i(52, &exitCode)
	if firstErr != nil {
		return nil, firstErr
	}
	st.PPid, st.Pgrp, st.Session = int(ppid), int(pgrp), int(sess)
	st.TtyNr, st.TPgid, st.Flags = uint32(tty), int(tpgid), uint32(flags)
	st.Priority, st.Nice, st.NumThreads = prio, nice, int(nthr)
	st.ExitSignal, st.Processor = int(exitSig), int(cpu)
	st.RtPriority, st.Policy, st.ExitCode = uint32(rtprio), uint32(policy), int(exitCode)
	return st, nil
}
