package tui

import (
	"regexp"
	"slices"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"msglabs/checker/report"
	"msglabs/shared/story"
)

// renderLines draws report lines in a pane w cells wide: each line styled by its kind, indented two cells a level
// (as the command line prints them), and wrapped with a hanging indent where it is longer than the pane, never cut.
func renderLines(st Styles, lines []report.Line, w int) []string {
	var out []string
	for _, l := range lines {
		out = append(out, renderLine(st, l, w)...)
	}
	return out
}

func renderLine(st Styles, l report.Line, w int) []string {
	if l.Text == "" {
		return []string{""}
	}
	pad := strings.Repeat("  ", l.Indent)
	text := detab(l.Text)
	marker, isMarker := markerLine(l)
	indent := continuation(text)
	if isMarker {
		indent = strings.Repeat(" ", len(marker)+2)
	}
	parts := hang(text, max(w-len(pad), minWrap), indent)
	out := make([]string, len(parts))
	for i, p := range parts {
		switch {
		case isMarker && i == 0:
			out[i] = pad + st.Marker.Render(marker+":") + st.Bold.Render(strings.TrimPrefix(p, marker+":"))
		case isMarker:
			out[i] = pad + st.Bold.Render(p)
		default:
			out[i] = pad + styleText(st, l.Kind, p, i == 0)
		}
	}
	return out
}

// markerLine reports whether a story line starts with a marker ("DUPLICATE: order o-1 …"), and which.
func markerLine(l report.Line) (string, bool) {
	if l.Kind != report.Story {
		return "", false
	}
	m, _, found := strings.Cut(l.Text, ":")
	if !found || !slices.Contains(story.Markers, story.Marker(m)) {
		return "", false
	}
	return m, true
}

// fileLine is a compiler message: file:line[:col]: message.
var fileLine = regexp.MustCompile(`^(\s*)(\S+\.go:\d+(?::\d+)?):(.*)$`)

// styleText styles one (wrapped) part of a line of the given kind; first is the line's first part.
func styleText(st Styles, k report.Kind, s string, first bool) string {
	switch k {
	case report.Title:
		return st.Title.Render(s)
	case report.VerdictPass, report.StepDone, report.Unlock:
		return st.Pass.Render(s)
	case report.VerdictFail:
		if strings.HasPrefix(s, report.GlyphInfra) && first { // not the attendee's failure
			return st.Warn.Render(s)
		}
		return st.Fail.Render(s)
	case report.Step:
		return st.StepNow.Render(s)
	case report.StepLater, report.Next, report.Concept, report.TestSkip:
		return st.Dim.Render(s)
	case report.TestPass:
		return timed(st.Pass, st, s, first)
	case report.TestFail:
		return timed(st.Fail, st, s, first)
	case report.TestNotRun, report.Mistake, report.Infra:
		return st.Warn.Render(s)
	case report.NotCounted, report.Note:
		return st.Note.Render(s)
	case report.Timeline:
		return st.Timeline.Render(s)
	case report.Stage:
		return st.Tag.Render(s)
	case report.Build:
		if m := fileLine.FindStringSubmatch(s); m != nil && first {
			return m[1] + st.Location.Render(m[2]) + ":" + m[3]
		}
		if strings.HasSuffix(s, ":") && first {
			return st.Fail.Render(s)
		}
	case report.Story:
		if rest, ok := strings.CutPrefix(s, "at "); ok && first {
			return "at " + st.Location.Render(rest)
		}
	}
	return s
}

// timed styles a test row: the glyph and the name in the verdict's style, the time after two spaces dimmed.
func timed(verdict lipgloss.Style, st Styles, s string, first bool) string {
	i := strings.LastIndex(s, "  ")
	if !first || i < 0 {
		return verdict.Render(s)
	}
	return verdict.Render(s[:i]) + st.Dim.Render(s[i:])
}

// hang wraps s to width w; every line after the first starts with indent, so a long line wraps readably instead
// of being cut at the edge of the pane. A newline in s starts a new (indented) line.
func hang(s string, w int, indent string) []string {
	rest := max(w-len(indent), minWrap)
	var lines []string
	for i, p := range strings.Split(s, "\n") {
		first := max(w, minWrap)
		if i > 0 {
			first = rest
		}
		lines = append(lines, wrapWords(p, first, rest)...)
	}
	for i := 1; i < len(lines); i++ {
		lines[i] = indent + lines[i]
	}
	return lines
}

// continuation is the indent for the wrapped part of a line: past a timeline line's time and actor columns
// ("  +0.017s  sales     published …"), else two cells in from the line's own indent.
func continuation(line string) string {
	if m := timelineColumns.FindStringIndex(line); m != nil {
		return strings.Repeat(" ", m[1])
	}
	lead := len(line) - len(strings.TrimLeft(line, " "))
	return strings.Repeat(" ", lead+2)
}

var timelineColumns = regexp.MustCompile(`^\s*[+-]\d+\.\d+s\s+\S+\s+`)
