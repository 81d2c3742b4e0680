package gotest

import (
	"fmt"
	"regexp"
	"strings"
)

// dump reads a Go stack dump (SIGQUIT, -test.timeout) line by line and remembers, per goroutine, the first frame in
// the lab's non-test files: where the attendee's code was when the watchdog fired.
type dump struct {
	labDir string
	cur    *goroutine // the goroutine being read
	fn     string     // the function line waiting for its file:line line
	n      int        // goroutines read
	found  []goroutine
}

// goroutine is one goroutine of a dump that was in the lab's files.
type goroutine struct {
	id, state string
	at, fn    string
	first     bool // it is the dump's first goroutine: the one the signal interrupted
	seen      bool // at is set
}

var goroutineHeader = regexp.MustCompile(`^goroutine (\d+)(?: gp=\S+)?(?: m=\S+)?(?: mp=\S+)? \[([^\]]*)\]:$`)

// maxHangOthers bounds Hang.Other.
const maxHangOthers = 3

func (d *dump) line(line string) {
	if m := goroutineHeader.FindStringSubmatch(line); m != nil {
		d.end()
		state, _, _ := strings.Cut(m[2], ",") // "chan receive, 2 minutes"
		d.n++
		d.cur = &goroutine{id: m[1], state: state, first: d.n == 1}
		d.fn = ""
		return
	}
	if d.cur == nil {
		return
	}
	switch {
	case line == "":
		d.end()
	case strings.HasPrefix(line, "\t"):
		fn := d.fn
		d.fn = ""
		if d.cur.seen || fn == "" || strings.HasPrefix(fn, "created by ") {
			return
		}
		m := frameLine.FindStringSubmatch(line)
		if m == nil {
			return
		}
		rel := labRel(strings.ReplaceAll(m[1], `\`, "/"), d.labDir)
		if rel == "" || strings.HasSuffix(rel, "_test.go") {
			return
		}
		d.cur.at, d.cur.fn, d.cur.seen = rel+":"+m[2], shortFunc(fn), true
	default:
		d.fn = line
	}
}

// end closes the goroutine being read.
func (d *dump) end() {
	if d.cur != nil && d.cur.seen {
		d.found = append(d.found, *d.cur)
	}
	d.cur = nil
}

// fill puts the most likely stuck goroutine into h: one that was running (a loop that never yields), else the
// first in the dump that was in the lab's files; the others follow in h.Other.
func (d *dump) fill(h *Hang) {
	d.end()
	if len(d.found) == 0 {
		return
	}
	best := 0
	for i, g := range d.found {
		if g.state == "running" || g.state == "runnable" || g.first {
			best = i
			break
		}
	}
	g := d.found[best]
	h.At, h.Func, h.State = g.at, g.fn, g.state
	for i, o := range d.found {
		if i == best || len(h.Other) == maxHangOthers {
			continue
		}
		entry := fmt.Sprintf("%s in %s (%s)", o.at, o.fn, o.state)
		if !contains(h.Other, entry) && o.at+o.fn != g.at+g.fn {
			h.Other = append(h.Other, entry)
		}
	}
}

// shortFunc turns a stack's function line into the name an attendee knows:
// "msglabs/labs/05-x.(*Billing).Handle(0xc0001, {0x2})" → "(*Billing).Handle".
func shortFunc(line string) string {
	name := line
	if i := strings.LastIndex(name, "("); i > 0 && strings.HasSuffix(name, ")") {
		name = name[:i]
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if _, rest, ok := strings.Cut(name, "."); ok {
		name = rest
	}
	return name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
