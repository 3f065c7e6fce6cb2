package criucli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/criugo/criugo/pkg/version"
)

// Log writes CRIU's log lines: "(SS.UUUUUU) text", the time since the log
// was opened; an error line reads "Error (criugo): text", which is what
// zdtm.py and runc look for.
type Log struct {
	mu    sync.Mutex
	w     io.Writer
	msg   io.Writer // messages: CRIU prints them on standard output
	f     *os.File  // the log file, when there is one
	level int
	start time.Time
}

// OpenLog opens the log o says: o.LogFile in the work directory, created
// or truncated, or o.LogTo (standard error when nil).
func OpenLog(o *Options) (*Log, error) {
	l := &Log{w: o.LogTo, msg: o.MsgTo, level: o.LogLevel, start: time.Now()}
	if l.msg == nil {
		l.msg = os.Stdout
	}
	if o.LogFile != "" {
		f, err := os.OpenFile(o.inWorkDir(o.LogFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
		l.w, l.f = f, f
	}
	if l.w == nil {
		l.w = os.Stderr
	}
	l.Infof("Version: %d.%d (criugo %s)", VersionMajor, VersionMinor, version.Version)
	return l, nil
}

// Close closes the log file.
func (l *Log) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	return l.f.Close()
}

func (l *Log) printf(level int, prefix, format string, args ...any) {
	if l == nil || level > l.level {
		return
	}
	d := time.Since(l.start)
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(l.w, "(%02d.%06d) %s%s\n", int(d/time.Second), int(d%time.Second/time.Microsecond), prefix, line)
	}
}

// Msgf prints a message on standard output, without a time stamp, at
// every level (CRIU's pr_msg).
func (l *Log) Msgf(format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.msg, "%s\n", strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}

// Errorf logs an error line.
func (l *Log) Errorf(format string, args ...any) {
	l.printf(LogError, "Error (criugo): ", format, args...)
}

// Warnf logs a warning.
func (l *Log) Warnf(format string, args ...any) {
	l.printf(LogWarn, "Warn  (criugo): ", format, args...)
}

// Infof logs at -v3.
func (l *Log) Infof(format string, args ...any) { l.printf(LogInfo, "", format, args...) }

// Debugf logs at -v4.
func (l *Log) Debugf(format string, args ...any) { l.printf(LogDebug, "", format, args...) }

// Writer is an io.Writer whose lines go to the log at level, for the
// stages' own progress lines.
func (l *Log) Writer(level int) io.Writer { return &logWriter{l: l, level: level} }

type logWriter struct {
	l     *Log
	level int
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.l.printf(w.level, "", "%s", p)
	return len(p), nil
}
