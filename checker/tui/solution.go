package tui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"msglabs/checker/kit"
)

type (
	// solutionOpenMsg shows lab's solution.
	solutionOpenMsg struct{ lab int }
	// followUpMsg carries the rendered follow-up back from the background.
	followUpMsg struct {
		gen  int
		text string
		err  error
	}
)

// Layout of the solution screen.
const (
	sideBySide = 110 // from this width the follow-up stands beside the diff; narrower, below it
	columnGap  = 3
)

// solutionModel shows a lab's reference solution once it is unlocked: the diff from the attendee's files to it (or
// the reference files, tab), and beside it the lab's follow-up (what just happened, why the fix works, its cost).
// Long lines wrap with a mark instead of being cut at the pane's edge. A locked solution says how to unlock it.
type solutionModel struct {
	c       *common
	lab     int
	files   bool // the reference files instead of the diff
	sol     []kit.File
	diff    string
	err     error
	follow  string // the follow-up's markdown ("" when the lab has none)
	rel     string // its path
	fgen    int
	fupText string // rendered
	fupErr  error
	pane    pager
	width   int
}

func newSolution(c *common) *solutionModel { return &solutionModel{c: c, pane: newPager(c.keys)} }

func (s *solutionModel) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case sizeMsg:
		wider := msg.width != s.width
		s.width = msg.width
		s.pane.SetSize(msg.width, msg.height-1)
		s.fill()
		if wider {
			return s, s.renderFollowUp() // the follow-up wraps anew; the old text stays until then
		}
	case solutionOpenMsg:
		s.lab, s.files = msg.lab, false
		cmd := s.read()
		s.pane.vp.GotoTop()
		return s, cmd
	case progressMsg, actionMsg:
		// A pass unlocks the solution; a reset or an apply changes the diff.
		if s.lab != 0 {
			return s, s.read()
		}
	case followUpMsg:
		if msg.gen == s.fgen {
			s.fupText, s.fupErr = msg.text, msg.err
			s.fill()
		}
	case tea.KeyMsg:
		return s, s.key(msg)
	}
	return s, nil
}

// read reads the solution, the diff and the follow-up again. Reading a few small files is quick, so it happens
// here; rendering the follow-up's markdown happens in the background.
func (s *solutionModel) read() tea.Cmd {
	s.sol, s.diff, s.err = nil, "", nil
	s.sol, s.err = s.c.kit.Solution(s.lab)
	if s.err == nil {
		s.diff, s.err = s.c.kit.SolutionDiff(s.lab)
	}
	follow := ""
	if s.err == nil {
		follow, s.rel, s.err = s.c.kit.FollowUp(s.lab)
	}
	changed := follow != s.follow
	s.follow = follow
	if changed {
		s.fupText, s.fupErr = "", nil
	}
	s.fill()
	if changed || s.fupText == "" {
		return s.renderFollowUp()
	}
	return nil
}

// columns are the widths of the diff and of the follow-up: side by side when wide enough, else both full width.
func (s *solutionModel) columns() (left, right int, beside bool) {
	if s.follow == "" || s.width < sideBySide {
		return s.width - 1, s.width - 1, false
	}
	left = (s.width - columnGap) * 11 / 20
	return left, s.width - columnGap - left - 1, true
}

func (s *solutionModel) renderFollowUp() tea.Cmd {
	if s.follow == "" {
		s.fupText, s.fupErr = "", nil
		return nil
	}
	s.fgen++
	gen, style, md := s.fgen, s.c.glamour, s.follow
	_, w, _ := s.columns()
	return func() tea.Msg {
		r, err := markdown(style, w)
		if err != nil {
			return followUpMsg{gen: gen, err: err}
		}
		text, err := r.Render(md)
		return followUpMsg{gen: gen, text: strings.Trim(text, "\n"), err: err}
	}
}

func (s *solutionModel) fill() {
	st := s.c.st
	var locked *kit.LockedError
	switch {
	case s.lab == 0:
		s.pane.SetContent("", true)
		return
	case errors.As(s.err, &locked):
		s.pane.SetContent(st.Locked.Render("· "+locked.What+" is locked")+"\n\n"+
			wrap("It unlocks when you "+locked.How+".", s.width-2)+"\n\n"+st.Dim.Render("r runs the lab · h gives a hint"), false)
		return
	case s.err != nil:
		s.pane.SetContent(st.Error.Render(wrap(s.err.Error(), s.width-2)), false)
		return
	}
	left, right, beside := s.columns()
	code := s.codeLines(left)
	if s.follow == "" {
		s.pane.SetContent(strings.Join(code, "\n"), false)
		return
	}
	fup := []string{st.DiffFile.Render("==> " + s.rel + " <==")}
	switch {
	case s.fupErr != nil:
		fup = append(fup, st.Error.Render(wrap(s.fupErr.Error(), right)))
	case s.fupText == "":
		fup = append(fup, st.Dim.Render("rendering…"))
	default:
		fup = append(fup, strings.Split(s.fupText, "\n")...)
	}
	if !beside {
		s.pane.SetContent(strings.Join(append(append(fup, ""), code...), "\n"), false)
		return
	}
	leftCol := lipgloss.NewStyle().Width(left).Render(strings.Join(code, "\n"))
	rightCol := lipgloss.NewStyle().Width(right).Render(strings.Join(fup, "\n"))
	s.pane.SetContent(lipgloss.JoinHorizontal(lipgloss.Top, leftCol, strings.Repeat(" ", columnGap), rightCol), false)
}

// codeLines is the diff (coloured) or the reference files, wrapped to w cells.
func (s *solutionModel) codeLines(w int) []string {
	st := s.c.st
	if !s.files {
		if s.diff == "" {
			return []string{st.Pass.Render("your files are identical to the solution")}
		}
		return diffLines(st, s.diff, w)
	}
	var out []string
	for i, f := range s.sol {
		if i > 0 {
			out = append(out, "")
		}
		out = append(out, st.DiffFile.Render("==> "+f.Path+" <=="))
		for _, l := range strings.Split(strings.TrimRight(string(f.Content), "\n"), "\n") {
			out = append(out, wrapCode(l, " ", w)...)
		}
	}
	return out
}

// wrapMark starts the continuation of a wrapped line of code.
const wrapMark = "↪"

// diffLines colours a unified diff line by line and wraps long lines: each part after the first keeps the line's
// +, - or space and starts with wrapMark, so an added line stays green to its end.
func diffLines(st Styles, d string, w int) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
		style := lipgloss.NewStyle()
		switch {
		case strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "---"):
			style = st.DiffFile
		case strings.HasPrefix(l, "@@"):
			style = st.DiffHunk
		case strings.HasPrefix(l, "+"):
			style = st.DiffAdd
		case strings.HasPrefix(l, "-"):
			style = st.DiffDel
		}
		sign, body := "", l
		if l != "" && strings.ContainsAny(l[:1], "+- ") && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			sign, body = l[:1], l[1:]
		}
		for _, part := range wrapCode(body, sign, w) {
			out = append(out, style.Render(part))
		}
	}
	return out
}

// wrapCode wraps one line of code to w cells at its spaces (a word longer than a line is cut): the first part is
// sign+text, every other part sign, the line's own indent, wrapMark and the text, so a wrapped line reads as one.
// Tabs are spaces first, so the width is the width shown.
func wrapCode(line, sign string, w int) []string {
	line = detab(line)
	first := max(w-ansi.StringWidth(sign), minWrap)
	if ansi.StringWidth(line) <= first {
		return []string{sign + line}
	}
	lead := line[:len(line)-len(strings.TrimLeft(line, " "))]
	if len(lead) > first/2 {
		lead = ""
	}
	rest := max(first-len(lead)-ansi.StringWidth(wrapMark), minWrap)
	parts := wrapWords(line, first, rest)
	out := []string{sign + parts[0]}
	for _, p := range parts[1:] {
		out = append(out, sign+lead+wrapMark+p)
	}
	return out
}

func (s *solutionModel) key(msg tea.KeyMsg) tea.Cmd {
	k := s.c.keys
	if cmd, ok := s.pane.Update(msg); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, k.Back):
		return s.c.back()
	case key.Matches(msg, k.Files):
		s.files = !s.files
		s.fill()
		s.pane.vp.GotoTop()
		return nil
	case key.Matches(msg, k.Solution):
		return s.read()
	}
	cmd, _ := labKey(s.c, msg, s.lab)
	return cmd
}

func (s *solutionModel) View() string {
	st := s.c.st
	li, _ := s.c.lab(s.lab)
	what := "diff: yours → the reference (tab: its files)"
	if s.files {
		what = "the reference: one good answer among others (tab: the diff)"
	}
	if s.follow != "" {
		if _, _, beside := s.columns(); beside {
			what += " · follow-up beside"
		} else {
			what += " · follow-up first"
		}
	}
	head := st.Title.Render(fmt.Sprintf("solution · lab %d · %s", li.Number, li.Title)) + "  " + st.SlideMeta.Render(what)
	if ansi.StringWidth(head) > s.width { // the title gives way to what is shown
		head = st.Title.Render(fmt.Sprintf("solution · lab %d", li.Number)) + "  " + st.SlideMeta.Render(what)
	}
	return truncate(head, s.width) + "\n" + s.pane.View()
}

func (s *solutionModel) ShortHelp() []key.Binding {
	k := s.c.keys
	b := []key.Binding{k.Files, k.Down, k.PageDown, k.Next}
	if s.c.kit.Instructor {
		b = append(b, k.Apply)
	}
	return append(b, k.Back)
}
