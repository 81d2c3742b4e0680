package tui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/diagram"
)

type (
	// diagramOpenMsg shows the diagrams of lab's failing tests, tests[0] first.
	diagramOpenMsg struct {
		lab   int
		tests []string
	}
	diagramLoadedMsg struct {
		gen int
		run diagram.Run
		err error
	}
)

// diagramView is the sequence diagram of a failing test of the last run (checker/diagram, from the events the
// harness exported): one lane per process with the broker between them, arrows for what crossed the wire, marks for
// crashes and the failure. The title, the verdict and the lane names stay on screen; the rows scroll. A terminal too
// narrow for the lanes gets the plain timeline. Tab goes to the run's next failing test.
type diagramView struct {
	c      *common
	lab    int
	tests  []string
	i      int
	gen    int
	loaded bool
	run    diagram.Run
	err    error
	frame  diagram.Frame
	pane   pager
	width  int
	height int
}

func newDiagramView(c *common) *diagramView { return &diagramView{c: c, pane: newPager(c.keys)} }

func (d *diagramView) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case sizeMsg:
		d.width, d.height = msg.width, msg.height
		d.draw(false)
	case diagramOpenMsg:
		d.lab, d.tests, d.i = msg.lab, msg.tests, 0
		return d, d.load()
	case diagramLoadedMsg:
		if msg.gen == d.gen {
			d.loaded, d.run, d.err = true, msg.run, msg.err
			d.draw(true)
		}
	case tea.KeyMsg:
		return d, d.key(msg)
	}
	return d, nil
}

// load reads the shown test's events in the background.
func (d *diagramView) load() tea.Cmd {
	d.gen++
	d.loaded = false
	if len(d.tests) == 0 {
		return nil
	}
	gen, dir, test := d.gen, diagram.RunDir(d.c.kit.Root, d.lab), d.tests[d.i]
	return func() tea.Msg {
		r, err := diagram.LoadTest(dir, test)
		return diagramLoadedMsg{gen: gen, run: r, err: err}
	}
}

// draw lays the diagram out for the width (a resize draws it again).
func (d *diagramView) draw(top bool) {
	if !d.loaded || d.err != nil {
		d.frame = diagram.Frame{}
		d.pane.SetContent("", true)
		return
	}
	colour := diagram.ColorAllowed(d.c.opts.Getenv, d.c.colour)
	d.frame = diagram.Terminal(diagram.Build(d.run), diagram.Options{Width: d.width, Color: colour})
	d.pane.SetSize(d.width, d.height-1-len(d.frame.Header)-d.narrowLines())
	d.pane.SetContent(strings.Join(d.frame.Body, "\n"), top)
}

func (d *diagramView) narrowLines() int {
	if d.frame.Narrow {
		return 1
	}
	return 0
}

func (d *diagramView) key(msg tea.KeyMsg) tea.Cmd {
	k := d.c.keys
	if cmd, ok := d.pane.Update(msg); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, k.Back), key.Matches(msg, k.Diagram):
		return d.c.back()
	case key.Matches(msg, k.NextTest):
		if len(d.tests) > 1 {
			d.i = (d.i + 1) % len(d.tests)
			return d.load()
		}
		return nil
	}
	cmd, _ := labKey(d.c, msg, d.lab)
	return cmd
}

func (d *diagramView) View() string {
	st := d.c.st
	if len(d.tests) == 0 {
		return st.Dim.Render("no diagram yet: run a lab (r), then press d on its result")
	}
	test := d.tests[d.i]
	which := ""
	if len(d.tests) > 1 {
		which = fmt.Sprintf("  failing test %d of %d (tab: the next)", d.i+1, len(d.tests))
	}
	head := truncate(st.Title.Render(fmt.Sprintf("diagram · lab %d · %s", d.lab, test))+st.SlideMeta.Render(which), d.width)
	switch {
	case !d.loaded:
		return head + "\n\n" + st.Dim.Render("reading the recorded events…")
	case errors.Is(d.err, diagram.ErrNoEvents):
		return head + "\n\n" + wrap(st.Dim.Render(fmt.Sprintf("%s has no recorded events to draw: its last run exported none "+
			"(the harness writes them to .msglabs/runs/%02d/events/ when the checker runs the lab).", test, d.lab)), d.width)
	case d.err != nil:
		return head + "\n\n" + wrap(st.Error.Render(d.err.Error()), d.width)
	}
	lines := append([]string{head}, d.frame.Header...)
	if d.frame.Narrow {
		lines = append(lines, st.Dim.Render(truncate("too narrow for the lanes: the timeline instead (a wider terminal shows the diagram)", d.width)))
	}
	return strings.Join(append(lines, d.pane.View()), "\n")
}

func (d *diagramView) ShortHelp() []key.Binding {
	k := d.c.keys
	b := []key.Binding{k.Up, k.Down, k.PageDown}
	if len(d.tests) > 1 {
		b = append(b, k.NextTest)
	}
	return append(b, k.Run, k.Hint, k.Back)
}
