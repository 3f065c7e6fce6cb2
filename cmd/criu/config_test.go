package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/criugo/criugo/pkg/criucli"
)

// TestConfigLine: CRIU's syntax, line by line.
func TestConfigLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   # a comment", nil},
		{"tcp-established", []string{"--tcp-established"}},
		{"  leave-running  ", []string{"--leave-running"}},
		{"tree 5", []string{"--tree", "5"}},
		{"tree\t5 # the root", []string{"--tree", "5"}},
		{"log-file x#y", []string{"--log-file", "x"}},
		{"tcp-close # why", []string{"--tcp-close"}},
		{`work-dir "/a b/my \"work\" dir"`, []string{"--work-dir", `/a b/my "work" dir`}},
		{`root ""`, []string{"--root", ""}},
		{`root "/r" # a comment`, []string{"--root", "/r"}},
	} {
		got, err := configLine(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("configLine(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"tree 5 6", `root "/r`, `root "/r" x`, `root "`} {
		if got, err := configLine(in); err == nil {
			t.Errorf("configLine(%q) = %q, want an error", in, got)
		}
	}
}

// TestConfigFiles: the default files, $CRIU_CONFIG_FILE and --config are
// read in CRIU's order before the command line, which overrides them;
// --config and --no-default-config leave the default files out.
func TestConfigFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := globalConfig
	globalConfig = write("etc/default.conf", "# global\ntcp-established\nlog-file global.log\nghost-limit 2M\n")
	t.Cleanup(func() { globalConfig = old })
	home := filepath.Join(dir, "home")
	write("home/.criu/default.conf", "log-file user.log\nfile-locks\nverbosity 4\n")
	t.Setenv("HOME", home)
	t.Setenv("CRIU_CONFIG_FILE", "")

	o, err := parsed("dump", "-t", "7")
	if err != nil {
		t.Fatal(err)
	}
	// "verbosity 4" is -v once: the 4 is a stray word, as in CRIU.
	if !o.TCPEstablished || !o.FileLocks || o.LogFile != "user.log" || o.GhostLimit != 2<<20 || o.LogLevel != 3 || o.Pid != 7 {
		t.Errorf("default files: %+v", o)
	}
	// The command line overrides, --no-NAME undoes.
	o, err = parsed("dump", "-t", "7", "-o", "cmd.log", "--no-tcp-established")
	if err != nil || o.TCPEstablished || o.LogFile != "cmd.log" {
		t.Errorf("command line over the files: %+v, %v", o, err)
	}
	o, err = parsed("dump", "-t", "7", "--no-default-config")
	if err != nil || o.TCPEstablished || o.FileLocks || o.LogFile != "" {
		t.Errorf("--no-default-config: %+v, %v", o, err)
	}
	// $CRIU_CONFIG_FILE comes after the defaults, --config after it, and
	// --config leaves the defaults out, not the variable.
	t.Setenv("CRIU_CONFIG_FILE", write("env.conf", "log-file env.log\nleave-running\n"))
	o, err = parsed("dump", "-t", "7")
	if err != nil || !o.TCPEstablished || o.LogFile != "env.log" || !o.LeaveRunning {
		t.Errorf("$CRIU_CONFIG_FILE: %+v, %v", o, err)
	}
	cfg := write("cmd.conf", "log-file config.log\nmanage-cgroups=full\nexternal mnt[/m]:k\n")
	for _, args := range [][]string{{"dump", "--config", cfg, "-t", "7"}, {"dump", "-t", "7", "--config=" + cfg}} {
		o, err = parsed(args...)
		if err != nil || o.TCPEstablished || o.FileLocks || !o.LeaveRunning || o.LogFile != "config.log" ||
			o.ManageCgroups.String() != "full" || o.ExtMounts["/m"] != "k" {
			t.Errorf("%q: %+v, %v", args, o, err)
		}
	}
	// A file that does not exist is skipped; one that does not parse, or
	// names an option criu does not know, is an error naming it.
	if _, err := parsed("dump", "-t", "7", "--config", filepath.Join(dir, "none.conf")); err != nil {
		t.Errorf("missing --config file: %v", err)
	}
	bad := write("bad.conf", "tree 5 6\n")
	if _, err := parsed("dump", "--config", bad); err == nil || !strings.Contains(err.Error(), "bad.conf line 1") {
		t.Errorf("bad file: %v", err)
	}
	unknown := write("unknown.conf", "no-such-option\n")
	if _, err := parsed("dump", "--config", unknown); err == nil || !strings.Contains(err.Error(), "no-such-option") {
		t.Errorf("unknown option: %v", err)
	}
	// A refused option in a file is refused as on the command line.
	refused := write("refused.conf", "lazy-pages\n")
	if _, err := parsed("restore", "--config", refused); err == nil || !strings.Contains(err.Error(), "lazy-pages") {
		t.Errorf("refused option: %v", err)
	}
}

// TestLayers: every option criu implements, set by a layer (a
// configuration file over RPC), sets what the same option sets on the
// command line; the options a layer does not name stay as they are.
func TestLayers(t *testing.T) {
	t.Setenv("CRIU_CONFIG_FILE", "")
	old := globalConfig
	globalConfig = filepath.Join(t.TempDir(), "none.conf")
	t.Cleanup(func() { globalConfig = old })
	for _, a := range accepted {
		want, err := parsed(a.args...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parsed(a.args[0])
		if err != nil {
			t.Fatal(err)
		}
		set, err := layer(a.args[0], a.args[1:])
		if err != nil {
			t.Errorf("layer %q: %v", a.args, err)
			continue
		}
		set(&got)
		for _, o := range []*criucli.Options{&got, &want} {
			for i := range o.InheritFds {
				o.InheritFds[i].File.Close()
				o.InheritFds[i].File = nil
			}
			for i := range o.JoinNs {
				o.JoinNs[i].File.Close()
				o.JoinNs[i].File = nil
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("layer %q:\n%+v\nwant\n%+v", a.args, got, want)
		}
	}
}

// TestRPCConfigFile: the file a request names sets what it names over
// the request's options, --no-NAME included; the rest stays the
// request's.
func TestRPCConfigFile(t *testing.T) {
	cfg, err := rpcConfig(nil)
	if err != nil || cfg.Defaults != nil {
		t.Fatalf("rpcConfig: %v, defaults %v", err, cfg.Defaults != nil)
	}
	p := filepath.Join(t.TempDir(), "runc.conf")
	if err := os.WriteFile(p, []byte("# runc's\ntcp-established\nno-file-locks\nlog-file rpc.log\nexternal mnt[k]:/m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := criucli.Options{FileLocks: true, LeaveRunning: true, LogFile: "criu.log", ExtMounts: map[string]string{"j": "/n"}}
	if err := cfg.File(&o, p, "restore"); err != nil {
		t.Fatal(err)
	}
	if !o.TCPEstablished || o.FileLocks || !o.LeaveRunning || o.LogFile != "rpc.log" ||
		!reflect.DeepEqual(o.ExtMounts, map[string]string{"j": "/n", "k": "/m"}) {
		t.Errorf("after %s: %+v", p, o)
	}
	if err := os.WriteFile(p, []byte("lazy-pages\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.File(&o, p, "restore"); err == nil || !strings.Contains(err.Error(), "lazy-pages") {
		t.Errorf("a refused option in the file: %v", err)
	}
}
