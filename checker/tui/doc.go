package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/kit"
)

type (
	// docOpenMsg shows a lab's brief.
	docOpenMsg struct{ lab kit.LabInfo }
	// docMsg carries the rendered brief back from the background.
	docMsg struct {
		gen  int
		text string
		err  error
	}
)

// docModel shows a lab's brief (labs/<slug>/README.md), rendered by glamour in the background and paged.
type docModel struct {
	c       *common
	lab     kit.LabInfo
	gen     int
	loading bool
	msg     docMsg
	pane    pager
	width   int
}

func newDoc(c *common) *docModel { return &docModel{c: c, pane: newPager(c.keys)} }

func (d *docModel) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case sizeMsg:
		wider := msg.width != d.width
		d.width = msg.width
		d.pane.SetSize(msg.width, msg.height-1)
		if wider {
			return d, d.render() // the text wraps anew
		}
	case docOpenMsg:
		d.lab = msg.lab
		d.pane.SetContent("", true)
		return d, d.render()
	case docMsg:
		if msg.gen == d.gen {
			d.loading, d.msg = false, msg
			d.fill()
		}
	case tea.KeyMsg:
		return d, d.key(msg)
	}
	return d, nil
}

// render renders the brief again (opening it, or after a resize).
func (d *docModel) render() tea.Cmd {
	if d.lab.Number == 0 {
		return nil
	}
	d.gen++
	d.loading = true
	gen, style, width := d.gen, d.c.glamour, d.width
	path := d.c.kit.Catalog.Path(d.lab.Dir() + "/README.md")
	return func() tea.Msg {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return docMsg{gen: gen, err: errors.New("this lab has no README.md yet")}
		}
		if err != nil {
			return docMsg{gen: gen, err: err}
		}
		r, err := markdown(style, width)
		if err != nil {
			return docMsg{gen: gen, err: err}
		}
		text, err := r.Render(string(data))
		return docMsg{gen: gen, text: text, err: err}
	}
}

func (d *docModel) fill() {
	if d.msg.err != nil {
		d.pane.SetContent(d.c.st.Dim.Render(d.msg.err.Error()), true)
		return
	}
	d.pane.SetContent(strings.Trim(d.msg.text, "\n"), true)
}

func (d *docModel) key(msg tea.KeyMsg) tea.Cmd {
	if cmd, ok := d.pane.Update(msg); ok {
		return cmd
	}
	if key.Matches(msg, d.c.keys.Back) {
		return d.c.back()
	}
	cmd, _ := labKey(d.c, msg, d.lab.Number)
	return cmd
}

func (d *docModel) View() string {
	st := d.c.st
	head := st.Title.Render(fmt.Sprintf("lab %d · %s", d.lab.Number, d.lab.Title)) + "  " + st.SlideMeta.Render("brief")
	if d.loading && d.msg.gen != d.gen {
		return head + "\n\n" + st.Dim.Render("rendering…")
	}
	if pct := d.pane.Scrolled(); pct >= 0 {
		head += st.Dim.Render(fmt.Sprintf("  %d%%", pct))
	}
	return head + "\n" + d.pane.View()
}

func (d *docModel) ShortHelp() []key.Binding {
	k := d.c.keys
	return []key.Binding{k.Up, k.Down, k.PageDown, k.Slides, k.Run, k.Hint, k.Back}
}
