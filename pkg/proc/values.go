package proc

import (
	"fmt"
	"io"
	"strings"
)

// maxValuesLen bounds the small files of numbers: a sysctl such as
// kernel/sem holds four, /proc/PID/loginuid one.
const maxValuesLen = 4096

// ParseInts parses a file of blank-separated decimal integers, as the
// sysctls under /proc/sys print them (kernel/pid_max, kernel/sem,
// fs/pipe-max-size) and /proc/PID/loginuid. An unsigned value above the
// int64 range (kernel/shmmax is an unsigned long) keeps its 64 bits.
func ParseInts(r io.Reader) ([]int64, error) {
	b, err := readAll(r, "values", maxValuesLen)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
	out := make([]int64, len(f))
	for i, s := range f {
		v, ok := parseInt(s, 10, 64)
		if !ok {
			u, uok := parseUint(s, 10, 64)
			if !uok {
				return nil, &ParseError{Path: "values", Msg: fmt.Sprintf("value %q", s), Err: ErrSyntax}
			}
			v = int64(u)
		}
		out[i] = v
	}
	return out, nil
}

// maxCommLen bounds /proc/PID/comm: TASK_COMM_LEN is 16 today; kernel
// threads may show longer names, never this long.
const maxCommLen = 256

// ParseComm parses /proc/PID/comm or task/TID/comm: the name, without its
// newline.
func ParseComm(r io.Reader) (string, error) {
	b, err := readAll(r, "comm", maxCommLen)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// TimensOffset is one line of /proc/PID/timens_offsets: how far a clock of
// the task's time namespace is ahead of the host's.
type TimensOffset struct {
	Clock     string // "monotonic" or "boottime"
	Sec, Nsec int64
}

// ParseTimensOffsets parses /proc/PID/timens_offsets:
//
//	monotonic           0         0
//	boottime         3600         0
func ParseTimensOffsets(r io.Reader) ([]TimensOffset, error) {
	var out []TimensOffset
	err := fieldLines(r, "timens_offsets", 3, "clock sec nsec", "offset", func(f []string) bool {
		sec, ok1 := parseInt(f[1], 10, 64)
		nsec, ok2 := parseInt(f[2], 10, 64)
		out = append(out, TimensOffset{Clock: f[0], Sec: sec, Nsec: nsec})
		return ok1 && ok2
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParsePidfd parses the fdinfo of a pidfd for the pid it names, as its
// "Pid:" line says (in the reader's pid namespace): -1 once the process
// is gone, 0 when it is outside that namespace.
func ParsePidfd(r io.Reader) (int, error) {
	lr := newLineReader(r, "fdinfo")
	for {
		line, err := lr.next()
		if err != nil {
			return 0, err
		}
		if line == nil {
			return 0, &ParseError{Path: "fdinfo", Msg: "field Pid", Err: ErrMissing}
		}
		k, v, ok := cutField(line)
		if !ok || k != "Pid" {
			continue
		}
		pid, ok := parseInt(v, 10, 32)
		if !ok {
			return 0, lr.errf(ErrSyntax, "Pid %q", v)
		}
		return int(pid), nil
	}
}

// maxBootIDLen bounds /proc/sys/kernel/random/boot_id: a UUID (36
// characters) and a newline; anything much longer is not a boot id.
const maxBootIDLen = 127

// ParseBootID parses /proc/sys/kernel/random/boot_id: the random id the
// kernel draws at boot, without its newline.
func ParseBootID(r io.Reader) (string, error) {
	b, err := readAll(r, "boot_id", maxBootIDLen)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
