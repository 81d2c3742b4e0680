// Copyright 2017 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

// This file is adapted from the Go distribution's cmd/internal/test2json (Go 1.26), which `go test -json` uses
// and which cannot be imported: it turns the output of a test binary run with -test.v=test2json into the same
// events, in process, so the checker needs neither `go test` nor `go tool test2json` to run a test binary. The
// changes: events go to a callback as values instead of JSON lines, elapsed times are always kept, and the
// benchmark and artifact handling are gone (the labs have none).

package gotest

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// converter turns test binary output into events. It is not safe for concurrent use: one goroutine writes.
type converter struct {
	emit       func(event)
	testName   string     // name of current test, for output attribution
	report     []event    // pending test result reports (nested for subtests)
	result     string     // overall test result if seen
	input      lineBuffer // input buffer
	output     lineBuffer // output buffer
	needMarker bool       // require ^V marker to introduce test framing line
}

// The input buffer holds any single framing line; lines longer than the output buffer are split into several
// output events (the parser joins them again).
const (
	convInBuffer  = 4096
	convOutBuffer = 1024
)

func newConverter(emit func(event)) *converter {
	c := &converter{emit: emit}
	c.input = lineBuffer{b: make([]byte, 0, convInBuffer), line: c.handleInputLine, part: c.output.write}
	c.output = lineBuffer{b: make([]byte, 0, convOutBuffer), line: c.writeOutputEvent, part: c.writeOutputEvent}
	return c
}

// Write feeds test binary output to the converter.
func (c *converter) Write(b []byte) (int, error) {
	c.input.write(b)
	return len(b), nil
}

const marker = byte(0x16) // ^V, which -test.v=test2json puts before every framing line

var (
	bigPass            = []byte("PASS")
	bigFail            = []byte("FAIL")
	bigFailErrorPrefix = []byte("FAIL\t")
	emptyName          = []byte("=== NAME")
	emptyNameLine      = []byte("=== NAME  \n")

	updates = [][]byte{
		[]byte("=== RUN   "),
		[]byte("=== PAUSE "),
		[]byte("=== CONT  "),
		[]byte("=== NAME  "),
		[]byte("=== PASS  "),
		[]byte("=== FAIL  "),
		[]byte("=== SKIP  "),
		[]byte("=== ATTR  "),
		[]byte("=== ARTIFACTS "),
	}

	reports = [][]byte{
		[]byte("--- PASS: "),
		[]byte("--- FAIL: "),
		[]byte("--- SKIP: "),
		[]byte("--- BENCH: "),
	}

	fourSpace = []byte("    ")
)

// handleInputLine handles a single whole test output line.
func (c *converter) handleInputLine(line []byte) {
	if len(line) == 0 {
		return
	}
	sawMarker := false
	if c.needMarker && line[0] != marker {
		c.output.write(line)
		return
	}
	if line[0] == marker {
		c.output.flush()
		sawMarker = true
		line = line[1:]
	}
	trim := line
	if len(trim) > 0 && trim[len(trim)-1] == '\n' {
		trim = trim[:len(trim)-1]
		if len(trim) > 0 && trim[len(trim)-1] == '\r' {
			trim = trim[:len(trim)-1]
		}
	}
	if bytes.Equal(trim, emptyName) {
		line = emptyNameLine
		trim = line[:len(line)-1]
	}
	// Final PASS or FAIL.
	if bytes.Equal(trim, bigPass) || bytes.Equal(trim, bigFail) || bytes.HasPrefix(trim, bigFailErrorPrefix) {
		c.flushReport(0)
		c.testName = ""
		c.needMarker = sawMarker
		c.output.write(line)
		if bytes.Equal(trim, bigPass) {
			c.result = "pass"
		} else {
			c.result = "fail"
		}
		return
	}
	origLine := line
	ok := false
	indent := 0
	for _, magic := range updates {
		if bytes.HasPrefix(line, magic) {
			ok = true
			break
		}
	}
	if !ok {
		for bytes.HasPrefix(line, fourSpace) {
			line = line[4:]
			indent++
		}
		for _, magic := range reports {
			if bytes.HasPrefix(line, magic) {
				ok = true
				break
			}
		}
	}
	if !ok {
		// Attribute the output by its indentation to the subtest at that depth, else to the current test.
		if indent > 0 && indent <= len(c.report) {
			c.testName = c.report[indent-1].Test
		}
		c.output.write(origLine)
		return
	}
	action, name, _ := strings.Cut(string(line[len("=== "):]), " ")
	action = strings.ToLower(strings.TrimSuffix(action, ":"))
	name = strings.TrimSpace(name)
	e := event{Action: action}
	if line[0] == '-' { // PASS or FAIL report
		if i := strings.Index(name, " ("); i >= 0 {
			if strings.HasSuffix(name, "s)") {
				if t, err := strconv.ParseFloat(name[i+2:len(name)-2], 64); err == nil {
					e.Elapsed = t
				}
			}
			name = name[:i]
		}
		if len(c.report) < indent {
			c.output.write(origLine) // nested deeper than expected: plain output
			return
		}
		c.needMarker = sawMarker
		c.flushReport(indent)
		e.Test = name
		c.testName = name
		c.report = append(c.report, e)
		c.output.write(origLine)
		return
	}
	if action == "attr" || action == "artifacts" {
		name, _, _ = strings.Cut(name, " ")
	}
	c.needMarker = sawMarker
	c.flushReport(0)
	c.testName = name
	switch action {
	case "name", "attr", "artifacts":
		return // only there to get testName right
	case "pause":
		c.output.write(origLine)
		c.writeEvent(e)
		return
	}
	c.writeEvent(e)
	c.output.write(origLine)
}

// flushReport flushes all pending PASS/FAIL reports at levels >= depth.
func (c *converter) flushReport(depth int) {
	c.testName = ""
	for len(c.report) > depth {
		e := c.report[len(c.report)-1]
		c.report = c.report[:len(c.report)-1]
		c.writeEvent(e)
	}
}

// Close flushes pending input, output and test results, and emits the package-level pass or fail event when the binary printed
// its final PASS or FAIL line. It reports whether it did: a binary that died mid-run did not.
func (c *converter) Close() bool {
	c.input.flush()
	c.output.flush()
	c.flushReport(0) // go test's own closing line does this when a binary dies after a --- FAIL line
	if c.result == "" {
		return false
	}
	c.writeEvent(event{Action: c.result})
	return true
}

func (c *converter) writeOutputEvent(out []byte) {
	c.writeEvent(event{Action: "output", Output: string(out)})
}

func (c *converter) writeEvent(e event) {
	if e.Test == "" {
		e.Test = c.testName
	}
	c.emit(e)
}

// A lineBuffer reacts to writes by calling line for every whole line (with its \n) that fits in cap(b), and part
// for the sections of longer lines, split at UTF-8 boundaries.
type lineBuffer struct {
	b    []byte
	mid  bool // in the middle of a long line
	line func([]byte)
	part func([]byte)
}

func (l *lineBuffer) write(b []byte) {
	for len(b) > 0 {
		m := copy(l.b[len(l.b):cap(l.b)], b)
		l.b = l.b[:len(l.b)+m]
		b = b[m:]
		i := 0
		for i < len(l.b) {
			j, w := indexEOL(l.b[i:])
			if j < 0 {
				break
			}
			e := i + j + w
			if l.mid {
				l.part(l.b[i:e])
				l.mid = false
			} else {
				l.line(l.b[i:e])
			}
			i = e
		}
		if i == 0 && len(l.b) == cap(l.b) {
			t := trimUTF8(l.b)
			l.part(l.b[:t])
			l.b = l.b[:copy(l.b, l.b[t:])]
			l.mid = true
		}
		if i > 0 {
			l.b = l.b[:copy(l.b, l.b[i:])]
		}
	}
}

// indexEOL finds a line ending: a \n (printed, width 1) or the empty string before a ^V that does not begin the
// line (width 0: the ^V begins the next line). The latter is what keeps a verdict after output without a newline.
func indexEOL(b []byte) (pos, wid int) {
	for i, c := range b {
		if c == '\n' {
			return i, 1
		}
		if c == marker && i > 0 {
			return i, 0
		}
	}
	return -1, 0
}

func (l *lineBuffer) flush() {
	if len(l.b) > 0 {
		l.part(l.b)
		l.b = l.b[:0]
	}
}

// trimUTF8 returns a length t as close to len(b) as possible such that b[:t] does not end in the middle of a
// possibly-valid UTF-8 sequence.
func trimUTF8(b []byte) int {
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		if c := b[len(b)-i]; c&0xc0 != 0x80 {
			switch {
			case c&0xe0 == 0xc0:
				if i < 2 {
					return len(b) - i
				}
			case c&0xf0 == 0xe0:
				if i < 3 {
					return len(b) - i
				}
			case c&0xf8 == 0xf0:
				if i < 4 {
					return len(b) - i
				}
			}
			break
		}
	}
	return len(b)
}
