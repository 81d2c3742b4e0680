package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/glamour"

	"msglabs/checker/kit"
)

type docKind int

const (
	docBrief docKind = iota
	docSlides
)

// Slide is one slide of a deck: its markdown, its presenter notes and its title.
type Slide struct {
	Body, Notes, Title string
}

// ParseSlides splits a deck: slides are separated by a line `---`; presenter notes follow a line starting `Note:`.
func ParseSlides(md string) []Slide {
	md = strings.ReplaceAll(md, "\r\n", "\n")
	var out []Slide
	for _, part := range strings.Split("\n"+md+"\n", "\n---\n") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		var body, notes []string
		inNotes := false
		for _, l := range strings.Split(part, "\n") {
			if !inNotes && strings.HasPrefix(l, "Note:") {
				inNotes = true
				l = strings.TrimSpace(strings.TrimPrefix(l, "Note:"))
			}
			if inNotes {
				notes = append(notes, l)
			} else {
				body = append(body, l)
			}
		}
		s := Slide{Body: strings.TrimSpace(strings.Join(body, "\n")), Notes: strings.TrimSpace(strings.Join(notes, "\n"))}
		for _, l := range body {
			if t := strings.TrimSpace(l); t != "" {
				s.Title = strings.TrimSpace(strings.TrimLeft(t, "#"))
				break
			}
		}
		out = append(out, s)
	}
	return out
}

// docMsg carries rendered markdown back from the background.
type docMsg struct {
	gen      int
	brief    string
	slides   []Slide  // raw slides
	rendered []string // each slide's body rendered
	notes    []string // each slide's notes rendered
	err      error
}

// docModel shows a lab's brief (labs/<slug>/README.md) or its slides (slides/<slug>.md), rendered by glamour and
// paged in a viewport; slides go one at a time, with a presenter view for instructors.
type docModel struct {
	c         *common
	kind      docKind
	lab       kit.LabInfo
	gen       int
	loading   bool
	msg       docMsg
	slide     int
	presenter bool
	vp        viewport.Model
}

func newDoc(c *common) *docModel {
	return &docModel{c: c, vp: viewport.New(c.width, 10)}
}

func (d *docModel) resize() {
	d.vp.Width = d.c.width
	d.vp.Height = max(d.c.bodyHeight()-2, 1)
}

// open shows lab li's brief or slides, rendering them in the background.
func (d *docModel) open(li kit.LabInfo, kind docKind) tea.Cmd {
	if d.lab.Number != li.Number || d.kind != kind {
		d.slide = 0
	}
	d.lab, d.kind = li, kind
	d.presenter = d.presenter && d.c.kit.Instructor
	d.vp.SetContent("")
	return d.rerender()
}

// rerender renders the document again (opening it, or after a resize).
func (d *docModel) rerender() tea.Cmd {
	if d.lab.Number == 0 {
		return nil
	}
	d.gen++
	d.loading = true
	gen, kind, style, width := d.gen, d.kind, d.c.glamour, d.c.width
	briefPath := d.c.kit.Catalog.Path(d.lab.Dir() + "/README.md")
	slidesPath := d.c.kit.Catalog.Path("slides/" + d.lab.Slug + ".md")
	return func() tea.Msg {
		return renderDoc(gen, kind, style, width, briefPath, slidesPath)
	}
}

func renderDoc(gen int, kind docKind, style string, width int, briefPath, slidesPath string) docMsg {
	out := docMsg{gen: gen}
	r, err := glamour.NewTermRenderer(glamour.WithStandardStyle(style), glamour.WithWordWrap(max(width-4, 20)))
	if err != nil {
		out.err = err
		return out
	}
	if kind == docBrief {
		data, err := os.ReadFile(briefPath)
		if err != nil {
			out.err = missing(err, "this lab has no README.md yet")
			return out
		}
		out.brief, out.err = r.Render(string(data))
		return out
	}
	data, err := os.ReadFile(slidesPath)
	if err != nil {
		out.err = missing(err, "this lab has no slides yet")
		return out
	}
	out.slides = ParseSlides(string(data))
	for _, s := range out.slides {
		body, err := r.Render(s.Body)
		if err != nil {
			body = s.Body
		}
		out.rendered = append(out.rendered, body)
		notes := ""
		if s.Notes != "" {
			notes = wrap(unwrapParagraphs(s.Notes), max(width-4, 20))
		}
		out.notes = append(out.notes, notes)
	}
	return out
}

func missing(err error, say string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New(say)
	}
	return err
}

func (d *docModel) set(msg docMsg) {
	if msg.gen != d.gen {
		return
	}
	d.loading = false
	d.msg = msg
	if d.slide >= len(msg.slides) {
		d.slide = max(len(msg.slides)-1, 0)
	}
	d.fill(true)
}

// fill puts the current page into the viewport.
func (d *docModel) fill(top bool) {
	st := d.c.st
	switch {
	case d.msg.err != nil:
		d.vp.SetContent(st.Dim.Render(d.msg.err.Error()))
	case d.kind == docBrief:
		d.vp.SetContent(strings.Trim(d.msg.brief, "\n"))
	case len(d.msg.rendered) == 0:
		d.vp.SetContent(st.Dim.Render("the deck is empty"))
	default:
		content := strings.Trim(d.msg.rendered[d.slide], "\n")
		if d.presenter {
			notes := d.msg.notes[d.slide]
			if notes == "" {
				notes = st.Dim.Render("(no notes for this slide)")
			}
			next := st.Dim.Render("next: (last slide)")
			if d.slide+1 < len(d.msg.slides) {
				next = st.Dim.Render("next: ") + st.Bold.Render(d.msg.slides[d.slide+1].Title)
			}
			rule := st.Dim.Render(strings.Repeat("─", d.c.width))
			content = content + "\n" + rule + "\n" + st.Tag.Render("notes") + "\n" + notes + "\n" + rule + "\n" + next
		}
		d.vp.SetContent(content)
	}
	if top {
		d.vp.GotoTop()
	}
}

func (d *docModel) update(msg tea.KeyMsg, m *Model) tea.Cmd {
	k := d.c.keys
	switch {
	case key.Matches(msg, k.Back):
		m.screen = scrList
		if m.run.lab == d.lab.Number && (m.run.res != nil || m.run.running) {
			m.screen = scrRun
		}
		return nil
	case key.Matches(msg, k.Up):
		d.vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		d.vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		d.vp.PageUp()
	case key.Matches(msg, k.PageDown):
		d.vp.PageDown()
	case key.Matches(msg, k.Top):
		d.vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		d.vp.GotoBottom()
	case d.kind == docSlides && key.Matches(msg, k.NextSlide):
		if d.slide+1 < len(d.msg.slides) {
			d.slide++
			d.fill(true)
		}
	case d.kind == docSlides && key.Matches(msg, k.Prev):
		if d.slide > 0 {
			d.slide--
			d.fill(true)
		}
	case d.kind == docSlides && key.Matches(msg, k.Presenter):
		if !d.c.kit.Instructor {
			m.setFlash("the presenter view is for instructors (--instructor or MSGLABS_INSTRUCTOR=1)", true)
			return nil
		}
		d.presenter = !d.presenter
		d.fill(true)
	case key.Matches(msg, k.Brief):
		if d.kind != docBrief {
			return d.open(d.lab, docBrief)
		}
	case key.Matches(msg, k.Slides):
		if d.kind != docSlides {
			return d.open(d.lab, docSlides)
		}
	default:
		cmd, _ := m.labKey(msg, d.lab.Number)
		return cmd
	}
	return nil
}

func (d *docModel) view() string {
	st := d.c.st
	what := "brief"
	if d.kind == docSlides {
		what = "slides"
		if len(d.msg.slides) > 0 && !d.loading {
			what = fmt.Sprintf("slides %d/%d", d.slide+1, len(d.msg.slides))
		}
		if d.presenter {
			what += " · presenter view"
		}
	}
	head := st.Title.Render(fmt.Sprintf("lab %d · %s", d.lab.Number, d.lab.Title)) + "  " + st.SlideMeta.Render(what)
	if d.loading && d.msg.gen != d.gen {
		return head + "\n\n" + st.Dim.Render("rendering…")
	}
	pct := ""
	if d.vp.TotalLineCount() > d.vp.Height {
		pct = st.Dim.Render(fmt.Sprintf("  %d%%", int(d.vp.ScrollPercent()*100)))
	}
	return head + pct + "\n" + d.vp.View()
}

func (d *docModel) shortHelp() []key.Binding {
	k := d.c.keys
	b := []key.Binding{k.Up, k.Down, k.PageDown}
	if d.kind == docSlides {
		b = append(b, k.Prev, k.NextSlide)
		if d.c.kit.Instructor {
			b = append(b, k.Presenter)
		}
		b = append(b, k.Brief)
	} else {
		b = append(b, k.Slides)
	}
	return append(b, k.Run, k.Back)
}

// unwrapParagraphs joins the lines of each paragraph, so notes written at 120 columns wrap well at any width.
func unwrapParagraphs(s string) string {
	paras := strings.Split(s, "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.Join(paras, "\n\n")
}
