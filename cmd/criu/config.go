package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CRIU's configuration files (its config.c): each line one option without
// its leading "--", its value (if any) after white space, in double
// quotes when it holds white space, \" a quote inside them; '#' starts a
// comment. They are read in this order, each one's options before the
// next one's, and the command line's last, so that a later value
// overrides an earlier one and --no-NAME undoes a file's NAME:
//
//	/etc/criu/default.conf       } not with --no-default-config
//	$HOME/.criu/default.conf     } or --config
//	$CRIU_CONFIG_FILE
//	--config FILE
//	the command line
//
// A file that does not exist is skipped, as CRIU skips it. A line is
// always an option: a word a file holds beyond an option's value is
// ignored, as CRIU's getopt leaves it unread (so "verbosity 4" is -v, and
// an optional value is only taken as manage-cgroups=full).
var (
	globalConfig = "/etc/criu/default.conf"
	userConfig   = ".criu/default.conf" // in $HOME
)

// configFiles names the files to read for a command line, in order.
func configFiles(args []string) []string {
	noDefault, cfg := false, ""
	for i, a := range args {
		switch {
		case a == "--no-default-config":
			noDefault = true
		case a == "--config" && i+1 < len(args):
			cfg, noDefault = args[i+1], true
		case strings.HasPrefix(a, "--config="):
			cfg, noDefault = a[len("--config="):], true
		}
	}
	var files []string
	if !noDefault {
		files = append(files, globalConfig)
		if home := os.Getenv("HOME"); home != "" {
			files = append(files, filepath.Join(home, userConfig))
		}
	}
	if env := os.Getenv("CRIU_CONFIG_FILE"); env != "" {
		files = append(files, env)
	}
	if cfg != "" {
		files = append(files, cfg)
	}
	return files
}

// readConfig returns the options of the configuration file path as
// command line words ("--name", then the value when the line has one);
// none when the file does not exist.
func readConfig(path string) ([]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read configuration file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		words, err := configLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("configuration file %s line %d: %w", path, n, err)
		}
		out = append(out, words...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read configuration file %s: %w", path, err)
	}
	return out, nil
}

// errConfigSyntax is CRIU's "Unsupported configuration file format".
var errConfigSyntax = errors.New("unsupported configuration file format (one option per line, its value after it, in double quotes if it holds white space)")

// configLine turns one line into "--name" and its value, if any.
func configLine(line string) ([]string, error) {
	line = strings.TrimLeft(line, " \t\v\f\r")
	if line == "" || line[0] == '#' {
		return nil, nil
	}
	sp := strings.IndexAny(line, " \t")
	if sp < 0 {
		return []string{"--" + line}, nil
	}
	name, rest := "--"+line[:sp], strings.TrimLeft(line[sp+1:], " \t\v\f\r")
	if rest == "" || rest[0] == '#' {
		return []string{name}, nil
	}
	if rest[0] != '"' {
		// One word; a comment may follow it, nothing else may.
		v, _, _ := strings.Cut(rest, "#")
		if fields := strings.Fields(v); len(fields) > 1 {
			return nil, errConfigSyntax
		}
		return []string{name, strings.TrimRight(v, " \t\v\f\r")}, nil
	}
	// A quoted value: up to the first quote not after a backslash.
	var val strings.Builder
	for i := 1; i < len(rest); i++ {
		switch {
		case rest[i] == '\\' && i+1 < len(rest) && rest[i+1] == '"':
			val.WriteByte('"')
			i++
		case rest[i] == '"':
			tail := strings.TrimLeft(rest[i+1:], " \t\v\f\r")
			if tail != "" && tail[0] != '#' {
				return nil, errConfigSyntax
			}
			return []string{name, val.String()}, nil
		default:
			val.WriteByte(rest[i])
		}
	}
	return nil, errConfigSyntax
}

// withConfig puts the options of the configuration files args names
// before args' own (args[0] is the program). configEnd in the result
// marks where the files' words end: those words are options only.
func withConfig(args []string) ([]string, int, error) {
	var cfg []string
	for _, p := range configFiles(args[1:]) {
		words, err := readConfig(p)
		if err != nil {
			return nil, 0, err
		}
		cfg = append(cfg, words...)
	}
	out := append(append([]string{args[0]}, cfg...), args[1:]...)
	return out, 1 + len(cfg), nil
}
