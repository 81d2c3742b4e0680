package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// screenID names a screen.
type screenID int

const (
	scrList screenID = iota
	scrRun
	scrDiagram
	scrDoc
	scrSlides
	scrSolution
	scrMob
)

// screen is one screen of the TUI, a component in the manner of soft-serve's: it owns its state, takes its keys
// from the KeyMap, and returns itself and a command from Update. It never reaches into the root model or into
// another screen; it says where to go next (openMsg, goBackMsg: common.open, common.back) and what to tell the user
// (flashMsg, askMsg) with messages, which the root acts on. Where to go next is posted (common.post), not a
// command, so the root has gone there before the next key arrives.
//
// The root gives every screen every message that is not a key (background results find their owner whichever
// screen is shown; a screen ignores what is not its own), and the keys to the screen shown.
type screen interface {
	Update(tea.Msg) (screen, tea.Cmd)
	View() string
	ShortHelp() []key.Binding
}

// typist is a screen that can have a text field focused: then letters are text, and the root does not take q or ?
// for itself.
type typist interface{ Typing() bool }

// Messages between the screens and the root.
type (
	// openMsg shows screen `to` and hands it msg (what to show: a lab, a deck, a run to start).
	openMsg struct {
		to  screenID
		msg tea.Msg
	}
	// goBackMsg returns to the screen shown before this one (the lab list at the bottom).
	goBackMsg struct{}
	// shownMsg tells every screen which screen is shown now.
	shownMsg struct{ id screenID }
	// sizeMsg is the size of the body every screen draws in (the window less the header and footer lines).
	sizeMsg struct{ width, height int }
	// flashMsg is a one-line message above the footer until the next key.
	flashMsg struct {
		text string
		err  bool
	}
	// bannerMsg is the mob's rotation banner ("" takes it away).
	bannerMsg struct{ text string }
	// askMsg opens a dialog.
	askMsg struct{ d *dialog }
	// selectLabMsg moves the lab list's cursor to a lab.
	selectLabMsg struct{ lab int }
	// progressMsg says the progress changed (a hint shown, a run recorded, another checker's pass): redraw.
	progressMsg struct{}
	// runFinishedMsg says a run of a lab ended (and was recorded if it counted).
	runFinishedMsg struct {
		lab    int
		passed bool
		infra  bool
	}
)

// flash is the command that shows a message; flashErr one that shows it as a problem.
func flash(text string) tea.Cmd { return func() tea.Msg { return flashMsg{text: text} } }

func flashErr(text string) tea.Cmd { return func() tea.Msg { return flashMsg{text: text, err: true} } }

// progressChanged is the command that tells the screens the progress changed.
func progressChanged() tea.Msg { return progressMsg{} }
