package gotest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// LogName is the file in the run directory that holds everything the test binary printed.
const LogName = "last.log"

// runLog writes a run's full output to RunDir/last.log: to a temporary file first, renamed at the end, so the log
// is always one whole run even with two checkers on one lab. A nil *runLog writes nothing.
type runLog struct {
	f       *os.File
	w       *bufio.Writer
	path    string
	written int
	cut     bool
}

// openLog starts the log that finish puts at path; "" means no log.
func openLog(path string) (*runLog, error) {
	if path == "" {
		return nil, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run log: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("run log: %w", err)
	}
	return &runLog{f: f, w: bufio.NewWriterSize(f, 64*1024), path: path}, nil
}

// write appends raw binary output, without test2json's ^V framing bytes, up to maxLogBytes.
func (l *runLog) write(b []byte) {
	if l == nil || l.cut {
		return
	}
	b = bytes.ReplaceAll(b, []byte{marker}, nil)
	if l.written+len(b) > maxLogBytes {
		b = b[:maxLogBytes-l.written]
		l.cut = true
	}
	l.written += len(b)
	l.w.Write(b)
	if l.cut {
		fmt.Fprintf(l.w, "\n… the log stops here: the run printed more than %d MiB\n", maxLogBytes>>20)
	}
}

// finish puts the log in place and returns its path ("" without a log, or when it could not be written).
func (l *runLog) finish() string {
	if l == nil {
		return ""
	}
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(l.f.Name(), l.path)
	}
	if err != nil {
		os.Remove(l.f.Name())
		return ""
	}
	return l.path
}

// abort drops the log of a run that did not start.
func (l *runLog) abort() {
	if l == nil {
		return
	}
	l.f.Close()
	os.Remove(l.f.Name())
}

// joinLogs writes the logs of parts, in order, into one log at path and removes the parts; a part that is missing
// is left out. It returns path, or "" when the log could not be written.
func joinLogs(path string, parts []string) string {
	log, err := openLog(path)
	if err != nil {
		return ""
	}
	for _, p := range parts {
		if data, err := os.ReadFile(p); err == nil {
			log.w.Write(data)
		}
		os.Remove(p)
	}
	return log.finish()
}
