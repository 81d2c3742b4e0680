package diagram

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	svg "github.com/ajstarks/svgo"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/reflow/wordwrap"
)

// Sizes of the SVG, in pixels. The text is large and monospaced so a projector at the back of a room can read it and
// a label's width is known without measuring a font.
const (
	fontSize    = 16
	charWidth   = 0.6 * fontSize // a monospace glyph's advance, as a fraction of the font size
	titleSize   = 20
	setupSize   = 14 // the faint setup rows' labels
	margin      = 24
	gutter      = 84  // the time column on the left
	headerH     = 40  // a lane's name box
	rowH        = 36  // one row
	minGap      = 150 // the least distance between two neighbouring lanes
	maxGap      = 440 // the most: a longer arrow label is cut (its full text is the tooltip)
	labelPad    = 28  // room around an arrow's label
	maxNoteCell = 96  // a note or mark is cut after this many characters (its full text is the tooltip)
	markSize    = 9   // half the size of a crash's cross
	wrapCells   = 100 // the title and the verdict wrap at this many characters at most
)

const fontFamily = `'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace`

// colours per style: line colour, and the text colour of a note.
var colours = map[Style]string{
	Plain:       "#1f2937",
	Setup:       "#9ca3af",
	Redelivered: "#c2410c",
	Refused:     "#dc2626",
	Negative:    "#a16207",
	Broken:      "#dc2626",
	Repeat:      "#b91c1c",
	Fatal:       "#b91c1c",
}

// arrowStyles are the styles an arrow can have, each with its own arrowhead.
var arrowStyles = []Style{Plain, Setup, Redelivered, Refused, Negative}

// svgStyle is the stylesheet embedded in every diagram (self-contained: no fonts, images or links are fetched).
var svgStyle = fmt.Sprintf(`
text { font-family: %s; font-size: %dpx; fill: #111827; }
.title { font-size: %dpx; font-weight: bold; }
.verdict { fill: #b91c1c; font-weight: bold; }
.lane { fill: #f3f4f6; stroke: #374151; stroke-width: 2; }
.lane.broker { fill: #fef3c7; stroke: #92400e; }
.lanename { font-weight: bold; text-anchor: middle; }
.life { stroke: #6b7280; stroke-width: 2; }
.life.broker { stroke: #92400e; stroke-width: 4; }
.life.dead { stroke: #d1d5db; stroke-dasharray: 4 6; }
.time { fill: #6b7280; font-size: 14px; }
.arrow { stroke-width: 2.5; }
.arrow.setup { stroke-width: 1.5; stroke-dasharray: 5 5; }
.arrow.redelivered { stroke-width: 4; }
.arrow.refused { stroke-width: 4; }
.arrow.negative { stroke-dasharray: 8 4; }
.lbl { text-anchor: middle; }
.lbl.setup { fill: #6b7280; font-size: %dpx; }
.lbl.redelivered { fill: #c2410c; font-weight: bold; }
.lbl.refused { fill: #dc2626; font-weight: bold; }
.notebg { fill: #ffffff; fill-opacity: 0.9; }
.note { fill: #374151; }
.note.repeat { fill: #b91c1c; font-weight: bold; }
.notebg.repeat { fill: #fee2e2; fill-opacity: 1; stroke: #b91c1c; stroke-width: 2; }
.mark { stroke: #dc2626; stroke-width: 4; stroke-linecap: round; }
.marktext { fill: #dc2626; font-weight: bold; }
.fatal { fill: #b91c1c; }
.fataltext { fill: #ffffff; font-weight: bold; }
`, fontFamily, fontSize, titleSize, setupSize)

// cells is the width of s in monospace cells.
func cells(s string) int { return ansi.StringWidth(s) }

// px is the width of s in pixels at the body font size.
func px(s string) int { return int(float64(cells(s))*charWidth + 0.5) }

// cut shortens s to at most n cells, ending in "…".
func cut(s string, n int) string {
	if cells(s) <= n {
		return s
	}
	return ansi.Truncate(s, n, "…")
}

// geometry is where things go in the SVG.
type geometry struct {
	x        []int // each lane's centre
	top      int   // y of the lane boxes
	rowsTop  int   // y of the first row
	width    int
	height   int
	title    []string
	verdict  []string
	fatalTxt []string
}

func (d Diagram) geometry() geometry {
	var g geometry
	g.title = wrap(titleLine(d), wrapCells)
	if d.Failed {
		g.verdict = wrap(d.Verdict(), wrapCells)
	}
	g.top = margin + len(g.title)*(titleSize+8) + len(g.verdict)*(fontSize+6) + 12
	g.rowsTop = g.top + headerH + rowH/2
	g.x = d.laneXs()
	right := margin + gutter
	if n := len(g.x); n > 0 {
		right = g.x[n-1] + laneBoxW(d.Lanes[n-1])/2
	}
	for _, r := range d.Rows {
		switch r.Kind {
		case NoteRow, MarkRow:
			right = max(right, g.x[r.From]+markSize+10+px(cut(r.Label, maxNoteCell))+8)
		}
	}
	width := right + margin
	for _, r := range d.Rows {
		if r.Kind == FailureRow {
			g.fatalTxt = wrap(r.Label, max(40, (width-2*margin)*10/int(charWidth*10)-2))
		}
	}
	for _, l := range append(append([]string(nil), g.title...), g.verdict...) {
		width = max(width, margin*2+px(l)*titleSize/fontSize)
	}
	g.width = width
	g.height = g.rowsTop + len(d.Rows)*rowH + max(0, len(g.fatalTxt)-1)*(fontSize+6) + margin
	return g
}

func titleLine(d Diagram) string {
	if d.Lab == "" {
		return d.Test
	}
	return d.Lab + " · " + d.Test
}

func laneBoxW(l Lane) int { return max(110, px(l.Name)+32) }

// laneXs places the lanes left to right: each gap fits the labels of the arrows that cross it, within bounds.
func (d Diagram) laneXs() []int {
	n := len(d.Lanes)
	if n == 0 {
		return nil
	}
	gaps := make([]int, max(0, n-1))
	for i := range gaps {
		gaps[i] = max(minGap, (laneBoxW(d.Lanes[i])+laneBoxW(d.Lanes[i+1]))/2+24)
	}
	for _, r := range d.Rows {
		if r.Kind != ArrowRow || r.From == r.To {
			continue
		}
		a, b := min(r.From, r.To), max(r.From, r.To)
		need := min(maxGap*(b-a), px(r.Label)+labelPad)
		have := 0
		for i := a; i < b; i++ {
			have += gaps[i]
		}
		if have < need {
			gaps[b-1] += need - have
		}
	}
	xs := make([]int, n)
	xs[0] = margin + gutter + laneBoxW(d.Lanes[0])/2
	for i := 1; i < n; i++ {
		xs[i] = xs[i-1] + gaps[i-1]
	}
	return xs
}

// wrap breaks s into lines of at most n cells, at spaces only ("m-1" stays whole); a word longer than a line is cut.
func wrap(s string, n int) []string {
	if s == "" {
		return nil
	}
	ww := wordwrap.NewWriter(n)
	ww.Breakpoints = nil
	_, _ = ww.Write([]byte(s)) // writes to memory
	_ = ww.Close()
	var out []string
	for _, line := range strings.Split(ww.String(), "\n") {
		line = strings.TrimRight(line, " ")
		if cells(line) > n {
			out = append(out, strings.Split(ansi.Hardwrap(line, n, true), "\n")...)
			continue
		}
		out = append(out, line)
	}
	return out
}

// SVG writes the diagram as a standalone SVG document: no scripts, fonts or images are loaded from anywhere.
// Every row carries its timeline words as a tooltip (<title>).
func SVG(w io.Writer, d Diagram) error {
	var buf bytes.Buffer
	g := d.geometry()
	s := svg.New(&buf)
	s.Start(g.width, g.height, fmt.Sprintf(`viewBox="0 0 %d %d"`, g.width, g.height), `role="img"`)
	s.Title(titleLine(d) + ": " + d.Verdict())
	s.Style("text/css", svgStyle)
	defs(s)
	s.Rect(0, 0, g.width, g.height, "fill:#ffffff")
	y := margin + titleSize
	for _, l := range g.title {
		s.Text(margin, y, l, `class="title"`)
		y += titleSize + 8
	}
	for _, l := range g.verdict {
		s.Text(margin, y, l, `class="verdict"`)
		y += fontSize + 6
	}
	d.drawLanes(s, g)
	for i, r := range d.Rows {
		d.drawRow(s, g, i, r)
	}
	s.End()
	_, err := w.Write(buf.Bytes())
	if err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

func defs(s *svg.SVG) {
	s.Def()
	for _, st := range arrowStyles {
		s.Marker("head-"+string(st), 9, 5, 10, 10, `orient="auto"`, `markerUnits="userSpaceOnUse"`, `viewBox="0 0 10 10"`)
		s.Path("M0,0 L10,5 L0,10 z", "fill:"+colours[st])
		s.MarkerEnd()
	}
	s.DefEnd()
}

func rowY(g geometry, i int) int { return g.rowsTop + i*rowH }

func (d Diagram) drawLanes(s *svg.SVG, g geometry) {
	for i, l := range d.Lanes {
		x, bw := g.x[i], laneBoxW(l)
		class := "lane"
		lifeClass := "life"
		if l.Broker {
			class, lifeClass = "lane broker", "life broker"
		}
		first := g.top + headerH
		if l.First > 0 && !l.Broker {
			first = rowY(g, l.First) - rowH/2 // a process started later: its line begins where it does
		}
		boxY := g.top
		s.Group(`class="lanehead"`)
		s.Title(l.Name)
		s.Rect(x-bw/2, boxY, bw, headerH, fmt.Sprintf(`class="%s"`, class), `rx="6"`)
		s.Text(x, boxY+headerH/2+fontSize*2/5, l.Name, `class="lanename"`)
		s.Gend()
		if l.Last < 0 {
			continue
		}
		last := rowY(g, l.Last) + rowH/2
		if l.End >= 0 {
			end := rowY(g, l.End)
			s.Line(x, first, x, end, fmt.Sprintf(`class="%s"`, lifeClass))
			if l.Last > l.End {
				s.Line(x, end, x, last, `class="life dead"`)
			}
			continue
		}
		s.Line(x, first, x, last, fmt.Sprintf(`class="%s"`, lifeClass))
	}
}

func (d Diagram) drawRow(s *svg.SVG, g geometry, i int, r Row) {
	y := rowY(g, i)
	s.Group(fmt.Sprintf(`class="row %s"`, r.Style))
	s.Title(r.Text)
	if r.Kind != FailureRow {
		s.Text(margin, y+5, fmt.Sprintf("%+.3fs", r.AtMS/1000), `class="time"`)
	}
	switch r.Kind {
	case ArrowRow:
		x1, x2 := g.x[r.From], g.x[r.To]
		tip := x2 - 4
		if x2 < x1 {
			tip = x2 + 4
		}
		s.Line(x1, y+6, tip, y+6, fmt.Sprintf(`class="arrow %s"`, r.Style), "stroke:"+colours[r.Style],
			fmt.Sprintf(`marker-end="url(#head-%s)"`, r.Style))
		glyph := charWidth
		if r.Style == Setup {
			glyph = 0.6 * setupSize // the plumbing is written smaller
		}
		span := max(1, int(float64(abs(x2-x1)-labelPad/2)/glyph))
		s.Text((x1+x2)/2, y-2, cut(r.Label, span), fmt.Sprintf(`class="lbl %s"`, r.Style))
	case NoteRow:
		x := g.x[r.From] + 10
		label := cut(r.Label, maxNoteCell)
		s.Rect(x-4, y-fontSize+2, px(label)+8, fontSize+8, fmt.Sprintf(`class="notebg %s"`, r.Style), `rx="4"`)
		s.Text(x, y+5, label, fmt.Sprintf(`class="note %s"`, r.Style))
	case MarkRow:
		x := g.x[r.From]
		drawMark(s, x, y, r.Mark)
		label := cut(r.Label, maxNoteCell)
		s.Rect(x+markSize+6, y-fontSize+2, px(label)+8, fontSize+8, `class="notebg"`, `rx="4"`)
		s.Text(x+markSize+10, y+5, label, `class="marktext"`)
	case FailureRow:
		h := rowH - 6 + max(0, len(g.fatalTxt)-1)*(fontSize+6)
		s.Rect(margin/2, y-rowH/2+3, g.width-margin, h, `class="fatal"`, `rx="6"`)
		for j, l := range g.fatalTxt {
			s.Text(margin, y+5+j*(fontSize+6), l, `class="fataltext"`)
		}
	}
	s.Gend()
}

// drawMark draws a crash or kill as a cross, a cut as a zigzag, a refused connection as a barred circle, an exit as
// a square.
func drawMark(s *svg.SVG, x, y int, mark Mark) {
	const m = markSize
	switch mark {
	case Cutoff:
		s.Polyline([]int{x - m, x + 2, x - 2, x + m}, []int{y - m, y - 1, y + 1, y + m}, `class="mark"`, "fill:none")
	case NoEntry:
		s.Circle(x, y, m, `class="mark"`, "fill:none")
		s.Line(x-m*2/3, y+m*2/3, x+m*2/3, y-m*2/3, `class="mark"`)
	case Exited:
		s.Rect(x-m, y-m, 2*m, 2*m, `class="mark"`, "fill:#dc2626")
	default:
		s.Line(x-m, y-m, x+m, y+m, `class="mark"`)
		s.Line(x-m, y+m, x+m, y-m, `class="mark"`)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
