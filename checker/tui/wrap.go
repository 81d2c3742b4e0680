package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// minWrap is the narrowest a text is wrapped to.
const minWrap = 10

// wrap wraps text to w cells at word boundaries (spaces: never at a hyphen, so a URL or a flag stays whole), each
// line of s on its own. A URL that does not fit where it stands moves whole to the next line; only a word longer
// than a whole line (a URL included: there is no other way to show all of it) is broken, at the line's end.
func wrap(s string, w int) string {
	w = max(w, minWrap)
	paras := strings.Split(s, "\n")
	out := make([]string, 0, len(paras))
	for _, p := range paras {
		out = append(out, wrapWords(p, w, w)...)
	}
	return strings.Join(out, "\n")
}

// wrapWords wraps one line of text (no newlines): the first line to first cells, every other to rest. The first
// line keeps the text's leading spaces and every line keeps the spacing between its words (timeline columns);
// the spaces where a line breaks are dropped. Widths are terminal cells (ANSI sequences take none).
func wrapWords(s string, first, rest int) []string {
	w := wrapper{first: max(first, 1), rest: max(rest, 1)}
	for s != "" {
		gap := s[:len(s)-len(strings.TrimLeft(s, " "))]
		s = s[len(gap):]
		word := s
		if i := strings.IndexByte(s, ' '); i >= 0 {
			word = s[:i]
		}
		s = s[len(word):]
		if word == "" { // trailing spaces
			break
		}
		w.add(gap, word)
	}
	return w.done()
}

// wrapper collects the lines of wrapWords.
type wrapper struct {
	first, rest int
	lines       []string
	cur         strings.Builder
	curW        int
	words       bool // the current line holds a word (not only the first line's indent)
}

func (w *wrapper) limit() int {
	if len(w.lines) == 0 {
		return w.first
	}
	return w.rest
}

func (w *wrapper) write(s string, width int) {
	w.cur.WriteString(s)
	w.curW += width
}

func (w *wrapper) flush() {
	w.lines = append(w.lines, w.cur.String())
	w.cur.Reset()
	w.curW, w.words = 0, false
}

// add puts gap and word on the current line when they fit, else word on the next line, and breaks word only when
// it is longer than a line.
func (w *wrapper) add(gap, word string) {
	if !w.words && len(w.lines) > 0 {
		gap = "" // a wrapped line starts with its word
	}
	gw, ww := ansi.StringWidth(gap), ansi.StringWidth(word)
	switch {
	case w.curW+gw+ww <= w.limit():
		w.write(gap+word, gw+ww)
		w.words = true
		return
	case w.words && ww <= w.rest:
		w.flush()
		w.write(word, ww)
		w.words = true
		return
	}
	// Longer than a line: it starts on a line of its own (after the first line's indent) and is cut at each end.
	if w.words {
		w.flush()
	} else {
		w.write(gap, gw)
	}
	for ww > 0 {
		room := w.limit() - w.curW
		part := ansi.Cut(word, 0, room)
		pw := ansi.StringWidth(part)
		if pw == 0 && w.curW > 0 { // an indent too wide, or a wide rune at the edge: go on on the next line
			w.flush()
			continue
		}
		if pw == 0 { // a rune wider than a whole line: it goes on a line of its own anyway
			r := []rune(word)[:1]
			part, pw = string(r), ansi.StringWidth(string(r))
			word = string([]rune(word)[1:])
		} else {
			word = ansi.Cut(word, pw, ww)
		}
		w.write(part, pw)
		w.words = true
		ww = ansi.StringWidth(word)
		if ww > 0 {
			w.flush()
		}
	}
}

func (w *wrapper) done() []string {
	if w.cur.Len() > 0 || len(w.lines) == 0 {
		w.flush()
	}
	return w.lines
}
