package diagram

import (
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

// Terminal layout, in cells.
const (
	timeCells    = 9  // "+0.036s" and a space
	laneSpace    = 2  // between two lane boxes
	textSpace    = 2  // between the last lane and the words
	minTextCells = 24 // narrower than this, the diagram gives way to the plain timeline
	minCells     = 40 // the least width anything is drawn at
	maxTextLines = 3  // a row's words take at most this many lines; the rest is cut
)

// Options say how to draw for a terminal.
type Options struct {
	Width int  // cells per line; every returned line fits in it
	Color bool // ANSI colour as an extra; the diagram reads the same without it (see ColorAllowed)
}

// Frame is a drawn diagram: Header (the title, the verdict and the lane names) stays on screen; Body scrolls.
// Narrow is true when the width was too small for lanes and Body is the plain timeline.
type Frame struct {
	Header []string
	Body   []string
	Narrow bool
}

// Lines is the whole frame, header first.
func (f Frame) Lines() []string { return append(append([]string(nil), f.Header...), f.Body...) }

// ColorAllowed reports whether colour may be used: the output is a terminal, NO_COLOR is unset (https://no-color.org)
// and TERM is not "dumb".
func ColorAllowed(getenv func(string) string, isTerminal bool) bool {
	return isTerminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// Terminal draws the diagram as lines of text for a terminal of the given width, lanes drawn with box-drawing
// characters. When the lanes and the words do not fit, it returns the plain timeline instead (Frame.Narrow).
func Terminal(d Diagram, o Options) Frame {
	o.Width = max(o.Width, minCells)
	p := newPalette(o.Color)
	if len(d.Lanes) == 0 {
		return Frame{Header: termTitle(d, o.Width, p), Body: timeline(d, o.Width, p), Narrow: true}
	}
	boxed := true
	lay := termLayout(d, boxed)
	if o.Width-lay.end-textSpace < minTextCells {
		boxed = false // names without boxes take less room
		lay = termLayout(d, boxed)
	}
	textW := o.Width - lay.end - textSpace
	if textW < minTextCells {
		return Frame{Header: termTitle(d, o.Width, p), Body: timeline(d, o.Width, p), Narrow: true}
	}
	f := Frame{Header: append(termTitle(d, o.Width, p), termHeads(d, lay, boxed, p)...)}
	for i, r := range d.Rows {
		if r.Kind == FailureRow {
			f.Body = append(f.Body, termFailure(r, o.Width, p)...)
			continue
		}
		f.Body = append(f.Body, termRow(d, lay, i, r, textW, p)...)
	}
	return f
}

// lanePlaces says where the lanes are in a terminal row: each lane's head starts at left[i], its line is at x[i], and
// the lane area ends at end.
type lanePlaces struct {
	left, x []int
	end     int
}

// termLayout places the lanes side by side, each as wide as its head (a box, or the bare name).
func termLayout(d Diagram, boxed bool) lanePlaces {
	lay := lanePlaces{left: make([]int, len(d.Lanes)), x: make([]int, len(d.Lanes))}
	left := timeCells
	for i, l := range d.Lanes {
		w := termHeadW(l, boxed)
		lay.left[i], lay.x[i] = left, left+w/2
		left += w + laneSpace
	}
	lay.end = left - laneSpace
	return lay
}

func termHeadW(l Lane, boxed bool) int {
	if boxed {
		return cells(l.Name) + 4
	}
	return cells(l.Name)
}

func termTitle(d Diagram, width int, p palette) []string {
	var out []string
	for _, l := range wrap(titleLine(d), width) {
		out = append(out, p.title.Render(l))
	}
	if d.Failed {
		for _, l := range wrap(d.Verdict(), width) {
			out = append(out, p.fatalText.Render(l))
		}
	}
	return out
}

// termHeads draws the lane names, in boxes when boxed, each with its line going down from the middle.
func termHeads(d Diagram, lay lanePlaces, boxed bool, p palette) []string {
	n := 1
	if boxed {
		n = 3
	}
	rows := make([]strings.Builder, n)
	for k := range rows {
		rows[k].WriteString(strings.Repeat(" ", timeCells))
	}
	for i, l := range d.Lanes {
		w := termHeadW(l, boxed)
		style := p.lane
		if l.Broker {
			style = p.broker
		}
		var parts []string
		if boxed {
			bottom := []rune("└" + strings.Repeat("─", w-2) + "┘")
			if l.Last >= 0 {
				bottom[lay.x[i]-lay.left[i]] = '┬'
			}
			parts = []string{"┌" + strings.Repeat("─", w-2) + "┐", "│ " + l.Name + " │", string(bottom)}
		} else {
			parts = []string{l.Name}
		}
		sep := strings.Repeat(" ", laneSpace)
		if i == len(d.Lanes)-1 {
			sep = ""
		}
		for k, part := range parts {
			rows[k].WriteString(style.Render(part) + sep)
		}
	}
	out := make([]string, n)
	for k := range rows {
		out[k] = rows[k].String()
	}
	return out
}

// cell is one character of a row with the style it is drawn in.
type cell struct {
	r     rune
	style Style
	mark  bool // drawn in the lane style rather than the row's
}

// termRow draws one row: the time, every lane's line at its column (with the arrow or mark of the row), the words
// (wrapped onto up to maxTextLines lines).
func termRow(d Diagram, lay lanePlaces, i int, r Row, textW int, p palette) []string {
	xs := lay.x
	line := make([]cell, lay.end)
	for j := range line {
		line[j] = cell{r: ' ', style: Plain, mark: true}
	}
	for j, l := range d.Lanes {
		line[xs[j]] = cell{r: lifeRune(l, i), style: Plain, mark: true}
	}
	switch r.Kind {
	case ArrowRow:
		termArrow(line, xs[r.From], xs[r.To], r.Style)
	case NoteRow:
		line[xs[r.From]] = cell{r: '•', style: r.Style}
	case MarkRow:
		line[xs[r.From]] = cell{r: markRunes[r.Mark], style: Broken}
	}
	label := r.Label
	if r.Kind == MarkRow {
		label = string(markRunes[r.Mark]) + " " + label
	}
	words := wrap(label, textW)
	if len(words) > maxTextLines {
		words = append(words[:maxTextLines-1], cut(strings.Join(words[maxTextLines-1:], " "), textW))
	}
	out := make([]string, 0, len(words))
	for k, w := range words {
		var b strings.Builder
		if k == 0 {
			b.WriteString(p.time.Render(fmt.Sprintf("%-*s", timeCells, fmt.Sprintf("%+.3fs", r.AtMS/1000))))
			b.WriteString(p.cells(line[timeCells:]))
		} else {
			b.WriteString(strings.Repeat(" ", timeCells))
			b.WriteString(p.cells(continuation(d, lay, i)[timeCells:]))
		}
		b.WriteString(strings.Repeat(" ", textSpace))
		b.WriteString(p.text(r.Style).Render(w))
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}

// continuation is the lane area under row i, for the row's second and third lines of words: the lifelines only.
func continuation(d Diagram, lay lanePlaces, i int) []cell {
	line := make([]cell, lay.end)
	for j := range line {
		line[j] = cell{r: ' ', style: Plain, mark: true}
	}
	for j, l := range d.Lanes {
		r := lifeRune(l, i)
		if i == l.Last || i == l.End {
			r = lifeRune(l, i+1) // the line ends (or dies) with this row's first line
		}
		line[lay.x[j]] = cell{r: r, style: Plain, mark: true}
	}
	return line
}

// markRunes are one cell wide in every terminal font (no emoji).
var markRunes = map[Mark]rune{Crashed: '✗', Cutoff: '↯', NoEntry: '⊘', Exited: '■'}

// lifeRune is what lane l shows in row i: its line while it lives, a dotted line after its process ended, nothing
// before it started or after its last event.
func lifeRune(l Lane, i int) rune {
	switch {
	case l.First < 0 || i < l.First || i > l.Last:
		return ' '
	case l.End >= 0 && i > l.End:
		return '┊'
	case l.Broker:
		return '┃'
	}
	return '│'
}

// arrowRunes are the shaft of an arrow in each style: heavy for what the failure is about, dotted for plumbing.
var arrowRunes = map[Style]rune{Plain: '─', Setup: '┄', Redelivered: '━', Refused: '━', Negative: '╌'}

func termArrow(line []cell, from, to int, st Style) {
	shaft := arrowRunes[st]
	if shaft == 0 {
		shaft = '─'
	}
	step, head := 1, '▶'
	if to < from {
		step, head = -1, '◀'
	}
	for x := from + step; x != to-step; x += step {
		line[x] = cell{r: shaft, style: st}
	}
	if to-step != from {
		line[to-step] = cell{r: head, style: st}
	}
}

// termFailure draws the verdict as a band of full lines.
func termFailure(r Row, width int, p palette) []string {
	var out []string
	for _, l := range wrap("✗ "+r.Label, width-2) {
		out = append(out, p.fatal.Render(" "+l+strings.Repeat(" ", max(0, width-2-cells(l)))+" "))
	}
	return out
}

// timeline is the narrow-terminal fallback: the events as the harness printed them, wrapped under their actor.
func timeline(d Diagram, width int, p palette) []string {
	actorW := 0
	for _, l := range d.Lanes {
		actorW = max(actorW, cells(l.Name))
	}
	actorW = min(actorW, width/4)
	indent := timeCells + actorW + 1
	var out []string
	for _, r := range d.Rows {
		if r.Kind == FailureRow {
			out = append(out, termFailure(r, width, p)...)
			continue
		}
		actor := ""
		if r.From >= 0 {
			actor = d.Lanes[r.From].Name
		}
		if r.Kind == ArrowRow && d.Lanes[r.From].Broker {
			actor = d.Lanes[r.To].Name
		}
		for k, text := range strings.Split(r.Text, "\n") {
			lines := wrap(text, max(10, width-indent))
			for j, l := range lines {
				head := strings.Repeat(" ", indent)
				if j == 0 && k == 0 {
					head = p.time.Render(fmt.Sprintf("%-*s", timeCells, fmt.Sprintf("%+.3fs", r.AtMS/1000))) +
						fmt.Sprintf("%-*s ", actorW, cut(actor, actorW))
				}
				out = append(out, head+p.text(r.Style).Render(l))
			}
		}
	}
	return out
}

// palette holds the terminal styles; without colour every style renders its text unchanged.
type palette struct {
	title, time, lane, broker, fatal, fatalText lipgloss.Style
	styles                                      map[Style]lipgloss.Style
}

func newPalette(color bool) palette {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	if color {
		r.SetColorProfile(termenv.ANSI256)
	}
	st := func(fg string) lipgloss.Style { return r.NewStyle().Foreground(lipgloss.Color(fg)) }
	return palette{
		title:     r.NewStyle().Bold(true),
		time:      st("244"),
		lane:      st("252"),
		broker:    st("214"),
		fatal:     r.NewStyle().Bold(true).Foreground(lipgloss.Color("231")).Background(lipgloss.Color("160")),
		fatalText: st("196").Bold(true),
		styles: map[Style]lipgloss.Style{
			Plain:       r.NewStyle(),
			Setup:       st("244"),
			Redelivered: st("208").Bold(true),
			Refused:     st("196").Bold(true),
			Negative:    st("178"),
			Broken:      st("196").Bold(true),
			Repeat:      st("196").Bold(true),
			Fatal:       st("196").Bold(true),
		},
	}
}

func (p palette) text(s Style) lipgloss.Style {
	if st, ok := p.styles[s]; ok {
		return st
	}
	return p.styles[Plain]
}

// cells renders a row's characters, one styled run per style.
func (p palette) cells(line []cell) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		j := i
		var run []rune
		for j < len(line) && line[j].style == line[i].style && line[j].mark == line[i].mark {
			run = append(run, line[j].r)
			j++
		}
		st := p.text(line[i].style)
		if line[i].mark {
			st = p.time
		}
		b.WriteString(st.Render(string(run)))
		i = j
	}
	return b.String()
}

// StripColor removes colour from drawn lines, for logs and tests.
func StripColor(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = ansi.Strip(l)
	}
	return out
}
