package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"msglabs/checker/kit"
)

// actionMsg reports the outcome of a reset or an apply.
type actionMsg struct {
	text string
	err  error
}

// confirmModel asks yes or no before something that rewrites the attendee's files.
type confirmModel struct {
	title, body string
	yes         tea.Cmd
}

func (d *confirmModel) update(msg tea.KeyMsg, k KeyMap) (cmd tea.Cmd, done bool) {
	switch {
	case key.Matches(msg, k.Yes):
		return d.yes, true
	case key.Matches(msg, k.No), key.Matches(msg, k.Quit):
		return nil, true
	}
	return nil, false
}

func (d *confirmModel) view(c *common) string {
	w := min(c.width-4, 72)
	box := c.st.Dialog.Width(w).Render(c.st.Bold.Render(d.title) + "\n\n" + d.body + "\n\n" + c.st.Dim.Render("y: yes · n/esc: no"))
	return lipgloss.Place(c.width, c.bodyHeight(), lipgloss.Center, lipgloss.Center, box)
}

// confirmReset asks before restoring lab li's starter; the files are always backed up first (kit.Reset).
func confirmReset(c *common, li kit.LabInfo) *confirmModel {
	root, instructor := c.kit.Root, c.kit.Instructor
	n := li.Number
	return &confirmModel{
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

// confirmApply asks before writing lab li's solution over the attendee's files (instructor mode: bring a mob's
// working copy up to a lab). The files are backed up first (kit.ApplySolution).
func confirmApply(c *common, li kit.LabInfo) *confirmModel {
	root, instructor := c.kit.Root, c.kit.Instructor
	n := li.Number
	return &confirmModel{
		title: fmt.Sprintf("Apply the reference solution of lab %d?", n),
		body: fmt.Sprintf("The solution is written over %s/%s. The current files are backed up first under %s/.",
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
