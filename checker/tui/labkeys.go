package tui

import (
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/progress"
	"msglabs/checker/report"
)

// instructorOnly is the flash for an instructor's key pressed in attendee mode.
const instructorOnly = " is for instructors (--instructor or MSGLABS_INSTRUCTOR=1)"

// labKey handles the keys that act on a lab, the same on every screen that shows one (the list, the run, the
// brief, the solution): it returns the command the key stands for and whether it took the key. It reads the kit
// and, for a hint, records that the hint was shown; everything else is a message to the root.
func labKey(c *common, msg tea.KeyMsg, n int) (tea.Cmd, bool) {
	k := c.keys
	li, ok := c.lab(n)
	if !ok {
		return nil, false
	}
	switch {
	case key.Matches(msg, k.Run):
		return c.open(scrRun, runLabMsg{lab: n, by: byYou}), true
	case key.Matches(msg, k.Watch):
		return c.open(scrRun, watchLabMsg{lab: n}), true
	case key.Matches(msg, k.Hint):
		return hint(c, n), true
	case key.Matches(msg, k.Brief):
		return c.open(scrDoc, docOpenMsg{lab: li}), true
	case key.Matches(msg, k.Slides):
		return c.open(scrSlides, slidesOpenMsg{deck: li.Slug}), true
	case key.Matches(msg, k.Decks):
		return c.open(scrSlides, slidesOpenMsg{}), true
	case key.Matches(msg, k.Solution):
		return c.open(scrSolution, solutionOpenMsg{lab: n}), true
	case key.Matches(msg, k.Reset):
		return c.ask(confirmReset(c, li)), true
	case key.Matches(msg, k.Apply):
		if !c.kit.Instructor {
			return flashErr("apply solution" + instructorOnly), true
		}
		return c.ask(confirmApply(c, li)), true
	case key.Matches(msg, k.CatchUp):
		if !c.kit.Instructor {
			return flashErr("catch-up" + instructorOnly), true
		}
		return c.ask(confirmCatchUp(c, li)), true
	case key.Matches(msg, k.Mob):
		return c.open(scrMob, mobOpenMsg{}), true
	case key.Matches(msg, k.Next):
		return next(c, n), true
	}
	return nil, false
}

// hint shows the next hint of the step the attendee is on, and remembers it (the same count as `checker hint N`).
func hint(c *common, n int) tea.Cmd {
	h, err := c.kit.NextHint(n, 0)
	if err != nil {
		return flashErr(err.Error())
	}
	l, _ := c.kit.Catalog.Lab(n)
	more := "h again for the next one"
	if h.Last() {
		more = "that was the last hint of this step"
	}
	text := fmt.Sprintf("%s, hint %d/%d: %s (%s)", report.StepName(l, h.Step), h.Index+1, h.Total, h.Text, more)
	return tea.Batch(flash(text), progressChanged)
}

// next goes to the brief of the lab after lab n, but only once lab n passed: the TUI never advances on its own.
func next(c *common, n int) tea.Cmd {
	labs := c.labs()
	for i, l := range labs {
		if l.Number != n {
			continue
		}
		if l.Status != progress.Passed {
			return flashErr(fmt.Sprintf("n goes to the next lab once lab %d passes (r runs it)", n))
		}
		if i+1 == len(labs) {
			return flash("that was the last lab in this kit: well done")
		}
		nx := labs[i+1]
		return tea.Batch(c.selectLab(nx.Number), c.open(scrDoc, docOpenMsg{lab: nx}))
	}
	return nil
}
