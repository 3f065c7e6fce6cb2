package netns

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/criugo/criugo/pkg/nsenter"
)

// ErrNoTool is a tool a namespace's contents need that is not installed.
var ErrNoTool = errors.New("tool not installed")

// Enter runs fn on a thread of its own inside the network namespace at
// path (a /proc/PID/ns/net link).
func Enter(path string, fn func() error) error {
	return nsenter.Run(path, unix.CLONE_NEWNET, fn)
}

// Run runs a tool with stdin (nil: none) and returns its standard
// output. It must be called inside the namespace (from Enter's fn): the
// tool inherits the calling thread's namespaces.
func Run(stdin []byte, name string, args ...string) ([]byte, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w (%w)", name, ErrNoTool, err)
	}
	c := exec.Command(p, args...)
	if stdin != nil {
		// A file, not a pipe: ip route restore seeks in it (as CRIU,
		// which hands it a temporary file).
		f, err := memFile(name, stdin)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		c.Stdin = f
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return nil, fmt.Errorf("run %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// memFile returns a memfd holding b, at offset 0.
func memFile(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("criugo-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("make input of %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("make input of %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("make input of %s: %w", name, err)
	}
	return f, nil
}

// Has says whether a tool is installed.
func Has(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// Lock methods, as CRIU numbers them in inventory.img's
// network_lock_method.
const (
	LockIptables = 0
	LockNftables = 1
	LockSkip     = 2
)

// ParseLock turns a --network-lock name into its number.
func ParseLock(s string) (uint32, error) {
	switch s {
	case "iptables":
		return LockIptables, nil
	case "nftables":
		return LockNftables, nil
	case "skip", "none":
		return LockSkip, nil
	}
	return 0, fmt.Errorf("network lock %q: want iptables, nftables or skip", s)
}

// LockName is the name of a lock method.
func LockName(m uint32) string {
	switch m {
	case LockIptables:
		return "iptables"
	case LockNftables:
		return "nftables"
	case LockSkip:
		return "skip"
	}
	return fmt.Sprintf("method %d", m)
}

// soccrMark is the packet mark the lock lets through (CRIU's SOCCR_MARK).
const soccrMark = "0xc114"

// nftTableMax is the longest table name, family included, CRIU makes:
// it writes it into a 32-byte buffer (nftables_get_table's callers), so
// a run id (a 36-character UUID) is cut to its first 21 characters.
const nftTableMax = 31

// nftTable is the name of the lock's table, as CRIU's, cut as CRIU cuts
// it, so that each of us finds the other's.
func nftTable(runID string) string {
	t := "inet CRIU-" + runID
	if len(t) > nftTableMax {
		t = t[:nftTableMax]
	}
	return t
}

// Lock locks the network of the calling thread's namespace with method;
// runID names the nftables table (inventory.img's dump_criu_run_id, so
// that a restore finds a dump's). Call it inside the namespace.
func Lock(method uint32, runID string) error {
	switch method {
	case LockSkip:
		return nil
	case LockNftables:
		t := nftTable(runID)
		// "add", not "create": the restored ruleset may hold the table
		// already (CRIU saves it with the lock on).
		rules := fmt.Sprintf("add table %[1]s\n"+
			"add chain %[1]s output { type filter hook output priority 0; policy drop; }\n"+
			"add rule %[1]s output meta mark %[2]s accept\n"+
			"add chain %[1]s input { type filter hook input priority 0; policy drop; }\n"+
			"add rule %[1]s input meta mark %[2]s accept\n", t, soccrMark)
		if _, err := Run([]byte(rules), "nft", "-f", "-"); err != nil {
			return fmt.Errorf("lock network with nftables: %w", err)
		}
		return nil
	case LockIptables:
		conf := "*filter\n:CRIU - [0:0]\n-I INPUT -j CRIU\n-I OUTPUT -j CRIU\n" +
			"-A CRIU -m mark --mark " + soccrMark + " -j ACCEPT\n-A CRIU -j DROP\nCOMMIT\n"
		for _, tool := range []string{"iptables-restore", "ip6tables-restore"} {
			if _, err := Run([]byte(conf), tool, "-w", "--noflush"); err != nil {
				return fmt.Errorf("lock network with iptables: %w", err)
			}
		}
		return nil
	}
	return fmt.Errorf("lock network: unknown method %d", method)
}

// Locked says whether the lock of method and runID is on in the calling
// thread's namespace: the nftables table, or the iptables CRIU chain
// (CRIU's and ours have the same name). A tool that cannot tell (missing,
// or failing) says no, since it could not have locked either.
func Locked(method uint32, runID string) (bool, error) {
	switch method {
	case LockSkip:
		return false, nil
	case LockNftables:
		_, err := Run(nil, "nft", "list", "table", nftTable(runID))
		return err == nil, nil
	case LockIptables:
		for _, tool := range []string{"iptables", "ip6tables"} {
			if _, err := Run(nil, tool, "-w", "-S", "CRIU"); err == nil {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("network lock: unknown method %d", method)
}

// maxLockJumps bounds how many jumps to the CRIU chain Unlock takes out
// of one hook.
const maxLockJumps = 8

// Unlock undoes Lock, and a lock the restored rules brought along. Call
// it inside the namespace.
func Unlock(method uint32, runID string) error {
	switch method {
	case LockSkip:
		return nil
	case LockNftables:
		if _, err := Run(nil, "nft", "delete", "table", nftTable(runID)); err != nil {
			return fmt.Errorf("unlock network: %w", err)
		}
		return nil
	case LockIptables:
		// The jumps go one by one, as long as there are any: a lock
		// the images held (CRIU saves its rules with the lock on) and
		// the restore's own are two of each. Only then can the chain go.
		var errs []error
		for _, tool := range []string{"iptables", "ip6tables"} {
			for _, hook := range []string{"INPUT", "OUTPUT"} {
				n := 0
				for ; n < maxLockJumps; n++ {
					if _, err := Run(nil, tool, "-w", "-D", hook, "-j", "CRIU"); err != nil {
						if n == 0 {
							errs = append(errs, err)
						}
						break
					}
				}
			}
			conf := "*filter\n:CRIU - [0:0]\n-X CRIU\nCOMMIT\n"
			if _, err := Run([]byte(conf), tool+"-restore", "-w", "--noflush"); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("unlock network: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unlock network: unknown method %d", method)
}

// Save runs the save tools inside the namespace and returns the raw
// images they give, by kind name (IFADDR, ROUTE, ROUTE6, RULE,
// IPTABLES, IP6TABLES, NFTABLES). Call it inside the namespace.
func Save() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, s := range []struct {
		kind     string
		tool     string
		args     []string
		optional bool // CRIU goes on without it
	}{
		{"IFADDR", "ip", []string{"addr", "save"}, false},
		{"ROUTE", "ip", []string{"route", "save"}, false},
		{"ROUTE6", "ip", []string{"-6", "route", "save"}, false},
		{"RULE", "ip", []string{"rule", "save"}, true},
		{"IPTABLES", "iptables-legacy-save", nil, true},
		{"IP6TABLES", "ip6tables-legacy-save", nil, true},
		{"NFTABLES", "nft", []string{"list", "ruleset"}, false},
	} {
		if s.optional && !Has(s.tool) {
			continue
		}
		b, err := Run(nil, s.tool, s.args...)
		if err != nil {
			if s.optional {
				continue
			}
			return nil, fmt.Errorf("save network namespace: %w", err)
		}
		out[s.kind] = b
	}
	return out, nil
}

// Restore feeds the raw images of Save to the restore tools, in CRIU's
// order (addresses, routes, rules, iptables, nftables); a missing or
// empty image is skipped. Call it inside the namespace.
func Restore(imgs map[string][]byte) error {
	for _, s := range []struct {
		kind string
		tool string
		args []string
	}{
		{"IFADDR", "ip", []string{"addr", "restore"}},
		{"ROUTE", "ip", []string{"route", "restore"}},
		{"ROUTE6", "ip", []string{"-6", "route", "restore"}},
		{"RULE", "ip", []string{"rule", "restore"}},
		{"IPTABLES", "iptables-legacy-restore", []string{"-w"}},
		{"IP6TABLES", "ip6tables-legacy-restore", []string{"-w"}},
		{"NFTABLES", "nft", []string{"-f", "-"}},
	} {
		b := imgs[s.kind]
		if len(b) == 0 {
			continue
		}
		if s.kind == "RULE" {
			// The kernel's three default rules would come twice.
			if _, err := Run(nil, "ip", "rule", "flush"); err != nil {
				return fmt.Errorf("restore network namespace: %w", err)
			}
			Run(nil, "ip", "rule", "delete", "table", "local")
		}
		if _, err := Run(b, s.tool, s.args...); err != nil {
			return fmt.Errorf("restore network namespace: %w", err)
		}
	}
	return nil
}
