package harness

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"msglabs/shared/story"
)

// stuckAfter is how long a live process may hold a delivery before a failing test blames the handler: a correct
// handler finishes in milliseconds, and the test's waits last Patience before it gives up.
const stuckAfter = 2 * time.Second

// goroutine is one goroutine of a stack dump, innermost frame first.
type goroutine struct {
	state  string
	labels map[string]string
	frames []frame
}

type frame struct {
	fn   string // "msglabs/labs/05-idempotent-consumer.(*Billing).Handle"
	file string // absolute
	line int
}

// String is "billing.go:42 in (*Billing).Handle", the file relative to the lab's folder.
func (f frame) String() string {
	file := f.file
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, f.file); err == nil && !strings.HasPrefix(rel, "..") {
			file = rel
		}
	}
	return fmt.Sprintf("%s:%d in %s", file, f.line, shortFunc(f.fn))
}

// shortFunc drops the package path: "msglabs/labs/05-x.(*Billing).Handle" → "(*Billing).Handle".
func shortFunc(fn string) string {
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		fn = fn[i+1:]
	}
	if i := strings.IndexByte(fn, '.'); i >= 0 {
		fn = fn[i+1:]
	}
	return fn
}

var (
	tracebackHeader = regexp.MustCompile(`^goroutine \d+.*\[(.*)\]:$`)
	tracebackFile   = regexp.MustCompile(`^\t(.+):(\d+)`)
	profileFrame    = regexp.MustCompile(`^#\t0x[0-9a-f]+\t(\S+)\+0x[0-9a-f]+\t+(.+):(\d+)$`)
	profileLabel    = regexp.MustCompile(`"((?:[^"\\]|\\.)*)":"((?:[^"\\]|\\.)*)"`)
)

// parseDump reads a Go traceback (a panic, or the goroutines a SIGQUIT prints): "goroutine 7 [running]:", then for
// each frame a function line and a tab-indented "file:line" line.
func parseDump(text string) []goroutine {
	var out []goroutine
	var cur *goroutine
	fn := ""
	for _, l := range strings.Split(text, "\n") {
		if m := tracebackHeader.FindStringSubmatch(l); m != nil {
			out = append(out, goroutine{state: m[1]})
			cur, fn = &out[len(out)-1], ""
			continue
		}
		if cur == nil {
			continue
		}
		if m := tracebackFile.FindStringSubmatch(l); m != nil {
			if fn != "" {
				n, _ := strconv.Atoi(m[2])
				cur.frames = append(cur.frames, frame{fn: fn, file: m[1], line: n})
			}
			fn = ""
			continue
		}
		switch {
		case l == "":
			cur = nil
		case strings.HasPrefix(l, "created by "):
			fn = "" // the creator's frame follows: not part of this goroutine
		default:
			fn = funcOf(l)
		}
	}
	return out
}

// funcOf cuts the arguments off a traceback's function line: "main.(*T).f(0xc0000, {0x1})" → "main.(*T).f".
func funcOf(l string) string {
	if strings.HasSuffix(l, ")") {
		if i := strings.LastIndexByte(l, '('); i > 0 {
			return l[:i]
		}
	}
	return l
}

// goroutinesWith returns the goroutines of the test's own process whose label key has value (pprof's goroutine
// profile with debug=1: one record per distinct stack, with its labels).
func goroutinesWith(key, value string) []goroutine {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil
	}
	var out []goroutine
	var cur *goroutine
	for _, l := range strings.Split(buf.String(), "\n") {
		switch {
		case l == "":
			cur = nil
		case strings.HasPrefix(l, "# labels: "):
			if cur != nil {
				for _, m := range profileLabel.FindAllStringSubmatch(l, -1) {
					k, _ := strconv.Unquote(`"` + m[1] + `"`)
					v, _ := strconv.Unquote(`"` + m[2] + `"`)
					cur.labels[k] = v
				}
			}
		case strings.HasPrefix(l, "#\t"):
			if m := profileFrame.FindStringSubmatch(l); m != nil && cur != nil {
				n, _ := strconv.Atoi(m[3])
				cur.frames = append(cur.frames, frame{fn: m[1], file: m[2], line: n})
			}
		case strings.Contains(l, " @ "):
			out = append(out, goroutine{labels: map[string]string{}})
			cur = &out[len(out)-1]
		}
	}
	mine := out[:0]
	for _, g := range out {
		if g.labels[key] == value {
			mine = append(mine, g)
		}
	}
	return mine
}

// goroutinesOf returns the goroutines of an in-process Process (its service loops and what they started).
func goroutinesOf(process string) []goroutine { return goroutinesWith(labelProcess, process) }

// harnessPackage is this package's import path: its own frames are never the lab's code (not even when the lab
// is the harness's own test).
var harnessPackage = reflect.TypeOf(Env{}).PkgPath()

// inLab reports whether a frame is the lab's code: a file in the lab's folder (the test binary's working directory),
// and not the harness's own code.
func inLab(f frame, wd string) bool {
	if filepath.Dir(f.file) != wd {
		return false
	}
	return strings.HasSuffix(f.file, "_test.go") || !strings.HasPrefix(f.fn, harnessPackage+".")
}

// labFrame is the innermost frame in the lab's own code: a file of the lab's folder that is not a test file, or,
// when there is none, a test file of it (a role written in the test).
func labFrame(frames []frame) (frame, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return frame{}, false
	}
	var inTest *frame
	for i, f := range frames {
		if !inLab(f, wd) {
			continue
		}
		if !strings.HasSuffix(f.file, "_test.go") {
			return f, true
		}
		if inTest == nil {
			inTest = &frames[i]
		}
	}
	if inTest != nil {
		return *inTest, true
	}
	return frame{}, false
}

// labDepth counts a goroutine's frames in the lab's folder: the deeper a goroutine is in the lab's code, the likelier
// it is the handler that never finished (an idle consumer loop sits one frame deep).
func labDepth(g goroutine) int {
	wd, _ := os.Getwd()
	n := 0
	for _, f := range g.frames {
		if inLab(f, wd) {
			n++
		}
	}
	return n
}

// stuckAt words where the likeliest stuck goroutine is: ": stuck at billing.go:42 in (*Billing).Handle", or a note
// that none of them is in the lab's code.
func stuckAt(gs []goroutine) string {
	best, depth := -1, 0
	for i, g := range gs {
		if d := labDepth(g); d > depth {
			best, depth = i, d
		}
	}
	if best < 0 {
		if len(gs) == 0 {
			return " (its goroutines could not be read)"
		}
		return " (none of its goroutines is in the lab's code)"
	}
	f, _ := labFrame(gs[best].frames)
	return ": stuck at " + f.String()
}

// stuckStory is how a failing test's story starts when a live process still holds a delivery it received more than
// stuckAfter ago: that process is stuck in its handler, and that is the story, STALLED, with where it is stuck; the
// test's own verdict follows as a detail. Otherwise the test's story stands.
func (e *Env) stuckStory(m story.Marker, headline string, details []string) (story.Marker, string, []string) {
	e.mu.Lock()
	procs := append([]*Process(nil), e.procs...)
	e.mu.Unlock()
	for _, p := range procs {
		if p.Dead() {
			continue
		}
		ids := heldSince(p, time.Now().Add(-stuckAfter))
		if len(ids) == 0 {
			continue
		}
		var where string
		if p.child != nil {
			where = stuckAt(p.child.stacks())
		} else {
			where = stuckAt(goroutinesOf(p.Name))
		}
		it := "it"
		if len(ids) > 1 {
			it = "them"
		}
		head := fmt.Sprintf("%s received %s and never finished handling %s%s", p.Name, strings.Join(ids, ", "), it, where)
		return story.Stalled, head, append([]string{fmt.Sprintf("(the test, which waited for it, then found %s: %s)",
			m, headline)}, details...)
	}
	return m, headline, details
}

// heldSince lists the messages a process has held since before t.
func heldSince(p *Process, t time.Time) []string {
	var ids []string
	for _, h := range p.watch.Holding() {
		if h.Since.Before(t) {
			id := h.MessageID
			if id == "" {
				id = "a message without an id"
			}
			ids = append(ids, id)
		}
	}
	return ids
}
