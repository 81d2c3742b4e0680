// Package report turns a lab run into typed lines, once: the verdict, the step the attendee is on ("step 2 of 3:
// the relay") with its failing tests and their stories, the chaos stage, named mistakes, INFRA, why a run was not
// counted, what it unlocked and the command to type next. The command line prints the lines as they are; the TUI
// styles them by Kind. No other package words a run's result.
package report

import (
	"fmt"
	"strings"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
	"msglabs/shared/story"
)

// Kind says what a line is, so a front end can style it.
type Kind string

// Line kinds.
const (
	Title       Kind = "title"        // "lab 5 · Idempotent consumer  (labs/05-idempotent-consumer)"
	VerdictPass Kind = "verdict-pass" // "✓ lab 5 passed · …"
	VerdictFail Kind = "verdict-fail" // "✗ lab 5: step 2 of 3 failing · …"
	Step        Kind = "step"         // the step presented: "step 2 of 3: the relay"
	StepDone    Kind = "step-done"    // "✓ step 1 of 3: the outbox write"
	StepLater   Kind = "step-later"   // a later step that fails too, in one line
	Concept     Kind = "concept"      // what the presented step teaches
	TestPass    Kind = "test-pass"    // "✓ TestX  120ms"
	TestFail    Kind = "test-fail"    // "✗ TestX  1.2s"
	TestSkip    Kind = "test-skip"    // "- TestX  skipped"
	TestNotRun  Kind = "test-not-run" // "○ TestX  did not run"
	Story       Kind = "story"        // a failure's marker line and its details
	Timeline    Kind = "timeline"     // the timeline under a story
	Output      Kind = "output"       // what a failed test printed, when it told no story
	Build       Kind = "build"        // a compiler message, file:line: message
	Stage       Kind = "stage"        // the chaos stage's header
	Mistake     Kind = "mistake"      // a named mistake the failure matches
	Infra       Kind = "infra"        // a service failed: never the attendee's fault
	NotCounted  Kind = "not-counted"  // why the run cannot count
	Note        Kind = "note"         // anything else worth a line: a data race, a locked lab run anyway
	Unlock      Kind = "unlock"       // "unlocked: lab 6, solution 5"
	Next        Kind = "next"         // the command to type next
)

// Line is one line of a report. Indent counts levels (the plain rendering uses two spaces a level).
type Line struct {
	Kind   Kind   `json:"kind"`
	Text   string `json:"text"`
	Indent int    `json:"indent,omitempty"`
}

// Glyphs, the same everywhere.
const (
	GlyphPass   = "✓"
	GlyphFail   = "✗"
	GlyphSkip   = "-"
	GlyphNotRun = "○"
	GlyphInfra  = "!"
)

// Options say how commands are spelled for the attendee's shell.
type Options struct {
	// Checker is the checker as the attendee types it from where they are: "bin/checker" at the kit root.
	Checker string
	// Path shows a file's absolute path as the attendee reaches it from where they are; nil shows it as it is.
	Path func(abs string) string
}

func (o Options) path(abs string) string {
	if o.Path == nil {
		return abs
	}
	return o.Path(abs)
}

func (o Options) cmd(args ...any) string {
	c := o.Checker
	if c == "" {
		c = "bin/checker"
	}
	parts := []string{c}
	for _, a := range args {
		parts = append(parts, fmt.Sprint(a))
	}
	return "`" + strings.Join(parts, " ") + "`"
}

// Plain renders lines as the command line prints them: two spaces per indent level, one line each.
func Plain(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		if l.Text != "" {
			b.WriteString(strings.Repeat("  ", l.Indent))
		}
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// Duration formats a test's or a run's time: 340ms, 2.1s.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// Header is what is shown before a run: the lab, and a note when it is run while still locked.
func Header(li kit.LabInfo) []Line {
	out := []Line{{Kind: Title, Text: fmt.Sprintf("lab %d · %s  (%s)", li.Number, li.Title, li.Dir())}}
	if !li.Unlocked {
		out = append(out, Line{Kind: Note, Text: fmt.Sprintf(
			"lab %d is still locked (pass the lab before it first); running it anyway, each lab stands alone.", li.Number)})
	}
	return out
}

// TestRow is one finished test in a line, as it is shown while the run goes on.
func TestRow(r gotest.Result, indent int) Line {
	switch r.Status {
	case gotest.Pass:
		return Line{Kind: TestPass, Text: fmt.Sprintf("%s %s  %s", GlyphPass, r.Name, Duration(r.Elapsed)), Indent: indent}
	case gotest.Skip:
		return Line{Kind: TestSkip, Text: fmt.Sprintf("%s %s  skipped", GlyphSkip, r.Name), Indent: indent}
	}
	if r.Marker == string(story.Infra) {
		// Not the attendee's failure: a service let the test down. The INFRA line below says which and the fix.
		return Line{Kind: Infra, Text: fmt.Sprintf("%s %s  could not be judged (%s)", GlyphInfra, r.Name, story.Infra), Indent: indent}
	}
	return Line{Kind: TestFail, Text: fmt.Sprintf("%s %s  %s", GlyphFail, r.Name, Duration(r.Elapsed)), Indent: indent}
}

// Failure is a failed test's row followed by what explains it: its story and timeline, its panic, or (when it
// told no story) what it printed.
func Failure(r gotest.Result, indent int) []Line {
	out := []Line{TestRow(r, indent)}
	in := indent + 2
	switch {
	case r.Hung:
		out = append(out, Line{Kind: Story, Indent: in, Text: "made no progress, so the run was stopped (where it was stuck: below)"})
	case r.TimedOut:
		out = append(out, Line{Kind: Story, Indent: in,
			Text: "did not finish in time: it hangs (a wait without a bound, or a message nobody takes?)"})
	case r.Panic != nil:
		out = append(out, Line{Kind: Story, Indent: in, Text: "panic: " + r.Panic.Message})
		if r.Panic.At != "" {
			out = append(out, Line{Kind: Story, Indent: in, Text: "at " + r.Panic.At})
		}
	case r.Story != "":
		out = append(out, storyLines(r.Story, in)...)
	default:
		if r.Dropped > 0 {
			out = append(out, Line{Kind: Note, Indent: in, Text: fmt.Sprintf("… %d earlier lines (the whole output is in the run's log)", r.Dropped)})
		}
		for _, l := range r.Output {
			if strings.HasPrefix(l, "=== ") || strings.HasPrefix(strings.TrimSpace(l), "--- ") {
				continue
			}
			out = append(out, Line{Kind: Output, Indent: in, Text: strings.TrimRight(l, " \t")})
		}
	}
	return out
}

// storyLines splits a story into its marker line and details, then the timeline.
func storyLines(story string, indent int) []Line {
	var out []Line
	kind := Story
	for _, l := range strings.Split(strings.TrimRight(story, "\n"), "\n") {
		if strings.TrimSpace(l) == "timeline:" {
			kind = Timeline
		}
		out = append(out, Line{Kind: kind, Indent: indent, Text: l})
	}
	return out
}

// StepName is step n of lab l as every front end names it: "step 2 of 3: the relay".
func StepName(l lab.Lab, n int) string {
	return fmt.Sprintf("step %d of %d: %s", n, len(l.Steps), l.Steps[n-1].Title)
}
