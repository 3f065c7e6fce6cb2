package crit

import (
	"fmt"
	"math/big"
	"strings"
)

// flagBit is one named bit of a (criu).flags field.
type flagBit struct {
	name string
	bit  uint64
}

// flagMaps are the bit names crit 4.2 knows, keyed by the field's
// (criu).flags option, in the order crit prints them. A flags option not in
// this table makes crit print the value in hex.
var flagMaps = map[string][]flagBit{
	"mmap.prot": {
		{"PROT_READ", 0x1},
		{"PROT_WRITE", 0x2},
		{"PROT_EXEC", 0x4},
	},
	"mmap.flags": {
		{"MAP_SHARED", 0x1},
		{"MAP_PRIVATE", 0x2},
		{"MAP_DROPPABLE", 0x08},
		{"MAP_ANON", 0x20},
		{"MAP_GROWSDOWN", 0x0100},
	},
	"mmap.status": {
		{"VMA_AREA_NONE", 0},
		{"VMA_AREA_REGULAR", 1 << 0},
		{"VMA_AREA_STACK", 1 << 1},
		{"VMA_AREA_VSYSCALL", 1 << 2},
		{"VMA_AREA_VDSO", 1 << 3},
		{"VMA_AREA_HEAP", 1 << 5},
		{"VMA_FILE_PRIVATE", 1 << 6},
		{"VMA_FILE_SHARED", 1 << 7},
		{"VMA_ANON_SHARED", 1 << 8},
		{"VMA_ANON_PRIVATE", 1 << 9},
		{"VMA_AREA_SYSVIPC", 1 << 10},
		{"VMA_AREA_SOCKET", 1 << 11},
		{"VMA_AREA_VVAR", 1 << 12},
		{"VMA_AREA_AIORING", 1 << 13},
		{"VMA_AREA_MEMFD", 1 << 14},
		{"VMA_AREA_SHSTK", 1 << 15},
		{"VMA_AREA_UPROBES", 1 << 17},
		{"VMA_UNSUPP", 1 << 31},
	},
	"rfile.flags": {
		{"O_WRONLY", 0o1},
		{"O_RDWR", 0o2},
		{"O_CREAT", 0o100},
		{"O_EXCL", 0o200},
		{"O_NOCTTY", 0o400},
		{"O_TRUNC", 0o1000},
		{"O_APPEND", 0o2000},
		{"O_NONBLOCK", 0o4000},
		{"O_DSYNC", 0o10000},
		{"FASYNC", 0o20000},
		{"O_DIRECT", 0o40000},
		{"O_LARGEFILE", 0o100000},
		{"O_DIRECTORY", 0o200000},
		{"O_NOFOLLOW", 0o400000},
		{"O_NOATIME", 0o1000000},
		{"O_CLOEXEC", 0o2000000},
	},
	"pmap.flags": {
		{"PE_PARENT", 1 << 0},
		{"PE_LAZY", 1 << 1},
		{"PE_PRESENT", 1 << 2},
	},
	"seals.flags": {
		{"F_SEAL_SEAL", 0x0001},
		{"F_SEAL_SHRINK", 0x0002},
		{"F_SEAL_GROW", 0x0004},
		{"F_SEAL_WRITE", 0x0008},
		{"F_SEAL_FUTURE_WRITE", 0x0010},
	},
}

// dictMaps are the value names of (criu).dict fields, by dict option and
// then by field name. crit 4.2's task_state names are kept as it has them
// (3 "Zombie", 6 "Stopped"; 2 has no name and prints as a number), because
// crit's output is the format.
var dictMaps = map[string]map[string]map[int64]string{
	"gen": {
		"task_state": {1: "Alive", 3: "Zombie", 6: "Stopped"},
	},
	"sk": {
		"family": {1: "UNIX", 2: "INET", 10: "INET6", 16: "NETLINK", 17: "PACKET"},
		"type":   {1: "STREAM", 2: "DGRAM", 3: "RAW", 5: "SEQPACKET", 10: "PACKET"},
		"state": {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
			5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
			9: "LAST_ACK", 10: "LISTEN"},
		"proto": {0: "IP", 6: "TCP", 17: "UDP", 136: "UDPLITE"},
	},
}

// dictLookup returns the name of v in a dict map, or "" if it has none.
func dictLookup(dict, field string, v int64) (string, bool) {
	m, ok := dictMaps[dict][field]
	if !ok {
		return "", false
	}
	name, ok := m[v]
	return name, ok
}

// dictReverse finds the value named name.
func dictReverse(dict, field, name string) (int64, bool) {
	for v, n := range dictMaps[dict][field] {
		if n == name {
			return v, true
		}
	}
	return 0, false
}

// formatFlags is crit's map_flags: the names of the set bits in table
// order joined by " | ", then the bits without a name as "0x%x"; "" for 0.
// v is the field's value as Python sees it (signed fields may be negative).
func formatFlags(v *big.Int, bits []flagBit) string {
	var parts []string
	rest := new(big.Int).Set(v)
	b := new(big.Int)
	for _, f := range bits {
		b.SetUint64(f.bit)
		if new(big.Int).And(v, b).Sign() != 0 {
			parts = append(parts, f.name)
		}
		rest.AndNot(rest, b)
	}
	if rest.Sign() != 0 {
		parts = append(parts, pyHexBig(rest))
	}
	return strings.Join(parts, " | ")
}

// pyHexBig is Python's "0x%x" % v.
func pyHexBig(v *big.Int) string {
	if v.Sign() < 0 {
		return "-0x" + new(big.Int).Neg(v).Text(16)
	}
	return "0x" + v.Text(16)
}

// parseFlags is crit's unmap_flags: "" is 0, otherwise the "|"-separated
// parts, each a bit name of the table or an int(s, 0) literal, are summed.
func parseFlags(s string, bits []flagBit) (*big.Int, error) {
	sum := new(big.Int)
	if s == "" {
		return sum, nil
	}
	for _, part := range strings.Split(s, "|") {
		part = strings.TrimSpace(part)
		found := false
		for _, f := range bits {
			if f.name == part {
				sum.Add(sum, new(big.Int).SetUint64(f.bit))
				found = true
				break
			}
		}
		if found {
			continue
		}
		v, err := parsePyInt(part)
		if err != nil {
			return nil, fmt.Errorf("unknown flag name %q", part)
		}
		sum.Add(sum, v)
	}
	return sum, nil
}
