package proc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Every parser must refuse bad input with a *ParseError carrying one of the
// sentinels, and never panic.

func fuzzParser(f *testing.F, seeds []string, parse func(io.Reader) error) {
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join("testdata", s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := parse(bytes.NewReader(b))
		if err == nil {
			return
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not a *ParseError", err)
		}
		for _, s := range []error{ErrSyntax, ErrLineTooLong, ErrMissing, ErrTooLarge, ErrTruncated} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error %v matches no sentinel", err)
	})
}

func ignore[T any](f func(io.Reader) (T, error)) func(io.Reader) error {
	return func(r io.Reader) error { _, err := f(r); return err }
}

func FuzzParseStatus(f *testing.F) {
	fuzzParser(f, []string{"status-nested.txt", "status-zombie.txt"}, ignore(ParseStatus))
}

func FuzzParseStat(f *testing.F) {
	fuzzParser(f, []string{"stat-weird.txt", "stat-zombie.txt"}, ignore(ParseStat))
}

func FuzzParseMaps(f *testing.F) {
	fuzzParser(f, []string{"maps.txt"}, ignore(ParseMaps))
}

func FuzzParseSmaps(f *testing.F) {
	fuzzParser(f, []string{"smaps.txt"}, ignore(ParseSmaps))
}

func FuzzParseFdInfo(f *testing.F) {
	fuzzParser(f, []string{"fdinfo-epoll.txt", "fdinfo-eventfd.txt", "fdinfo-fanotify.txt", "fdinfo-inotify.txt",
		"fdinfo-signalfd.txt", "fdinfo-timerfd1.txt", "fdinfo-append.txt"}, ignore(ParseFdInfo))
}

func FuzzParseTimers(f *testing.F) {
	fuzzParser(f, []string{"timers.txt"}, ignore(ParseTimers))
}

func FuzzParseMountinfo(f *testing.F) {
	fuzzParser(f, []string{"mountinfo.txt"}, ignore(ParseMountinfo))
}

func FuzzParseAuxv(f *testing.F) {
	fuzzParser(f, []string{"auxv.bin"}, ignore(ParseAuxv))
}

func FuzzParseLimits(f *testing.F) {
	fuzzParser(f, []string{"limits.txt"}, ignore(ParseLimits))
}

func FuzzParseSmall(f *testing.F) {
	fuzzParser(f, []string{"cgroup.txt", "children.txt", "personality.txt"}, func(r io.Reader) error {
		b, _ := io.ReadAll(r)
		_, e1 := ParseCgroup(bytes.NewReader(b))
		_, e2 := ParseChildren(bytes.NewReader(b))
		_, e3 := ParsePersonality(bytes.NewReader(b))
		return errors.Join(e1, e2, e3)
	})
}

func FuzzParseIDMap(f *testing.F) {
	fuzzParser(f, []string{"uid_map.txt"}, ignore(ParseIDMap))
}
