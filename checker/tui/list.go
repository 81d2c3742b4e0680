package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"msglabs/checker/kit"
	"msglabs/checker/progress"
)

// listModel is the home screen: the labs with their status, and the selected lab's title, failure mode and summary.
type listModel struct {
	c      *common
	cursor int
}

func newList(c *common) *listModel {
	l := &listModel{c: c}
	// Start on the first lab that is unlocked and not passed yet: where the attendee left off.
	for i, li := range c.labs() {
		if li.Unlocked && li.Status != progress.Passed {
			l.cursor = i
			break
		}
	}
	return l
}

// refresh keeps the cursor inside the list after the labs changed.
func (l *listModel) refresh() {
	if n := len(l.c.labs()); l.cursor >= n {
		l.cursor = max(n-1, 0)
	}
}

// selected is the lab under the cursor.
func (l *listModel) selected() (kit.LabInfo, bool) {
	labs := l.c.labs()
	if l.cursor < 0 || l.cursor >= len(labs) {
		return kit.LabInfo{}, false
	}
	return labs[l.cursor], true
}

func (l *listModel) update(msg tea.KeyMsg, m *Model) tea.Cmd {
	k := l.c.keys
	n := len(l.c.labs())
	switch {
	case key.Matches(msg, k.Up):
		if l.cursor > 0 {
			l.cursor--
		}
		return nil
	case key.Matches(msg, k.Down):
		if l.cursor < n-1 {
			l.cursor++
		}
		return nil
	case key.Matches(msg, k.Top):
		l.cursor = 0
		return nil
	case key.Matches(msg, k.Bottom):
		l.cursor = max(n-1, 0)
		return nil
	case key.Matches(msg, k.Mob):
		m.screen = scrMob
		return m.mob.open()
	}
	li, ok := l.selected()
	if !ok {
		return nil
	}
	if key.Matches(msg, k.Open) {
		if m.run.lab == li.Number && (m.run.res != nil || m.run.running) {
			m.screen = scrRun // back to the result already there
			return nil
		}
		m.screen = scrRun
		return m.run.start(li.Number, "you")
	}
	cmd, _ := m.labKey(msg, li.Number)
	return cmd
}

// glyph is a lab status as one character and a style.
func glyph(st Styles, s progress.Status) string {
	switch s {
	case progress.Passed:
		return st.Pass.Render("✓ passed")
	case progress.Failing:
		return st.Fail.Render("✗ failing")
	case progress.Locked:
		return st.Locked.Render("· locked")
	}
	return st.Todo.Render("○ todo")
}

func (l *listModel) view() string {
	c := l.c
	st := c.st
	labs := c.labs()
	if len(labs) == 0 {
		return st.Dim.Render("no labs in this kit yet (each lab is a folder labs/NN-slug/ with its lab.yaml)")
	}
	w := c.width
	titleW := 0
	for _, li := range labs {
		titleW = max(titleW, lipgloss.Width(li.Title))
	}
	titleW = min(titleW, max(w-24, 10))
	detail := l.detail()
	detailH := strings.Count(detail, "\n") + 1
	rowsH := max(c.bodyHeight()-detailH-2, 3) // header row and separator
	first := 0
	if l.cursor >= rowsH {
		first = l.cursor - rowsH + 1
	}
	var b strings.Builder
	b.WriteString(st.Dim.Render(fmt.Sprintf("   %3s  %-*s  %s", "#", titleW, "lab", "status")) + "\n")
	for i := first; i < len(labs) && i < first+rowsH; i++ {
		li := labs[i]
		title := truncate(li.Title, titleW)
		title += strings.Repeat(" ", max(titleW-lipgloss.Width(title), 0))
		row := fmt.Sprintf("%3d  %s  %s", li.Number, title, glyph(st, li.Status))
		if i == l.cursor {
			b.WriteString(st.Cursor.Render(" › ") + st.Bold.Render(row) + "\n")
		} else if li.Status == progress.Locked {
			b.WriteString("   " + st.Dim.Render(row) + "\n")
		} else {
			b.WriteString("   " + row + "\n")
		}
	}
	if more := l.announced(); more != "" {
		b.WriteString(st.Dim.Render("   "+more) + "\n")
	}
	used := strings.Count(b.String(), "\n")
	for used < c.bodyHeight()-detailH-1 {
		b.WriteString("\n")
		used++
	}
	b.WriteString(st.Dim.Render(strings.Repeat("─", w)) + "\n")
	b.WriteString(detail)
	return b.String()
}

// announced says how many lab folders are not usable in this checkout yet.
func (l *listModel) announced() string {
	n := len(l.c.kit.Catalog.Broken)
	if n <= 0 {
		return ""
	}
	if n == 1 {
		return "+ 1 more lab folder is not ready yet"
	}
	return fmt.Sprintf("+ %d more lab folders are not ready yet", n)
}

// detail describes the selected lab: title, failure mode, summary, what is unlocked, the last hint shown.
func (l *listModel) detail() string {
	c := l.c
	st := c.st
	li, ok := l.selected()
	if !ok {
		return ""
	}
	lines := []string{
		st.Title.Render(fmt.Sprintf("lab %d · %s", li.Number, li.Title)) + "   failure mode: " + st.Marker.Render(li.Failure),
	}
	if li.Summary != "" {
		lines = append(lines, wrap(li.Summary, c.width))
	}
	var facts []string
	switch {
	case !li.Unlocked:
		facts = append(facts, fmt.Sprintf("locked: pass lab %d first (you may still run it: each lab stands alone)", li.Number-1))
	case li.SolutionUnlocked:
		facts = append(facts, "solution unlocked (s)")
	default:
		facts = append(facts, "solution unlocks when it passes")
	}
	if len(li.AllHints()) > 0 {
		facts = append(facts, fmt.Sprintf("hints %d/%d shown", li.HintsShown, len(li.AllHints())))
	}
	facts = append(facts, "folder "+li.Dir())
	lines = append(lines, st.Dim.Render(strings.Join(facts, " · ")))
	if li.HintsShown > 0 && li.HintsShown <= len(li.AllHints()) {
		i := li.HintsShown - 1
		lines = append(lines, st.Hint.Render(wrap(fmt.Sprintf("hint %d/%d: %s", i+1, len(li.AllHints()), li.AllHints()[i]), c.width)))
	}
	return strings.Join(lines, "\n")
}

func (l *listModel) shortHelp() []key.Binding {
	k := l.c.keys
	b := []key.Binding{k.Run, k.Watch, k.Hint, k.Brief, k.Slides, k.Solution, k.Reset, k.Mob}
	if l.c.kit.Instructor {
		b = append(b, k.Apply)
	}
	return b
}
