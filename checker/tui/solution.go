package tui

import (
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/kit"
)

// solutionMsg carries a lab's solution and the diff against the attendee's files.
type solutionMsg struct {
	lab   int
	files []kit.File
	diff  string
	err   error
}

// solutionModel shows a lab's reference files, or a coloured diff from the attendee's files to them; a locked
// solution says how to unlock it.
type solutionModel struct {
	c       *common
	lab     int
	showing string // "diff" or "files"
	msg     solutionMsg
	vp      viewport.Model
}

func newSolution(c *common) *solutionModel {
	return &solutionModel{c: c, showing: "diff", vp: viewport.New(c.width, 10)}
}

func (s *solutionModel) resize() {
	s.vp.Width = s.c.width
	s.vp.Height = max(s.c.bodyHeight()-2, 1)
	s.fill()
}

// open shows lab n's solution. Reading two or three small files is quick, so it happens here; the kit is not safe
// to share with a background goroutine.
func (s *solutionModel) open(n int) tea.Cmd {
	s.lab = n
	s.refresh()
	s.vp.GotoTop()
	return nil
}

// refresh reads the solution and the diff again (after a reset or an apply).
func (s *solutionModel) refresh() {
	if s.lab == 0 {
		return
	}
	msg := solutionMsg{lab: s.lab}
	msg.files, msg.err = s.c.kit.Solution(s.lab)
	if msg.err == nil {
		msg.diff, msg.err = s.c.kit.SolutionDiff(s.lab)
	}
	s.set(msg)
}

func (s *solutionModel) set(msg solutionMsg) {
	if msg.lab != s.lab {
		return
	}
	s.msg = msg
	s.fill()
}

func (s *solutionModel) fill() {
	st := s.c.st
	var b strings.Builder
	var locked *kit.LockedError
	switch {
	case s.lab == 0:
	case errors.As(s.msg.err, &locked):
		b.WriteString(st.Locked.Render("· "+locked.What+" is locked") + "\n\n")
		b.WriteString(wrap("It unlocks when you "+locked.How+".", s.c.width-2) + "\n\n")
		b.WriteString(st.Dim.Render("r runs the lab · h gives a hint"))
	case s.msg.err != nil:
		b.WriteString(st.Error.Render(s.msg.err.Error()))
	case s.showing == "diff":
		if s.msg.diff == "" {
			b.WriteString(st.Pass.Render("your files are identical to the solution"))
			break
		}
		b.WriteString(colourDiff(st, s.msg.diff))
	default:
		for i, f := range s.msg.files {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(st.DiffFile.Render("==> "+f.Path+" <==") + "\n")
			b.WriteString(string(f.Content))
		}
	}
	off := s.vp.YOffset
	s.vp.SetContent(detab(strings.TrimRight(b.String(), "\n")))
	s.vp.SetYOffset(off)
}

// colourDiff colours a unified diff line by line.
func colourDiff(st Styles, d string) string {
	lines := strings.Split(strings.TrimRight(d, "\n"), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "+++") || strings.HasPrefix(l, "---"):
			lines[i] = st.DiffFile.Render(l)
		case strings.HasPrefix(l, "@@"):
			lines[i] = st.DiffHunk.Render(l)
		case strings.HasPrefix(l, "+"):
			lines[i] = st.DiffAdd.Render(l)
		case strings.HasPrefix(l, "-"):
			lines[i] = st.DiffDel.Render(l)
		}
	}
	return strings.Join(lines, "\n")
}

func (s *solutionModel) update(msg tea.KeyMsg, m *Model) tea.Cmd {
	k := s.c.keys
	switch {
	case key.Matches(msg, k.Back):
		m.screen = scrList
		if m.run.lab == s.lab && (m.run.res != nil || m.run.running) {
			m.screen = scrRun
		}
	case key.Matches(msg, k.Files):
		if s.showing == "diff" {
			s.showing = "files"
		} else {
			s.showing = "diff"
		}
		s.fill()
		s.vp.GotoTop()
	case key.Matches(msg, k.Up):
		s.vp.ScrollUp(1)
	case key.Matches(msg, k.Down):
		s.vp.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		s.vp.PageUp()
	case key.Matches(msg, k.PageDown):
		s.vp.PageDown()
	case key.Matches(msg, k.Top):
		s.vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		s.vp.GotoBottom()
	case key.Matches(msg, k.Solution):
		s.refresh()
	default:
		cmd, _ := m.labKey(msg, s.lab)
		return cmd
	}
	return nil
}

func (s *solutionModel) view() string {
	st := s.c.st
	li, _ := s.c.lab(s.lab)
	what := "diff: your files → the reference solution (tab: the reference files)"
	if s.showing == "files" {
		what = "the reference solution, one good answer among others (tab: the diff)"
	}
	return st.Title.Render(fmt.Sprintf("solution · lab %d · %s", li.Number, li.Title)) + "  " + st.SlideMeta.Render(what) +
		"\n" + s.vp.View()
}

func (s *solutionModel) shortHelp() []key.Binding {
	k := s.c.keys
	b := []key.Binding{k.Files, k.Up, k.Down, k.PageDown}
	if s.c.kit.Instructor {
		b = append(b, k.Apply)
	}
	return append(b, k.Back)
}
