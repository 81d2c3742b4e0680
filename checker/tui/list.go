package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"msglabs/checker/kit"
	"msglabs/checker/progress"
	"msglabs/checker/report"
)

// listModel is the home screen: the labs with their status, and the selected lab's title, failure mode and summary.
type listModel struct {
	c      *common
	cursor int
	width  int
	height int
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

func (l *listModel) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case sizeMsg:
		l.width, l.height = msg.width, msg.height
	case selectLabMsg:
		if i := slices.IndexFunc(l.c.labs(), func(li kit.LabInfo) bool { return li.Number == msg.lab }); i >= 0 {
			l.cursor = i
		}
	case actionMsg:
		if msg.lab > 0 {
			return l.Update(selectLabMsg{lab: msg.lab})
		}
	case progressMsg:
		l.refresh()
	case tea.KeyMsg:
		return l, l.key(msg)
	}
	return l, nil
}

func (l *listModel) key(msg tea.KeyMsg) tea.Cmd {
	k := l.c.keys
	n := len(l.c.labs())
	switch {
	case key.Matches(msg, k.Up):
		l.cursor = max(l.cursor-1, 0)
		return nil
	case key.Matches(msg, k.Down):
		l.cursor = max(min(l.cursor+1, n-1), 0)
		return nil
	case key.Matches(msg, k.Top):
		l.cursor = 0
		return nil
	case key.Matches(msg, k.Bottom):
		l.cursor = max(n-1, 0)
		return nil
	case key.Matches(msg, k.Mob):
		return l.c.open(scrMob, mobOpenMsg{})
	case key.Matches(msg, k.Decks):
		return l.c.open(scrSlides, slidesOpenMsg{})
	}
	li, ok := l.selected()
	if !ok {
		return nil
	}
	if key.Matches(msg, k.Open) {
		return l.c.open(scrRun, showLabMsg{lab: li.Number})
	}
	cmd, _ := labKey(l.c, msg, li.Number)
	return cmd
}

// glyph is a lab's status as a glyph and a word, styled.
func glyph(st Styles, li kit.LabInfo) string {
	switch li.Status {
	case progress.Passed:
		if li.CaughtUp {
			return st.Pass.Render(report.GlyphPass + " caught up")
		}
		return st.Pass.Render(report.GlyphPass + " passed")
	case progress.Failing:
		return st.Fail.Render(report.GlyphFail + " failing")
	case progress.Locked:
		return st.Locked.Render("· locked")
	}
	return st.Todo.Render(report.GlyphNotRun + " todo")
}

func (l *listModel) View() string {
	c := l.c
	st := c.st
	labs := c.labs()
	if len(labs) == 0 {
		return st.Dim.Render("no labs in this kit yet (each lab is a folder labs/NN-slug/ with its lab.yaml)")
	}
	w := l.width
	titleW := 0
	for _, li := range labs {
		titleW = max(titleW, lipgloss.Width(li.Title))
	}
	titleW = min(titleW, max(w-24, 10))
	detail := l.detail()
	detailH := strings.Count(detail, "\n") + 1
	rowsH := max(l.height-detailH-2, 3) // header row and separator
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
		row := fmt.Sprintf("%3d  %s  %s", li.Number, title, glyph(st, li))
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
	for used < l.height-detailH-1 {
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

// detail describes the selected lab: title, failure mode, summary, its steps, what is unlocked, the last hint shown
// for the step the attendee is on.
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
		lines = append(lines, wrap(li.Summary, l.width))
	}
	if s := stepsLine(st, li, nil); s != "" {
		lines = append(lines, truncate(s, l.width))
	}
	var facts []string
	switch {
	case !li.Unlocked:
		facts = append(facts, fmt.Sprintf("locked: pass lab %d first (you may still run it: each lab stands alone)", li.Number-1))
	case li.CaughtUp:
		facts = append(facts, "caught up (the reference solution was applied), solution unlocked (s)")
	case li.SolutionUnlocked:
		facts = append(facts, "solution unlocked (s)")
	default:
		facts = append(facts, "solution unlocks when it passes")
	}
	if cur := li.Current; cur >= 1 && cur <= len(li.StepInfos) && li.StepInfos[cur-1].Hints > 0 {
		si := li.StepInfos[cur-1]
		facts = append(facts, fmt.Sprintf("hints %d/%d shown for step %d", si.HintsShown, si.Hints, cur))
	}
	facts = append(facts, "folder "+li.Dir())
	lines = append(lines, st.Dim.Render(wrap(strings.Join(facts, " · "), l.width)))
	if h := hintLines(st, li, l.width); len(h) > 0 {
		lines = append(lines, h[len(h)-1])
	}
	return strings.Join(lines, "\n")
}

func (l *listModel) ShortHelp() []key.Binding {
	k := l.c.keys
	b := []key.Binding{k.Run, k.Watch, k.Hint, k.Brief, k.Slides, k.Solution, k.Reset, k.Mob}
	if l.c.kit.Instructor {
		b = append(b, k.Apply, k.CatchUp)
	}
	return append(b, k.Decks)
}
