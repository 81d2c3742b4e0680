package readme

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"msglabs/checker/lab"
)

// A lab README shows a test's real failure in a fenced block right after a line `<!-- output: TestName -->`. The
// block's first line is the failure's headline, "MARKER: what happened to what"; `checker dev readme` writes it from
// a run of the starter and `checker dev check` compares it. The rest of the block (the timeline, trimmed by hand) is
// left alone. When a word of the headline depends on a race the test does not decide (which of two writers lost),
// the annotation lists the words it may be: `<!-- output: TestName varies: book|gift-wrap -->`.
var outputLine = regexp.MustCompile(`^\s*<!-- output: (Test\w*)(?: varies: ([^ ]+))? -->\s*$`)

// Output is one annotated failure block of a README.
type Output struct {
	Test     string
	Varies   []string // words that may stand in for each other in the headline
	Line     int      // 1-based line number where the headline starts; 0 when the annotation has no block after it
	Lines    int      // how many lines the headline is wrapped over
	Headline string   // the headline, its lines joined with spaces
}

// Wrap is the width a written headline is wrapped at, the width of the kit's documents.
const Wrap = 120

// Outputs returns the annotated failure blocks of a README, in order. A headline is the block's first line and the
// lines that continue it: up to a blank line, an indented line (the story's details) or "timeline:".
func Outputs(data []byte) []Output {
	lines := strings.Split(string(data), "\n")
	var out []Output
	for i := 0; i < len(lines); i++ {
		m := outputLine.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		o := Output{Test: m[1]}
		if m[2] != "" {
			o.Varies = strings.Split(m[2], "|")
		}
		if j := fenceAfter(lines, i); j >= 0 && j+1 < len(lines) {
			o.Line = j + 2
			indent := indentOf(lines[j])
			var parts []string
			for _, l := range lines[j+1:] {
				if len(parts) > 0 && !continues(l, indent) {
					break
				}
				parts = append(parts, strings.TrimSpace(l))
			}
			o.Lines, o.Headline = len(parts), strings.Join(parts, " ")
		}
		out = append(out, o)
	}
	return out
}

// continues reports whether a line of a failure block continues the headline above it: it has the block's own
// indentation (more is a detail of the story) and is not blank, "timeline:" or an ellipsis.
func continues(line, indent string) bool {
	t := strings.TrimSpace(line)
	return t != "" && indentOf(line) == indent && !strings.HasPrefix(t, "```") && t != "timeline:" && t != "…"
}

func indentOf(line string) string { return line[:len(line)-len(strings.TrimLeft(line, " \t"))] }

// fenceAfter returns the index of the fence line that opens the block after line i (blank lines may come between).
func fenceAfter(lines []string, i int) int {
	for j := i + 1; j < len(lines); j++ {
		switch t := strings.TrimSpace(lines[j]); {
		case t == "":
		case strings.HasPrefix(t, "```"):
			return j
		default:
			return -1
		}
	}
	return -1
}

// SetOutputs replaces the headline of every annotated block whose test is in real (test → "MARKER: headline") and
// says something else than real (counts and durations aside: see SameHeadline), wrapped at Wrap columns.
func SetOutputs(data []byte, real map[string]string) []byte {
	lines := strings.Split(string(data), "\n")
	outs := Outputs(data)
	for i := len(outs) - 1; i >= 0; i-- { // from the end, so earlier line numbers stay right
		o := outs[i]
		h, ok := real[o.Test]
		if !ok || o.Line == 0 || o.Same(h) {
			continue
		}
		at := o.Line - 1
		indent := indentOf(lines[at])
		wrapped := wrap(h, Wrap-len(indent))
		for i := range wrapped {
			wrapped[i] = indent + wrapped[i]
		}
		lines = append(lines[:at], append(wrapped, lines[at+o.Lines:]...)...)
	}
	return []byte(strings.Join(lines, "\n"))
}

// wrap breaks text into lines of at most width columns, at spaces.
func wrap(text string, width int) []string {
	var out []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len([]rune(line))+1+len([]rune(w)) > width {
			out = append(out, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(out, line)
}

// MarkerLines returns the 1-based numbers of the lines inside fenced blocks that start like a failure headline
// ("LOST: …"), so a check can find failure output that no annotation vouches for.
func MarkerLines(data []byte) []int {
	var out []int
	inFence := false
	for i, line := range bytes.Split(data, []byte("\n")) {
		t := strings.TrimSpace(string(line))
		if strings.HasPrefix(t, "```") {
			inFence = !inFence
			continue
		}
		if !inFence {
			continue
		}
		for _, m := range lab.Markers() {
			if strings.HasPrefix(t, m+": ") {
				out = append(out, i+1)
			}
		}
	}
	return out
}

// HeadlineOf renders a test result's headline as a README shows it.
func HeadlineOf(marker, headline string) string { return fmt.Sprintf("%s: %s", marker, headline) }

// varying is a number that may differ from run to run: a count or a duration ("23 times", "59ms", "1.94ms"). A
// number that is part of an id ("o-1", "m-2", "id-3") is not one: ids must match.
var varying = regexp.MustCompile(`(^|[^\w-])[0-9]+(\.[0-9]+)?(ns|µs|ms|s|m|h)?\b`)

// SameHeadline reports whether two headlines say the same thing: equal words and ids, where counts and durations
// may differ (a starter that loops reports a different number of deliveries every run).
func SameHeadline(a, b string, varies ...string) bool {
	mask := func(s string) string {
		for _, w := range varies {
			s = regexp.MustCompile(`\b`+regexp.QuoteMeta(w)+`\b`).ReplaceAllString(s, "*")
		}
		return varying.ReplaceAllString(s, "${1}#")
	}
	return mask(a) == mask(b)
}

// Same reports whether the block's headline says what real says (see SameHeadline), its varying words aside.
func (o Output) Same(real string) bool { return SameHeadline(o.Headline, real, o.Varies...) }

// Stale is an annotated headline of a README that a run does not bear out.
type Stale struct {
	Output
	Real string // what the run printed ("MARKER: headline"); "" when the test did not fail with a marker
}

// StaleOutputs compares every annotated headline of a README with real (test → "MARKER: headline", as HeadlineOf
// renders it) and returns the ones that differ, in order. A test missing from real is stale only when
// shouldFail(test) says it fails before its step: otherwise the run had nothing to say about it.
func StaleOutputs(data []byte, real map[string]string, shouldFail func(test string) bool) []Stale {
	var out []Stale
	for _, o := range Outputs(data) {
		got, ran := real[o.Test]
		switch {
		case o.Headline == "":
		case !ran:
			if shouldFail(o.Test) {
				out = append(out, Stale{Output: o})
			}
		case !o.Same(got):
			out = append(out, Stale{Output: o, Real: got})
		}
	}
	return out
}
