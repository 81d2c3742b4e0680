package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"msglabs/checker/kit"
	"msglabs/checker/report"
)

// actionMsg reports the outcome of a reset, an apply or a catch-up; notice, when set, is shown as a dialog (the
// catch-up says more than a line).
type actionMsg struct {
	text   string
	err    error
	notice *dialog
	lab    int // the lab to select in the list afterwards (0: leave it)
}

// dialog is a box over the screen: a question (yes runs the command, no closes it) or, without a command, a notice
// that any key closes.
type dialog struct {
	title, body string
	yes         tea.Cmd // nil: a notice
}

func (d *dialog) update(msg tea.KeyMsg, k KeyMap) (cmd tea.Cmd, done bool) {
	if d.yes == nil {
		return nil, true
	}
	switch {
	case key.Matches(msg, k.Yes):
		return d.yes, true
	case key.Matches(msg, k.No), key.Matches(msg, k.Quit):
		return nil, true
	}
	return nil, false
}

// keys are the dialog's keys, for the footer.
func (d *dialog) keys(k KeyMap) []key.Binding {
	if d.yes == nil {
		return []key.Binding{key.NewBinding(key.WithKeys(), key.WithHelp("any key", "close"))}
	}
	return []key.Binding{k.Yes, k.No}
}

func (d *dialog) view(c *common) string {
	w := min(c.width-4, 76)
	hint := "y: yes · n/esc: no"
	if d.yes == nil {
		hint = "any key: close"
	}
	box := c.st.Dialog.Width(w).Render(c.st.Bold.Render(d.title) + "\n\n" + d.body + "\n\n" + c.st.Dim.Render(hint))
	return lipgloss.Place(c.width, c.height, lipgloss.Center, lipgloss.Center, box)
}

// confirmReset asks before restoring lab li's starter; the files are always backed up first (kit.Reset).
func confirmReset(c *common, li kit.LabInfo) *dialog {
	root, instructor := c.kit.Root, c.kit.Instructor
	n := li.Number
	return &dialog{
		title: fmt.Sprintf("Reset lab %d to its starter?", n),
		body: fmt.Sprintf("%s/%s will be replaced by the shipped starter. Your current files are backed up first under %s/.",
			li.Dir(), strings.Join(li.Edit, ", "), kit.BackupDir),
		yes: func() tea.Msg {
			k, err := kit.Open(root, instructor)
			if err != nil {
				return actionMsg{err: err, text: err.Error()}
			}
			backup, err := k.Reset(context.Background(), n)
			switch {
			case err != nil:
				return actionMsg{err: err, text: "reset: " + err.Error()}
			case backup == "":
				return actionMsg{text: fmt.Sprintf("lab %d already is the starter; nothing to reset", n)}
			}
			return actionMsg{text: fmt.Sprintf("restored the starter of lab %d; your files are in %s", n, backup)}
		},
	}
}

// confirmApply asks before writing lab li's solution over the attendee's files (instructor mode). The files are
// backed up first (kit.ApplySolution).
func confirmApply(c *common, li kit.LabInfo) *dialog {
	root, instructor := c.kit.Root, c.kit.Instructor
	n := li.Number
	return &dialog{
		title: fmt.Sprintf("Apply the reference solution of lab %d?", n),
		body: fmt.Sprintf("The solution is written over %s/%s. The current files are backed up first under %s/. "+
			"Nothing is recorded: to bring a mob to the start of a lab, use C (catch up) on that lab.",
			li.Dir(), strings.Join(li.Edit, ", "), kit.BackupDir),
		yes: func() tea.Msg {
			k, err := kit.Open(root, instructor)
			if err != nil {
				return actionMsg{err: err, text: err.Error()}
			}
			backup, err := k.ApplySolution(n)
			if err != nil {
				return actionMsg{err: err, text: "apply: " + err.Error()}
			}
			return actionMsg{text: fmt.Sprintf("wrote the solution of lab %d; the previous files are in %s (r runs it)", n, backup)}
		},
	}
}

// confirmCatchUp asks before bringing the checkout to the start of lab li (instructor mode, for a mob that joins
// late): kit.CatchUp writes the reference solutions of the labs before it that were not passed by hand, backed up
// first, and records them as caught up. What it did is shown as report.CatchUp words it for the command line.
func confirmCatchUp(c *common, li kit.LabInfo) *dialog {
	root, instructor, now, opts := c.kit.Root, c.kit.Instructor, c.opts.Now, c.reportOptions()
	n := li.Number
	return &dialog{
		title: fmt.Sprintf("Catch up to the start of lab %d?", n),
		body: fmt.Sprintf("Every lab before lab %d that was not passed here by hand gets its reference solution, written "+
			"over its files (backed up first, under %s/), and is recorded as passed: caught up, not solved. "+
			"Lab %d and the labs after it stay as they are.", n, kit.BackupDir, n),
		yes: func() tea.Msg {
			k, err := kit.Open(root, instructor)
			if err != nil {
				return actionMsg{err: err, text: err.Error()}
			}
			k.Now = now
			res, err := k.CatchUp(context.Background(), n)
			if err != nil {
				return actionMsg{err: err, text: "catch-up: " + err.Error()}
			}
			body := report.Plain(report.CatchUp(res, k.Shared != nil, opts))
			return actionMsg{text: fmt.Sprintf("caught up: lab %d is where you start", n), lab: n,
				notice: &dialog{title: fmt.Sprintf("Caught up to lab %d", n), body: strings.TrimRight(body, "\n")}}
		},
	}
}
